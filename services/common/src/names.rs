//! The shop's logical service names: what each service registers as in Consul and what its
//! callers ask discovery for. They live here, with the shop, so the generic crates (the gateway
//! runtime, discovery) name no service.

/// Logical name of the users service.
pub const USERS_SERVICE: &str = "users-service";
/// Logical name of the products service.
pub const PRODUCTS_SERVICE: &str = "products-service";
/// Logical name of the purchases service.
pub const PURCHASES_SERVICE: &str = "purchases-service";
/// Logical name of the payments service.
pub const PAYMENTS_SERVICE: &str = "payments-service";
