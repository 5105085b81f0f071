//! A peer that misbehaves, spoken to directly over `trunkline.peering.v1`:
//! every protocol error gets a Notification naming it, bad routes are
//! refused one by one with the reason while the session stays up, and
//! the node keeps running.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use trunkline_proto::peering::v1 as pb;
use trunkline_proto::peering::v1::peer_message::Body;
use trunkline_proto::peering::v1::peering_client::PeeringClient;

use crate::harness::{Node, free_port, wait_until};

const ALICE: u32 = 4_200_000_101;
const MALLORY: u32 = 4_200_000_666;
const BOB: u32 = 4_200_000_202;

/// A raw peering stream, as a misbehaving peer holds one.
pub(crate) struct Stream {
    pub tx: mpsc::Sender<pb::PeerMessage>,
    rx: tonic::Streaming<pb::PeerMessage>,
}

impl Stream {
    pub async fn open(port: u16) -> Stream {
        let mut client = PeeringClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        let (tx, out) = mpsc::channel(16);
        let rx = client
            .session(ReceiverStream::new(out))
            .await
            .unwrap()
            .into_inner();
        Stream { tx, rx }
    }

    pub async fn send(&self, body: Body) {
        self.tx
            .send(pb::PeerMessage { body: Some(body) })
            .await
            .unwrap();
    }

    /// The next message, skipping keepalives.
    pub async fn next(&mut self) -> Option<Body> {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), self.rx.message())
                .await
                .expect("an answer in time")
                .ok()??;
            match m.body {
                Some(Body::Keepalive(_)) => continue,
                other => return other,
            }
        }
    }

    /// A session as Mallory, up to the node's End-of-RIB (its table is
    /// empty).
    pub async fn established(port: u16) -> Stream {
        let mut s = Stream::open(port).await;
        s.send(open(MALLORY)).await;
        assert!(matches!(s.next().await, Some(Body::Open(_))));
        s.send(Body::Keepalive(pb::Keepalive {})).await;
        assert!(matches!(s.next().await, Some(Body::EndOfRib(_))));
        s
    }

    /// Expects a Notification with this code; returns its reason.
    pub async fn notification(&mut self, code: pb::NotificationCode) -> String {
        match self.next().await {
            Some(Body::Notification(n)) => {
                assert_eq!(n.code(), code, "{}", n.reason);
                n.reason
            }
            other => panic!("expected a {code:?} notification, got {other:?}"),
        }
    }
}

fn open(itad: u32) -> Body {
    open_with_hold(itad, 90)
}

fn open_with_hold(itad: u32, hold_time_secs: u32) -> Body {
    open_with(itad, hold_time_secs, false)
}

/// Mallory's Open; `authority`: it exchanges number authority.
pub(crate) fn open_with(itad: u32, hold_time_secs: u32, authority: bool) -> Body {
    Body::Open(pb::Open {
        version: 1,
        itad,
        name: "mallory".into(),
        hold_time_secs,
        capabilities: Some(pb::Capabilities {
            plans: vec!["e164".into()],
            graceful_restart: None,
            route_refresh: true,
            authority,
        }),
        password: String::new(),
    })
}

pub(crate) fn route(prefix: &str, uri: &str, path: &[u32]) -> pb::PathRoute {
    pb::PathRoute {
        prefix: prefix.into(),
        next_hops: vec![pb::NextHop {
            uri: uri.into(),
            priority: 10,
            weight: 100,
        }],
        path: path.to_vec(),
        med: 0,
        communities: vec![],
        local_from: None,
    }
}

/// A node that accepts whatever its peer Mallory sends; and its port.
fn accepting_mallory() -> (Node, u16) {
    let port = free_port();
    let node = Node::start_as(
        ALICE,
        port,
        &format!(
            "[[peer]]\nname = \"mallory\"\nitad = {MALLORY}\n[[peer.import]]\naction = \"accept\"\n"
        ),
    );
    (node, port)
}

#[test]
fn a_misbehaving_peer_gets_notifications_and_bad_routes_are_refused_one_by_one() {
    let (node, port) = accepting_mallory();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The session stays open until the checks are done: without graceful
    // restart, closing it would remove its routes.
    let _session = rt.block_on(async {
        // Anything before Open.
        let mut s = Stream::open(port).await;
        s.send(Body::Update(pb::Update::default())).await;
        s.notification(pb::NotificationCode::FsmError).await;
        // An empty message.
        let mut s = Stream::open(port).await;
        s.tx.send(pb::PeerMessage { body: None }).await.unwrap();
        s.notification(pb::NotificationCode::MalformedMessage).await;
        // An ITAD no peer has.
        let mut s = Stream::open(port).await;
        s.send(open(999)).await;
        let why = s.notification(pb::NotificationCode::BadPeerItad).await;
        assert!(why.contains("999"), "{why}");
        // A version from the future.
        let mut s = Stream::open(port).await;
        let Body::Open(mut o) = open(MALLORY) else {
            unreachable!()
        };
        o.version = 2;
        s.send(Body::Open(o)).await;
        match s.next().await {
            Some(Body::Open(_)) => {}
            other => panic!("expected the node's Open, got {other:?}"),
        }
        s.notification(pb::NotificationCode::UnsupportedVersion)
            .await;

        // A proper session, then bad routes among good ones.
        // The node dumps its (empty) table: End-of-RIB.
        let s = Stream::established(port).await;
        s.send(Body::Update(pb::Update {
            announce: vec![
                route("+4930", "sip:{e164}@mallory.example", &[MALLORY]),
                route("+4931", "ftp://not-a-trunk", &[MALLORY]),
                route("+4932", "sip:a@b", &[MALLORY, ALICE]),
                route("+4933", "sip:a@b", &[7, MALLORY]),
                route("+49x", "sip:a@b", &[MALLORY]),
                route("npstn:1", "sip:a@b", &[MALLORY]),
            ],
            withdraw: vec!["garbage".into()],
        }))
        .await;
        s.send(Body::EndOfRib(pb::EndOfRib {
            plan: "e164".into(),
        }))
        .await;
        // The session stays up.
        tokio::time::sleep(Duration::from_millis(500)).await;
        s.send(Body::Keepalive(pb::Keepalive {})).await;
        s
    });
    wait_until(
        "mallory's routes sorted out",
        Duration::from_secs(10),
        || {
            let r = node
                .cli(&["routes", "--peer", "mallory", "--received", "--json"])
                .json();
            r.as_array().is_some_and(|a| a.len() == 4)
        },
    );
    let received = node
        .cli(&["routes", "--peer", "mallory", "--received"])
        .ok()
        .to_owned();
    for want in [
        "+4930",
        "accepted",
        "+4931",
        "scheme",
        "+4932",
        "loop",
        "+4933",
        "path starts with ITAD 7",
    ] {
        assert!(received.contains(want), "{want:?} missing:\n{received}");
    }
    let n = node.cli(&["neighbor", "show", "mallory", "--json"]).json();
    assert_eq!(n["state"], "established", "{n}");
    assert_eq!(n["accepted"], 1);
    assert!(node.cli(&["status"]).code == 0, "the node keeps running");
}

/// A peer that stops reading in the middle of what the node sends it
/// stalls neither its own session's timers nor the node: the session goes
/// down within the hold time, `neighbor list` answers throughout, and
/// another peer's session carries on.
#[test]
fn a_peer_that_stops_reading_stalls_nothing_else() {
    let (port, bob_port) = (free_port(), free_port());
    let node = Node::start_as(
        ALICE,
        port,
        &format!(
            "[[peer]]\nname = \"mallory\"\nitad = {MALLORY}\n[[peer.export]]\naction = \"accept\"\n\
             [[peer]]\nname = \"bob\"\nitad = {BOB}\naddresses = [\"http://127.0.0.1:{bob_port}\"]\n[[peer.export]]\naction = \"accept\"\n"
        ),
    );
    let bob = Node::start_as(
        BOB,
        bob_port,
        &format!(
            "[[peer]]\nname = \"alice\"\nitad = {ALICE}\n[[peer.import]]\naction = \"accept\"\n"
        ),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Mallory opens a session (hold time 3 s), keeps sending keepalives,
    // and never reads again.
    let (_tx, _rx, keepalives) = rt.block_on(async {
        let mut s = Stream::open(port).await;
        s.send(open_with_hold(MALLORY, 3)).await;
        assert!(matches!(s.next().await, Some(Body::Open(_))));
        s.send(Body::Keepalive(pb::Keepalive {})).await;
        assert!(matches!(s.next().await, Some(Body::EndOfRib(_))));
        let tx = s.tx.clone();
        let keepalives = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let k = pb::PeerMessage {
                    body: Some(Body::Keepalive(pb::Keepalive {})),
                };
                if tx.send(k).await.is_err() {
                    return;
                }
            }
        });
        (s.tx, s.rx, keepalives)
    });
    wait_until("bob's session", Duration::from_secs(20), || {
        node.cli(&["neighbor", "show", "bob", "--json"]).json()["state"] == "established"
    });
    // Hundreds of Updates of about 8 KB each: more than the stream's
    // window and buffer hold while Mallory reads nothing.
    let hop = format!("sip:{}@pbx.example", "x".repeat(480));
    let hops: Vec<String> = (0..16).map(|i| format!("{hop}{i}")).collect();
    let announce = |i: u32| {
        let mut args = vec!["announce".to_owned(), format!("+1999{i:04}")];
        for h in &hops {
            args.push("--via".into());
            args.push(h.clone());
        }
        args
    };
    rt.block_on(async {
        let mut client = node.client().await;
        for i in 0..600u32 {
            let args = announce(i);
            let spec = trunkline_proto::v1::RouteSpec {
                prefix: args[1].clone(),
                next_hops: hops
                    .iter()
                    .map(|u| trunkline_proto::v1::NextHop {
                        uri: u.clone(),
                        priority: 10,
                        weight: 100,
                    })
                    .collect(),
                ..Default::default()
            };
            client
                .announce(trunkline_proto::v1::AnnounceRequest {
                    routes: vec![spec],
                    request_id: String::new(),
                })
                .await
                .unwrap();
            // Past the export batching window: one Update each.
            tokio::time::sleep(Duration::from_millis(6)).await;
        }
    });
    // The node answers about its neighbors at once...
    let list = node.cli(&["--timeout", "5", "neighbor", "list", "--json"]);
    assert_eq!(list.code, 0, "neighbor list hung: {list:?}");
    // ...Mallory's session went down on its own, though Mallory still
    // sends keepalives...
    wait_until(
        "mallory's session to close",
        Duration::from_secs(15),
        || {
            node.cli(&["--timeout", "5", "neighbor", "show", "mallory", "--json"])
                .json()["state"]
                != "established"
        },
    );
    let m = node.cli(&["neighbor", "show", "mallory", "--json"]).json();
    assert!(
        m["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("read nothing") || e.contains("hold")),
        "{m}"
    );
    // ...and Bob got everything, the last route included.
    wait_until("bob's last route", Duration::from_secs(20), || {
        bob.cli(&["lookup", "+19990599"]).code == 0
    });
    keepalives.abort();
    assert!(node.cli(&["status"]).code == 0, "the node keeps running");
}

/// Sends one-route Updates as fast as the stream takes them, until it is
/// closed or `n` went out.
fn flood(tx: mpsc::Sender<pb::PeerMessage>, n: u32) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        for i in 0..n {
            let u = Body::Update(pb::Update {
                announce: vec![route(
                    &format!("+4950{i:05}"),
                    "sip:{e164}@mallory.example",
                    &[MALLORY],
                )],
                withdraw: vec![],
            });
            let m = pb::PeerMessage { body: Some(u) };
            match tokio::time::timeout(Duration::from_secs(5), tx.send(m)).await {
                Ok(Ok(())) => {}
                _ => return i,
            }
        }
        n
    })
}

/// Opens a session as Mallory and floods it: the node closes it with an
/// update-rate Notification.
async fn flooded(port: u16) -> String {
    let mut s = Stream::established(port).await;
    let flooder = flood(s.tx.clone(), 100_000);
    let why = s.notification(pb::NotificationCode::UpdateRate).await;
    flooder.abort();
    why
}

/// Opens a stream as Mallory during its hold-down: refused, saying so.
async fn refused(port: u16) -> String {
    let mut s = Stream::open(port).await;
    s.send(open(MALLORY)).await;
    s.notification(pb::NotificationCode::ConnectionRejected)
        .await
}

/// A peer flooding Updates gets a Notification and a hold-down that
/// doubles on a repeat; a reconnect within it is refused saying for how
/// long; the node answers lookups throughout.
#[test]
fn a_flooding_peer_gets_a_notification_and_a_growing_hold_down() {
    let port = free_port();
    let node = Node::start_as(
        ALICE,
        port,
        &format!(
            "[peering]\nmax_updates_per_sec = 20\nupdate_burst = 50\nhold_down_secs = 2\n\
             hold_down_max_secs = 60\n\
             [[route]]\nprefix = \"+4940\"\nvia = [\"sip:{{e164}}@alice.example\"]\n\
             [[peer]]\nname = \"mallory\"\nitad = {MALLORY}\n[[peer.import]]\naction = \"accept\"\n"
        ),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let why = rt.block_on(flooded(port));
    assert!(why.contains("more than 20 updates a second"), "{why}");
    assert_eq!(node.cli(&["lookup", "+494012345"]).code, 0, "lookups go on");
    // At once: held down for 2 s.
    let first = rt.block_on(refused(port));
    assert!(first.contains("held down for 2 s"), "{first}");
    assert!(first.contains("update-rate"), "{first}");
    let n = node.cli(&["neighbor", "show", "mallory", "--json"]).json();
    let last = n["last_error"].as_str().unwrap_or_default().to_owned();
    assert!(
        last.contains("update-rate") && last.contains("held down for"),
        "{n}"
    );
    // After it, a session again; flooding again doubles the hold-down.
    std::thread::sleep(Duration::from_millis(2_300));
    rt.block_on(flooded(port));
    let second = rt.block_on(refused(port));
    assert!(second.contains("held down for 4 s"), "{second}");
    std::thread::sleep(Duration::from_millis(2_300));
    let still = rt.block_on(refused(port));
    assert!(still.contains("held down for 2 s"), "{still}");
    assert_eq!(node.cli(&["lookup", "+494012345"]).code, 0, "lookups go on");
    // Nothing of a flood outlives its session (no graceful restart).
    wait_until("the flood's routes gone", Duration::from_secs(10), || {
        node.cli(&["lookup", "+4950000001"]).code != 0
    });
    assert!(node.cli(&["status"]).code == 0, "the node keeps running");
}

/// A message larger than a session takes (16 MiB) resets the session with
/// a message-too-large Notification, and nothing of it is applied.
#[test]
fn an_oversized_message_is_refused_with_a_notification() {
    let (node, port) = accepting_mallory();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let why = rt.block_on(async {
        let mut s = Stream::established(port).await;
        // 17 MiB of withdrawals, and one route that would be accepted.
        let mut update = pb::Update {
            announce: vec![route("+4930", "sip:{e164}@mallory.example", &[MALLORY])],
            withdraw: vec![],
        };
        let w = format!("+49{}", "9".repeat(12));
        update.withdraw = vec![w; 17 << 20 >> 4];
        s.send(Body::Update(update)).await;
        s.notification(pb::NotificationCode::MessageTooLarge).await
    });
    assert!(why.contains("larger than 16777216 bytes"), "{why}");
    assert_ne!(node.cli(&["lookup", "+493012"]).code, 0, "nothing applied");
    let n = node.cli(&["neighbor", "show", "mallory", "--json"]).json();
    assert!(
        n["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("message-too-large"),
        "{n}"
    );
    assert!(node.cli(&["status"]).code == 0, "the node keeps running");
}
