//! Rows of the `products` table.

use diesel::prelude::*;

use crate::schema::products;

/// A stored product.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = products, check_for_backend(diesel::pg::Pg))]
pub struct ProductRow {
    /// Server-assigned id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Current price.
    pub price: f64,
    /// Units sold, from the purchase events.
    pub sold_count: i64,
}

/// The columns an insert sets.
#[derive(Debug, Insertable)]
#[diesel(table_name = products)]
pub(crate) struct NewProductRow<'a> {
    pub name: &'a str,
    pub price: f64,
}
