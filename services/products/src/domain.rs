//! A product to create, from a request that kept its `buf.validate` rules.
//!
//! The rules (a name of 1 to 200 characters that is not only spaces; a finite price, not
//! negative) are declared once, in `products.proto`, and checked before a handler runs
//! (`shop_common::validation`); the gateway and the OpenAPI document read the same
//! annotations. What is left here is how the values are stored.

use proto::products::v1::CreateProductRequest;

/// A product to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProduct {
    /// Display name, surrounding spaces trimmed.
    pub name: String,
    /// Price; `-0.0` is stored as `0.0`.
    pub price: f64,
}

impl NewProduct {
    /// The product `request` asks for; `request` has kept its rules (`validation::check`).
    pub fn from_checked(request: CreateProductRequest) -> Self {
        Self {
            name: request.name.trim().to_owned(),
            // `required`: always there once checked. -0.0 keeps `gte: 0`; adding +0.0 turns it
            // into 0.0 and changes nothing else.
            price: request.price.unwrap_or_default() + 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_negative_zero_is_zero() {
        let product = NewProduct::from_checked(CreateProductRequest {
            name: " Laptop ".into(),
            price: Some(-0.0),
        });
        assert_eq!(product.name, "Laptop");
        assert!(product.price == 0.0 && product.price.is_sign_positive());
    }
}
