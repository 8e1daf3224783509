//! The shop's protobuf API: prost messages and tonic clients/servers for `users.v1`,
//! `products.v1`, `purchases.v1` and `payments.v1`, compiled from `proto/` at build time with protox.
//!
//! Every crate depends on this one crate instead of copying `.proto` files around, and
//! [`FILE_DESCRIPTOR_SET`] carries the descriptors (with `google.api.http` options intact) for
//! server reflection and for the gateway generator.

/// The encoded `google.protobuf.FileDescriptorSet` of every file we compile and its imports,
/// with source info (comments) and extension options preserved.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));

/// Where the `.proto` sources live, for tools (the generator) that compile them themselves.
pub const PROTO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");

/// `google.api`: the HttpRule annotation messages.
pub mod google {
    /// `google.api`.
    #[allow(missing_docs, clippy::all)]
    pub mod api {
        include!(concat!(env!("OUT_DIR"), "/google.api.rs"));
    }
}

/// `users.v1`.
pub mod users {
    /// `users.v1`.
    #[allow(missing_docs, clippy::all)]
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/users.v1.rs"));
    }
}

/// `products.v1`.
pub mod products {
    /// `products.v1`.
    #[allow(missing_docs, clippy::all)]
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/products.v1.rs"));
    }
}

/// `purchases.v1`.
pub mod purchases {
    /// `purchases.v1`.
    #[allow(missing_docs, clippy::all)]
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/purchases.v1.rs"));
    }
}

/// `payments.v1`.
pub mod payments {
    /// `payments.v1`.
    #[allow(missing_docs, clippy::all)]
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/payments.v1.rs"));
    }
}
