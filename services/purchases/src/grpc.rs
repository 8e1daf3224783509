//! The `purchases.v1.PurchaseService` implementation. Users and products are fetched from
//! their services concurrently; nothing is written unless both exist.

use std::collections::HashSet;

use futures::future::{try_join, try_join_all};
use proto::purchases::v1::purchase_service_server::PurchaseService;
use proto::purchases::v1::{
    CreatePurchaseRequest, CreatePurchaseResponse, GetPurchaseRequest, GetPurchaseResponse,
    GetUserPurchasesRequest, GetUserPurchasesResponse, Purchase,
};
use shop_common::{Database, Id};
use tonic::{Request, Response, Status};

use crate::db::{self, PurchaseRow};
use crate::domain::{Amount, NewPurchase, PurchaseStatus};
use crate::error::PurchaseError;
use crate::upstream::Upstreams;

/// The gRPC service: the database pool and the upstream clients.
#[derive(Debug, Clone)]
pub struct PurchasesGrpc {
    db: Database,
    upstreams: Upstreams,
}

impl PurchasesGrpc {
    /// A service over `db`, checking users and products through `upstreams`.
    pub fn new(db: Database, upstreams: Upstreams) -> Self {
        Self { db, upstreams }
    }

    async fn create_purchase(
        &self,
        request: CreatePurchaseRequest,
    ) -> Result<CreatePurchaseResponse, PurchaseError> {
        let user_id = Id::parse(request.user_id, "user_id")?;
        let product_id = Id::parse(request.product_id, "product_id")?;
        let (user, product) = try_join(
            self.upstreams.user(user_id),
            self.upstreams.product(product_id),
        )
        .await?;
        let amount =
            Amount::from_price(product.price).ok_or_else(|| PurchaseError::UpstreamFailed {
                service: shop_common::names::PRODUCTS_SERVICE,
                cause: format!(
                    "product {} has an invalid price {}",
                    product.id, product.price
                ),
            })?;
        let purchase = NewPurchase {
            user_id,
            product_id,
            amount,
            status: PurchaseStatus::Completed,
        };
        let mut conn = self.db.conn().await?;
        let row = db::insert_purchase(&mut conn, &purchase).await?;
        tracing::info!(
            purchase_id = row.id,
            user_id = row.user_id,
            product_id = row.product_id,
            "purchase recorded"
        );
        Ok(CreatePurchaseResponse {
            purchase: Some(to_message(row)?),
            user: Some(user),
            product: Some(product),
        })
    }

    async fn get_purchase(
        &self,
        request: GetPurchaseRequest,
    ) -> Result<GetPurchaseResponse, PurchaseError> {
        let id = Id::parse(request.id, "id")?;
        let row = {
            let mut conn = self.db.conn().await?;
            db::find_purchase(&mut conn, id)
                .await?
                .ok_or(PurchaseError::NotFound {
                    entity: "purchase",
                    id: id.get(),
                })?
        };
        let (user, product) = try_join(
            self.upstreams.user(stored_id(row.user_id)?),
            self.upstreams.product(stored_id(row.product_id)?),
        )
        .await?;
        Ok(GetPurchaseResponse {
            purchase: Some(to_message(row)?),
            user: Some(user),
            product: Some(product),
        })
    }

    async fn get_user_purchases(
        &self,
        request: GetUserPurchasesRequest,
    ) -> Result<GetUserPurchasesResponse, PurchaseError> {
        let user_id = Id::parse(request.user_id, "user_id")?;
        // The user is fetched while the purchases load and their products are fetched.
        let purchases_and_products = async {
            let rows = {
                let mut conn = self.db.conn().await?;
                db::purchases_of_user(&mut conn, user_id).await?
            };
            let mut seen = HashSet::new();
            let product_ids = rows
                .iter()
                .map(|row| row.product_id)
                .filter(|id| seen.insert(*id))
                .map(stored_id)
                .collect::<Result<Vec<_>, _>>()?;
            let products =
                try_join_all(product_ids.into_iter().map(|id| self.upstreams.product(id))).await?;
            Ok::<_, PurchaseError>((rows, products))
        };
        let (user, (rows, products)) =
            try_join(self.upstreams.user(user_id), purchases_and_products).await?;
        Ok(GetUserPurchasesResponse {
            purchases: rows.into_iter().map(to_message).collect::<Result<_, _>>()?,
            user: Some(user),
            products,
        })
    }
}

/// An id read back from our own table (the CHECK constraints keep it positive).
fn stored_id(value: i64) -> Result<Id, PurchaseError> {
    Id::parse(value, "stored id").map_err(|err| PurchaseError::Corrupt(err.to_string()))
}

fn to_message(row: PurchaseRow) -> Result<Purchase, PurchaseError> {
    let status = PurchaseStatus::from_db(&row.status).ok_or_else(|| {
        PurchaseError::Corrupt(format!("purchase {} has status {:?}", row.id, row.status))
    })?;
    let nanos = i32::try_from(row.created_at.timestamp_subsec_nanos())
        .map_err(|_| PurchaseError::Corrupt(format!("purchase {} has a bad timestamp", row.id)))?;
    Ok(Purchase {
        id: row.id,
        user_id: row.user_id,
        product_id: row.product_id,
        amount: row.amount,
        status: proto::purchases::v1::PurchaseStatus::from(status).into(),
        created_at: Some(prost_types::Timestamp {
            seconds: row.created_at.timestamp(),
            nanos,
        }),
    })
}

#[tonic::async_trait]
impl PurchaseService for PurchasesGrpc {
    #[tracing::instrument(skip_all, fields(user_id = request.get_ref().user_id, product_id = request.get_ref().product_id))]
    async fn create_purchase(
        &self,
        request: Request<CreatePurchaseRequest>,
    ) -> Result<Response<CreatePurchaseResponse>, Status> {
        Ok(Response::new(
            self.create_purchase(request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(id = request.get_ref().id))]
    async fn get_purchase(
        &self,
        request: Request<GetPurchaseRequest>,
    ) -> Result<Response<GetPurchaseResponse>, Status> {
        Ok(Response::new(
            self.get_purchase(request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(user_id = request.get_ref().user_id))]
    async fn get_user_purchases(
        &self,
        request: Request<GetUserPurchasesRequest>,
    ) -> Result<Response<GetUserPurchasesResponse>, Status> {
        Ok(Response::new(
            self.get_user_purchases(request.into_inner()).await?,
        ))
    }
}
