//! The hand-written axum handlers the gateway is compared with: the same two bindings
//! (`GET /api/users/{id}`, `POST /api/users` with body `*` and `response_body: "user"`), coded
//! directly against the generated tonic client over one shared [`Channel`], with serde for the
//! JSON. The output is byte-compatible with the gateway's (proto field names, int64 as a
//! string), so both do the same work.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use proto::users::v1::user_service_client::UserServiceClient;
use proto::users::v1::{CreateUserRequest, GetUserRequest, User};
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;

/// The user as proto3 JSON writes it: `int64` as a decimal string.
#[derive(Serialize)]
struct UserJson<'a> {
    id: String,
    name: &'a str,
    email: &'a str,
}

/// `POST /api/users` body (`body: "*"` of `CreateUserRequest`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUserBody {
    name: String,
    email: String,
}

/// The hand-written router over `channel`.
pub fn router(channel: Channel) -> Router {
    Router::new()
        .route("/api/users", post(create_user))
        .route("/api/users/{id}", get(get_user))
        .with_state(UserServiceClient::new(channel))
}

async fn get_user(
    State(mut client): State<UserServiceClient<Channel>>,
    Path(id): Path<i64>,
) -> Response {
    match client.get_user(GetUserRequest { id }).await {
        Ok(response) => user_response(response.into_inner().user),
        Err(status) => error_response(&status),
    }
}

async fn create_user(
    State(mut client): State<UserServiceClient<Channel>>,
    Json(body): Json<CreateUserBody>,
) -> Response {
    let request = CreateUserRequest {
        name: body.name,
        email: body.email,
    };
    match client.create_user(request).await {
        Ok(response) => user_response(response.into_inner().user),
        Err(status) => error_response(&status),
    }
}

fn user_response(user: Option<User>) -> Response {
    let user = user.unwrap_or_default();
    let json = UserJson {
        id: user.id.to_string(),
        name: &user.name,
        email: &user.email,
    };
    match serde_json::to_vec(&json) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn error_response(status: &tonic::Status) -> Response {
    let code = match status.code() {
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
        tonic::Code::AlreadyExists => StatusCode::CONFLICT,
        tonic::Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = serde_json::json!({
        "code": status.code() as i32,
        "message": status.message(),
        "details": [],
    });
    (code, Json(body)).into_response()
}
