//! Purchase values: the order a request makes, statuses and their transitions, exact amounts,
//! and the keys a purchase is charged and refunded under.

use proto::purchases::v1 as pb;
use shop_common::{FieldError, Id, IdempotencyKey};

/// Where a purchase stands. `UNSPECIFIED` is never stored.
///
/// PENDING -> COMPLETED | FAILED once the charge is settled; COMPLETED -> REFUNDED. Nothing
/// else: a purchase is never COMPLETED without a charge, and never refunded twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurchaseStatus {
    /// Recorded; its charge is not settled yet.
    Pending,
    /// Charged.
    Completed,
    /// Not charged (declined, or payments unavailable).
    Failed,
    /// Charged, then refunded in full.
    Refunded,
}

impl PurchaseStatus {
    /// The value stored in the `status` column.
    pub fn as_db(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Refunded => "REFUNDED",
        }
    }

    /// Reads a `status` column value; `None` for anything the migration's CHECK forbids.
    pub fn from_db(value: &str) -> Option<Self> {
        match value {
            "PENDING" => Some(Self::Pending),
            "COMPLETED" => Some(Self::Completed),
            "FAILED" => Some(Self::Failed),
            "REFUNDED" => Some(Self::Refunded),
            _ => None,
        }
    }
}

impl From<PurchaseStatus> for pb::PurchaseStatus {
    fn from(status: PurchaseStatus) -> Self {
        match status {
            PurchaseStatus::Pending => Self::Pending,
            PurchaseStatus::Completed => Self::Completed,
            PurchaseStatus::Failed => Self::Failed,
            PurchaseStatus::Refunded => Self::Refunded,
        }
    }
}

/// How a PENDING purchase ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The charge is in the payments ledger.
    Completed,
    /// No charge was taken; the reason is shown to the client as `failure_reason`.
    Failed(String),
}

/// The readable reasons a purchase FAILS.
pub mod reason {
    /// Payments could not be reached (down, or the circuit breaker is open) and took no charge.
    pub const PAYMENTS_UNAVAILABLE: &str = "payments unavailable";
    /// The sweeper found no charge for a purchase left PENDING (its request died before the
    /// charge, or the charge never went through).
    pub const NO_PAYMENT_TAKEN: &str = "no payment was taken";

    /// Payments declined the charge, saying why.
    pub fn declined(why: &str) -> String {
        format!("payment declined: {why}")
    }

    /// Payments refused the charge request itself (it answered an error, wrote nothing).
    pub fn rejected(why: &str) -> String {
        format!("payment rejected: {why}")
    }
}

/// An exact amount in minor units (cents), as charged. The shop's JSON keeps decimal prices
/// (a proto `double`), so the conversion is exact both ways or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cents(i64);

impl Cents {
    /// The price `price` in cents, exactly: its shortest decimal form (what the JSON shows, e.g.
    /// `1299.99`) read as digits, never `price * 100` rounded. `None` if it is negative, not
    /// finite, has more than two decimals, or does not fit.
    pub fn from_price(price: f64) -> Option<Self> {
        if !price.is_finite() || price < 0.0 {
            return None;
        }
        // Display prints the shortest decimal that reads back as `price`, never an exponent.
        let text = format!("{}", price + 0.0);
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        if fraction.len() > 2 || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut cents: i64 = whole.parse::<i64>().ok()?.checked_mul(100)?;
        let fraction_cents = match fraction.len() {
            0 => 0,
            1 => fraction.parse::<i64>().ok()? * 10,
            _ => fraction.parse::<i64>().ok()?,
        };
        cents = cents.checked_add(fraction_cents)?;
        Some(Self(cents))
    }

    /// Cents as stored (`amount_minor`); `None` if negative (the CHECK forbids it).
    pub fn from_minor(value: i64) -> Option<Self> {
        (value >= 0).then_some(Self(value))
    }

    /// The amount in minor units, as charged.
    pub fn get(self) -> i64 {
        self.0
    }

    /// The amount as the API's decimal `double`: the double nearest to the decimal, i.e. the
    /// very value the product's price had (division of two exact integers rounds once).
    pub fn to_price(self) -> f64 {
        // Exact below 2^53 cents (90 trillion), far beyond any price.
        self.0 as f64 / 100.0
    }
}

/// What a CreatePurchase request asks for, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurchaseOrder {
    /// The buyer.
    pub user_id: Id,
    /// The product.
    pub product_id: Id,
}

impl TryFrom<&pb::CreatePurchaseRequest> for PurchaseOrder {
    type Error = FieldError;

    fn try_from(request: &pb::CreatePurchaseRequest) -> Result<Self, Self::Error> {
        Ok(Self {
            user_id: Id::parse(request.user_id, "user_id")?,
            product_id: Id::parse(request.product_id, "product_id")?,
        })
    }
}

/// A purchase to record, built after the user and product were checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPurchase {
    /// The buyer.
    pub user_id: Id,
    /// The product bought.
    pub product_id: Id,
    /// The product's price at purchase time.
    pub amount: Cents,
}

/// The payments idempotency key of purchase `id`'s charge: derived from the purchase id, so
/// purchases (its request, or the sweeper after a crash) can always ask for it again.
pub fn charge_key(id: Id) -> IdempotencyKey {
    IdempotencyKey::derived("purchase", id)
}

/// The payments idempotency key of purchase `id`'s refund: one refund per purchase, however
/// often it is asked for.
pub fn refund_key(id: Id) -> IdempotencyKey {
    IdempotencyKey::derived("refund", id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_the_column_and_keep_the_seed_s_numbers() {
        for status in [
            PurchaseStatus::Pending,
            PurchaseStatus::Completed,
            PurchaseStatus::Failed,
            PurchaseStatus::Refunded,
        ] {
            assert_eq!(PurchaseStatus::from_db(status.as_db()), Some(status));
        }
        assert_eq!(PurchaseStatus::from_db("CANCELLED"), None);
        assert_eq!(PurchaseStatus::from_db("UNSPECIFIED"), None);
        let numbers = [
            (PurchaseStatus::Pending, 1),
            (PurchaseStatus::Completed, 2),
            (PurchaseStatus::Failed, 3),
            (PurchaseStatus::Refunded, 4),
        ];
        for (status, number) in numbers {
            assert_eq!(
                pb::PurchaseStatus::from(status) as i32,
                number,
                "{status:?}"
            );
        }
        assert_eq!(
            pb::PurchaseStatus::from(PurchaseStatus::Failed).as_str_name(),
            "PURCHASE_STATUS_FAILED"
        );
    }

    #[test]
    fn prices_convert_to_cents_exactly() {
        let cents = |price| Cents::from_price(price).map(Cents::get);
        assert_eq!(cents(1299.99), Some(129_999));
        assert_eq!(cents(0.1), Some(10));
        assert_eq!(cents(0.29), Some(29), "0.29 * 100 is 28.999999999999996");
        assert_eq!(cents(19.5), Some(1950));
        assert_eq!(cents(2.0), Some(200));
        assert_eq!(cents(0.0), Some(0));
        assert_eq!(cents(-0.0), Some(0));
        assert_eq!(cents(1e15), Some(100_000_000_000_000_000));
        for bad in [0.001, 1.005, -1.0, f64::NAN, f64::INFINITY, 1e17, 1e300] {
            assert_eq!(cents(bad), None, "{bad}");
        }
    }

    #[test]
    fn cents_give_back_the_very_price() {
        for price in [1299.99, 0.1, 0.29, 19.5, 49.5, 2.5, 0.07, 99_999.99] {
            let back = Cents::from_price(price).map(Cents::to_price);
            assert_eq!(back, Some(price), "{price}");
        }
        // Every cent amount up to 100,000.00 survives the round trip through its price.
        for value in (0..10_000_000).step_by(13) {
            let price = Cents(value).to_price();
            assert_eq!(Cents::from_price(price), Some(Cents(value)), "{value}");
        }
    }

    #[test]
    fn orders_convert_naming_the_bad_field() {
        let request = |user_id, product_id| pb::CreatePurchaseRequest {
            user_id,
            product_id,
        };
        assert!(PurchaseOrder::try_from(&request(1, 2)).is_ok());
        assert_eq!(
            PurchaseOrder::try_from(&request(0, 2)).map_err(|e| e.field),
            Err("user_id")
        );
        assert_eq!(
            PurchaseOrder::try_from(&request(1, -2)).map_err(|e| e.field),
            Err("product_id")
        );
    }

    #[test]
    fn derived_keys_name_the_purchase() {
        let id = Id::parse(42, "id").expect("positive");
        assert_eq!(charge_key(id).as_str(), "purchase-42");
        assert_eq!(refund_key(id).as_str(), "refund-42");
        let max = Id::parse(i64::MAX, "id").expect("positive");
        assert_eq!(charge_key(max).as_str(), format!("purchase-{}", i64::MAX));
    }
}
