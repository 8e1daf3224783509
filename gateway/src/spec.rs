//! The contract between the generator (`build-support`, run by `cargo xtask gen`) and the
//! gateway runtime: plain `'static` data describing each HTTP binding, already validated at
//! generation time.
//!
//! The generated module (`gateway/src/generated/`) holds a `static ROUTES: &[RouteSpec]` built
//! from these types, plus the encoded `FileDescriptorSet` it was generated from. The runtime only
//! looks names up in the descriptor pool once at start-up; every path template is already
//! compiled to a [`PathPattern`], so no template is parsed while serving requests.
//!
//! Why a table instead of one axum route per binding: axum's router (matchit) cannot express a
//! suffix after a parameter (`/v1/things/{id}:archive`) nor multi-segment captures
//! (`{name=shelves/*/books/*}`), and the 405-with-`Allow` answer needs every binding of a path.

/// One HTTP binding of one gRPC method (the rule itself or one of its `additional_bindings`).
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    /// OpenAPI `operationId`: `Service_Method`, with `_1`, `_2`, ... for additional bindings.
    pub operation_id: &'static str,
    /// The HTTP method in upper case (`GET`, `POST`, ..., or a custom kind such as `HEAD`).
    pub http_method: &'static str,
    /// The path template as written in the proto, for logs and error messages.
    pub template: &'static str,
    /// The compiled path template.
    pub pattern: PathPattern,
    /// Fully qualified gRPC service name (`users.v1.UserService`): the upstream to call.
    pub grpc_service: &'static str,
    /// The method's gRPC path (`/users.v1.UserService/GetUser`).
    pub grpc_path: &'static str,
    /// Fully qualified name of the request message.
    pub input_type: &'static str,
    /// Fully qualified name of the response message.
    pub output_type: &'static str,
    /// Path variables and the request fields they fill, in template order.
    pub path_params: &'static [PathParam],
    /// Where the HTTP body goes in the request message.
    pub body: BodySpec,
    /// The top-level response field that becomes the HTTP body; `None` for the whole message.
    pub response_body: Option<&'static str>,
    /// The method streams responses (sent as newline-delimited JSON).
    pub server_streaming: bool,
    /// `Some` for a composite method (`gateway.v1.compose`): the gateway answers it itself by
    /// calling the parts' RPCs concurrently; `grpc_service` then names a gateway-implemented
    /// service that has no upstream. `None` for every ordinary route.
    pub compose: Option<&'static ComposeSpec>,
}

/// A composite method's calls, validated by the generator (see `gateway/v1/compose.proto`).
///
/// Every part is called at once with the same forwarded headers and the request's one deadline;
/// the response waits for all of them. A part's failure fails the request with the part's status
/// and a message naming its `field`, unless the part is `optional` and the failure is NOT_FOUND,
/// which leaves the field unset. The first failing part in table order decides.
#[derive(Debug, Clone, Copy)]
pub struct ComposeSpec {
    /// The calls, in declaration order.
    pub parts: &'static [ComposePart],
}

/// One call of a composite method, and where its answer goes.
#[derive(Debug, Clone, Copy)]
pub struct ComposePart {
    /// The top-level field of the composite response this part fills.
    pub field: &'static str,
    /// The called service (the upstream to call).
    pub grpc_service: &'static str,
    /// The called method's gRPC path (`/users.v1.UserService/GetUser`).
    pub grpc_path: &'static str,
    /// Fully qualified name of the called method's request message.
    pub input_type: &'static str,
    /// Fully qualified name of the called method's response message.
    pub output_type: &'static str,
    /// Fields copied from the composite request into the call's request.
    pub request: &'static [FieldMapping],
    /// The field path taken from the call's response; empty for the whole response.
    pub take: &'static [&'static str],
    /// NOT_FOUND leaves `field` unset instead of failing the request.
    pub optional: bool,
}

/// One field copied from the composite request into a part's request.
#[derive(Debug, Clone, Copy)]
pub struct FieldMapping {
    /// Field path in the composite request (proto field names).
    pub from: &'static [&'static str],
    /// Field path in the part's request; sub-messages on the way are created.
    pub to: &'static [&'static str],
}

/// A compiled path template: the segments after the leading `/`, and the optional `:verb`.
#[derive(Debug, Clone, Copy)]
pub struct PathPattern {
    /// The segments, with variables expanded into the segments they match (`{id}` is one
    /// [`Segment::Single`]; `{name=shelves/*}` is `Literal("shelves"), Single`).
    pub segments: &'static [Segment],
    /// The trailing verb without its colon (`archive` for `/v1/things/{id}:archive`).
    pub verb: Option<&'static str>,
}

/// One segment of a compiled path template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// Matches exactly this text (case-sensitive, compared after percent-decoding unreserved
    /// characters is *not* done: literals are compared raw).
    Literal(&'static str),
    /// `*`: exactly one segment.
    Single,
    /// `**`: zero or more segments; only ever the last segment.
    Multi,
}

/// A path variable: which segments it captures and which request field it fills.
#[derive(Debug, Clone, Copy)]
pub struct PathParam {
    /// The field path in proto field names (`["book", "shelf_id"]` for `{book.shelf_id}`);
    /// sub-messages on the way are created as needed.
    pub field_path: &'static [&'static str],
    /// Index into [`PathPattern::segments`] of the first captured segment.
    pub first_segment: usize,
    /// How many segments it captures; `None` when it ends with `**` (captures to the end).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySpec {
    /// No body: every field not bound by the path may come from the query string.
    None,
    /// `body: "*"`: the body is the request message; the query string is ignored.
    Whole,
    /// `body: "field"`: the body is this top-level field's JSON; other unbound fields may come
    /// from the query string.
    Field(&'static str),
}
