//! The `payments.v1.PaymentService` implementation: converts requests into domain values at the
//! boundary, applies the simulation's rules, keeps the ledger, and turns rows back into
//! messages.
//!
//! Idempotency is the ledger's unique keys: a request first looks its key up (a replay answers
//! the stored row, whatever the rules say now), and a new row is inserted with
//! `ON CONFLICT DO NOTHING`, so two concurrent requests with one key write one row and both
//! answer it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use proto::payments::v1::payment_service_server::PaymentService;
use proto::payments::v1::{
    Charge, ChargeOutcome, ChargeRequest, ChargeResponse, GetChargeRequest, GetChargeResponse,
    Refund, RefundRequest, RefundResponse,
};
use shop_common::{Database, IdempotencyKey};
use tonic::{Request, Response, Status};

use crate::db::{self, ChargeRow, RefundRow};
use crate::domain::{FailureDraws, NewCharge, NewRefund, Rules};
use crate::error::PaymentError;

/// The gRPC service: the database pool and the rules.
#[derive(Debug, Clone)]
pub struct PaymentsGrpc {
    db: Database,
    rules: Arc<Rules>,
    failures: Arc<FailureDraws>,
}

impl PaymentsGrpc {
    /// A service over `db` following `rules`.
    pub fn new(db: Database, rules: Rules) -> Self {
        let failures = FailureDraws::new(rules.failure_rate, rules.failure_seed);
        Self {
            db,
            rules: Arc::new(rules),
            failures: Arc::new(failures),
        }
    }

    async fn charge(&self, request: ChargeRequest) -> Result<ChargeResponse, PaymentError> {
        let charge = NewCharge::try_from(request)?;
        let mut conn = self.db.conn().await?;
        if let Some(stored) = db::find_charge(&mut conn, &charge.key).await? {
            return approved(&mut conn, same_charge(stored, &charge)?).await;
        }
        if self.failures.next_fails() {
            tracing::info!(key = %charge.key, "simulated failure of a charge");
            return Err(PaymentError::SimulatedFailure);
        }
        if let Some(reason) = self.rules.decline_reason(charge.amount) {
            tracing::info!(key = %charge.key, amount = charge.amount.get(), %reason, "charge declined");
            return Ok(ChargeResponse {
                outcome: ChargeOutcome::Declined.into(),
                decline_reason: reason,
                charge: None,
            });
        }
        match db::insert_charge(&mut conn, &charge).await? {
            Some(row) => {
                tracing::info!(key = %charge.key, amount = row.amount_minor, "charged");
                // Nothing may fail after the write: the answer is built from the row alone (a
                // new charge has no refunds), so an error answer always means "not charged".
                Ok(ChargeResponse {
                    outcome: ChargeOutcome::Approved.into(),
                    decline_reason: String::new(),
                    charge: Some(charge_message_of(row, 0)),
                })
            }
            // A concurrent request with the same key wrote first: a replay of its charge.
            None => {
                let stored = db::find_charge(&mut conn, &charge.key)
                    .await?
                    .ok_or_else(|| {
                        PaymentError::Corrupt(format!("charge \"{}\" vanished", charge.key))
                    })?;
                approved(&mut conn, same_charge(stored, &charge)?).await
            }
        }
    }

    async fn refund(&self, request: RefundRequest) -> Result<RefundResponse, PaymentError> {
        let refund = NewRefund::try_from(request)?;
        if self.failures.next_fails() {
            tracing::info!(key = %refund.key, "simulated failure of a refund");
            return Err(PaymentError::SimulatedFailure);
        }
        let mut conn = self.db.conn().await?;
        let row = conn
            .transaction(async |conn| {
                // The charge's lock orders its refunds: the sum below cannot go stale.
                let charge = db::lock_charge(conn, &refund.charge_key)
                    .await?
                    .ok_or_else(|| PaymentError::ChargeNotFound(refund.charge_key.clone()))?;
                if let Some(stored) = db::find_refund(conn, &refund.key).await? {
                    return same_refund(stored, &charge, &refund);
                }
                let refunded = db::refunded_total(conn, charge.id).await?.ok_or_else(|| {
                    PaymentError::Corrupt(format!("charge {} refunds overflow", charge.id))
                })?;
                let remaining = charge.amount_minor - refunded;
                if refund.amount.get() > remaining {
                    return Err(PaymentError::RefundExceedsCharge {
                        charge_key: refund.charge_key.clone(),
                        requested: refund.amount.get(),
                        remaining,
                        charged: charge.amount_minor,
                    });
                }
                match db::insert_refund(conn, charge.id, &refund).await? {
                    Some(row) => {
                        tracing::info!(key = %refund.key, charge = %refund.charge_key, amount = row.amount_minor, "refunded");
                        Ok(row)
                    }
                    // The key names a refund of another charge, written meanwhile.
                    None => {
                        let stored = db::find_refund(conn, &refund.key).await?.ok_or_else(|| {
                            PaymentError::Corrupt(format!("refund \"{}\" vanished", refund.key))
                        })?;
                        same_refund(stored, &charge, &refund)
                    }
                }
            })
            .await?;
        Ok(RefundResponse {
            refund: Some(refund_message(row, &refund.charge_key)),
        })
    }

    async fn get_charge(
        &self,
        request: GetChargeRequest,
    ) -> Result<GetChargeResponse, PaymentError> {
        let key = IdempotencyKey::parse(&request.idempotency_key, "idempotency_key")?;
        let mut conn = self.db.conn().await?;
        let row = db::find_charge(&mut conn, &key)
            .await?
            .ok_or(PaymentError::ChargeNotFound(key))?;
        let charge = charge_message(&mut conn, row).await?;
        Ok(GetChargeResponse {
            charge: Some(charge),
        })
    }

    /// Holds an answer back for the configured delay: the ledger work is committed by now, so a
    /// caller dying meanwhile leaves a charge it never heard of, which is what the crash tests
    /// need to happen at a known moment.
    async fn delay(&self) {
        if !self.rules.delay.is_zero() {
            tokio::time::sleep(self.rules.delay).await;
        }
    }
}

/// `stored`, if it is the charge `asked` describes; a key conflict otherwise.
fn same_charge(stored: ChargeRow, asked: &NewCharge) -> Result<ChargeRow, PaymentError> {
    if stored.amount_minor == asked.amount.get() {
        Ok(stored)
    } else {
        Err(PaymentError::KeyConflict {
            key: asked.key.clone(),
            stored: format!("a charge of {} minor units", stored.amount_minor),
            asked: format!("a charge of {} minor units", asked.amount.get()),
        })
    }
}

/// `stored`, if it is the refund `asked` describes (same charge, same amount); a key conflict
/// otherwise.
fn same_refund(
    stored: RefundRow,
    charge: &ChargeRow,
    asked: &NewRefund,
) -> Result<RefundRow, PaymentError> {
    if stored.charge_id == charge.id && stored.amount_minor == asked.amount.get() {
        Ok(stored)
    } else {
        Err(PaymentError::KeyConflict {
            key: asked.key.clone(),
            stored: format!(
                "a refund of {} minor units of another request",
                stored.amount_minor
            ),
            asked: format!(
                "a refund of {} minor units of charge \"{}\"",
                asked.amount.get(),
                asked.charge_key
            ),
        })
    }
}

/// The APPROVED answer for `row`.
async fn approved(
    conn: &mut AsyncPgConnection,
    row: ChargeRow,
) -> Result<ChargeResponse, PaymentError> {
    Ok(ChargeResponse {
        outcome: ChargeOutcome::Approved.into(),
        decline_reason: String::new(),
        charge: Some(charge_message(conn, row).await?),
    })
}

async fn charge_message(
    conn: &mut AsyncPgConnection,
    row: ChargeRow,
) -> Result<Charge, PaymentError> {
    let refunded = db::refunded_total(conn, row.id)
        .await?
        .ok_or_else(|| PaymentError::Corrupt(format!("charge {} refunds overflow", row.id)))?;
    Ok(charge_message_of(row, refunded))
}

fn charge_message_of(row: ChargeRow, refunded: i64) -> Charge {
    Charge {
        id: row.id,
        idempotency_key: row.idempotency_key,
        amount_minor: row.amount_minor,
        refunded_minor: refunded,
        created_at: Some(timestamp(row.created_at)),
    }
}

fn refund_message(row: RefundRow, charge_key: &IdempotencyKey) -> Refund {
    Refund {
        id: row.id,
        idempotency_key: row.idempotency_key,
        charge_idempotency_key: charge_key.as_str().to_owned(),
        amount_minor: row.amount_minor,
        created_at: Some(timestamp(row.created_at)),
    }
}

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        // Below one second, so it fits.
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

#[tonic::async_trait]
impl PaymentService for PaymentsGrpc {
    #[tracing::instrument(skip_all, fields(key = request.get_ref().idempotency_key))]
    async fn charge(
        &self,
        request: Request<ChargeRequest>,
    ) -> Result<Response<ChargeResponse>, Status> {
        let response = self.charge(request.into_inner()).await?;
        self.delay().await;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(key = request.get_ref().idempotency_key))]
    async fn refund(
        &self,
        request: Request<RefundRequest>,
    ) -> Result<Response<RefundResponse>, Status> {
        let response = self.refund(request.into_inner()).await?;
        self.delay().await;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(key = request.get_ref().idempotency_key))]
    async fn get_charge(
        &self,
        request: Request<GetChargeRequest>,
    ) -> Result<Response<GetChargeResponse>, Status> {
        Ok(Response::new(self.get_charge(request.into_inner()).await?))
    }
}
