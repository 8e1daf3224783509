//! The contract between the generator (`build-support`) and the gateway runtime (`gateway`):
//! plain data describing each HTTP binding, already validated at generation time. It is written
//! once, here; the generator builds these values and prints them as Rust, the runtime serves
//! them, and generated code names them by absolute path (`::gateway::spec::RouteSpec`, the way
//! prost's output names `::prost::`).
//!
//! Every string and list is a [`Cow`]: generated code holds `Cow::Borrowed` constants in a
//! `static ROUTES: &[RouteSpec]`, and the generator (or a test building routes at run time)
//! holds `Cow::Owned` values of the very same types. The runtime looks names up in the descriptor
//! pool once at start-up; every path template is already compiled to a [`PathPattern`], so no
//! template is parsed while serving requests.
//!
//! Why a table instead of one axum route per binding: axum's router (matchit) cannot express a
//! suffix after a parameter (`/v1/things/{id}:archive`) nor multi-segment captures
//! (`{name=shelves/*/books/*}`), and the 405-with-`Allow` answer needs every binding of a path.

use std::borrow::Cow;

mod well_known;

pub use well_known::{WellKnownJson, well_known_json};

/// Text in a route table: borrowed from a generated constant, or owned when built at run time.
pub type Text = Cow<'static, str>;
/// A list in a route table: a generated constant slice, or a vector built at run time.
pub type List<T> = Cow<'static, [T]>;

/// One HTTP binding of one gRPC method (the rule itself or one of its `additional_bindings`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteSpec {
    /// OpenAPI `operationId`: `Service_Method`, with `_1`, `_2`, ... for additional bindings.
    pub operation_id: Text,
    /// The HTTP method in upper case (`GET`, `POST`, ..., or a custom kind such as `HEAD`).
    pub http_method: Text,
    /// The path template as written in the proto, for logs and error messages.
    pub template: Text,
    /// The compiled path template.
    pub pattern: PathPattern,
    /// Fully qualified gRPC service name (`users.v1.UserService`): the upstream to call.
    pub grpc_service: Text,
    /// The method's gRPC path (`/users.v1.UserService/GetUser`).
    pub grpc_path: Text,
    /// Fully qualified name of the request message.
    pub input_type: Text,
    /// Fully qualified name of the response message.
    pub output_type: Text,
    /// Path variables and the request fields they fill, in template order.
    pub path_params: List<PathParam>,
    /// Where the HTTP body goes in the request message.
    pub body: BodySpec,
    /// The top-level response field that becomes the HTTP body; `None` for the whole message.
    pub response_body: Option<Text>,
    /// The method streams requests: the HTTP body is a sequence of JSON messages
    /// (newline-delimited JSON, or a JSON array), each sent upstream as one message as it
    /// arrives, so that an upload need not fit in memory. With `server_streaming` as well the
    /// method is bidirectional, and responses start before the request body ends.
    pub client_streaming: bool,
    /// The method streams responses: sent as newline-delimited JSON, or as Server-Sent Events
    /// when the request's `Accept` prefers `text/event-stream`.
    pub server_streaming: bool,
    /// Request headers the method declares (`gateway.v1.header`), in lower case
    /// (`idempotency-key`): forwarded upstream as gRPC metadata of the same name, on this route
    /// only, besides the headers every route forwards. Validated by the generator (valid
    /// metadata keys, no transport or reserved header) and again by the runtime at start-up.
    pub headers: List<HeaderSpec>,
    /// `Some` for a composite method (`gateway.v1.compose`): the gateway answers it itself by
    /// calling the parts' RPCs concurrently; `grpc_service` then names a gateway-implemented
    /// service that has no upstream. `None` for every ordinary route.
    pub compose: Option<ComposeSpec>,
    /// `Some` when a server-streaming method declares `gateway.v1.event_stream`: where a
    /// Server-Sent Events answer takes each event's `id:` from, and which request field the
    /// `Last-Event-ID` header sets. `None` (always for other methods): events are numbered 1, 2,
    /// ... in each response and `Last-Event-ID` is ignored.
    pub event_stream: Option<EventStreamSpec>,
}

/// A request header a method declares (`gateway.v1.header`), validated by the generator.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeaderSpec {
    /// The lower-case name (`idempotency-key`): the HTTP header matched and the gRPC metadata
    /// key it is forwarded as.
    pub name: Text,
    /// A regular expression a sent value must match, checked by the runtime before the call
    /// (the generator checked that it compiles); `None` for any value.
    pub pattern: Option<Text>,
}

/// A server-streaming method's Server-Sent Events options, validated by the generator (see
/// `gateway/v1/stream.proto`): both fields name singular scalar (integer or string) fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventStreamSpec {
    /// Field path in the response message (proto field names) whose value is each event's
    /// `id:`; empty for the event's 1-based ordinal in the response.
    pub id_field: List<Text>,
    /// Field path in the request message set from the `Last-Event-ID` request header (parsed
    /// like a query parameter of its type), so that a reconnecting client resumes after the
    /// last event it saw; empty when the header is ignored.
    pub resume_field: List<Text>,
}

/// A composite method's calls, validated by the generator (see `gateway/v1/compose.proto`).
///
/// Every part is called at once with the same forwarded headers and the request's one deadline;
/// the response waits for all of them. A part's failure fails the request with the part's status
/// and a message naming its `field`, unless the part is `optional` and the failure is NOT_FOUND,
/// which leaves the field unset. The first failing part in table order decides.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ComposeSpec {
    /// The calls, in declaration order.
    pub parts: List<ComposePart>,
}

/// One call of a composite method, and where its answer goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ComposePart {
    /// The top-level field of the composite response this part fills.
    pub field: Text,
    /// The called service (the upstream to call).
    pub grpc_service: Text,
    /// The called method's gRPC path (`/users.v1.UserService/GetUser`).
    pub grpc_path: Text,
    /// Fully qualified name of the called method's request message.
    pub input_type: Text,
    /// Fully qualified name of the called method's response message.
    pub output_type: Text,
    /// Fields copied from the composite request into the call's request.
    pub request: List<FieldMapping>,
    /// The field path taken from the call's response; empty for the whole response.
    pub take: List<Text>,
    /// NOT_FOUND leaves `field` unset instead of failing the request.
    pub optional: bool,
}

/// One field copied from the composite request into a part's request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldMapping {
    /// Field path in the composite request (proto field names).
    pub from: List<Text>,
    /// Field path in the part's request; sub-messages on the way are created.
    pub to: List<Text>,
}

/// A compiled path template: the segments after the leading `/`, and the optional `:verb`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathPattern {
    /// The segments, with variables expanded into the segments they match (`{id}` is one
    /// [`Segment::Single`]; `{name=shelves/*}` is `Literal("shelves"), Single`).
    pub segments: List<Segment>,
    /// The trailing verb without its colon (`archive` for `/v1/things/{id}:archive`).
    pub verb: Option<Text>,
}

/// One segment of a compiled path template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matches exactly this text (case-sensitive, compared after percent-decoding unreserved
    /// characters is *not* done: literals are compared raw).
    Literal(Text),
    /// `*`: exactly one segment.
    Single,
    /// `**`: zero or more segments; at most one per template. http.proto wants it last, but
    /// Google's own APIs put segments after it (`{parent=documents/*/**}/{collection_id}`) and
    /// Google serves them: it then takes the shortest run of segments that lets the rest of the
    /// template match, which with one `**` is exactly what the segments after it leave.
    Multi,
}

/// A path variable: which segments it captures and which request field it fills.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathParam {
    /// The field path in proto field names (`["book", "shelf_id"]` for `{book.shelf_id}`);
    /// sub-messages on the way are created as needed.
    pub field_path: List<Text>,
    /// Index into [`PathPattern::segments`] of the first captured segment.
    pub first_segment: usize,
    /// How many template segments it spans (a `**` among them counted once, whatever it takes
    /// at run time); `None` when it ends with the template's `**`, so it captures up to where
    /// that `**` ends (the end of the path when `**` is last).
    pub segment_count: Option<usize>,
}

impl PathParam {
    /// A single-segment variable is fully percent-decoded; a multi-segment one keeps `%2F`
    /// encoded so that a real `/` and an encoded one stay distinct (HttpRule semantics).
    pub fn is_multi_segment(&self) -> bool {
        self.segment_count != Some(1)
    }
}

/// Where the HTTP request body goes (`HttpRule.body`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BodySpec {
    /// No body: every field not bound by the path may come from the query string.
    None,
    /// `body: "*"`: the body is the request message; the query string is ignored.
    Whole,
    /// `body: "field"`: the body is this top-level field's JSON; other unbound fields may come
    /// from the query string.
    Field(Text),
}
