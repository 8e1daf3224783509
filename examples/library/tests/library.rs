//! googleapis' library example over HTTP: the generated routes, the gateway runtime and the
//! in-memory tonic server on real sockets, exercised with a real HTTP client; every binding of
//! the API once (custom methods, `body: "*"` and `body: "book"`, the PATCH update mask the
//! gateway fills in, `google.protobuf.Empty` answers, paging, errors).
#![cfg(not(corpus_missing))]

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The gRPC server and the gateway on free loopback ports; both stop when it is dropped.
struct Library {
    addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    _stop: oneshot::Sender<()>,
}

impl Library {
    async fn start() -> Self {
        let grpc = TcpListener::bind("127.0.0.1:0").await.expect("grpc port");
        let channel =
            library_example::lazy_channel(grpc.local_addr().expect("bound")).expect("channel");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(library_example::serve_grpc(grpc, async {
            let _ = stopped.await;
        }));
        let http = TcpListener::bind("127.0.0.1:0").await.expect("http port");
        let addr = http.local_addr().expect("bound");
        let router = library_example::gateway_router(channel).expect("the routes resolve");
        tokio::spawn(async move { axum::serve(http, router).await });
        Library {
            addr,
            client: Client::builder(TokioExecutor::new()).build_http(),
            _stop: stop,
        }
    }

    /// Sends `method path` with a JSON `body`; returns the status and the JSON answer.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .expect("a valid request");
        let response = self
            .client
            .request(request)
            .await
            .expect("the gateway answers");
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {bytes:?}"));
        (status, json)
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, json) = self.call(method, path, body).await;
        assert_eq!(status, 200, "{method} {path}: {json}");
        json
    }
}

#[tokio::test]
async fn shelves_and_books_over_http() {
    let library = Library::start().await;

    // CreateShelf: `body: "shelf"`.
    let fiction = library
        .ok("POST", "/v1/shelves", Some(json!({"theme": "Fiction"})))
        .await;
    assert_eq!(fiction, json!({"name": "shelves/1", "theme": "Fiction"}));
    let poetry = library
        .ok("POST", "/v1/shelves", Some(json!({"theme": "Poetry"})))
        .await;
    assert_eq!(poetry["name"], "shelves/2");

    // GetShelf: `{name=shelves/*}`; ListShelves with paging from the query string.
    assert_eq!(library.ok("GET", "/v1/shelves/1", None).await, fiction);
    let first = library.ok("GET", "/v1/shelves?page_size=1", None).await;
    assert_eq!(first["shelves"], json!([fiction]));
    assert_eq!(first["next_page_token"], "1");
    let rest = library
        .ok("GET", "/v1/shelves?pageSize=1&pageToken=1", None)
        .await;
    assert_eq!(rest["shelves"][0]["theme"], "Poetry");
    assert_eq!(rest["next_page_token"], "");

    // CreateBook: `{parent=shelves/*}/books`, `body: "book"`.
    let dune = library
        .ok(
            "POST",
            "/v1/shelves/1/books",
            Some(json!({"title": "Dune", "author": "Frank Herbert"})),
        )
        .await;
    assert_eq!(
        dune,
        json!({"name": "shelves/1/books/1", "author": "Frank Herbert", "title": "Dune", "read": false})
    );
    library
        .ok(
            "POST",
            "/v1/shelves/1/books",
            Some(json!({"title": "Solaris", "author": "Stanisław Lem"})),
        )
        .await;

    // UpdateBook: PATCH `{book.name=shelves/*/books/*}` without a mask: the gateway sends the
    // body's keys as `update_mask`, so the title survives.
    let read = library
        .ok(
            "PATCH",
            "/v1/shelves/1/books/1",
            Some(json!({"read": true})),
        )
        .await;
    assert_eq!(read["read"], true);
    assert_eq!(read["title"], "Dune");
    // With an explicit mask from the query string.
    let renamed = library
        .ok(
            "PATCH",
            "/v1/shelves/1/books/1?update_mask=title",
            Some(json!({"title": "Dune Messiah", "author": "ignored"})),
        )
        .await;
    assert_eq!(renamed["title"], "Dune Messiah");
    assert_eq!(renamed["author"], "Frank Herbert");

    // GetBook and ListBooks.
    assert_eq!(
        library.ok("GET", "/v1/shelves/1/books/1", None).await,
        renamed
    );
    let books = library.ok("GET", "/v1/shelves/1/books", None).await;
    assert_eq!(books["books"].as_array().map(Vec::len), Some(2));

    // MoveBook: a custom method, `body: "*"` next to a path variable.
    let moved = library
        .ok(
            "POST",
            "/v1/shelves/1/books/2:move",
            Some(json!({"other_shelf_name": "shelves/2"})),
        )
        .await;
    assert_eq!(moved["name"], "shelves/2/books/1");
    assert_eq!(moved["title"], "Solaris");

    // MergeShelves: shelf 2's books come to shelf 1, shelf 2 goes.
    let merged = library
        .ok(
            "POST",
            "/v1/shelves/1:merge",
            Some(json!({"otherShelf": "shelves/2"})),
        )
        .await;
    assert_eq!(merged, fiction);
    let books = library.ok("GET", "/v1/shelves/1/books", None).await;
    let titles: Vec<&str> = books["books"]
        .as_array()
        .expect("books")
        .iter()
        .filter_map(|b| b["title"].as_str())
        .collect();
    assert_eq!(titles, ["Dune Messiah", "Solaris"]);

    // DeleteBook and DeleteShelf answer `google.protobuf.Empty` as `{}`.
    assert_eq!(
        library.ok("DELETE", "/v1/shelves/1/books/1", None).await,
        json!({})
    );
    assert_eq!(library.ok("DELETE", "/v1/shelves/1", None).await, json!({}));

    // Errors: the upstream's NOT_FOUND and INVALID_ARGUMENT, the gateway's own 404.
    let (status, error) = library.call("GET", "/v1/shelves/1", None).await;
    assert_eq!((status, error["code"].clone()), (404, json!(5)), "{error}");
    let (status, error) = library.call("GET", "/v1/shelves/2", None).await;
    assert_eq!(status, 404, "{error}");
    let (status, error) = library
        .call(
            "POST",
            "/v1/shelves/3:merge",
            Some(json!({"other_shelf": "shelves/3"})),
        )
        .await;
    assert_eq!((status, error["code"].clone()), (400, json!(3)), "{error}");
    let (status, _) = library
        .call("GET", "/v1/shelves/1/books/1/pages", None)
        .await;
    assert_eq!(status, 404);
}

#[test]
fn the_document_describes_the_api() {
    let doc: Value = serde_json::from_str(library_example::OPENAPI_JSON).expect("JSON");
    let mut paths: Vec<&String> = doc["paths"].as_object().expect("paths").keys().collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/v1/shelves",
            "/v1/shelves/{shelf}",
            "/v1/shelves/{shelf}/books",
            "/v1/shelves/{shelf}/books/{book}",
            "/v1/shelves/{shelf}/books/{book}:move",
            "/v1/shelves/{shelf}:merge",
        ]
    );
    // GetBook, DeleteBook and UpdateBook share one path item, with the same parameter names.
    let book = &doc["paths"]["/v1/shelves/{shelf}/books/{book}"];
    for method in ["get", "delete", "patch"] {
        assert!(book[method].is_object(), "{method}");
    }
    // DeleteShelf's `google.protobuf.Empty` is an empty object (closed: it has no field), not a
    // reference to nothing.
    assert_eq!(
        doc["paths"]["/v1/shelves/{shelf}"]["delete"]["responses"]["200"]["content"]["application/json"]
            ["schema"],
        json!({"type": "object", "additionalProperties": false})
    );
}
