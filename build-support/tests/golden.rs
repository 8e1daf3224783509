//! Golden tests: the fixture proto set (`tests/fixtures`) through every emitter, compared byte for
//! byte with `tests/golden/`. Refresh with `UPDATE_GOLDEN=1 cargo test -p build-support --test golden`
//! and review the diff.

use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fixture generator; the same include directories work for the gateway's conformance tests.
fn fixture_generator(out: &Path) -> build_support::Generator {
    let root = crate_dir();
    build_support::Generator::new()
        .proto_dir(root.join("tests/fixtures"))
        .title("Echo fixture")
        .routes_out(out.join("routes"))
        .openapi_out(out.join("openapi"))
}

#[test]
fn fixture_matches_golden_files() {
    let golden = crate_dir().join("tests/golden");
    let output = fixture_generator(&golden)
        .generate()
        .expect("the fixture generates");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        output.write().expect("golden files written");
        return;
    }
    let stale = output.check();
    assert!(
        stale.is_empty(),
        "golden files differ: {stale:?}\nrefresh with `UPDATE_GOLDEN=1 cargo test -p build-support --test golden` and review the diff"
    );
}

#[test]
fn fixture_model_covers_every_feature() {
    let api = fixture_generator(Path::new("unused"))
        .model()
        .expect("the fixture builds");
    let service = &api.services[0];
    assert_eq!(service.full_name, "echo.v1.EchoService");
    let names: Vec<&str> = service.methods.iter().map(|m| m.name.as_str()).collect();
    assert!(
        !names.contains(&"Internal"),
        "unannotated methods are not bound"
    );
    let delete = service
        .methods
        .iter()
        .find(|m| m.name == "Delete")
        .expect("Delete is bound");
    let ids: Vec<&str> = delete
        .bindings
        .iter()
        .map(|b| b.operation_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "EchoService_Delete",
            "EchoService_Delete_1",
            "EchoService_Delete_2"
        ]
    );
    let stream = service
        .methods
        .iter()
        .find(|m| m.name == "Stream")
        .expect("Stream is bound");
    assert!(stream.server_streaming);
    let head = service
        .methods
        .iter()
        .find(|m| m.name == "Head")
        .expect("Head is bound");
    assert_eq!(head.bindings[0].http_method, "HEAD");
    let get = &service.methods[0].bindings[0];
    let query: Vec<&str> = get.query_params.iter().map(|q| q.name.as_str()).collect();
    assert!(query.contains(&"nested.size"));
    assert!(query.contains(&"tags"));
    assert!(
        !query.contains(&"id"),
        "path-bound fields are not query parameters"
    );
    assert!(
        !query.contains(&"items"),
        "repeated messages are not query parameters"
    );
    assert!(
        !query.contains(&"counters"),
        "maps are not query parameters"
    );
    assert!(!query.contains(&"nested.child.name"), "recursion stops");
}
