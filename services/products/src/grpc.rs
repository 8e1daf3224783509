//! The `products.v1.ProductService` implementation: converts requests into domain values at the
//! boundary, runs the queries, and turns rows back into messages.

use proto::products::v1::product_service_server::ProductService;
use proto::products::v1::{
    CreateProductRequest, CreateProductResponse, GetProductRequest, GetProductResponse,
    ListProductsRequest, ListProductsResponse, Product,
};
use shop_common::pagination::PageRequest;
use std::sync::Arc;

use shop_common::{Database, Id};
use tonic::{Request, Response, Status};

use crate::db::{self, ProductRow};
use crate::domain::NewProduct;
use crate::error::ProductError;
use crate::sales::SalesTask;

/// The gRPC service, holding the database pool and the sold count consumer's task, which
/// stops when the last clone (the server's) is dropped.
#[derive(Debug, Clone)]
pub struct ProductsGrpc {
    db: Database,
    _sales: Option<Arc<SalesTask>>,
}

impl ProductsGrpc {
    /// A service over `db`, owning the sold count consumer `sales` if there is one.
    pub fn new(db: Database, sales: Option<SalesTask>) -> Self {
        Self {
            db,
            _sales: sales.map(Arc::new),
        }
    }

    async fn create_product(&self, request: CreateProductRequest) -> Result<Product, ProductError> {
        let product = NewProduct::from_checked(request);
        let mut conn = self.db.conn().await?;
        let row = db::insert_product(&mut conn, &product).await?;
        tracing::info!(product_id = row.id, "product created");
        Ok(row.into())
    }

    async fn get_product(&self, request: GetProductRequest) -> Result<Product, ProductError> {
        let id = Id::parse(request.id, "id")?;
        let mut conn = self.db.conn().await?;
        db::find_product(&mut conn, id)
            .await?
            .map(Product::from)
            .ok_or(ProductError::NotFound(id.get()))
    }

    async fn list_products(
        &self,
        request: ListProductsRequest,
    ) -> Result<ListProductsResponse, ProductError> {
        let page = PageRequest::parse(request.page_size, &request.page_token, LIST_SCOPE)?;
        let mut conn = self.db.conn().await?;
        let rows = db::products_after(&mut conn, page.after_id, page.fetch_limit()).await?;
        let (rows, next_page_token) = page.finish(rows, LIST_SCOPE, |row| row.id);
        Ok(ListProductsResponse {
            products: rows.into_iter().map(Product::from).collect(),
            next_page_token,
        })
    }
}

/// The list `ListProducts` pages through, as page tokens name it.
const LIST_SCOPE: &str = "products.v1.ProductService/ListProducts";

impl From<ProductRow> for Product {
    fn from(row: ProductRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            price: row.price,
            sold_count: row.sold_count,
        }
    }
}

#[tonic::async_trait]
impl ProductService for ProductsGrpc {
    #[tracing::instrument(skip_all)]
    async fn create_product(
        &self,
        request: Request<CreateProductRequest>,
    ) -> Result<Response<CreateProductResponse>, Status> {
        shop_common::validation::check(request.get_ref())?;
        let product = self.create_product(request.into_inner()).await?;
        Ok(Response::new(CreateProductResponse {
            product: Some(product),
        }))
    }

    #[tracing::instrument(skip_all, fields(id = request.get_ref().id))]
    async fn get_product(
        &self,
        request: Request<GetProductRequest>,
    ) -> Result<Response<GetProductResponse>, Status> {
        shop_common::validation::check(request.get_ref())?;
        let product = self.get_product(request.into_inner()).await?;
        Ok(Response::new(GetProductResponse {
            product: Some(product),
        }))
    }

    #[tracing::instrument(skip_all, fields(page_size = request.get_ref().page_size))]
    async fn list_products(
        &self,
        request: Request<ListProductsRequest>,
    ) -> Result<Response<ListProductsResponse>, Status> {
        shop_common::validation::check(request.get_ref())?;
        Ok(Response::new(
            self.list_products(request.into_inner()).await?,
        ))
    }
}
