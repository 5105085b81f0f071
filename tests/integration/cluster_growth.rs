//! How a cluster grows from the single node every hobbyist starts with,
//! and what a node does once the cluster removed it.

use std::time::Duration;

use crate::harness::{Cluster, Node, NodeSpec, free_port, http_get, wait_until};

/// A node started without `[cluster]` knows its own address (from `[api]
/// listen`), so a node started with `join = true` can be added, catch up
/// and become a voter, and the two then act as one table.
#[test]
fn a_single_node_grows_into_a_cluster() {
    let ca = crate::certs::TestCa::new();
    let mut first = Node::new(NodeSpec {
        cluster_tls: ca.cluster_tls(1),
        ..NodeSpec::new(1, String::new(), free_port(), free_port())
    });
    first.restart();
    let token = crate::harness::cluster_token(&first);
    let mut c = Cluster {
        nodes: vec![first],
        links: Vec::new(),
        ca,
        token,
    };
    c.nodes[0]
        .cli(&["announce", "+44", "--via", "sip:london@x"])
        .ok();
    for id in [2, 3] {
        let mut j = c.joiner(id);
        j.spawn();
        let addr = j.cluster_addr();
        let out = c.nodes[0]
            .cli(&["cluster", "add-node", &id.to_string(), &addr])
            .ok()
            .to_owned();
        assert!(out.contains(&format!("node {id} added")), "{out}");
        j.wait_ready();
        c.nodes.push(j);
        c.wait_voter(id);
    }
    let s = c.status();
    for m in s["members"].as_array().unwrap() {
        assert!(
            m["addr"]
                .as_str()
                .is_some_and(|a| a.starts_with("https://")),
            "every member has an address: {s}"
        );
    }
    // The first node's routes reached the others; a write on a new node
    // reaches the first.
    let j = c.nodes[2].cli(&["lookup", "+4420", "--json"]).json();
    assert_eq!(j["next_hops"][0]["uri"], "sip:london@x");
    c.nodes[1]
        .cli(&["announce", "+45", "--via", "sip:cph@x"])
        .ok();
    assert_eq!(c.converged_tables().len(), 3);
    c.nodes[0].cli(&["lookup", "+4533"]).ok();
}

/// A single node listening on every address has no address to give a new
/// node: `add-node` refuses, says why and how to fix it, and changes
/// nothing.
#[test]
fn growing_a_node_without_a_reachable_address_is_refused_with_the_fix() {
    let grpc = free_port();
    // Plaintext on every address must be asked for in words.
    let mut n = Node::new(NodeSpec {
        api_extra: "insecure = true\n".into(),
        ..NodeSpec::new(1, "insecure = true\n".into(), grpc, free_port())
    });
    n.spec.api_host = "0.0.0.0";
    n.restart();
    let out = n.cli(&["cluster", "add-node", "2", "http://127.0.0.1:1"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("advertise"), "{}", out.stderr);
    let st = n.cli(&["status", "--json"]).json();
    assert_eq!(st["raft"]["learners"], serde_json::json!([]));

    // On loopback, a node that is not on loopback could not reach it.
    let m = Node::start();
    let out = m.cli(&["cluster", "add-node", "2", "http://192.0.2.7:50051"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("loopback"), "{}", out.stderr);
}

fn removed(n: &Node) -> bool {
    let out = n.cli(&["status", "--json"]);
    out.code == 0 && !out.json()["removed"].is_null()
}

/// Waits until node index `i` says it was removed; the logs say why not.
fn wait_removed(c: &Cluster, i: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !removed(&c.nodes[i]) {
        if std::time::Instant::now() > deadline {
            let logs: Vec<String> = c.nodes.iter().map(|n| n.log_tail(40)).collect();
            panic!(
                "node {} never knew it was removed\n{}",
                i + 1,
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A node the cluster removed stops: no more elections, no answers from
/// its stale table, and it says so in its log, `status` and `/readyz`,
/// across restarts. Its id cannot come back.
#[test]
fn a_removed_node_stops_serving_and_says_so() {
    let mut c = Cluster::start(3);
    c.nodes[0]
        .cli(&["announce", "+44", "--via", "sip:london@x"])
        .ok();
    c.converged_tables();
    c.nodes[0].cli(&["cluster", "remove-node", "3"]).ok();
    wait_removed(&c, 2);
    // A write after the removal: node 3 must not answer for it, nor with
    // its old table.
    c.nodes[0]
        .cli(&["announce", "+45", "--via", "sip:cph@x"])
        .ok();
    let removed_node = &c.nodes[2];
    for number in ["+4533", "+4420"] {
        let out = removed_node.cli(&["lookup", number]);
        assert_ne!(out.code, 0, "a removed node answered {number}");
        assert!(out.stderr.contains("removed"), "{}", out.stderr);
    }
    let (code, body) = http_get(removed_node.spec.http, "/readyz").unwrap();
    assert_eq!(code, 503);
    assert!(body.contains("removed"), "{body}");
    let (code, _) = http_get(removed_node.spec.http, "/v1/lookup/+4420?format=dial").unwrap();
    assert_eq!(code, 503);
    let text = removed_node.cli(&["status"]).ok().to_owned();
    assert!(text.contains("removed"), "{text}");
    assert!(removed_node.log().contains("removed from its cluster"));
    // It no longer campaigns: its term stands still.
    let term = |n: &Node| n.cli(&["status", "--json"]).json()["raft"]["term"].clone();
    let before = term(removed_node);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        term(removed_node),
        before,
        "a removed node kept campaigning"
    );
    // It stays removed across a restart.
    c.nodes[2].terminate();
    c.nodes[2].spawn();
    wait_until("the restarted node is up", Duration::from_secs(20), || {
        c.nodes[2].cli(&["status"]).code == 0
    });
    assert!(removed(&c.nodes[2]));
    // The other two carry on, and the removed id cannot come back.
    c.nodes[1].cli(&["lookup", "+4533"]).ok();
    let out = c.nodes[0].cli(&["cluster", "add-node", "3", &c.nodes[2].cluster_addr()]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("new id"), "{}", out.stderr);
}

/// A node that was down when it was removed learns it when it comes back
/// and asks the others for votes.
#[test]
fn a_node_removed_while_down_learns_it_when_it_returns() {
    let mut c = Cluster::start(3);
    c.nodes[2].kill9();
    c.nodes[0].cli(&["cluster", "remove-node", "3"]).ok();
    c.nodes[2].spawn();
    wait_removed(&c, 2);
    let log = c.nodes[2].log();
    assert!(log.contains("removed from its cluster"), "{log}");
}
