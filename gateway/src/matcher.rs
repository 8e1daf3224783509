//! Matches a request's method and path against the compiled path templates.
//!
//! Rules (HttpRule semantics): literals compare case-sensitively on the raw (still
//! percent-encoded) segment; `*` matches one non-empty segment; `**` matches zero or more and is
//! only ever last; a template's `:verb` is split off the last path segment before matching, so
//! `{id}` never swallows `:archive`. When several templates match, the most specific wins:
//! segment by segment a literal beats `*` beats `**`, and a template with a verb beats the same
//! template without one.
//!
//! Candidates are found through an index on the first literal segment, so a request only tries
//! the templates that start with its first segment (plus the few that start with a variable).

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::spec::{PathPattern, Segment};

/// One template the matcher knows, with its method.
#[derive(Debug)]
struct Entry {
    method: &'static str,
    pattern: &'static PathPattern,
    /// Specificity key, compared lexicographically (greater is more specific).
    rank: Vec<u8>,
}

/// A compiled set of templates; entries are identified by their position in the input.
#[derive(Debug, Default)]
pub struct Matcher {
    entries: Vec<Entry>,
    by_first_literal: HashMap<&'static str, Vec<usize>>,
    /// Entries whose first segment is a variable, or that have no segment at all.
    unindexed: Vec<usize>,
}

/// The outcome of matching one request.
#[derive(Debug, PartialEq, Eq)]
pub enum MatchOutcome<'p> {
    /// The winning entry and the path segments (raw, the verb removed from the last one).
    Found {
        /// Index of the entry in the order given to [`Matcher::new`].
        index: usize,
        /// The request path's segments, still percent-encoded, the verb split off.
        segments: Vec<&'p str>,
    },
    /// The path matches, but only for other methods (listed once each, in table order).
    MethodNotAllowed(Vec<&'static str>),
    /// Nothing matches the path.
    NotFound,
}

const RANK_MULTI: u8 = 0;
const RANK_SINGLE: u8 = 1;
const RANK_LITERAL: u8 = 2;
/// The end of a template ranks above `**` (which could also have matched nothing there).
const RANK_END: u8 = 1;

fn rank(pattern: &PathPattern) -> Vec<u8> {
    let mut rank: Vec<u8> = pattern
        .segments
        .iter()
        .map(|s| match s {
            Segment::Literal(_) => RANK_LITERAL,
            Segment::Single => RANK_SINGLE,
            Segment::Multi => RANK_MULTI,
        })
        .collect();
    rank.push(RANK_END);
    rank.push(u8::from(pattern.verb.is_some()));
    rank
}

/// Splits a raw path (`/a/b:verb`) into its segments; `/` has none.
fn split_path(path: &str) -> Vec<&str> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    }
}

/// The path's last segment with `:verb` removed, or `None` when the path does not end so.
fn strip_verb<'p>(segments: &[&'p str], verb: &str) -> Option<&'p str> {
    segments.last()?.strip_suffix(verb)?.strip_suffix(':')
}

/// Whether `pattern` matches; `last` replaces the final path segment (verb removed).
fn matches(pattern: &PathPattern, segments: &[&str], last: Option<&str>) -> bool {
    let n = segments.len();
    let segment = |i: usize| -> &str {
        match last {
            Some(stripped) if i + 1 == n => stripped,
            _ => segments[i],
        }
    };
    for (i, seg) in pattern.segments.iter().enumerate() {
        match seg {
            Segment::Multi => return true,
            _ if i >= n => return false,
            Segment::Literal(lit) => {
                if segment(i) != *lit {
                    return false;
                }
            }
            Segment::Single => {
                if segment(i).is_empty() {
                    return false;
                }
            }
        }
    }
    pattern.segments.len() == n
}

impl Matcher {
    /// Builds the matcher from `(method, pattern)` pairs.
    pub fn new(entries: impl IntoIterator<Item = (&'static str, &'static PathPattern)>) -> Self {
        let mut matcher = Matcher::default();
        for (index, (method, pattern)) in entries.into_iter().enumerate() {
            match pattern.segments.first() {
                Some(Segment::Literal(lit)) => {
                    // A literal can carry the verb when it is the only segment (`/things:verb`).
                    matcher.by_first_literal.entry(lit).or_default().push(index);
                }
                _ => matcher.unindexed.push(index),
            }
            matcher.entries.push(Entry {
                method,
                rank: rank(pattern),
                pattern,
            });
        }
        matcher
    }

    /// Matches `method` and the raw request `path`.
    pub fn find<'p>(&self, method: &str, path: &'p str) -> MatchOutcome<'p> {
        let segments = split_path(path);
        let first = segments.first().copied().unwrap_or("");
        let indexed = self
            .by_first_literal
            .get(first)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        // A single-segment path with a verb (`/things:verb`) is indexed under `things`.
        let verb_indexed = match (segments.len(), first.rfind(':')) {
            (1, Some(colon)) => self
                .by_first_literal
                .get(&first[..colon])
                .map(Vec::as_slice)
                .unwrap_or(&[]),
            _ => &[],
        };

        let mut best: Option<(usize, Option<&'p str>)> = None;
        let mut allow: Vec<&'static str> = Vec::new();
        for &index in indexed.iter().chain(verb_indexed).chain(&self.unindexed) {
            let entry = &self.entries[index];
            let last = match &entry.pattern.verb {
                Some(verb) => match strip_verb(&segments, verb) {
                    Some(stripped) => Some(stripped),
                    None => continue,
                },
                None => None,
            };
            if !matches(entry.pattern, &segments, last) {
                continue;
            }
            if entry.method != method {
                if !allow.contains(&entry.method) {
                    allow.push(entry.method);
                }
                continue;
            }
            let better = match best {
                None => true,
                Some((current, _)) => {
                    entry.rank.cmp(&self.entries[current].rank) == Ordering::Greater
                }
            };
            if better {
                best = Some((index, last));
            }
        }

        match best {
            Some((index, last)) => {
                let mut segments = segments;
                if let (Some(stripped), Some(slot)) = (last, segments.last_mut()) {
                    *slot = stripped;
                }
                MatchOutcome::Found { index, segments }
            }
            None if !allow.is_empty() => MatchOutcome::MethodNotAllowed(allow),
            None => MatchOutcome::NotFound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    use Segment::{Multi, Single};

    /// A pattern that lives as long as the matcher (a test leaks a few bytes per table).
    fn p(segments: Vec<Segment>, verb: Option<&'static str>) -> &'static PathPattern {
        Box::leak(Box::new(PathPattern {
            segments: segments.into(),
            verb: verb.map(Cow::Borrowed),
        }))
    }

    fn l(literal: &'static str) -> Segment {
        Segment::Literal(Cow::Borrowed(literal))
    }

    fn table() -> Matcher {
        Matcher::new([
            // 0: /v1/things/{id}
            ("GET", p(vec![l("v1"), l("things"), Single], None)),
            // 1: /v1/things/{id}:archive
            (
                "POST",
                p(vec![l("v1"), l("things"), Single], Some("archive")),
            ),
            // 2: /v1/things/special
            ("GET", p(vec![l("v1"), l("things"), l("special")], None)),
            // 3: /v1/{name=**}
            ("GET", p(vec![l("v1"), Multi], None)),
            // 4: /v1/things/{id} DELETE
            ("DELETE", p(vec![l("v1"), l("things"), Single], None)),
            // 5: /{x}/tail
            ("GET", p(vec![Single, l("tail")], None)),
            // 6: /v1/things:batch
            ("POST", p(vec![l("v1"), l("things")], Some("batch"))),
            // 7: /v1/shelves/*/books/*
            (
                "GET",
                p(
                    vec![l("v1"), l("shelves"), Single, l("books"), Single],
                    None,
                ),
            ),
            // 8: /v1/shelves/{x=*} vs 9 /v1/shelves/{x=**}
            ("PUT", p(vec![l("v1"), l("shelves"), Single], None)),
            ("PUT", p(vec![l("v1"), l("shelves"), Multi], None)),
            // 10: /root:verb
            ("POST", p(vec![l("root")], Some("go"))),
        ])
    }

    fn found(m: &Matcher, method: &str, path: &str) -> (usize, Vec<String>) {
        match m.find(method, path) {
            MatchOutcome::Found { index, segments } => {
                (index, segments.into_iter().map(str::to_owned).collect())
            }
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    #[test]
    fn literal_beats_variable() {
        let m = table();
        assert_eq!(found(&m, "GET", "/v1/things/special").0, 2);
        assert_eq!(found(&m, "GET", "/v1/things/42").0, 0);
    }

    #[test]
    fn single_beats_multi() {
        let m = table();
        assert_eq!(found(&m, "GET", "/v1/things/42").0, 0);
        assert_eq!(found(&m, "GET", "/v1/a/b/c").0, 3);
        assert_eq!(found(&m, "GET", "/v1").0, 3);
        assert_eq!(found(&m, "PUT", "/v1/shelves/a").0, 8);
        assert_eq!(found(&m, "PUT", "/v1/shelves/a/b").0, 9);
        assert_eq!(found(&m, "PUT", "/v1/shelves").0, 9);
    }

    #[test]
    fn verb_is_split_off() {
        let m = table();
        let (index, segments) = found(&m, "POST", "/v1/things/42:archive");
        assert_eq!(index, 1);
        assert_eq!(segments, ["v1", "things", "42"]);
        assert_eq!(found(&m, "POST", "/v1/things:batch").0, 6);
        let (index, segments) = found(&m, "POST", "/root:go");
        assert_eq!((index, segments), (10, vec!["root".to_owned()]));
        // Without the verb the id keeps its colon.
        let (index, segments) = found(&m, "GET", "/v1/things/a:b");
        assert_eq!((index, segments[2].as_str()), (0, "a:b"));
    }

    #[test]
    fn method_not_allowed_lists_methods() {
        let m = table();
        assert_eq!(
            m.find("PATCH", "/v1/things/42"),
            MatchOutcome::MethodNotAllowed(vec!["GET", "DELETE"])
        );
    }

    #[test]
    fn not_found() {
        let m = table();
        assert_eq!(m.find("GET", "/v2/x"), MatchOutcome::NotFound);
        assert_eq!(m.find("GET", "/"), MatchOutcome::NotFound);
        assert_eq!(m.find("GET", "/V1/things/1"), MatchOutcome::NotFound);
    }

    #[test]
    fn variable_first_segment_and_multi_segment() {
        let m = table();
        assert_eq!(found(&m, "GET", "/anything/tail").0, 5);
        assert_eq!(found(&m, "GET", "/v1/shelves/1/books/2").0, 7);
        // An empty segment does not match `*`.
        assert_eq!(m.find("GET", "//tail"), MatchOutcome::NotFound);
    }
}
