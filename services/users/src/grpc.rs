//! The `users.v1.UserService` implementation: converts requests into domain values at the
//! boundary, runs the queries, and turns rows back into messages.

use proto::users::v1::user_service_server::UserService;
use proto::users::v1::{
    CreateUserRequest, CreateUserResponse, GetUserRequest, GetUserResponse, ListUsersRequest,
    ListUsersResponse, User,
};
use shop_common::pagination::PageRequest;
use shop_common::{Database, Id};
use tonic::{Request, Response, Status};

use crate::db::{self, UserRow};
use crate::domain::NewUser;
use crate::error::UserError;

/// The gRPC service, holding the database pool.
#[derive(Debug, Clone)]
pub struct UsersGrpc {
    db: Database,
}

impl UsersGrpc {
    /// A service over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    async fn create_user(&self, request: CreateUserRequest) -> Result<User, UserError> {
        let user = NewUser::from_checked(request);
        let mut conn = self.db.conn().await?;
        let row = db::insert_user(&mut conn, &user)
            .await
            .map_err(|err| UserError::from_insert(err, &user.email))?;
        tracing::info!(user_id = row.id, "user created");
        Ok(row.into())
    }

    async fn get_user(&self, request: GetUserRequest) -> Result<User, UserError> {
        let id = Id::parse(request.id, "id")?;
        let mut conn = self.db.conn().await?;
        db::find_user(&mut conn, id)
            .await
            .map_err(UserError::Query)?
            .map(User::from)
            .ok_or(UserError::NotFound(id.get()))
    }

    async fn list_users(&self, request: ListUsersRequest) -> Result<ListUsersResponse, UserError> {
        let page = PageRequest::parse(request.page_size, &request.page_token, LIST_SCOPE)?;
        let mut conn = self.db.conn().await?;
        let rows = db::users_after(&mut conn, page.after_id, page.fetch_limit())
            .await
            .map_err(UserError::Query)?;
        let (rows, next_page_token) = page.finish(rows, LIST_SCOPE, |row| row.id);
        Ok(ListUsersResponse {
            users: rows.into_iter().map(User::from).collect(),
            next_page_token,
        })
    }
}

/// The list `ListUsers` pages through, as page tokens name it.
const LIST_SCOPE: &str = "users.v1.UserService/ListUsers";

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            email: row.email,
        }
    }
}

#[tonic::async_trait]
impl UserService for UsersGrpc {
    #[tracing::instrument(skip_all)]
    async fn create_user(
        &self,
        request: Request<CreateUserRequest>,
    ) -> Result<Response<CreateUserResponse>, Status> {
        shop_common::validation::check(request.get_ref())?;
        let user = self.create_user(request.into_inner()).await?;
        Ok(Response::new(CreateUserResponse { user: Some(user) }))
    }

    #[tracing::instrument(skip_all, fields(id = request.get_ref().id))]
    async fn get_user(
        &self,
        request: Request<GetUserRequest>,
    ) -> Result<Response<GetUserResponse>, Status> {
        shop_common::validation::check(request.get_ref())?;
        let user = self.get_user(request.into_inner()).await?;
        Ok(Response::new(GetUserResponse { user: Some(user) }))
    }

    #[tracing::instrument(skip_all, fields(page_size = request.get_ref().page_size))]
    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        shop_common::validation::check(request.get_ref())?;
        Ok(Response::new(self.list_users(request.into_inner()).await?))
    }
}
