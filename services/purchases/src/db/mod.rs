//! Database rows and queries. Query functions take `&mut AsyncPgConnection` so callers can run
//! them inside a transaction.

mod keys;
mod models;
mod outbox;
mod queries;

pub use keys::{
    bind_key_to_purchase, claim_key, find_key, purge_expired_keys, release_key, store_response,
    store_response_once, take_over_key,
};
pub use models::{NewOutboxRow, PendingEvent, PurchaseRow, timestamp};
pub use outbox::{
    insert_event, lock_pending_events, mark_published, pending_backlog, purge_published,
};
pub use queries::{
    find_purchase, insert_purchase, mark_refunded, pending_before, purchases_of_user,
    settle_purchase,
};
