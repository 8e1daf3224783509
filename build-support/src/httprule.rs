//! Stage 1: the `google.api.http` path template grammar, as pure string code.
//!
//! ```text
//! Template  = "/" Segments [ Verb ] ;
//! Segments  = Segment { "/" Segment } ;
//! Segment   = "*" | "**" | LITERAL | Variable ;
//! Variable  = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb      = ":" LITERAL ;
//! ```
//!
//! [`Template::parse`] builds the AST and checks the rules the grammar alone does not say (at most
//! one `**`, no variable inside a variable, no field bound twice); [`Template::compile`] flattens it
//! into the runtime's own [`gateway_spec::PathPattern`] and [`gateway_spec::PathParam`].
//!
//! http.proto says `**` must be the last segment, yet Google's own APIs put segments after it
//! (Firestore's `/v1/{parent=projects/*/databases/*/documents/*/**}/{collection_id}`) and Google
//! serves them: `**` takes whatever the rest of the template leaves. The parser accepts that
//! (the model warns about it); a second `**` would make the split ambiguous and is refused.

use std::fmt;

use gateway_spec::{PathParam, PathPattern, Segment as PatternSegment};

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The segments after the leading `/`.
    pub segments: Vec<Segment>,
    /// The trailing `:verb`, without its colon.
    pub verb: Option<String>,
}

/// One top-level segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text, matched case-sensitively.
    Literal(String),
    /// `*`: exactly one segment.
    Wildcard,
    /// `**`: zero or more segments (at most one per template).
    DoubleWildcard,
    /// `{field.path}` or `{field.path=segments}`.
    Variable(Variable),
}

/// A path variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// The field path (`["book", "shelf_id"]` for `{book.shelf_id}`).
    pub field_path: Vec<String>,
    /// What the variable matches; `[Wildcard]` for the short form `{x}`.
    pub segments: Vec<VarSegment>,
    /// Whether the template spelled the segments out (`{x=*}` rather than `{x}`).
    pub explicit: bool,
}

/// One segment inside a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarSegment {
    /// Literal text.
    Literal(String),
    /// `*`.
    Wildcard,
    /// `**`.
    DoubleWildcard,
}

/// A template that does not follow the grammar, with the byte offset where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path template `{template}` at byte {position}: {message}")]
pub struct ParseError {
    /// The template as given.
    pub template: String,
    /// Byte offset of the offending character (the length of the template for "ended early").
    pub position: usize,
    /// What was wrong.
    pub message: String,
}

/// A compiled template: the pattern the runtime matches and the variables that capture its
/// segments, in the runtime's own types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledTemplate {
    /// The flattened segments and the verb.
    pub pattern: PathPattern,
    /// The variables in template order.
    pub params: Vec<PathParam>,
}

impl Template {
    /// Parses a path template such as `/v1/{name=shelves/*}/books/{book.id}:archive`.
    pub fn parse(template: &str) -> Result<Self, ParseError> {
        Parser {
            src: template,
            pos: 0,
        }
        .template()
    }

    /// Flattens the template into runtime segments and the parameters that capture them.
    pub fn compile(&self) -> CompiledTemplate {
        let mut segments = Vec::new();
        let mut params = Vec::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => {
                    segments.push(PatternSegment::Literal(text.clone().into()));
                }
                Segment::Wildcard => segments.push(PatternSegment::Single),
                Segment::DoubleWildcard => segments.push(PatternSegment::Multi),
                Segment::Variable(var) => {
                    let first_segment = segments.len();
                    for inner in &var.segments {
                        segments.push(match inner {
                            VarSegment::Literal(text) => {
                                PatternSegment::Literal(text.clone().into())
                            }
                            VarSegment::Wildcard => PatternSegment::Single,
                            VarSegment::DoubleWildcard => PatternSegment::Multi,
                        });
                    }
                    // `None` when the variable ends with the `**` (it takes what `**` takes);
                    // otherwise the pattern segments it spans, a `**` among them counted once.
                    let ends_multi = var.segments.last() == Some(&VarSegment::DoubleWildcard);
                    params.push(PathParam {
                        field_path: var.field_path.iter().cloned().map(Into::into).collect(),
                        first_segment,
                        segment_count: (!ends_multi).then_some(var.segments.len()),
                    });
                }
            }
        }
        CompiledTemplate {
            pattern: PathPattern {
                segments: segments.into(),
                verb: self.verb.clone().map(Into::into),
            },
            params,
        }
    }

    /// The variables, in template order.
    pub fn variables(&self) -> impl Iterator<Item = &Variable> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Variable(var) => Some(var),
            _ => None,
        })
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            f.write_str("/")?;
            match segment {
                Segment::Literal(text) => f.write_str(text)?,
                Segment::Wildcard => f.write_str("*")?,
                Segment::DoubleWildcard => f.write_str("**")?,
                Segment::Variable(var) => write!(f, "{var}")?,
            }
        }
        if let Some(verb) = &self.verb {
            write!(f, ":{verb}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}", self.field_path.join("."))?;
        if self.explicit {
            f.write_str("=")?;
            for (i, segment) in self.segments.iter().enumerate() {
                if i > 0 {
                    f.write_str("/")?;
                }
                match segment {
                    VarSegment::Literal(text) => f.write_str(text)?,
                    VarSegment::Wildcard => f.write_str("*")?,
                    VarSegment::DoubleWildcard => f.write_str("**")?,
                }
            }
        }
        f.write_str("}")
    }
}

/// Characters allowed in a literal segment or verb: RFC 3986 `pchar` minus the characters the
/// template grammar itself uses (`/ * { } = :`); `%` must start a `%XX` escape.
fn is_literal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()+,;@%".contains(c)
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Why a second `**` is refused.
const SECOND_MULTI: &str =
    "a template may have only one `**` (with two, the segments each takes would be ambiguous)";

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

/// A raw segment before the "last only" checks.
enum Raw {
    Literal(String),
    Wildcard,
    DoubleWildcard,
}

impl Parser<'_> {
    fn error(&self, position: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            template: self.src.to_owned(),
            position,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn describe_here(&self) -> String {
        match self.peek() {
            Some(c) => format!("unexpected `{c}`"),
            None => "unexpected end of template".to_owned(),
        }
    }

    fn template(mut self) -> Result<Template, ParseError> {
        if !self.eat('/') {
            return Err(self.error(0, "a template must start with `/`"));
        }
        let mut segments = Vec::new();
        // Whether a `**` was already seen (variable or bare): a second one is refused.
        let mut seen_multi = false;
        loop {
            let start = self.pos;
            let segment = if self.peek() == Some('{') {
                let var = self.variable(&mut seen_multi)?;
                Segment::Variable(var)
            } else {
                match self.raw_segment()? {
                    Raw::Literal(text) => Segment::Literal(text),
                    Raw::Wildcard => Segment::Wildcard,
                    Raw::DoubleWildcard => {
                        if seen_multi {
                            return Err(self.error(start, SECOND_MULTI));
                        }
                        seen_multi = true;
                        Segment::DoubleWildcard
                    }
                }
            };
            segments.push(segment);
            if self.eat('/') {
                continue;
            }
            break;
        }
        let verb = if self.eat(':') {
            let start = self.pos;
            let text = self.literal();
            if text.is_empty() {
                return Err(self.error(start, "expected a verb after `:`"));
            }
            self.check_escapes(start, &text)?;
            Some(text)
        } else {
            None
        };
        if self.pos != self.src.len() {
            let message = match self.peek() {
                Some(':') => "a `:verb` may only follow the last segment".to_owned(),
                _ => self.describe_here(),
            };
            return Err(self.error(self.pos, message));
        }
        let mut seen: Vec<&[String]> = Vec::new();
        for var in segments.iter().filter_map(|s| match s {
            Segment::Variable(var) => Some(var),
            _ => None,
        }) {
            if seen.contains(&var.field_path.as_slice()) {
                return Err(self.error(
                    0,
                    format!("field `{}` is bound twice", var.field_path.join(".")),
                ));
            }
            seen.push(&var.field_path);
        }
        Ok(Template { segments, verb })
    }

    fn literal(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_literal_char) {
            self.pos += 1;
        }
        self.src[start..self.pos].to_owned()
    }

    fn check_escapes(&self, start: usize, text: &str) -> Result<(), ParseError> {
        let bytes = text.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'%'
                && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return Err(self.error(start + i, "`%` must start a `%XX` escape"));
            }
        }
        Ok(())
    }

    fn raw_segment(&mut self) -> Result<Raw, ParseError> {
        let start = self.pos;
        if self.eat('*') {
            if self.eat('*') {
                if self.peek() == Some('*') {
                    return Err(self.error(self.pos, "a wildcard is `*` or `**`"));
                }
                return Ok(Raw::DoubleWildcard);
            }
            return Ok(Raw::Wildcard);
        }
        let text = self.literal();
        if text.is_empty() {
            let message = match self.peek() {
                Some('/') | None => "empty segment".to_owned(),
                Some('{') => "a variable may not contain another variable".to_owned(),
                _ => self.describe_here(),
            };
            return Err(self.error(start, message));
        }
        self.check_escapes(start, &text)?;
        Ok(Raw::Literal(text))
    }

    /// A `{...}` variable; `seen_multi` says whether the template already has its one `**`.
    fn variable(&mut self, seen_multi: &mut bool) -> Result<Variable, ParseError> {
        self.eat('{');
        let mut field_path = Vec::new();
        loop {
            let start = self.pos;
            if !self.peek().is_some_and(is_ident_start) {
                return Err(self.error(
                    start,
                    format!("expected a field name, {}", self.describe_here()),
                ));
            }
            while self.peek().is_some_and(is_ident_char) {
                self.pos += 1;
            }
            field_path.push(self.src[start..self.pos].to_owned());
            if !self.eat('.') {
                break;
            }
        }
        let (segments, explicit) = if self.eat('=') {
            let mut segments = Vec::new();
            loop {
                let start = self.pos;
                let segment = match self.raw_segment()? {
                    Raw::Literal(text) => VarSegment::Literal(text),
                    Raw::Wildcard => VarSegment::Wildcard,
                    Raw::DoubleWildcard => {
                        if *seen_multi {
                            return Err(self.error(start, SECOND_MULTI));
                        }
                        *seen_multi = true;
                        VarSegment::DoubleWildcard
                    }
                };
                segments.push(segment);
                if !self.eat('/') {
                    break;
                }
            }
            (segments, true)
        } else {
            (vec![VarSegment::Wildcard], false)
        };
        if !self.eat('}') {
            let message = match self.peek() {
                Some('{') => "a variable may not contain another variable".to_owned(),
                _ => format!("expected `}}`, {}", self.describe_here()),
            };
            return Err(self.error(self.pos, message));
        }
        Ok(Variable {
            field_path,
            segments,
            explicit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lit(s: &str) -> Segment {
        Segment::Literal(s.to_owned())
    }

    fn var(path: &[&str], segments: Option<Vec<VarSegment>>) -> Segment {
        Segment::Variable(Variable {
            field_path: path.iter().map(|s| (*s).to_owned()).collect(),
            explicit: segments.is_some(),
            segments: segments.unwrap_or_else(|| vec![VarSegment::Wildcard]),
        })
    }

    #[test]
    fn parses_valid_templates() {
        use VarSegment as V;
        let cases: Vec<(&str, Vec<Segment>, Option<&str>)> = vec![
            ("/api/users", vec![lit("api"), lit("users")], None),
            (
                "/api/users/{id}",
                vec![lit("api"), lit("users"), var(&["id"], None)],
                None,
            ),
            (
                "/v1/{book.shelf_id}",
                vec![lit("v1"), var(&["book", "shelf_id"], None)],
                None,
            ),
            (
                "/v1/*/x",
                vec![lit("v1"), Segment::Wildcard, lit("x")],
                None,
            ),
            ("/v1/**", vec![lit("v1"), Segment::DoubleWildcard], None),
            (
                "/v1/**:get",
                vec![lit("v1"), Segment::DoubleWildcard],
                Some("get"),
            ),
            (
                "/v1/{name=shelves/*/books/*}",
                vec![
                    lit("v1"),
                    var(
                        &["name"],
                        Some(vec![
                            V::Literal("shelves".into()),
                            V::Wildcard,
                            V::Literal("books".into()),
                            V::Wildcard,
                        ]),
                    ),
                ],
                None,
            ),
            (
                "/v1/{name=**}",
                vec![lit("v1"), var(&["name"], Some(vec![V::DoubleWildcard]))],
                None,
            ),
            (
                "/v1/{id=*}:archive",
                vec![lit("v1"), var(&["id"], Some(vec![V::Wildcard]))],
                Some("archive"),
            ),
            (
                "/v1/things/{id}:batch-get",
                vec![lit("v1"), lit("things"), var(&["id"], None)],
                Some("batch-get"),
            ),
            ("/a%2Fb/c.d~e", vec![lit("a%2Fb"), lit("c.d~e")], None),
            // `**` followed by more segments: outside http.proto, served by Google.
            (
                "/v1/**/x",
                vec![lit("v1"), Segment::DoubleWildcard, lit("x")],
                None,
            ),
            (
                "/v1/{parent=documents/*/**}/{collection_id}",
                vec![
                    lit("v1"),
                    var(
                        &["parent"],
                        Some(vec![
                            V::Literal("documents".into()),
                            V::Wildcard,
                            V::DoubleWildcard,
                        ]),
                    ),
                    var(&["collection_id"], None),
                ],
                None,
            ),
            (
                "/v1/{name=**/bots/*}:get",
                vec![
                    lit("v1"),
                    var(
                        &["name"],
                        Some(vec![
                            V::DoubleWildcard,
                            V::Literal("bots".into()),
                            V::Wildcard,
                        ]),
                    ),
                ],
                Some("get"),
            ),
        ];
        for (text, segments, verb) in cases {
            let parsed = Template::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(parsed.segments, segments, "{text}");
            assert_eq!(parsed.verb.as_deref(), verb, "{text}");
            assert_eq!(parsed.to_string(), text, "display round-trips");
        }
    }

    #[test]
    fn rejects_invalid_templates_with_position() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "must start with `/`"),
            ("api/users", 0, "must start with `/`"),
            ("/", 1, "empty segment"),
            ("/api//users", 5, "empty segment"),
            ("/api/", 5, "empty segment"),
            ("/v1/**/**", 7, "only one `**`"),
            ("/v1/{name=**}/x/**", 16, "only one `**`"),
            ("/v1/{name=**/x/**}", 15, "only one `**`"),
            ("/v1/**/{name=**}", 13, "only one `**`"),
            ("/v1/{a={b}}", 7, "may not contain another variable"),
            ("/v1/{a", 6, "expected `}`"),
            ("/v1/{}", 5, "expected a field name"),
            ("/v1/{1a}", 5, "expected a field name"),
            ("/v1/{a.}", 7, "expected a field name"),
            ("/v1/x:verb/y", 10, "unexpected `/`"),
            ("/v1/x:a:b", 7, "`:verb` may only follow the last segment"),
            ("/v1/x:", 6, "expected a verb"),
            ("/v1/***", 6, "a wildcard is `*` or `**`"),
            ("/v1/a%zz", 5, "`%XX` escape"),
            ("/v1/{a}/{a}", 0, "bound twice"),
            ("/v1/a b", 5, "unexpected ` `"),
        ];
        for (text, position, message) in cases {
            let err = Template::parse(text).expect_err(text);
            assert_eq!(err.position, *position, "{text}: {err}");
            assert!(err.message.contains(message), "{text}: {err}");
        }
    }

    #[test]
    fn compiles_to_runtime_shape() {
        let compiled = Template::parse("/v1/{name=shelves/*/books/*}/{x.y}/{rest=**}:do")
            .expect("valid")
            .compile();
        use PatternSegment as P;
        assert_eq!(
            compiled.pattern.segments.to_vec(),
            vec![
                P::Literal("v1".into()),
                P::Literal("shelves".into()),
                P::Single,
                P::Literal("books".into()),
                P::Single,
                P::Single,
                P::Multi,
            ]
        );
        assert_eq!(compiled.pattern.verb.as_deref(), Some("do"));
        let shape: Vec<_> = compiled
            .params
            .iter()
            .map(|p| (p.field_path.join("."), p.first_segment, p.segment_count))
            .collect();
        assert_eq!(
            shape,
            vec![
                ("name".to_owned(), 1, Some(4)),
                ("x.y".to_owned(), 5, Some(1)),
                ("rest".to_owned(), 6, None),
            ]
        );
    }

    fn literal_strategy() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9._~-]{1,6}"
    }

    /// A variable's segments, with a `**` at any position when `multi` picks one.
    fn var_segments() -> impl Strategy<Value = Vec<VarSegment>> {
        (
            prop::collection::vec(
                prop_oneof![
                    literal_strategy().prop_map(VarSegment::Literal),
                    Just(VarSegment::Wildcard)
                ],
                1..4,
            ),
            prop::option::of(0..4_usize),
        )
            .prop_map(|(mut segments, multi)| {
                if let Some(at) = multi {
                    let at = at.min(segments.len());
                    segments.insert(at, VarSegment::DoubleWildcard);
                }
                segments
            })
    }

    /// Templates with at most one `**`, anywhere (bare or inside a variable), possibly followed by
    /// more segments.
    fn template_strategy() -> impl Strategy<Value = Template> {
        let segment = prop_oneof![
            literal_strategy().prop_map(Segment::Literal),
            Just(Segment::Wildcard),
        ];
        (
            prop::collection::vec(segment.clone(), 1..5),
            prop::collection::vec(
                (prop::option::of(var_segments()), "[a-z_][a-z0-9_]{0,4}"),
                0..3,
            ),
            any::<bool>(),
            prop::collection::vec(segment, 0..2),
            prop::option::of(literal_strategy()),
        )
            .prop_map(|(mut segments, vars, bare_multi, tail, verb)| {
                let mut has_multi = false;
                for (i, (var_segs, name)) in vars.into_iter().enumerate() {
                    let explicit = var_segs.is_some();
                    let mut var_segs = var_segs.unwrap_or_else(|| vec![VarSegment::Wildcard]);
                    if has_multi {
                        var_segs.retain(|s| *s != VarSegment::DoubleWildcard);
                        if var_segs.is_empty() {
                            var_segs.push(VarSegment::Wildcard);
                        }
                    }
                    has_multi |= var_segs.contains(&VarSegment::DoubleWildcard);
                    segments.push(Segment::Variable(Variable {
                        field_path: vec![format!("{name}{i}")],
                        explicit: explicit || var_segs != [VarSegment::Wildcard],
                        segments: var_segs,
                    }));
                }
                if bare_multi && !has_multi {
                    segments.push(Segment::DoubleWildcard);
                }
                segments.extend(tail);
                Template { segments, verb }
            })
    }

    proptest! {
        #[test]
        fn display_parse_round_trips(template in template_strategy()) {
            let text = template.to_string();
            let parsed = Template::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&parsed, &template);
            prop_assert_eq!(parsed.to_string(), text);
        }

        #[test]
        fn compiled_shape_keeps_runtime_invariants(template in template_strategy()) {
            let compiled = template.compile();
            let segments = &compiled.pattern.segments;
            let len = segments.len();
            let multis = segments.iter().filter(|s| **s == PatternSegment::Multi).count();
            prop_assert!(multis <= 1);
            let multi = segments.iter().position(|s| *s == PatternSegment::Multi);
            for param in &compiled.params {
                let end = match param.segment_count {
                    Some(count) => param.first_segment + count,
                    // Ends with the `**`.
                    None => multi.map(|at| at + 1).unwrap_or(0),
                };
                prop_assert!(param.first_segment < end && end <= len);
                prop_assert_eq!(param.segment_count.is_none(), segments[end - 1] == PatternSegment::Multi);
                prop_assert_eq!(param.segment_count == Some(1), !param.is_multi_segment());
            }
        }

        #[test]
        fn never_panics_and_reparses(input in "[/a-z{}=*.:%_0-9]{0,24}") {
            if let Ok(parsed) = Template::parse(&input) {
                let again = Template::parse(&parsed.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(again, parsed);
            }
        }

        #[test]
        fn never_panics_on_any_string(input in any::<String>()) {
            let _ = Template::parse(&input);
        }
    }
}
