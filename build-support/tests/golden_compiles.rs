//! The golden routes module compiles against the gateway's contract (`gateway/src/spec.rs`) and its
//! values keep the invariants the runtime relies on.

// The runtime reads every field; this test reads only the ones it checks.
#[allow(dead_code)]
#[path = "../../gateway/src/spec.rs"]
mod spec;

#[path = "golden/routes/mod.rs"]
#[rustfmt::skip]
mod generated;

use spec::Segment;

#[test]
fn golden_routes_keep_runtime_invariants() {
    assert!(!generated::ROUTES.is_empty());
    assert!(!generated::FILE_DESCRIPTOR_SET.is_empty());
    let mut ids = std::collections::BTreeSet::new();
    for route in generated::ROUTES {
        assert!(
            ids.insert(route.operation_id),
            "{} twice",
            route.operation_id
        );
        let segments = route.pattern.segments;
        if let Some(at) = segments.iter().position(|s| *s == Segment::Multi) {
            assert_eq!(at, segments.len() - 1, "{}: `**` last", route.template);
        }
        for param in route.path_params {
            let end = match param.segment_count {
                Some(count) => param.first_segment + count,
                None => segments.len(),
            };
            assert!(
                end <= segments.len(),
                "{}: capture in range",
                route.template
            );
            assert_eq!(param.is_multi_segment(), param.segment_count != Some(1));
        }
    }
    let resource = generated::ROUTES
        .iter()
        .find(|r| r.operation_id == "EchoService_GetResource")
        .expect("fixture binding");
    assert_eq!(resource.path_params[0].field_path, ["name"]);
    assert_eq!(resource.path_params[0].first_segment, 1);
    assert_eq!(resource.path_params[0].segment_count, Some(4));
    let archive = generated::ROUTES
        .iter()
        .find(|r| r.operation_id == "EchoService_Archive")
        .expect("fixture binding");
    assert_eq!(archive.pattern.verb, Some("archive"));
    assert_eq!(archive.body, spec::BodySpec::Whole);
}
