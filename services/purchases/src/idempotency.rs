//! Idempotency keys (`Idempotency-Key`, the IETF httpapi draft's header, carried by the gateway
//! as the gRPC metadata `idempotency-key`): the same key with the same request gets the same
//! stored answer and runs once, however many copies arrive and however concurrently; the same
//! key with another request is ALREADY_EXISTS; a key whose request is still running makes its
//! copies wait for the answer (ABORTED if it does not come within their deadline).
//!
//! The database decides who runs a request: exactly one `INSERT ... ON CONFLICT` claims a key
//! ([`db::claim_key`]), the others poll the row for the answer. A claimant presumed dead (its
//! claim older than the settle bound, nothing written under it) is taken over; a failure that
//! wrote nothing releases the key so a retry runs again. Keys expire after the configured time
//! and the sweeper purges them.

use std::time::Duration;

use prost::Message;
use sha2::{Digest, Sha256};
use shop_common::{FieldError, Id, IdempotencyKey};
use tonic::metadata::MetadataMap;

use crate::budget::Budget;
use crate::db;
use crate::error::PurchaseError;
use crate::grpc::Core;

/// The metadata key the gateway forwards the `Idempotency-Key` header as.
pub const METADATA_KEY: &str = "idempotency-key";

/// The field name errors about the key use: the header's, as clients send it.
const FIELD: &str = "Idempotency-Key";

/// How often a waiting copy looks for the answer, at first and at most.
const FIRST_POLL: Duration = Duration::from_millis(20);
const MAX_POLL: Duration = Duration::from_millis(200);

/// The request's idempotency key, if it sent one. The draft's value is a structured-field
/// string (`"..."`); a bare value is accepted too.
pub fn key_from_metadata(metadata: &MetadataMap) -> Result<Option<IdempotencyKey>, FieldError> {
    let Some(value) = metadata.get(METADATA_KEY) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| FieldError::new(FIELD, "must be printable ASCII"))?
        .trim();
    let unquoted = text
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(text);
    IdempotencyKey::parse(unquoted, FIELD).map(Some)
}

/// What a key's row says a request must do next.
#[derive(Debug)]
pub enum Turn {
    /// It owns the key: run the request (then [`Core::release_on_error`]).
    Own(Owner),
    /// Answer this stored answer.
    Answer(Vec<u8>),
    /// The key's request wrote purchase `id` but stored no answer (it gave up waiting for
    /// payments, or died): answer from the purchase once it is settled
    /// ([`Core::store_rebuilt`]), else [`Turns::wait`] and look again.
    Bound(Id),
}

/// The request that owns a key: the key and its claim (the fencing token every later change
/// to the key row is conditioned on).
#[derive(Debug, Clone)]
pub struct Owner {
    /// The key.
    pub key: IdempotencyKey,
    /// When it was claimed.
    pub claim: chrono::DateTime<chrono::Utc>,
}

/// One request's turns at a key: the key, its request's hash, and how long to wait next.
#[derive(Debug)]
pub struct Turns {
    key: IdempotencyKey,
    request_hash: Vec<u8>,
    poll: Duration,
}

impl Turns {
    /// Turns at `key` for a request hashing to `request_hash` ([`request_hash`]).
    pub fn new(key: IdempotencyKey, request_hash: Vec<u8>) -> Self {
        Self {
            key,
            request_hash,
            poll: FIRST_POLL,
        }
    }

    /// The key.
    pub fn key(&self) -> &IdempotencyKey {
        &self.key
    }

    /// Waits before looking again (20 ms, doubling up to 200 ms); ABORTED when the budget
    /// would run out first.
    pub async fn wait(&mut self, budget: &Budget) -> Result<(), PurchaseError> {
        if budget.remaining() <= self.poll {
            return Err(PurchaseError::KeyInProgress(self.key.clone()));
        }
        tokio::time::sleep(self.poll).await;
        self.poll = (self.poll * 2).min(MAX_POLL);
        Ok(())
    }
}

/// SHA-256 of `operation` and the encoded `request`: equal for the same request whatever JSON
/// spelled it (field order, camelCase), different for any other request.
pub fn request_hash(operation: &str, request: &impl Message) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(operation.as_bytes());
    hasher.update([0u8]);
    hasher.update(request.encode_to_vec());
    hasher.finalize().to_vec()
}

/// Decodes a stored answer.
pub fn decode<R: Message + Default>(
    key: &IdempotencyKey,
    bytes: &[u8],
) -> Result<R, PurchaseError> {
    tracing::info!(%key, "replaying the stored answer");
    R::decode(bytes)
        .map_err(|err| PurchaseError::Corrupt(format!("stored answer of key {key}: {err}")))
}

impl Core {
    /// The next turn at a key: claims it, or waits (within the budget) until its answer exists,
    /// a purchase is bound to it, or its owner is presumed dead and it is taken over. The same
    /// key with another request's hash is ALREADY_EXISTS.
    ///
    /// The owner must store its answer with [`db::store_response`] in the transaction of its
    /// last write, so that an answer exists whenever its effect does.
    pub(crate) async fn next_turn(
        &self,
        turns: &mut Turns,
        budget: &Budget,
    ) -> Result<Turn, PurchaseError> {
        let ttl = self.settings.key_ttl.as_secs_f64();
        let key = turns.key.clone();
        loop {
            let mut conn = self.db.conn().await?;
            if let Some(claim) = db::claim_key(&mut conn, &key, &turns.request_hash, ttl).await? {
                return Ok(Turn::Own(Owner { key, claim }));
            }
            let Some(row) = db::find_key(&mut conn, &key).await? else {
                // Released or expired between the two statements: claim it again at once.
                continue;
            };
            if row.request_hash != turns.request_hash {
                return Err(PurchaseError::KeyConflict(key));
            }
            if let Some(response) = row.response {
                return Ok(Turn::Answer(response));
            }
            if let Some(purchase_id) = row.purchase_id {
                let id = Id::parse(purchase_id, "stored purchase id")
                    .map_err(|err| PurchaseError::Corrupt(err.to_string()))?;
                return Ok(Turn::Bound(id));
            }
            let abandoned = chrono::Utc::now() - row.claimed_at
                > chrono::Duration::from_std(self.settings.settle_after)
                    .unwrap_or(chrono::Duration::MAX);
            if abandoned
                && let Some(claim) = db::take_over_key(&mut conn, &key, row.claimed_at).await?
            {
                tracing::warn!(%key, "taking over a key whose request was abandoned");
                return Ok(Turn::Own(Owner { key, claim }));
            }
            drop(conn);
            turns.wait(budget).await?;
        }
    }

    /// Stores `answer`, rebuilt from a purchase settled after its request gave up, as the key's
    /// answer, unless one was stored meanwhile, which is then answered instead.
    pub(crate) async fn store_rebuilt<R: Message + Default>(
        &self,
        turns: &Turns,
        answer: R,
    ) -> Result<R, PurchaseError> {
        let bytes = answer.encode_to_vec();
        let mut conn = self.db.conn().await?;
        if db::store_response_once(&mut conn, &turns.key, &bytes).await? {
            return Ok(answer);
        }
        match db::find_key(&mut conn, &turns.key)
            .await?
            .and_then(|row| row.response)
        {
            Some(stored) => decode(&turns.key, &stored),
            None => Ok(answer),
        }
    }

    /// Passes the owner's `outcome` on; on failure first gives the key up if nothing is bound
    /// to it (the request wrote nothing), so a retry runs again. A key bound to a purchase
    /// stays, to be answered once the purchase is settled.
    pub(crate) async fn release_on_error<R>(
        &self,
        owner: &Owner,
        outcome: Result<R, PurchaseError>,
    ) -> Result<R, PurchaseError> {
        if outcome.is_err() {
            let released = match self.db.conn().await {
                Ok(mut conn) => db::release_key(&mut conn, &owner.key, owner.claim)
                    .await
                    .map_err(PurchaseError::from),
                Err(err) => Err(err.into()),
            };
            if let Err(err) = released {
                tracing::warn!(error = %err, key = %owner.key, "cannot release the key");
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::purchases::v1::CreatePurchaseRequest;
    use tonic::metadata::MetadataValue;

    fn metadata(value: &'static str) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        metadata.insert(METADATA_KEY, MetadataValue::from_static(value));
        metadata
    }

    #[test]
    fn keys_come_bare_or_as_structured_strings() {
        let key = |value| key_from_metadata(&metadata(value)).map(|k| k.map(|k| k.to_string()));
        assert_eq!(key("abc-123"), Ok(Some("abc-123".to_owned())));
        assert_eq!(key("\"abc-123\""), Ok(Some("abc-123".to_owned())));
        assert_eq!(key_from_metadata(&MetadataMap::new()), Ok(None));
        for bad in ["\"\"", "a b"] {
            let err = key(bad).expect_err(bad);
            assert_eq!(err.field, "Idempotency-Key", "{bad}");
        }
    }

    #[test]
    fn hashes_tell_requests_and_operations_apart() {
        let request = |user_id, product_id| CreatePurchaseRequest {
            user_id,
            product_id,
        };
        let a = request_hash("create", &request(1, 2));
        assert_eq!(a, request_hash("create", &request(1, 2)));
        assert_eq!(a.len(), 32);
        assert_ne!(a, request_hash("create", &request(2, 1)));
        assert_ne!(a, request_hash("refund", &request(1, 2)));
    }
}
