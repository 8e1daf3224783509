//! Purchase values: statuses, amounts, and the purchase to record.

use proto::purchases::v1 as pb;
use shop_common::Id;

/// Where a purchase stands. `UNSPECIFIED` is never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurchaseStatus {
    /// Waiting for payment.
    Pending,
    /// Paid and done.
    Completed,
    /// Cancelled before completion.
    Cancelled,
}

impl PurchaseStatus {
    /// The value stored in the `status` column.
    pub fn as_db(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Reads a `status` column value; `None` for anything the migration's CHECK forbids.
    pub fn from_db(value: &str) -> Option<Self> {
        match value {
            "PENDING" => Some(Self::Pending),
            "COMPLETED" => Some(Self::Completed),
            "CANCELLED" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

impl From<PurchaseStatus> for pb::PurchaseStatus {
    fn from(status: PurchaseStatus) -> Self {
        match status {
            PurchaseStatus::Pending => Self::Pending,
            PurchaseStatus::Completed => Self::Completed,
            PurchaseStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// A price paid: finite and not negative.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Amount(f64);

impl Amount {
    /// Accepts a product price as an amount; `None` if it is negative or not finite (which the
    /// products service never returns).
    pub fn from_price(price: f64) -> Option<Self> {
        (price.is_finite() && price >= 0.0).then_some(Self(price + 0.0))
    }

    /// The amount.
    pub fn get(self) -> f64 {
        self.0
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
    pub amount: Amount,
    /// Initial status.
    pub status: PurchaseStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_the_column() {
        for status in [
            PurchaseStatus::Pending,
            PurchaseStatus::Completed,
            PurchaseStatus::Cancelled,
        ] {
            assert_eq!(PurchaseStatus::from_db(status.as_db()), Some(status));
        }
        assert_eq!(PurchaseStatus::from_db("UNSPECIFIED"), None);
        assert_eq!(
            pb::PurchaseStatus::from(PurchaseStatus::Completed).as_str_name(),
            "PURCHASE_STATUS_COMPLETED"
        );
    }

    #[test]
    fn amounts_come_from_valid_prices_only() {
        assert_eq!(Amount::from_price(1299.99).map(Amount::get), Some(1299.99));
        assert!(Amount::from_price(-1.0).is_none());
        assert!(Amount::from_price(f64::NAN).is_none());
    }
}
