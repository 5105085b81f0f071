//! The HTTP side: Prometheus metrics, health and readiness.

use crate::harness::{Node, http_get};

#[test]
fn metrics_health_and_readiness() {
    let node = Node::start();
    node.cli(&["announce", "+4930", "--via", "sip:a@x"]).ok();
    node.cli(&["lookup", "+493012"]).ok();
    assert_eq!(node.cli(&["lookup", "+3312"]).code, 3);

    let (code, body) = http_get(node.spec.http, "/healthz").unwrap();
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    let (code, body) = http_get(node.spec.http, "/readyz").unwrap();
    assert_eq!((code, body.as_str()), (200, "ready\n"));

    let (code, m) = http_get(node.spec.http, "/metrics").unwrap();
    assert_eq!(code, 200);
    for line in [
        "trunkline_routes 1",
        "trunkline_prefixes 1",
        "trunkline_raft_is_leader 1",
        "trunkline_raft_leader_id 1",
        "trunkline_lookups_total{result=\"hit\"} 1",
        "trunkline_lookups_total{result=\"miss\"} 1",
        "trunkline_grpc_requests_total{method=\"Announce\",code=\"ok\"} 1",
    ] {
        assert!(m.lines().any(|l| l == line), "{line:?} not in:\n{m}");
    }
    for name in [
        "trunkline_raft_term",
        "trunkline_raft_commit_index",
        "trunkline_raft_applied_index",
        "trunkline_lookup_duration_seconds_bucket",
    ] {
        assert!(m.contains(name), "{name} missing");
    }
    assert_eq!(http_get(node.spec.http, "/nope").unwrap().0, 404);
}

/// `/metrics` can be turned off; health and readiness stay.
#[test]
fn metrics_can_be_turned_off() {
    let mut node = crate::harness::Node::new(crate::harness::NodeSpec {
        http_extra: "metrics = false\n".into(),
        ..crate::harness::NodeSpec::new(
            1,
            String::new(),
            crate::harness::free_port(),
            crate::harness::free_port(),
        )
    });
    node.restart();
    assert_eq!(http_get(node.spec.http, "/metrics").unwrap().0, 404);
    assert_eq!(http_get(node.spec.http, "/healthz").unwrap().0, 200);
}
