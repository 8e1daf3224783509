//! Queries on `products`.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
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
            name: &product.name,
            price: product.price,
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

/// Counts one unit of product `product_id` as sold (`delta` +1) or returned (-1) for event
/// `event_id`, unless that event was counted before; in one transaction, so the count and the
/// memory of the event never disagree. Returns whether it counted. A product unknown here
/// (a purchase of a product from another database) only marks the event as seen.
#[tracing::instrument(skip(conn))]
pub async fn count_sale_once(
    conn: &mut AsyncPgConnection,
    event_id: uuid::Uuid,
    product_id: i64,
    delta: i64,
) -> QueryResult<bool> {
    use crate::schema::processed_events;
    conn.transaction(async |conn| {
        let first_time = diesel::insert_into(processed_events::table)
            .values(processed_events::event_id.eq(event_id))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?
            == 1;
        if first_time {
            diesel::update(products::table.find(product_id))
                .set(products::sold_count.eq(products::sold_count + delta))
                .execute(conn)
                .await?;
        }
        Ok(first_time)
    })
    .await
}

/// Up to `limit` products with ids above `after_id`, by id: one keyset page.
#[tracing::instrument(skip(conn))]
pub async fn products_after(
    conn: &mut AsyncPgConnection,
    after_id: i64,
    limit: i64,
) -> QueryResult<Vec<ProductRow>> {
    products::table
        .filter(products::id.gt(after_id))
        .order(products::id.asc())
        .limit(limit)
        .select(ProductRow::as_select())
        .load(conn)
        .await
}
