//! Validated payment input and the simulation's rules. A [`NewCharge`] or [`NewRefund`] can only
//! be built from a request that passed every check; [`Rules`] decide, deterministically, which
//! charges are declined and which calls fail.

use std::sync::Mutex;
use std::time::Duration;

use proto::payments::v1::{ChargeRequest, RefundRequest};
use shop_common::{FieldError, IdempotencyKey};

/// An amount in minor units (cents of the shop's one currency), not negative. Integers, so
/// every sum and comparison in the ledger is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Minor(i64);

impl Minor {
    /// Accepts `value` as the amount in `field`.
    pub fn parse(value: i64, field: &'static str) -> Result<Self, FieldError> {
        if value < 0 {
            return Err(FieldError::new(
                field,
                format!("must not be negative, got {value}"),
            ));
        }
        Ok(Self(value))
    }

    /// The amount in minor units.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A charge to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCharge {
    /// The caller's key naming the charge.
    pub key: IdempotencyKey,
    /// The amount.
    pub amount: Minor,
}

impl TryFrom<ChargeRequest> for NewCharge {
    type Error = FieldError;

    fn try_from(request: ChargeRequest) -> Result<Self, Self::Error> {
        Ok(Self {
            key: IdempotencyKey::parse(&request.idempotency_key, "idempotency_key")?,
            amount: Minor::parse(request.amount_minor, "amount_minor")?,
        })
    }
}

/// A refund to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefund {
    /// The caller's key naming the refund.
    pub key: IdempotencyKey,
    /// The key of the charge refunded.
    pub charge_key: IdempotencyKey,
    /// The amount.
    pub amount: Minor,
}

impl TryFrom<RefundRequest> for NewRefund {
    type Error = FieldError;

    fn try_from(request: RefundRequest) -> Result<Self, Self::Error> {
        Ok(Self {
            key: IdempotencyKey::parse(&request.idempotency_key, "idempotency_key")?,
            charge_key: IdempotencyKey::parse(
                &request.charge_idempotency_key,
                "charge_idempotency_key",
            )?,
            amount: Minor::parse(request.amount_minor, "amount_minor")?,
        })
    }
}

/// Default decline limit: charges above 10,000.00 are declined, so the seed's 1299.99 passes.
pub const DEFAULT_DECLINE_ABOVE: i64 = 1_000_000;

/// The simulation's rules, as the flags give them. Deterministic on purpose: a fault test sets
/// them and gets the same outcome every run.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Charges of more than this many minor units are declined (nothing is written).
    pub decline_above: i64,
    /// How long every Charge and Refund answer is held back after its ledger work is committed:
    /// a caller that dies meanwhile has been charged but never heard of it (the crash tests).
    pub delay: Duration,
    /// Share of Charge and Refund calls, 0.0 to 1.0, that fail with UNAVAILABLE before the
    /// ledger is touched.
    pub failure_rate: f64,
    /// Seed of the generator drawing those failures: the same seed fails the same calls (in
    /// arrival order).
    pub failure_seed: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            decline_above: DEFAULT_DECLINE_ABOVE,
            delay: Duration::ZERO,
            failure_rate: 0.0,
            failure_seed: 0,
        }
    }
}

impl Rules {
    /// Checks the values a flag could get wrong.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.decline_above >= 0,
            "the decline limit must not be negative, got {}",
            self.decline_above
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.failure_rate),
            "the failure rate must be between 0 and 1, got {}",
            self.failure_rate
        );
        Ok(())
    }

    /// Why a charge of `amount` is declined, or `None` when it is approved.
    pub fn decline_reason(&self, amount: Minor) -> Option<String> {
        (amount.get() > self.decline_above).then(|| {
            format!(
                "amount {} exceeds the limit of {} minor units",
                amount.get(),
                self.decline_above
            )
        })
    }
}

/// Draws the seeded failures: a splitmix64 sequence, one number per Charge or Refund call.
/// Our own few lines rather than a `rand` generator: the sequence must stay the same across
/// dependency upgrades for a seed to keep meaning the same faults.
#[derive(Debug)]
pub struct FailureDraws {
    rate: f64,
    state: Mutex<u64>,
}

impl FailureDraws {
    /// Failures at `rate` from `seed`.
    pub fn new(rate: f64, seed: u64) -> Self {
        Self {
            rate,
            state: Mutex::new(seed),
        }
    }

    /// Whether the next call fails. Never draws when the rate is 0, so a failure-free service
    /// pays nothing.
    pub fn next_fails(&self) -> bool {
        if self.rate <= 0.0 {
            return false;
        }
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits as a uniform number in [0, 1).
        let uniform = (z >> 11) as f64 / (1u64 << 53) as f64;
        uniform < self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_not_negative() {
        assert_eq!(Minor::parse(0, "amount_minor").map(Minor::get), Ok(0));
        assert_eq!(
            Minor::parse(129_999, "amount_minor").map(Minor::get),
            Ok(129_999)
        );
        let err = Minor::parse(-1, "amount_minor").expect_err("negative");
        assert_eq!(err.field, "amount_minor");
    }

    #[test]
    fn requests_convert_naming_the_bad_field() {
        let charge = |key: &str, amount| ChargeRequest {
            idempotency_key: key.into(),
            amount_minor: amount,
        };
        assert!(NewCharge::try_from(charge("purchase-1", 129_999)).is_ok());
        assert_eq!(
            NewCharge::try_from(charge("", 1)).map_err(|e| e.field),
            Err("idempotency_key")
        );
        assert_eq!(
            NewCharge::try_from(charge("k", -5)).map_err(|e| e.field),
            Err("amount_minor")
        );
        let refund = |key: &str, charge: &str| RefundRequest {
            idempotency_key: key.into(),
            charge_idempotency_key: charge.into(),
            amount_minor: 1,
        };
        assert!(NewRefund::try_from(refund("refund-1", "purchase-1")).is_ok());
        assert_eq!(
            NewRefund::try_from(refund("refund-1", "")).map_err(|e| e.field),
            Err("charge_idempotency_key")
        );
    }

    #[test]
    fn declines_strictly_above_the_limit() {
        let rules = Rules::default();
        assert_eq!(rules.decline_reason(Minor(129_999)), None);
        assert_eq!(rules.decline_reason(Minor(DEFAULT_DECLINE_ABOVE)), None);
        assert_eq!(
            rules.decline_reason(Minor(DEFAULT_DECLINE_ABOVE + 1)),
            Some("amount 1000001 exceeds the limit of 1000000 minor units".to_owned())
        );
    }

    #[test]
    fn rules_are_validated() {
        assert!(Rules::default().validate().is_ok());
        let bad_rate = Rules {
            failure_rate: 1.5,
            ..Rules::default()
        };
        assert!(bad_rate.validate().is_err());
        let bad_limit = Rules {
            decline_above: -1,
            ..Rules::default()
        };
        assert!(bad_limit.validate().is_err());
    }

    #[test]
    fn failures_follow_the_seed_and_the_rate() {
        let draw = |rate, seed| {
            let draws = FailureDraws::new(rate, seed);
            (0..1000).map(|_| draws.next_fails()).collect::<Vec<_>>()
        };
        assert_eq!(draw(0.3, 7), draw(0.3, 7), "same seed, same failures");
        assert_ne!(draw(0.3, 7), draw(0.3, 8));
        assert!(draw(0.0, 7).iter().all(|fails| !fails));
        assert!(draw(1.0, 7).iter().all(|fails| *fails));
        let failed = draw(0.3, 7).iter().filter(|fails| **fails).count();
        assert!((250..350).contains(&failed), "{failed} of 1000 at 0.3");
    }
}
