//! List pages as AIP-158 has them: `page_size` (0 for the default, capped at the maximum), an
//! opaque `page_token`, and `next_page_token` (empty on the last page).
//!
//! Pages are keyset pages over the rows' ids, ascending: a page is "the next `size` rows with an
//! id above the last one seen". So a page costs an index range scan however deep it is, and rows
//! inserted meanwhile never shift what follows (they get higher ids, and show up on a later
//! page). The token carries that last id, bound to the list it came from by a checksum over the
//! list's scope (`users`, `purchases of user 42`, ...): a token edited by hand, cut short, or
//! taken from another list (another user's purchases) is refused as INVALID_ARGUMENT, never
//! read as another position or another caller's data.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::FieldError;

/// Rows on a page when the request says 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// The most rows on a page; a larger `page_size` is taken as this (AIP-158: coerce, not refuse).
pub const MAX_PAGE_SIZE: u32 = 100;

/// The token format's version byte: a format change makes old tokens fail cleanly.
const VERSION: u8 = 1;

/// Bytes of the scope checksum in a token.
const CHECKSUM_LEN: usize = 12;

/// Where a page starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows on the page.
    pub size: u32,
    /// The page holds rows with ids above this (0 for the first page).
    pub after_id: i64,
}

impl PageRequest {
    /// The page a request asks for in the list named `scope`: `page_size` (field `page_size`;
    /// negative is INVALID_ARGUMENT, 0 the default, above the maximum the maximum) and
    /// `page_token` (field `page_token`; empty for the first page).
    pub fn parse(page_size: i32, page_token: &str, scope: &str) -> Result<Self, FieldError> {
        let size = match u32::try_from(page_size) {
            Err(_) => {
                return Err(FieldError::new(
                    "page_size",
                    format!("must not be negative, got {page_size}"),
                ));
            }
            Ok(0) => DEFAULT_PAGE_SIZE,
            Ok(size) => size.min(MAX_PAGE_SIZE),
        };
        let after_id = if page_token.is_empty() {
            0
        } else {
            decode(page_token, scope).ok_or_else(|| {
                FieldError::new(
                    "page_token",
                    "is not a page token of this list (pass the next_page_token of the previous page unchanged)",
                )
            })?
        };
        Ok(Self { size, after_id })
    }

    /// How many rows to fetch: one more than the page, to tell whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.size) + 1
    }

    /// Cuts `rows` (fetched in id order with [`PageRequest::fetch_limit`]) to the page and
    /// returns it with the `next_page_token` for what follows, empty when nothing does.
    pub fn finish<T>(
        &self,
        mut rows: Vec<T>,
        scope: &str,
        id: impl Fn(&T) -> i64,
    ) -> (Vec<T>, String) {
        if rows.len() <= self.size as usize {
            return (rows, String::new());
        }
        rows.truncate(self.size as usize);
        let next = rows
            .last()
            .map(|row| encode(id(row), scope))
            .unwrap_or_default();
        (rows, next)
    }
}

/// The token of the position after `last_id` in the list `scope`.
fn encode(last_id: i64, scope: &str) -> String {
    let mut bytes = Vec::with_capacity(1 + 8 + CHECKSUM_LEN);
    bytes.push(VERSION);
    bytes.extend_from_slice(&last_id.to_be_bytes());
    bytes.extend_from_slice(&checksum(last_id, scope));
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The position a token of the list `scope` holds; `None` for anything else.
fn decode(token: &str, scope: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let (&version, rest) = bytes.split_first()?;
    if version != VERSION || rest.len() != 8 + CHECKSUM_LEN {
        return None;
    }
    let (id, sum) = rest.split_at(8);
    let last_id = i64::from_be_bytes(id.try_into().ok()?);
    (last_id > 0 && sum == checksum(last_id, scope)).then_some(last_id)
}

fn checksum(last_id: i64, scope: &str) -> [u8; CHECKSUM_LEN] {
    let digest = Sha256::new()
        .chain_update(b"page-token\0")
        .chain_update(scope.as_bytes())
        .chain_update(b"\0")
        .chain_update(last_id.to_be_bytes())
        .finalize();
    let mut sum = [0; CHECKSUM_LEN];
    sum.copy_from_slice(&digest[..CHECKSUM_LEN]);
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_default_cap_and_refuse_negatives() {
        let size = |n| PageRequest::parse(n, "", "users").map(|p| p.size);
        assert_eq!(size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(size(7), Ok(7));
        assert_eq!(size(10_000), Ok(MAX_PAGE_SIZE));
        let err = size(-1).expect_err("negative");
        assert_eq!(err.field, "page_size");
    }

    #[test]
    fn a_page_of_more_rows_than_asked_gives_a_token_that_resumes_after_its_last_row() {
        let first = PageRequest::parse(2, "", "users").expect("first page");
        assert_eq!(first.fetch_limit(), 3);
        let (rows, next) = first.finish(vec![4_i64, 9, 12], "users", |id| *id);
        assert_eq!(rows, [4, 9]);
        let second = PageRequest::parse(2, &next, "users").expect("our own token");
        assert_eq!(second.after_id, 9);
        let (rows, next) = second.finish(vec![12_i64], "users", |id| *id);
        assert_eq!(
            (rows, next.as_str()),
            (vec![12], ""),
            "the last page has no token"
        );
    }

    #[test]
    fn tokens_of_other_lists_and_edited_tokens_are_refused() {
        let token = encode(41, "purchases of user 1");
        assert_eq!(decode(&token, "purchases of user 1"), Some(41));
        assert_eq!(
            decode(&token, "purchases of user 2"),
            None,
            "another user's list"
        );
        let mut edited = URL_SAFE_NO_PAD.decode(&token).expect("base64");
        edited[8] ^= 1; // the id's last byte: 41 -> 40
        assert_eq!(
            decode(&URL_SAFE_NO_PAD.encode(&edited), "purchases of user 1"),
            None
        );
        for bad in [
            "x",
            "not base64!",
            &token[..token.len() - 2],
            "AAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            let err = PageRequest::parse(10, bad, "purchases of user 1").expect_err(bad);
            assert_eq!(err.field, "page_token", "{bad:?}");
        }
    }
}
