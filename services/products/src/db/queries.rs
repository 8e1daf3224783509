//! Queries on `products`.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use shop_common::Id;

use super::models::{NewProductRow, ProductRow};
use crate::domain::NewProduct;
use crate::schema::products;

/// Inserts `product` and returns the stored row.
#[tracing::instrument(skip_all)]
pub async fn insert_product(
    conn: &mut AsyncPgConnection,
    product: &NewProduct,
) -> QueryResult<ProductRow> {
    diesel::insert_into(products::table)
        .values(NewProductRow {
            name: product.name.as_str(),
            price: product.price.get(),
        })
        .returning(ProductRow::as_returning())
        .get_result(conn)
        .await
}

/// The product with `id`, if any.
#[tracing::instrument(skip(conn))]
pub async fn find_product(conn: &mut AsyncPgConnection, id: Id) -> QueryResult<Option<ProductRow>> {
    products::table
        .find(id.get())
        .select(ProductRow::as_select())
        .first(conn)
        .await
        .optional()
}
