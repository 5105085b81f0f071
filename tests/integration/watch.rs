//! `Routes.Watch` and `trunkline watch`, to etcd's contract: a snapshot,
//! its end, then changes in order with progress notes; a watcher that
//! stalls while writes go on is told it lagged, after every change up to
//! that point and none skipped.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::watch_response::Event;

use crate::harness::{Node, bin};

/// `trunkline watch ARGS --json` on `node`, its lines as they come.
fn watch_cli(node: &Node, args: &[&str]) -> (std::process::Child, mpsc::Receiver<Value>) {
    let mut child = Command::new(bin("trunkline"))
        .args([
            "--server",
            &node.server(),
            "--timeout",
            "2",
            "--json",
            "watch",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

fn next(rx: &mpsc::Receiver<Value>, skip_progress: bool) -> Value {
    loop {
        let v = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a watch line");
        if !(skip_progress && v["type"] == "progress") {
            return v;
        }
    }
}

fn rev(v: &Value) -> u64 {
    v["revision"].as_u64().unwrap()
}

#[test]
fn watch_sends_a_snapshot_its_end_then_each_change_with_progress() {
    let node = Node::start_with(
        "[[route]]\nprefix = \"+1555123\"\nvia = [\"sip:{e164}@pbx.example\"]\n",
        "",
    );
    node.cli(&["announce", "+1555999", "--via", "sip:a@x.example"])
        .ok();
    node.cli(&["announce", "+1666", "--via", "sip:b@x.example"])
        .ok();
    let (mut child, rx) = watch_cli(&node, &["+1555", "--progress", "1"]);

    let first = next(&rx, true);
    let second = next(&rx, true);
    let prefixes: Vec<&str> = [&first, &second]
        .iter()
        .map(|v| v["prefix"].as_str().unwrap())
        .collect();
    assert_eq!(
        prefixes,
        ["+1555123", "+1555999"],
        "in order, under +1555 only"
    );
    assert_eq!(
        first["routes"][0]["next_hops"][0]["uri"],
        "sip:{e164}@pbx.example"
    );
    let end = next(&rx, true);
    assert_eq!(end["type"], "snapshot_end", "{end}");
    assert_eq!(end["prefixes"], 2);
    let snapshot = rev(&end);
    assert_eq!(rev(&first), snapshot);

    node.cli(&["announce", "+1666777", "--via", "sip:c@x.example"])
        .ok();
    node.cli(&["announce", "+1555444", "--via", "sip:d@x.example"])
        .ok();
    let added = next(&rx, true);
    assert_eq!(
        added["prefix"], "+1555444",
        "{added}: +1666777 is not watched"
    );
    assert!(rev(&added) > snapshot);
    node.cli(&["withdraw", "+1555999"]).ok();
    let gone = next(&rx, true);
    assert_eq!(gone["prefix"], "+1555999");
    assert_eq!(gone["routes"], Value::Array(vec![]), "withdrawn: no routes");
    assert!(rev(&gone) > rev(&added));

    // Progress comes every second, and the watch outlives the CLI's
    // --timeout (2 s): a stream is not a request that times out.
    std::thread::sleep(Duration::from_secs(3));
    let progress = next(&rx, false);
    assert_eq!(progress["type"], "progress", "{progress}");
    assert!(rev(&progress) >= rev(&gone));
    assert!(child.try_wait().unwrap().is_none(), "still watching");
    let _ = child.kill();
    let _ = child.wait();
}

/// A watcher that reads nothing while thousands of writes apply, then
/// reads: every change it is given comes in order with none missing, and
/// the stream ends with Reset(LAGGED) instead of skipping the rest.
#[test]
fn a_watcher_that_stalls_while_writes_go_on_is_told_it_lagged() {
    // 200 writes of 100 routes with 16 long next hops (some 40 MB of
    // watch messages): more than the stream's buffers and the HTTP/2
    // windows hold, and than a watcher may fall behind.
    const WRITES: usize = 200;
    const ROUTES: usize = 100;
    let hops: Vec<pb::NextHop> = (0..16)
        .map(|i| pb::NextHop {
            uri: format!(
                "sip:{{e164}}@gateway-{i:02}.a-rather-long-domain-name-for-a-trunk.example"
            ),
            priority: 10 + i,
            weight: 100,
        })
        .collect();
    let node = Node::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // A connection of its own: a stream nobody reads holds up the
        // whole HTTP/2 connection's window, and writes on it would wait.
        let mut stalled = (node.client().await)
            .watch(pb::WatchRequest::default())
            .await
            .unwrap()
            .into_inner();
        let mut client = node.client().await;
        let mut announced = Vec::new();
        // Per write: its log index, and how many prefixes were announced
        // up to and with it.
        let mut applied_at = Vec::new();
        for i in 0..WRITES {
            let prefixes: Vec<String> = (0..ROUTES)
                .map(|j| format!("+1555{:05}", i * ROUTES + j))
                .collect();
            let routes = (prefixes.iter())
                .map(|prefix| pb::RouteSpec {
                    prefix: prefix.clone(),
                    next_hops: hops.clone(),
                    ..Default::default()
                })
                .collect();
            let r = client
                .announce(pb::AnnounceRequest {
                    routes,
                    request_id: String::new(),
                })
                .await
                .unwrap()
                .into_inner();
            applied_at.push((r.log_index, announced.len() + prefixes.len()));
            announced.extend(prefixes);
        }
        let mut events = Vec::new();
        loop {
            let next = tokio::time::timeout(Duration::from_secs(10), stalled.message());
            let Some(m) = (next.await)
                .expect("the stream goes on or ends, it does not hang")
                .unwrap()
            else {
                break;
            };
            events.push(m);
        }
        let (last, changes) = events.split_last().expect("messages");
        let Some(Event::Reset(reset)) = &last.event else {
            panic!("the stream ends with a Reset: {last:?}");
        };
        assert_eq!(reset.reason(), pb::reset::Reason::Lagged, "{reset:?}");
        assert!(reset.message.contains("behind"), "{}", reset.message);
        // An empty snapshot, its end, then changes: the first announcements
        // in the order they applied, with no gap, and not all of them.
        assert!(matches!(changes[0].event, Some(Event::SnapshotEnd(_))));
        let seen: Vec<&str> = (changes[1..].iter())
            .filter_map(|m| match &m.event {
                Some(Event::Routes(r)) => Some(r.prefix.as_str()),
                _ => None,
            })
            .collect();
        assert!(
            !seen.is_empty() && seen.len() < announced.len(),
            "{} of {} seen before the reset",
            seen.len(),
            announced.len()
        );
        assert_eq!(seen, announced[..seen.len()], "in order, none missing");
        let revisions: Vec<u64> = changes.iter().map(|m| m.revision).collect();
        assert!(revisions.windows(2).all(|w| w[0] <= w[1]), "{revisions:?}");
        // The Reset's revision: every change up to it was sent.
        let upto = (applied_at.iter())
            .filter(|(index, _)| *index <= last.revision)
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0);
        assert!(
            upto > 0 && seen.len() >= upto,
            "{} seen, {upto} by revision {}",
            seen.len(),
            last.revision
        );
    });
}

/// A watch resumes after the last revision it handled: no snapshot, every
/// change since, in order. From a revision the node no longer holds (it
/// has restarted since) it is told so, and exits 1.
#[test]
fn a_watch_resumes_after_a_revision_or_is_told_it_is_compacted() {
    let mut node = Node::start();
    let announce = |node: &Node, p: &str| {
        node.cli(&["announce", p, "--via", "sip:x@x.example"]).ok();
    };
    announce(&node, "+1555100");
    let (mut child, rx) = watch_cli(&node, &[]);
    assert_eq!(next(&rx, true)["prefix"], "+1555100");
    assert_eq!(next(&rx, true)["type"], "snapshot_end");
    announce(&node, "+1555200");
    let seen = next(&rx, true);
    assert_eq!(seen["prefix"], "+1555200");
    let _ = child.kill();
    let _ = child.wait();

    // While nobody watches.
    announce(&node, "+1555300");
    node.cli(&["withdraw", "+1555100"]).ok();
    announce(&node, "+1666");
    // More than a live watcher may fall behind (64 batches): a resume
    // still catches up with all of it.
    let more: Vec<String> = (0..80).map(|i| format!("+1777{i:03}")).collect();
    for p in &more {
        announce(&node, p);
    }
    let after = rev(&seen).to_string();
    let (mut child, rx) = watch_cli(&node, &["--after", &after]);
    let missed: Vec<Value> = (0..3 + more.len()).map(|_| next(&rx, true)).collect();
    let prefixes: Vec<&str> = missed
        .iter()
        .map(|v| v["prefix"].as_str().unwrap())
        .collect();
    assert_eq!(
        prefixes[..3],
        ["+1555300", "+1555100", "+1666"],
        "{missed:?}"
    );
    assert_eq!(
        prefixes[3..],
        more.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(missed[1]["routes"], Value::Array(vec![]), "withdrawn");
    let revisions: Vec<u64> = missed.iter().map(rev).collect();
    assert!(revisions[0] > rev(&seen) && revisions.windows(2).all(|w| w[0] < w[1]));
    // Then it goes on live.
    announce(&node, "+1555400");
    assert_eq!(next(&rx, true)["prefix"], "+1555400");
    let _ = child.kill();
    let _ = child.wait();

    assert_eq!(node.terminate(), Some(0));
    node.restart();
    let out = node.cli(&["--timeout", "5", "watch", "--after", &after]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("compacted"), "{}", out.stderr);
}

/// The next session event for `neighbor`, skipping everything else.
fn next_session(rx: &mpsc::Receiver<Value>, neighbor: &str) -> Value {
    loop {
        let v = next(rx, true);
        if v["type"] == "session" && v["neighbor"] == neighbor {
            return v;
        }
    }
}

/// `--sessions`: a neighbor in the snapshot, then each change to it as
/// the replicated state has it: its session up (on which node, in which
/// epoch), down when the peer goes, added and removed at run time.
#[test]
fn a_watch_with_sessions_sees_neighbors_come_up_go_down_and_go_away() {
    use crate::harness::free_port;
    const ALICE: u32 = 4_200_000_101;
    const BOB: u32 = 4_200_000_202;
    let (pa, pb) = (free_port(), free_port());
    let peer = |name: &str, itad: u32, dial: Option<u16>| {
        let addrs = dial.map_or(String::new(), |p| format!("\"http://127.0.0.1:{p}\""));
        format!(
            "[[peer]]\nname = \"{name}\"\nitad = {itad}\naddresses = [{addrs}]\n\
             [[peer.import]]\naction = \"accept\"\n[[peer.export]]\naction = \"accept\"\n"
        )
    };
    let a = Node::start_as(ALICE, pa, &peer("bob", BOB, Some(pb)));
    let (mut child, rx) = watch_cli(&a, &["--sessions"]);
    let first = next_session(&rx, "bob");
    assert_eq!(first["phase"], "down", "bob is not running yet: {first}");
    assert_eq!(first["itad"], u64::from(BOB));
    let end = next(&rx, true);
    assert_eq!(end["type"], "snapshot_end", "{end}");
    assert_eq!(end["neighbors"], 1);

    let mut b = Node::start_as(
        BOB,
        pb,
        &format!(
            "[[route]]\nprefix = \"+4930\"\nvia = [\"sip:{{e164}}@bob.example\"]\n{}",
            peer("alice", ALICE, None)
        ),
    );
    let up = next_session(&rx, "bob");
    assert_eq!(up["phase"], "up", "{up}");
    assert_eq!(up["node"], 1);
    assert_eq!(
        up["epoch"], up["revision"],
        "the epoch is the index that registered it"
    );
    // Routes and sessions come on one stream, in revision order.
    let route = loop {
        let v = next(&rx, true);
        if v["type"] == "routes" {
            break v;
        }
    };
    assert_eq!(route["prefix"], "+4930");
    assert!(rev(&route) > rev(&up), "bob's routes come in its session");

    a.cli(&[
        "neighbor",
        "add",
        "carol",
        "--itad",
        "4200000303",
        "--role",
        "member",
        "--allowed",
        "+44",
    ])
    .ok();
    let carol = next_session(&rx, "carol");
    assert_eq!(carol["phase"], "down", "configured, no session: {carol}");
    a.cli(&["neighbor", "del", "carol"]).ok();
    let gone = next_session(&rx, "carol");
    assert_eq!(gone["phase"], "removed", "{gone}");
    assert!(rev(&gone) > rev(&carol));

    b.terminate();
    let down = next_session(&rx, "bob");
    assert_eq!(down["phase"], "down", "{down}");
    assert_eq!(down["epoch"], up["epoch"], "the session that ended");
    let _ = child.kill();
    let _ = child.wait();

    // Only sessions: no routes in the snapshot.
    let (mut child, rx) = watch_cli(&a, &["--only-sessions"]);
    let only = next(&rx, true);
    assert_eq!(only["type"], "session", "{only}");
    assert_eq!(only["neighbor"], "bob");
    assert_eq!(next(&rx, true)["prefixes"], 0);
    let _ = child.kill();
    let _ = child.wait();
}
