//! What was acknowledged survives: kill -9, restarts, snapshots.

use trunkline_proto::v1 as pb;

use crate::harness::Node;

fn spec(prefix: &str, uri: &str) -> pb::RouteSpec {
    pb::RouteSpec {
        prefix: prefix.into(),
        next_hops: vec![pb::NextHop {
            uri: uri.into(),
            priority: 10,
            weight: 100,
        }],
        ..Default::default()
    }
}

async fn lookup(node: &Node, number: &str) -> Option<String> {
    node.client()
        .await
        .lookup(pb::LookupRequest {
            number: number.into(),
            ..Default::default()
        })
        .await
        .ok()
        .map(|r| r.into_inner().next_hops[0].uri.clone())
}

#[tokio::test]
async fn kill_9_after_an_acknowledged_announce_loses_nothing() {
    let mut node = Node::start();
    let r = node
        .client()
        .await
        .announce(pb::AnnounceRequest {
            routes: vec![spec("+4930", "sip:berlin@x")],
            request_id: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(r.into_inner().announced, 1);
    node.kill9();
    node.restart();
    assert_eq!(
        lookup(&node, "+49301234").await.as_deref(),
        Some("sip:berlin@x")
    );
}

#[tokio::test]
async fn snapshots_compact_the_log_and_restarts_restore_them() {
    let mut node = Node::start_with("", "snapshot_entries = 20\ntrailing_entries = 5\n");
    let mut c = node.client().await;
    for i in 0..60 {
        c.announce(pb::AnnounceRequest {
            routes: vec![spec(&format!("+44{i:03}"), &format!("sip:{i}@uk"))],
            request_id: format!("load-{i}"),
        })
        .await
        .unwrap();
    }
    let st = trunkline_proto::v1::node_client::NodeClient::new(node.channel().await)
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .raft
        .unwrap();
    assert!(st.snapshot_index >= 40, "{st:?}");
    assert!(st.first_index > 30, "log compacted: {st:?}");
    node.kill9();
    node.restart();
    for i in 0..60 {
        assert_eq!(
            lookup(&node, &format!("+44{i:03}9")).await,
            Some(format!("sip:{i}@uk"))
        );
    }
    // A retried request id still applies once after the restart.
    let mut c = node.client().await;
    let r = c
        .announce(pb::AnnounceRequest {
            routes: vec![spec("+44001", "sip:changed@uk")],
            request_id: "load-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.announced, 1, "the first result is returned");
    assert_eq!(lookup(&node, "+440019").await.as_deref(), Some("sip:1@uk"));
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_keeps_the_data() {
    let mut node = Node::start();
    node.client()
        .await
        .announce(pb::AnnounceRequest {
            routes: vec![spec("+33", "sip:paris@x")],
            request_id: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(node.terminate(), Some(0));
    assert!(node.log().contains("stopped cleanly"), "{}", node.log());
    node.restart();
    assert_eq!(lookup(&node, "+3312").await.as_deref(), Some("sip:paris@x"));
    // Ctrl-C takes the same path.
    assert_eq!(node.signal("-INT"), Some(0));
    assert_eq!(
        node.log().matches("stopped cleanly").count(),
        2,
        "{}",
        node.log()
    );
}
