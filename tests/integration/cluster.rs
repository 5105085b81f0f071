//! Clusters of real processes: replication, failover, durability,
//! membership.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::harness::{Cluster, announce_retrying};

#[test]
fn announce_on_a_follower_reaches_every_node() {
    let c = Cluster::start(3);
    let leader = c.leader();
    let follower = (leader + 1) % 3;
    c.nodes[follower]
        .cli(&[
            "announce",
            "+1555123XXXX",
            "--via",
            "sip:{e164}@pbx.example.org",
        ])
        .ok();
    // The node that took the write answers with it at once (read your writes)...
    let j = c.nodes[follower]
        .cli(&["lookup", "+15551230001", "--json"])
        .json();
    assert_eq!(j["matched_prefix"], "+1555123");
    // ...and every node ends with the same table.
    let tables = c.converged_tables();
    assert!(tables[0].contains("+1555123"));
    assert!(tables.windows(2).all(|w| w[0] == w[1]), "{tables:?}");

    let s = c.status();
    assert_eq!(s["members"].as_array().unwrap().len(), 3);
    for m in s["members"].as_array().unwrap() {
        assert_eq!(m["reachable"], true);
        assert_eq!(m["membership"], "voter");
    }
    let roles: Vec<&str> = s["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles.iter().filter(|r| **r == "leader").count(),
        1,
        "{roles:?}"
    );
    // The leader exports each member's lag.
    let (_, m) = crate::harness::http_get(c.nodes[leader].spec.http, "/metrics").unwrap();
    assert_eq!(m.matches("trunkline_raft_peer_lag{peer=").count(), 3, "{m}");
}

/// Clients keep announcing while the leader is killed: no acknowledged
/// announcement is lost and the survivors end with identical tables.
#[test]
fn killing_the_leader_loses_no_acknowledged_write() {
    let mut c = Cluster::start(3);
    let servers: Vec<String> = c.nodes.iter().map(|n| n.server()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = background_writer((servers, c.token.clone()), stop.clone(), "kill");
    std::thread::sleep(Duration::from_millis(1500));
    let leader = c.leader();
    c.nodes[leader].kill9();
    std::thread::sleep(Duration::from_millis(3000));
    stop.store(true, Ordering::Relaxed);
    let acked = writer.join().unwrap();
    assert_nothing_lost(&c, &acked, 2);
    // The old leader comes back and catches up.
    c.nodes[leader].restart();
    let tables = c.converged_tables();
    assert!(tables.windows(2).all(|w| w[0] == w[1]));
}

/// etcd issue 14370, for three nodes: acknowledge, kill -9 every node,
/// restart all: the write is there.
#[test]
fn kill_9_every_node_after_an_ack_keeps_the_write() {
    let mut c = Cluster::start(3);
    c.nodes[0]
        .cli(&["announce", "+33", "--via", "sip:paris@x"])
        .ok();
    for n in &mut c.nodes {
        n.kill9();
    }
    for n in &mut c.nodes {
        n.spawn();
    }
    for n in &mut c.nodes {
        n.wait_ready();
    }
    for n in &c.nodes {
        let j = n.cli(&["lookup", "+3312", "--json"]).json();
        assert_eq!(j["next_hops"][0]["uri"], "sip:paris@x");
    }
}

/// A request retried on a follower (its answer lost, say) is told what its
/// first try would have been: the log index where it applied. The
/// follower learns it from the leader over the forward (a peering session
/// takes its epoch from exactly this index).
#[test]
fn a_retried_write_on_a_follower_gets_its_first_index() {
    let c = Cluster::start(3);
    let follower = (c.leader() + 1) % 3;
    let announce = || {
        c.nodes[follower]
            .cli(&[
                "announce",
                "+4930",
                "--via",
                "sip:berlin@x",
                "--request-id",
                "retry-me",
                "--json",
            ])
            .json()["log_index"]
            .as_u64()
            .unwrap()
    };
    let first = announce();
    // Other writes come between, so a new entry gets a later index.
    c.nodes[follower]
        .cli(&["announce", "+4931", "--via", "sip:x@y"])
        .ok();
    assert_eq!(
        announce(),
        first,
        "the retry reports the index it first applied at"
    );
}

/// A new node joins as a learner, catches up, becomes a voter; a node is
/// removed; leadership moves on request.
#[test]
fn membership_changes() {
    let mut c = Cluster::start(3);
    c.nodes[0]
        .cli(&["announce", "+44", "--via", "sip:london@x"])
        .ok();
    // Enough routes that the snapshot the new node gets spans many chunks.
    let file = c.nodes[0].dir.path().join("blocks.csv");
    let csv: String = (0..40_000)
        .map(|i| format!("+1{:07},sip:{{e164}}@pbx{}.example.org\n", i * 7, i % 50))
        .collect();
    std::fs::write(&file, csv).unwrap();
    c.nodes[0]
        .cli(&["announce", "--file", file.to_str().unwrap()])
        .ok();
    let mut joiner = c.joiner(4);
    joiner.spawn();
    let addr = joiner.cluster_addr();
    c.nodes[1].cli(&["cluster", "add-node", "4", &addr]).ok();
    joiner.wait_ready();
    c.nodes.push(joiner);
    c.wait_voter(4);
    c.converged_tables();
    let j = c.nodes[3].cli(&["lookup", "+4420", "--json"]).json();
    assert_eq!(j["next_hops"][0]["uri"], "sip:london@x");
    assert_eq!(
        c.nodes[3].cli(&["status", "--json"]).json()["prefixes"],
        40_001
    );

    c.nodes[0].cli(&["cluster", "transfer-leader", "4"]).ok();
    assert_eq!(c.leader(), 3);

    c.nodes[3].cli(&["cluster", "remove-node", "2"]).ok();
    // The leader (which ran the change) shows it at once.
    let s = c.nodes[3].cli(&["cluster", "status", "--json"]).json();
    let ids: Vec<u64> = s["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 3, 4]);
    c.nodes[1].kill9();
    c.nodes[0]
        .cli(&["announce", "+45", "--via", "sip:cph@x"])
        .ok();
    assert_eq!(c.converged_tables().len(), 3);
}

/// Cut one follower off: the majority keeps committing; the cut-off node
/// refuses writes and consistent reads; healed, it catches up.
#[test]
fn a_partitioned_minority_refuses_and_then_catches_up() {
    let c = Cluster::start_with_proxies(3, "write_timeout_ms = 2000\n", "");
    let leader = c.leader();
    let cut = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    c.nodes[leader]
        .cli(&["announce", "+31", "--via", "sip:ams@x"])
        .ok();
    c.isolate(cut);

    // The majority commits, and serves consistent reads.
    c.nodes[other]
        .cli(&["announce", "+32", "--via", "sip:bru@x"])
        .ok();
    let j = c.nodes[leader]
        .cli(&["lookup", "+3201", "--consistent", "--json"])
        .json();
    assert_eq!(j["matched_prefix"], "+32");

    // The minority refuses writes and consistent reads...
    let w = c.nodes[cut].cli(&["--timeout", "10", "announce", "+33", "--via", "sip:par@x"]);
    // Exit 4: this node cannot answer now; another node (or later) can.
    assert_eq!(w.code, 4, "a write on the cut-off node must fail: {w:?}");
    let r = c.nodes[cut].cli(&["--timeout", "10", "lookup", "+3101", "--consistent"]);
    assert_eq!(
        r.code, 4,
        "a consistent read on the cut-off node must fail: {r:?}"
    );
    assert!(
        r.stderr.contains("no quorum") || r.stderr.contains("leader"),
        "{}",
        r.stderr
    );
    // ...but still answers plain lookups from what it has.
    let j = c.nodes[cut].cli(&["lookup", "+3101", "--json"]).json();
    assert_eq!(j["matched_prefix"], "+31");
    // The failed write did not happen anywhere.
    assert_eq!(
        c.nodes[leader]
            .cli(&["lookup", "+3301", "--consistent"])
            .code,
        3
    );

    c.heal();
    let tables = c.converged_tables();
    assert!(tables.windows(2).all(|w| w[0] == w[1]));
    let j = c.nodes[cut]
        .cli(&["lookup", "+3201", "--consistent", "--json"])
        .json();
    assert_eq!(j["matched_prefix"], "+32");
}

/// Writes unique prefixes with request ids, retrying across nodes, until
/// told to stop; returns the acknowledged ones.
fn background_writer(
    (servers, token): (Vec<String>, String),
    stop: Arc<AtomicBool>,
    tag: &'static str,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut acked = Vec::new();
        let mut i = 0u32;
        while !stop.load(Ordering::Relaxed) && i < 2000 {
            let prefix = format!("+7{i:06}");
            let id = format!("{tag}-{i}");
            if announce_retrying((&servers, &token), i as usize, &prefix, &id, 100) {
                acked.push(prefix.clone());
            }
            i += 1;
        }
        acked
    })
}

/// The writer made progress, the `running` nodes converged to identical
/// tables, and every acknowledged prefix is in them.
fn assert_nothing_lost(c: &Cluster, acked: &[String], running: usize) {
    assert!(
        acked.len() > 10,
        "the writer made progress: {}",
        acked.len()
    );
    let tables = c.converged_tables();
    assert_eq!(tables.len(), running);
    assert!(tables.windows(2).all(|w| w[0] == w[1]), "tables differ");
    let routes: serde_json::Value = serde_json::from_str(&tables[0]).unwrap();
    let present: std::collections::HashSet<&str> = routes
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["prefix"].as_str().unwrap())
        .collect();
    for p in acked {
        assert!(present.contains(p.as_str()), "acknowledged {p} is missing");
    }
}

/// Grow 3 to 5 while clients write, then replace a node whose disk was
/// wiped; nothing acknowledged is lost and all nodes converge.
#[test]
fn grow_under_load_and_replace_a_wiped_node() {
    let mut c = Cluster::start(3);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = background_writer(
        (
            c.nodes.iter().map(|n| n.server()).collect(),
            c.token.clone(),
        ),
        stop.clone(),
        "grow",
    );
    for id in [4, 5] {
        let mut j = c.joiner(id);
        j.spawn();
        let addr = j.cluster_addr();
        c.nodes[0]
            .cli(&["cluster", "add-node", &id.to_string(), &addr])
            .ok();
        j.wait_ready();
        c.nodes.push(j);
        c.wait_voter(id);
    }
    // Node 2 loses its disk: take it out, and bring a fresh node in its place.
    c.nodes[1].kill9();
    c.nodes[0].cli(&["cluster", "remove-node", "2"]).ok();
    let mut fresh = c.joiner(6);
    fresh.spawn();
    let addr = fresh.cluster_addr();
    c.nodes[0].cli(&["cluster", "add-node", "6", &addr]).ok();
    fresh.wait_ready();
    c.nodes.push(fresh);
    c.wait_voter(6);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let acked = writer.join().unwrap();
    assert_nothing_lost(&c, &acked, 5);
    let s = c.status();
    let voters: Vec<u64> = s["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(voters, [1, 3, 4, 5, 6]);
}

/// A leader frozen with SIGSTOP (a long GC pause, a stalled VM) is replaced;
/// when it thaws it steps down and catches up, and nothing acknowledged is
/// lost.
#[test]
fn a_paused_leader_is_replaced_and_catches_up() {
    let c = Cluster::start(3);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = background_writer(
        (
            c.nodes.iter().map(|n| n.server()).collect(),
            c.token.clone(),
        ),
        stop.clone(),
        "pause",
    );
    std::thread::sleep(Duration::from_millis(800));
    let old = c.leader();
    c.nodes[old].pause("-STOP");
    std::thread::sleep(Duration::from_millis(3000));
    let new = c.leader();
    assert_ne!(new, old, "a new leader while the old one is frozen");
    c.nodes[old].pause("-CONT");
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::Relaxed);
    let acked = writer.join().unwrap();
    assert_nothing_lost(&c, &acked, 3);
}
