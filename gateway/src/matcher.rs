//! Matches a request's method and path against the compiled path templates.
//!
//! Rules (HttpRule semantics): literals compare case-sensitively on the raw (still
//! percent-encoded) segment; `*` matches one non-empty segment; `**` matches zero or more; a
//! template's `:verb` is split off the last path segment before matching, so `{id}` never
//! swallows `:archive`. Verbs are matched first: when some template with a verb fits the path
//! (for any method), templates without a verb do not match it at all, so the path is that
//! verb's (a wrong method is a 405 naming the verb's methods only) and never a variable ending
//! in `:archive`. When no template's verb fits, a colon in the last segment is ordinary data.
//!
//! A template has at most one `**`. http.proto wants it last, but Google's own APIs put segments
//! after it (`/v1/{parent=projects/*/databases/*/documents/*/**}/{collection_id}`) and Google's
//! front ends serve them: `**` takes the shortest run of segments that lets the rest of the
//! template match. With one `**` and a fixed number of segments after it, that run is
//! determined by the path's length ([`Alignment`]), so matching never backtracks.
//!
//! When several templates match, the most specific wins: path segment by path segment, the
//! template segment that took it ranks literal over `*` over `**`; then a template without `**`
//! beats one whose `**` took nothing; then a template with a verb beats one without. (For
//! templates whose `**` is last this is the same order as comparing their segments one by one.)
//!
//! Candidates are found through an index on the first literal segment, so a request only tries
//! the templates that start with its first segment (plus the few that start with a variable).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Range;

use crate::spec::{PathParam, PathPattern, Segment};

/// One template the matcher knows, with its method.
#[derive(Debug)]
struct Entry {
    method: &'static str,
    pattern: &'static PathPattern,
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

/// How a template's segments line up with a path of a given length: which path segments the
/// `**` (if any) takes. Template segment `i` covers path segment `i` before the `**`, and
/// `i + taken - 1` after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Alignment {
    /// Index of the `**` in the template, if it has one.
    multi: Option<usize>,
    /// How many path segments the `**` takes (0 without one).
    taken: usize,
}

impl Alignment {
    /// The alignment of `pattern` on a path of `len` segments, `None` when the lengths cannot
    /// match (too few segments, or a different count without `**`). The `**` takes exactly what
    /// the segments after it leave: the shortest run that lets the rest match, and the only one.
    pub(crate) fn of(pattern: &PathPattern, len: usize) -> Option<Self> {
        let count = pattern.segments.len();
        match pattern.segments.iter().position(|s| *s == Segment::Multi) {
            Some(at) => Some(Alignment {
                multi: Some(at),
                taken: len.checked_sub(count - 1)?,
            }),
            None => (count == len).then_some(Alignment {
                multi: None,
                taken: 0,
            }),
        }
    }

    /// The path index where template segment `i` starts (for `i` one past the end, the path's
    /// length).
    fn start(self, i: usize) -> usize {
        match self.multi {
            Some(at) if i > at => i + self.taken - 1,
            _ => i,
        }
    }

    /// The path segments (indices) that template segments `range` cover.
    fn path_range(self, range: Range<usize>) -> Range<usize> {
        let end = match self.multi {
            // A range ending with the `**` ends where the `**` ends.
            Some(at) if range.end > at => range.end + self.taken - 1,
            _ => range.end,
        };
        self.start(range.start)..end.max(self.start(range.start))
    }

    /// The path segments (indices) a path variable captures.
    pub(crate) fn param_range(
        self,
        pattern: &PathPattern,
        param: &PathParam,
    ) -> Option<Range<usize>> {
        let end = match param.segment_count {
            Some(count) => param.first_segment + count,
            // Ends with the template's `**`.
            None => self.multi.filter(|at| *at >= param.first_segment)? + 1,
        };
        (end <= pattern.segments.len()).then(|| self.path_range(param.first_segment..end))
    }

    /// The rank of the template segment covering path segment `j`.
    fn rank_at(self, pattern: &PathPattern, j: usize) -> u8 {
        let i = match self.multi {
            Some(at) if j >= at + self.taken => j + 1 - self.taken,
            Some(at) if j >= at => at,
            _ => j,
        };
        match pattern.segments.get(i) {
            Some(Segment::Literal(_)) => RANK_LITERAL,
            Some(Segment::Single) => RANK_SINGLE,
            Some(Segment::Multi) | None => RANK_MULTI,
        }
    }
}

/// Compares two matches of the same path of `len` segments by specificity (greater wins).
fn compare(
    (a, a_align): (&PathPattern, Alignment),
    (b, b_align): (&PathPattern, Alignment),
    len: usize,
) -> Ordering {
    (0..len)
        .map(|j| a_align.rank_at(a, j).cmp(&b_align.rank_at(b, j)))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
        .then_with(|| b_align.multi.is_some().cmp(&a_align.multi.is_some()))
        .then_with(|| a.verb.is_some().cmp(&b.verb.is_some()))
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

/// How `pattern` lines up with the path, `None` when it does not match; `last` replaces the
/// final path segment (verb removed).
fn matches(pattern: &PathPattern, segments: &[&str], last: Option<&str>) -> Option<Alignment> {
    let n = segments.len();
    let alignment = Alignment::of(pattern, n)?;
    let segment = |j: usize| -> &str {
        match last {
            Some(stripped) if j + 1 == n => stripped,
            _ => segments[j],
        }
    };
    for (i, seg) in pattern.segments.iter().enumerate() {
        let j = alignment.start(i);
        let ok = match seg {
            Segment::Multi => true,
            Segment::Literal(lit) => segment(j) == *lit,
            Segment::Single => !segment(j).is_empty(),
        };
        if !ok {
            return None;
        }
    }
    Some(alignment)
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
            matcher.entries.push(Entry { method, pattern });
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

        // Every template that fits the path, whatever its method.
        let mut candidates: Vec<(usize, Option<&'p str>, Alignment)> = Vec::new();
        for &index in indexed.iter().chain(verb_indexed).chain(&self.unindexed) {
            let entry = &self.entries[index];
            let last = match &entry.pattern.verb {
                Some(verb) => match strip_verb(&segments, verb) {
                    Some(stripped) => Some(stripped),
                    None => continue,
                },
                None => None,
            };
            if let Some(alignment) = matches(entry.pattern, &segments, last) {
                candidates.push((index, last, alignment));
            }
        }
        // Verbs are matched first: once a template with a verb fits the path, the `:verb` is
        // the verb and no template without one may take it into its last variable (so
        // `GET /things/1:cancel` is a 405 naming POST, not a GET of the thing `1:cancel`).
        let verb_claimed = candidates.iter().any(|(_, last, _)| last.is_some());

        let mut best: Option<(usize, Option<&'p str>, Alignment)> = None;
        let mut allow: Vec<&'static str> = Vec::new();
        for (index, last, alignment) in candidates {
            if verb_claimed && last.is_none() {
                continue;
            }
            let entry = &self.entries[index];
            if entry.method != method {
                if !allow.contains(&entry.method) {
                    allow.push(entry.method);
                }
                continue;
            }
            let better = match best {
                None => true,
                Some((current, _, current_alignment)) => {
                    compare(
                        (entry.pattern, alignment),
                        (self.entries[current].pattern, current_alignment),
                        segments.len(),
                    ) == Ordering::Greater
                }
            };
            if better {
                best = Some((index, last, alignment));
            }
        }

        match best {
            Some((index, last, _)) => {
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
    fn a_verb_route_claims_its_verb_for_every_method() {
        let m = table();
        // `POST /v1/things/{id}:archive` fits, so `GET /v1/things/{id}` may not take `42:archive`.
        assert_eq!(
            m.find("GET", "/v1/things/42:archive"),
            MatchOutcome::MethodNotAllowed(vec!["POST"])
        );
        assert_eq!(
            m.find("OPTIONS", "/v1/things/42:archive"),
            MatchOutcome::MethodNotAllowed(vec!["POST"])
        );
        assert_eq!(
            m.find("DELETE", "/v1/things/42:archive"),
            MatchOutcome::MethodNotAllowed(vec!["POST"])
        );
        // `/v1/{name=**}` does not take it either.
        assert_eq!(
            m.find("GET", "/v1/things:batch"),
            MatchOutcome::MethodNotAllowed(vec!["POST"])
        );
        // An unknown verb is data: the variable keeps it.
        let (index, segments) = found(&m, "GET", "/v1/things/42:unarchive");
        assert_eq!((index, segments[2].as_str()), (0, "42:unarchive"));
        // A known verb on a path no verb template fits is data too.
        let (index, segments) = found(&m, "GET", "/v1/other/x:archive");
        assert_eq!((index, segments[2].as_str()), (3, "x:archive"));
        // Without the verb, the verb's route is not offered.
        assert_eq!(
            m.find("PATCH", "/v1/things/42"),
            MatchOutcome::MethodNotAllowed(vec!["GET", "DELETE"])
        );
    }

    #[test]
    fn a_verb_route_wins_over_a_multi_segment_capture_of_the_same_method() {
        let m = Matcher::new([
            // 0: GET /v1/{name=**}
            ("GET", p(vec![l("v1"), Multi], None)),
            // 1: GET /v1/{name=*}:check
            ("GET", p(vec![l("v1"), Single], Some("check"))),
        ]);
        let (index, segments) = found(&m, "GET", "/v1/a:check");
        assert_eq!(
            (index, segments),
            (1, vec!["v1".to_owned(), "a".to_owned()])
        );
        // The verb route does not fit two segments: the capture keeps the colon.
        let (index, segments) = found(&m, "GET", "/v1/a/b:check");
        assert_eq!((index, segments[2].as_str()), (0, "b:check"));
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

    /// Templates whose `**` is followed by more segments (Firestore, Discovery Engine, Remote
    /// Workers shapes).
    fn inner_table() -> Matcher {
        Matcher::new([
            // 0: GET /v1/{name=docs/*/**}
            ("GET", p(vec![l("v1"), l("docs"), Single, Multi], None)),
            // 1: GET /v1/{parent=docs/*/**}/{collection}
            (
                "GET",
                p(vec![l("v1"), l("docs"), Single, Multi, Single], None),
            ),
            // 2: POST /v1/{parent=stores/**}/entries:purge
            (
                "POST",
                p(
                    vec![l("v1"), l("stores"), Multi, l("entries")],
                    Some("purge"),
                ),
            ),
            // 3: GET /v2/{name=**/bots/*}
            ("GET", p(vec![l("v2"), Multi, l("bots"), Single], None)),
        ])
    }

    #[test]
    fn inner_double_wildcard_takes_what_the_rest_leaves() {
        let m = inner_table();
        // `**` taking nothing, one segment, several.
        assert_eq!(found(&m, "POST", "/v1/stores/entries:purge").0, 2);
        assert_eq!(found(&m, "POST", "/v1/stores/a/entries:purge").0, 2);
        assert_eq!(found(&m, "POST", "/v1/stores/a/b/c/entries:purge").0, 2);
        assert_eq!(
            m.find("POST", "/v1/stores/a/other:purge"),
            MatchOutcome::NotFound
        );
        // The literal after `**` is the last segment but one only: nothing after it.
        assert_eq!(
            m.find("POST", "/v1/stores/entries/x:purge"),
            MatchOutcome::NotFound
        );
        assert_eq!(found(&m, "GET", "/v2/bots/b").0, 3);
        assert_eq!(found(&m, "GET", "/v2/a/b/bots/c").0, 3);
        assert_eq!(m.find("GET", "/v2/a/bots"), MatchOutcome::NotFound);
        assert_eq!(m.find("GET", "/v2/a/bots/c/d"), MatchOutcome::NotFound);
        // `/v2/bots/bots/c`: the `**` takes `bots`, the literal matches the second one.
        assert_eq!(found(&m, "GET", "/v2/bots/bots/c").0, 3);
    }

    #[test]
    fn inner_double_wildcard_ranks_by_what_took_each_segment() {
        let m = inner_table();
        // One segment after `docs/*`: only the first template can take it (the second needs
        // its collection).
        assert_eq!(found(&m, "GET", "/v1/docs/a").0, 0);
        // More: the segment taken by `{collection}` (`*`) beats the same taken by `**`, the
        // order grpc-httpjson-transcoding's path matcher gives.
        assert_eq!(found(&m, "GET", "/v1/docs/a/b").0, 1);
        assert_eq!(found(&m, "GET", "/v1/docs/a/b/c/d").0, 1);
        assert_eq!(
            m.find("PUT", "/v1/docs/a/b"),
            MatchOutcome::MethodNotAllowed(vec!["GET"])
        );
    }

    #[test]
    fn captures_around_an_inner_double_wildcard() {
        fn param(first: usize, count: Option<usize>) -> PathParam {
            PathParam {
                field_path: Cow::Owned(vec![Cow::Borrowed("x")]),
                first_segment: first,
                segment_count: count,
            }
        }
        fn captured<'a>(
            pattern: &PathPattern,
            param: &PathParam,
            path: &[&'a str],
        ) -> Vec<&'a str> {
            let alignment = Alignment::of(pattern, path.len()).expect("lengths fit");
            let range = alignment.param_range(pattern, param).expect("in range");
            path[range].to_vec()
        }
        // /v1/{parent=docs/*/**}/{collection}
        let docs = p(vec![l("v1"), l("docs"), Single, Multi, Single], None);
        let (parent, collection) = (param(1, None), param(4, Some(1)));
        let path = ["v1", "docs", "a", "b"];
        assert_eq!(captured(docs, &parent, &path), ["docs", "a"]);
        assert_eq!(captured(docs, &collection, &path), ["b"]);
        let path = ["v1", "docs", "a", "x", "y", "b"];
        assert_eq!(captured(docs, &parent, &path), ["docs", "a", "x", "y"]);
        assert_eq!(captured(docs, &collection, &path), ["b"]);
        // /v2/{name=**/bots/*}: the variable spans the `**` and two segments after it.
        let bots = p(vec![l("v2"), Multi, l("bots"), Single], None);
        let name = param(1, Some(3));
        assert_eq!(
            captured(bots, &name, &["v2", "a", "b", "bots", "c"]),
            ["a", "b", "bots", "c"]
        );
        assert_eq!(captured(bots, &name, &["v2", "bots", "c"]), ["bots", "c"]);
        // A trailing `**` as before: to the end, possibly nothing.
        let tail = p(vec![l("v1"), Multi], None);
        assert_eq!(captured(tail, &param(1, None), &["v1"]), Vec::<&str>::new());
        assert_eq!(
            captured(tail, &param(1, None), &["v1", "a", "b"]),
            ["a", "b"]
        );
        // Too short a path has no alignment at all.
        assert_eq!(Alignment::of(docs, 3), None);
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
