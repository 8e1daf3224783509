//! The hand-written axum handlers the gateway is compared with: the same bindings
//! (`GET /api/users/{id}`, `POST /api/users` with body `*` and `response_body: "user"`, and
//! `POST /api/purchases` with body `*` and its `Idempotency-Key` header), coded directly against
//! the generated tonic clients over one shared [`Channel`] per service, with serde for the JSON.
//! The output is byte-compatible with the gateway's (proto field names, int64 as a string, enum
//! names, RFC 3339 timestamps, unpopulated fields written), so both do the same work.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use proto::products::v1::Product;
use proto::purchases::v1::purchase_service_client::PurchaseServiceClient;
use proto::purchases::v1::{CreatePurchaseRequest, CreatePurchaseResponse, Purchase};
use proto::users::v1::user_service_client::UserServiceClient;
use proto::users::v1::{CreateUserRequest, GetUserRequest, User};
use serde::{Deserialize, Deserializer, Serialize};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use crate::load::IDEMPOTENCY_KEY_HEADER;

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

/// `POST /api/purchases` body (`body: "*"` of `CreatePurchaseRequest`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePurchaseBody {
    #[serde(deserialize_with = "int64")]
    user_id: i64,
    #[serde(deserialize_with = "int64")]
    product_id: i64,
}

/// A proto3 JSON `int64`: a decimal string (what proto3 JSON writes) or a number.
fn int64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int64 {
        Text(String),
        Number(i64),
    }
    match Int64::deserialize(deserializer)? {
        Int64::Number(n) => Ok(n),
        Int64::Text(text) => text.parse().map_err(serde::de::Error::custom),
    }
}

/// The product as proto3 JSON writes it.
#[derive(Serialize)]
struct ProductJson<'a> {
    id: String,
    name: &'a str,
    price: f64,
    sold_count: String,
}

/// The purchase as proto3 JSON writes it: the status by its enum name, the timestamp in
/// RFC 3339 (`prost_types::Timestamp`'s `Display` is the canonical form).
#[derive(Serialize)]
struct PurchaseJson<'a> {
    id: String,
    user_id: String,
    product_id: String,
    amount: f64,
    status: &'static str,
    created_at: Option<String>,
    failure_reason: &'a str,
}

/// `CreatePurchaseResponse` as proto3 JSON writes it.
#[derive(Serialize)]
struct CreatePurchaseJson<'a> {
    purchase: Option<PurchaseJson<'a>>,
    user: Option<UserJson<'a>>,
    product: Option<ProductJson<'a>>,
}

/// The hand-written router: the users bindings over `users`, and the purchase binding over
/// `purchases` when the stack runs the shop's purchases.
pub fn router(users: Channel, purchases: Option<Channel>) -> Router {
    let router = Router::new()
        .route("/api/users", post(create_user))
        .route("/api/users/{id}", get(get_user))
        .with_state(UserServiceClient::new(users));
    match purchases {
        Some(channel) => router.merge(
            Router::new()
                .route("/api/purchases", post(create_purchase))
                .with_state(PurchaseServiceClient::new(channel)),
        ),
        None => router,
    }
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

async fn create_purchase(
    State(mut client): State<PurchaseServiceClient<Channel>>,
    headers: HeaderMap,
    Json(body): Json<CreatePurchaseBody>,
) -> Response {
    if body.user_id <= 0 || body.product_id <= 0 {
        return bad_request("user_id and product_id must be greater than 0");
    }
    let mut request = tonic::Request::new(CreatePurchaseRequest {
        user_id: body.user_id,
        product_id: body.product_id,
    });
    if let Some(key) = headers.get(IDEMPOTENCY_KEY_HEADER) {
        // 1 to 200 printable ASCII characters, as the header's declared pattern says (202
        // bytes for a structured-field string: the quotes around them).
        let bytes = key.as_bytes();
        if bytes.is_empty() || bytes.len() > 202 || !bytes.iter().all(u8::is_ascii_graphic) {
            return bad_request("Idempotency-Key: must be 1 to 200 printable ASCII characters");
        }
        match MetadataValue::try_from(bytes) {
            Ok(value) => {
                request
                    .metadata_mut()
                    .insert(purchases_service::IDEMPOTENCY_KEY_METADATA, value);
            }
            Err(_) => return bad_request("Idempotency-Key: not a valid header value"),
        }
    }
    match client.create_purchase(request).await {
        Ok(response) => purchase_response(&response.into_inner()),
        Err(status) => error_response(&status),
    }
}

fn user_json(user: &User) -> UserJson<'_> {
    UserJson {
        id: user.id.to_string(),
        name: &user.name,
        email: &user.email,
    }
}

fn user_response(user: Option<User>) -> Response {
    let user = user.unwrap_or_default();
    json_response(&user_json(&user))
}

fn purchase_json(purchase: &Purchase) -> PurchaseJson<'_> {
    PurchaseJson {
        id: purchase.id.to_string(),
        user_id: purchase.user_id.to_string(),
        product_id: purchase.product_id.to_string(),
        amount: purchase.amount,
        status: purchase.status().as_str_name(),
        created_at: purchase.created_at.as_ref().map(ToString::to_string),
        failure_reason: &purchase.failure_reason,
    }
}

fn product_json(product: &Product) -> ProductJson<'_> {
    ProductJson {
        id: product.id.to_string(),
        name: &product.name,
        price: product.price,
        sold_count: product.sold_count.to_string(),
    }
}

fn purchase_response(response: &CreatePurchaseResponse) -> Response {
    json_response(&CreatePurchaseJson {
        purchase: response.purchase.as_ref().map(purchase_json),
        user: response.user.as_ref().map(user_json),
        product: response.product.as_ref().map(product_json),
    })
}

fn json_response(json: &impl Serialize) -> Response {
    match serde_json::to_vec(json) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn bad_request(message: &str) -> Response {
    let body = serde_json::json!({
        "code": tonic::Code::InvalidArgument as i32,
        "message": message,
        "details": [],
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
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
