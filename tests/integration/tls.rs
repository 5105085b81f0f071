//! TLS on every channel, with certificates from `trunkline pki`: node to
//! node (mutual, the node id bound to the certificate), the public API
//! (server TLS, client certificates optional), and peering (mutual, the
//! peer's ITAD and name bound to the certificate, checked before Open).

use std::path::Path;
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use trunkline_proto::cluster::v1 as wire;
use trunkline_proto::cluster::v1::raft_transport_client::RaftTransportClient;

use crate::certs::TestCa;
use crate::harness::{Cluster, Node, NodeSpec, free_port, wait_until};

fn pem(path: &Path, ext: &str) -> Vec<u8> {
    let mut p = path.as_os_str().to_owned();
    p.push(ext);
    std::fs::read(p).unwrap()
}

/// A gRPC channel to `port`: plaintext without `ca`, else TLS trusting
/// `ca` and presenting `identity` (a path without extension) if given.
async fn channel(port: u16, ca: Option<&Path>, identity: Option<&Path>) -> Result<Channel, String> {
    let scheme = if ca.is_some() { "https" } else { "http" };
    let mut ep = Endpoint::from_shared(format!("{scheme}://127.0.0.1:{port}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(3));
    if let Some(ca) = ca {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()));
        if let Some(id) = identity {
            tls = tls.identity(Identity::from_pem(pem(id, ".crt"), pem(id, ".key")));
        }
        ep = ep.tls_config(tls).unwrap();
    }
    ep.connect().await.map_err(|e| format!("{e:?}"))
}

/// Calls `Send`, `SendSnapshot` and `Forward` with `ch`; Ok if any was
/// accepted, else the three refusals.
async fn raft_calls(ch: Channel, from: u64) -> Result<(), String> {
    let mut c = RaftTransportClient::new(ch);
    let batch = wire::RaftBatch {
        from,
        messages: Vec::new(),
        from_addr: String::new(),
        removed_at: 0,
    };
    let send = c.send(tokio_stream::iter([batch])).await;
    let snap = c
        .send_snapshot(tokio_stream::iter([wire::SnapshotChunk {
            from,
            from_addr: String::new(),
            message: Vec::new(),
            data: Vec::new(),
        }]))
        .await;
    let fwd = c
        .forward(wire::ForwardRequest {
            proposal: vec![1, 2, 3],
        })
        .await;
    match (send, snap, fwd) {
        (Err(a), Err(b), Err(c)) => Err(format!("{a:?} / {b:?} / {c:?}")),
        _ => Ok(()),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// Without the cluster's certificate nobody reaches raft: not in
/// plaintext, not with TLS and no certificate, not with another CA's node
/// certificate, not with this CA's peer certificate, and not on any other
/// port. With a node certificate, a node speaks only for itself. The
/// table stays as it was.
#[test]
fn only_the_clusters_nodes_reach_raft() {
    let c = Cluster::start(3);
    c.nodes[0]
        .cli(&["announce", "+4420", "--via", "sip:london@x"])
        .ok();
    let before = c.converged_tables();
    let other = TestCa::new();
    let stranger = other.node(2);
    let peer = c.ca.peer(4_200_000_001, "test1");
    let rt = rt();
    for n in &c.nodes {
        let cport = n.spec.cluster_port;
        let ca = c.ca.ca();
        // The cluster port: every way in without a node certificate fails.
        for (what, ch) in [
            ("plaintext", rt.block_on(channel(cport, None, None))),
            (
                "no certificate",
                rt.block_on(channel(cport, Some(&ca), None)),
            ),
            (
                "another CA's node",
                rt.block_on(channel(cport, Some(&ca), Some(&stranger))),
            ),
            (
                "a peer certificate",
                rt.block_on(channel(cport, Some(&ca), Some(&peer))),
            ),
        ] {
            if let Ok(ch) = ch {
                let r = rt.block_on(raft_calls(ch, 2));
                assert!(r.is_err(), "{what}: raft answered on node {}", n.spec.id);
            }
        }
        // The public and HTTP ports do not carry raft at all.
        for port in [n.spec.grpc, n.spec.http] {
            if let Ok(ch) = rt.block_on(channel(port, None, None)) {
                let r = rt.block_on(raft_calls(ch, 2));
                assert!(r.is_err(), "raft answered on port {port}");
            }
        }
        // Node 2's certificate cannot speak for node 3.
        let own = c.ca.node(2);
        let ch = rt.block_on(channel(cport, Some(&ca), Some(&own))).unwrap();
        let mut client = RaftTransportClient::new(ch);
        let batch = wire::RaftBatch {
            from: 3,
            messages: Vec::new(),
            from_addr: "https://127.0.0.1:1".into(),
            removed_at: 0,
        };
        let e = rt
            .block_on(client.send(tokio_stream::iter([batch])))
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
        assert!(e.message().contains("node 3"), "{e:?}");
    }
    assert_eq!(c.converged_tables(), before);
    let log = c.nodes[0].log();
    assert!(log.contains("TLS connection refused"), "{log}");
}

/// A node whose certificate is from another CA is added, and gets
/// nothing: the cluster refuses its certificate and it refuses theirs.
#[test]
fn a_node_without_the_clusters_certificate_cannot_join() {
    let c = Cluster::start(3);
    c.nodes[0]
        .cli(&["announce", "+4420", "--via", "sip:london@x"])
        .ok();
    let other = TestCa::new();
    let mut j = Node::new(NodeSpec {
        cluster_tls: other.cluster_tls(4),
        ..NodeSpec::new(4, "join = true\n".into(), free_port(), free_port())
    });
    j.spawn();
    c.nodes[0]
        .cli(&["cluster", "add-node", "4", &j.cluster_addr()])
        .ok();
    std::thread::sleep(Duration::from_secs(3));
    let out = j.cli(&["routes", "--json"]);
    assert!(!out.stdout.contains("+4420"), "{}", out.stdout);
    let log = c.nodes[0].log() + &c.nodes[1].log() + &c.nodes[2].log();
    assert!(
        log.contains("node 4"),
        "the leader says it cannot reach node 4"
    );
}

/// `[api.tls]`: the CLI over https with the CA works; plaintext, another
/// CA, and an expired client certificate are refused; a client
/// certificate from the client CA is accepted.
#[test]
fn the_api_speaks_tls_and_refuses_strangers() {
    let ca = TestCa::new();
    let cert = ca.node(1);
    let client = ca.issue("client", &["--role", "read", "--name", "ops"], "ops");
    let expired = ca.issue(
        "client",
        &["--role", "read", "--name", "old", "--days", "0"],
        "old",
    );
    let mut n = Node::new(NodeSpec {
        extra: ca.table("api.tls", &cert),
        api_ca: Some(ca.ca()),
        ..NodeSpec::new(1, String::new(), free_port(), free_port())
    });
    n.restart();
    n.cli(&["announce", "+4420", "--via", "sip:london@x"]).ok();
    let j = n.cli(&["lookup", "+442071", "--json"]).json();
    assert_eq!(j["next_hops"][0]["uri"], "sip:london@x");

    let port = n.spec.grpc.to_string();
    let plain = crate::harness::cli(&["--server", &format!("http://127.0.0.1:{port}"), "status"]);
    assert_eq!(plain.code, 4, "{plain:?}");
    let other = TestCa::new();
    let https = format!("https://127.0.0.1:{port}");
    let wrong = crate::harness::cli(&[
        "--server",
        &https,
        "--ca",
        &other.ca().display().to_string(),
        "status",
    ]);
    assert_eq!(wrong.code, 4, "{wrong:?}");
    assert!(
        wrong.stderr.to_lowercase().contains("certificate"),
        "{}",
        wrong.stderr
    );
    let p = |b: &Path, e: &str| format!("{}{e}", b.display());
    let ok = n.cli(&[
        "--cert",
        &p(&client, ".crt"),
        "--key",
        &p(&client, ".key"),
        "status",
    ]);
    ok.ok();
    std::thread::sleep(Duration::from_millis(1100));
    let old = n.cli(&[
        "--cert",
        &p(&expired, ".crt"),
        "--key",
        &p(&expired, ".key"),
        "status",
    ]);
    assert_eq!(old.code, 4, "an expired certificate is refused: {old:?}");
    assert!(n.log().contains("TLS connection refused"), "{}", n.log());
}

const ALICE: u32 = 4_200_000_101;
const BOB: u32 = 4_200_000_202;

/// A peering node: `[api.tls]` and `[peering.tls]` with the peer
/// certificate `cert`, one route, and one peer dialled at `dial`.
fn peering_node(
    ca: &TestCa,
    itad: u32,
    port: u16,
    cert: &Path,
    route: &str,
    peer: (&str, u32, Option<u16>),
) -> Node {
    let (name, peer_itad, dial) = peer;
    let addrs = dial.map_or(String::new(), |p| format!("\"https://127.0.0.1:{p}\""));
    let extra = format!(
        "{}{}[[route]]\nprefix = \"{route}\"\nvia = [\"sip:{{e164}}@{itad}.example\"]\n\
         [[peer]]\nname = \"{name}\"\nitad = {peer_itad}\naddresses = [{addrs}]\n\
         [[peer.import]]\naction = \"accept\"\n[[peer.export]]\naction = \"accept\"\n",
        ca.table("api.tls", cert),
        ca.table("peering.tls", cert),
    );
    let mut n = Node::new(NodeSpec {
        itad,
        extra,
        api_ca: Some(ca.ca()),
        ..NodeSpec::new(1, String::new(), port, free_port())
    });
    n.restart();
    n
}

fn neighbor(node: &Node, name: &str) -> serde_json::Value {
    node.cli(&["neighbor", "show", name, "--json"]).json()
}

/// Alice dials Bob; both present peer certificates from one CA.
struct Pair {
    ca: TestCa,
    pa: u16,
    pb: u16,
    alice_cert: std::path::PathBuf,
    a: Node,
    b: Node,
}

/// Alice and Bob, their session up over mutual TLS.
fn alice_and_bob() -> Pair {
    let ca = TestCa::new();
    let (pa, pb) = (free_port(), free_port());
    let alice_cert = ca.peer(ALICE, "alice");
    let bob_cert = ca.peer(BOB, "bob");
    let a = peering_node(
        &ca,
        ALICE,
        pa,
        &alice_cert,
        "+1555123",
        ("bob", BOB, Some(pb)),
    );
    let b = peering_node(&ca, BOB, pb, &bob_cert, "+4930", ("alice", ALICE, None));
    wait_until(
        "alice and bob peer over TLS",
        Duration::from_secs(20),
        || neighbor(&b, "alice")["state"] == "established",
    );
    Pair {
        ca,
        pa,
        pb,
        alice_cert,
        a,
        b,
    }
}

/// Two PBXes peer over mutual TLS; then a peer presenting a certificate
/// for another ITAD is refused before Open, on both sides, and `neighbor
/// show` says why.
#[test]
fn peers_prove_their_itad_with_certificates() {
    let Pair {
        ca, pa, pb, a, b, ..
    } = alice_and_bob();
    wait_until("a route crosses", Duration::from_secs(10), || {
        b.cli(&["lookup", "+15551234567"]).code == 0
    });
    drop(a);

    // Mallory holds a certificate for another ITAD under Alice's name.
    let mallory_cert = ca.peer(4_200_000_999, "alice");
    let m = peering_node(
        &ca,
        ALICE,
        pa,
        &mallory_cert,
        "+1555123",
        ("bob", BOB, Some(pb)),
    );
    wait_until(
        "bob says why alice is refused",
        Duration::from_secs(20),
        || {
            let n = neighbor(&b, "alice");
            n["state"] != "established"
                && n["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("trunkline:peer:4200000999:alice"))
        },
    );
    // Bob's certificate is fine, so Mallory's side would come up only if
    // Bob accepted her; it does not.
    assert_ne!(neighbor(&m, "bob")["state"], "established");
    assert!(b.log().contains("peering stream refused"), "{}", b.log());
}

/// Certificates rotated on disk and signalled with SIGHUP are what new
/// connections get; the session already up stays up.
#[test]
fn a_rotated_certificate_serves_new_connections_and_old_sessions_stay() {
    let Pair {
        ca,
        pa,
        alice_cert,
        a,
        b,
        ..
    } = alice_and_bob();
    let served = |sni: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl s_client -connect 127.0.0.1:{pa} -servername {sni} </dev/null 2>/dev/null \
                 | openssl x509 -noout -fingerprint -sha256"
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let fingerprint = |base: &Path| {
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(format!("{}.crt", base.display()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(
        served("peering.trunkline.invalid"),
        fingerprint(&alice_cert)
    );
    let since = neighbor(&b, "alice")["established_secs"].as_u64();

    // A new certificate for the same identity, in the same files.
    // Issues a new certificate for Alice and puts it in her files.
    let rotate = |name: &str| {
        let new = ca.issue(
            "peer",
            &["--itad", &ALICE.to_string(), "--name", "alice"],
            name,
        );
        for ext in [".crt", ".key"] {
            let (from, to) = (new.display(), alice_cert.display());
            std::fs::copy(format!("{from}{ext}"), format!("{to}{ext}")).unwrap();
        }
        new
    };
    let fresh = rotate("alice-new");
    a.pause("-HUP");
    wait_until(
        "new connections get the new certificate",
        Duration::from_secs(10),
        || served("peering.trunkline.invalid") == fingerprint(&fresh),
    );
    assert_ne!(fingerprint(&fresh), fingerprint(&ca.peer(BOB, "bob2")));
    let n = neighbor(&b, "alice");
    assert_eq!(n["state"], "established", "{n}");
    assert!(
        n["established_secs"].as_u64() >= since,
        "the session is the same one: {n}"
    );
    assert!(a.log().contains("TLS files read again"), "{}", a.log());

    // Without a signal: the node notices the files changed.
    let third = rotate("alice-third");
    wait_until(
        "the changed files are picked up",
        Duration::from_secs(10),
        || served("peering.trunkline.invalid") == fingerprint(&third),
    );
    assert_eq!(neighbor(&b, "alice")["state"], "established");
}
