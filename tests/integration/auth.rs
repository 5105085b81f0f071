//! API credentials: bearer tokens with a role and a prefix scope, stored
//! as hashes in the replicated state; a node's own admin credential from
//! its first start; client certificates as identities.

use std::path::Path;
use std::time::{Duration, Instant};

use tonic::metadata::MetadataValue;
use trunkline_proto::v1 as pb;

use crate::certs::TestCa;
use crate::harness::{Cluster, Node, NodeSpec, cli, free_port};

/// The CLI against `node` with `token` and nothing else.
fn with_token(node: &Node, token: &str, args: &[&str]) -> crate::harness::CliOutput {
    let server = node.server();
    let mut full = vec!["--server", server.as_str()];
    full.extend(args);
    crate::harness::cli_with_token(token, &full)
}

/// `token create` on `node` (with its admin credential); the token.
fn create(node: &Node, args: &[&str]) -> String {
    let mut full = vec!["--json", "token", "create"];
    full.extend(args);
    node.cli(&full).json()["token"].as_str().unwrap().to_owned()
}

/// Announce through gRPC with `token` (or none): the status code.
fn announce_code(node: &Node, token: Option<&str>, prefix: &str) -> tonic::Code {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c = pb::routes_client::RoutesClient::new(node.channel().await);
        let mut req = tonic::Request::new(pb::AnnounceRequest {
            routes: vec![pb::RouteSpec {
                prefix: prefix.into(),
                next_hops: vec![pb::NextHop {
                    uri: "sip:x@y".into(),
                    priority: 10,
                    weight: 100,
                }],
                ..Default::default()
            }],
            request_id: String::new(),
        });
        if let Some(t) = token {
            req.metadata_mut().insert(
                "authorization",
                MetadataValue::try_from(format!("Bearer {t}")).unwrap(),
            );
        }
        match c.announce(req).await {
            Ok(_) => tonic::Code::Ok,
            Err(s) => s.code(),
        }
    })
}

#[test]
fn tokens_have_roles_scopes_and_lifetimes() {
    let n = Node::start();
    let file = n.admin_token_file();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions())
            & 0o777,
        0o600
    );
    // Anonymous reads on loopback; anonymous writes are unauthenticated.
    let anon = cli(&[
        "--server",
        &n.server(),
        "announce",
        "+44",
        "--via",
        "sip:x@y",
    ]);
    assert_eq!(anon.code, 1, "{anon:?}");
    assert!(anon.stderr.contains("no credentials"), "{}", anon.stderr);
    assert_eq!(announce_code(&n, None, "+44"), tonic::Code::Unauthenticated);
    assert_eq!(
        announce_code(&n, Some("tl_0011_22"), "+44"),
        tonic::Code::Unauthenticated
    );
    cli(&["--server", &n.server(), "status"]).ok();

    // A write token scoped to +1555123.
    let w = create(
        &n,
        &["--role", "write", "--prefix", "+1555123", "--name", "pbx"],
    );
    assert!(w.starts_with("tl_") && w.len() > 64, "{w}");
    let out = with_token(&n, &w, &["announce", "+1555124", "--via", "sip:x@y"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("+1555124 is outside"), "{}", out.stderr);
    assert_eq!(
        announce_code(&n, Some(&w), "+1555124"),
        tonic::Code::PermissionDenied
    );
    // A range reaching outside the scope is refused whole.
    assert_eq!(
        announce_code(&n, Some(&w), "+15551239000..+15551249999"),
        tonic::Code::PermissionDenied
    );
    with_token(&n, &w, &["announce", "+15551234", "--via", "sip:x@y"]).ok();
    let routes = n.cli(&["routes", "--json"]).json();
    assert_eq!(
        routes.as_array().unwrap().len(),
        1,
        "nothing out of scope was proposed: {routes}"
    );
    // Not an admin.
    let out = with_token(&n, &w, &["token", "list"]);
    assert!(out.stderr.contains("needs admin"), "{out:?}");
    let out = with_token(&n, &w, &["neighbor", "add", "x", "--itad", "4200000077"]);
    assert!(out.stderr.contains("needs admin"), "{out:?}");

    // A read token reads and cannot withdraw.
    let r = create(&n, &["--role", "read"]);
    with_token(&n, &r, &["lookup", "+15551234"]).ok();
    let out = with_token(&n, &r, &["withdraw", "+15551234"]);
    assert!(out.stderr.contains("needs write"), "{out:?}");

    // An expired token is refused.
    let short = create(&n, &["--role", "read", "--ttl", "1s"]);
    std::thread::sleep(Duration::from_millis(2100));
    let out = with_token(&n, &short, &["status"]);
    assert!(out.stderr.contains("expired"), "{out:?}");

    // The list shows ids, roles and scopes, never secrets.
    let list = n.cli(&["token", "list"]).ok().to_owned();
    assert!(list.contains("write under +1555123"), "{list}");
    assert!(
        !list.contains(&w["tl_".len() + 17..]),
        "no secret in the list: {list}"
    );

    // Reads need a credential once anonymous reads are off.
    let mut closed = Node::new(NodeSpec {
        api_extra: "anonymous_read = false\n".into(),
        ..NodeSpec::new(1, String::new(), free_port(), free_port())
    });
    closed.restart();
    let out = cli(&["--server", &closed.server(), "status"]);
    assert_eq!(out.code, 1, "{out:?}");
    closed.cli(&["status"]).ok();
}

/// A token revoked on one node stops working on all three within a
/// second: the set is replicated state.
#[test]
fn a_revoked_token_stops_working_on_every_node_within_a_second() {
    let c = Cluster::start(3);
    let t = create(&c.nodes[0], &["--role", "write", "--name", "pbx"]);
    for (i, n) in c.nodes.iter().enumerate() {
        // Each node knows it once it applied the entry.
        crate::harness::wait_until(
            "the token reaches every node",
            Duration::from_secs(5),
            || announce_code(n, Some(&t), &format!("+4{i}")) == tonic::Code::Ok,
        );
    }
    let id = t.split('_').nth(1).unwrap().to_owned();
    c.nodes[1].cli(&["token", "revoke", &id]).ok();
    let revoked = Instant::now();
    let mut refused = [false; 3];
    while refused.iter().any(|r| !r) {
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "still accepted after 1 s: {refused:?}"
        );
        for (i, n) in c.nodes.iter().enumerate() {
            if !refused[i] {
                refused[i] = announce_code(n, Some(&t), "+49") == tonic::Code::Unauthenticated;
            }
        }
    }
    // Another node's admin credential is not this one's.
    let other = std::fs::read_to_string(c.nodes[0].admin_token_file()).unwrap();
    assert_eq!(
        announce_code(&c.nodes[1], Some(other.trim()), "+49"),
        tonic::Code::Unauthenticated
    );
}

/// Client certificates are identities: a read certificate reads and
/// cannot write; an admin certificate may write.
#[test]
fn a_client_certificate_carries_its_role() {
    let ca = TestCa::new();
    let cert = ca.node(1);
    let mut n = Node::new(NodeSpec {
        extra: ca.table("api.tls", &cert),
        api_ca: Some(ca.ca()),
        ..NodeSpec::new(1, String::new(), free_port(), free_port())
    });
    n.restart();
    let reader = ca.issue("client", &["--role", "read", "--name", "ops"], "ops");
    let admin = ca.issue("client", &["--role", "admin", "--name", "root"], "root");
    let p = |b: &Path, e: &str| format!("{}{e}", b.display());
    let https = n.server();
    let ca_file = ca.ca().display().to_string();
    let as_cert = |b: &Path, args: &[&str]| {
        let mut full = vec![
            "--server".to_owned(),
            https.clone(),
            "--ca".to_owned(),
            ca_file.clone(),
            "--cert".to_owned(),
            p(b, ".crt"),
            "--key".to_owned(),
            p(b, ".key"),
        ];
        full.extend(args.iter().map(|s| (*s).to_owned()));
        cli(&full)
    };
    as_cert(&reader, &["status"]).ok();
    let out = as_cert(&reader, &["announce", "+44", "--via", "sip:x@y"]);
    assert!(
        out.stderr.contains("client certificate ops has role read"),
        "{out:?}"
    );
    as_cert(&admin, &["announce", "+44", "--via", "sip:x@y"]).ok();
}
