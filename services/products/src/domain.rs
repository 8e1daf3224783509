//! Validated product input. A [`NewProduct`] can only be built from a request that passed every
//! check.

use proto::products::v1::CreateProductRequest;
use shop_common::{FieldError, Name};

/// A product's display name: 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductName(Name);

impl ProductName {
    /// Accepts `value` as the `name` field.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        Name::parse(value, "name").map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// A price: finite and not negative.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price(f64);

impl Price {
    /// Accepts `value` as the `price` field.
    pub fn parse(value: f64) -> Result<Self, FieldError> {
        if !value.is_finite() {
            return Err(FieldError::new("price", "must be a finite number"));
        }
        if value < 0.0 {
            return Err(FieldError::new(
                "price",
                format!("must not be negative, got {value}"),
            ));
        }
        // -0.0 passes `< 0.0`; adding +0.0 turns it into 0.0 and changes nothing else.
        Ok(Self(value + 0.0))
    }

    /// The amount.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A product to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProduct {
    /// Display name.
    pub name: ProductName,
    /// Price.
    pub price: Price,
}

impl TryFrom<CreateProductRequest> for NewProduct {
    type Error = FieldError;

    fn try_from(request: CreateProductRequest) -> Result<Self, Self::Error> {
        Ok(Self {
            name: ProductName::parse(&request.name)?,
            price: Price::parse(request.price)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_finite_and_not_negative() {
        assert_eq!(Price::parse(1299.99).map(Price::get), Ok(1299.99));
        assert_eq!(Price::parse(0.0).map(Price::get), Ok(0.0));
        assert!(
            Price::parse(-0.0)
                .map(|p| p.get().is_sign_positive())
                .unwrap_or(false)
        );
        for bad in [-0.01, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(
                Price::parse(bad).map_err(|e| e.field),
                Err("price"),
                "{bad}"
            );
        }
    }

    #[test]
    fn request_conversion_checks_both_fields() {
        let request = |name: &str, price: f64| CreateProductRequest {
            name: name.into(),
            price,
        };
        assert!(NewProduct::try_from(request("Laptop", 1299.99)).is_ok());
        assert_eq!(
            NewProduct::try_from(request("", 1.0)).map_err(|e| e.field),
            Err("name")
        );
        assert_eq!(
            NewProduct::try_from(request("Laptop", -1.0)).map_err(|e| e.field),
            Err("price")
        );
    }
}
