//! googleapis' own example API, `google.example.library.v1.LibraryService` (shelves and books),
//! taken unchanged from the pinned corpus (`build-support/corpus`) and served over REST/JSON by
//! the generic `gateway` runtime from the routes the generator wrote at build time, in front of
//! [`LibraryServer`]: a small in-memory tonic implementation written for the test.
//!
//! It is the corpus end to end: `cargo xtask corpus` proves every googleapis directory generates
//! and documents; this crate's tests prove one of them is served, over real sockets.
//!
//! Without the corpus installed (`npm ci` in `build-support/corpus`) the crate is empty; see
//! `build.rs`.

#[cfg(not(corpus_missing))]
mod library;

#[cfg(not(corpus_missing))]
pub use library::*;
