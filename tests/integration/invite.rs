//! Joining an exchange by invitation, end to end: a 3-node exchange over
//! TLS makes invites; fresh machines run `trunkline join --start` with
//! nothing but the invite line, and a number routes from one new member to
//! the other. Expired, used, forged and mis-pinned invites are refused,
//! each saying which side failed.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use prost::Message as _;
use serde_json::Value;
use trunkline_proto::v1 as pb;

use crate::harness::{Cluster, bin, free_port, wait_until};

const EXCHANGE: u32 = 4_200_000_900;
const PREFIX: &str = "trunkline-invite-1.";

/// The exchange: mutual TLS on every channel, `[invites]` on every node,
/// and its own trust anchor, whose key also signs members' authorisations.
fn exchange(anchor: &Path) -> Cluster {
    let public = std::fs::read_to_string(anchor.join("ta.pub")).unwrap();
    let ta_key = anchor.join("ta.key");
    Cluster::start_with_ca(
        3,
        EXCHANGE,
        |ca, ports| {
            let cert = ca.peer(EXCHANGE, "club-exchange");
            let addrs: Vec<String> = (ports.iter())
                .map(|p| format!("\"https://127.0.0.1:{p}\""))
                .collect();
            format!(
                "[api.tls]\ncert = \"{c}.crt\"\nkey = \"{c}.key\"\n{peering}\
                 [invites]\nca_cert = \"{ca_cert}\"\nca_key = \"{ca_key}\"\naddresses = [{addrs}]\n\
                 authority_key = \"{ta_key}\"\n\
                 [[anchor]]\nname = \"club\"\nkey = \"{key}\"\n",
                c = cert.display(),
                peering = ca.table("peering.tls", &cert),
                ca_cert = ca.ca().display(),
                ca_key = ca.key().display(),
                addrs = addrs.join(", "),
                ta_key = ta_key.display(),
                key = public.trim(),
            )
        },
        true,
    )
}

/// `trunkline ARGS` with no server: (exit code, stdout, stderr).
fn trunkline(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin("trunkline")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A member node made by `join --start`, stopped when dropped.
struct Member {
    dir: tempfile::TempDir,
    api: u16,
    pid: u32,
    joined: Value,
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
    }
}

impl Member {
    fn lookup(&self, number: &str) -> Option<String> {
        let server = format!("http://127.0.0.1:{}", self.api);
        let (code, out, _) = trunkline(&["--server", &server, "--json", "lookup", number]);
        let j: Value = (code == 0).then(|| serde_json::from_str(&out).unwrap())?;
        j["next_hops"][0]["uri"].as_str().map(str::to_owned)
    }
}

fn join(invite: &str, via: &str) -> Member {
    let dir = tempfile::tempdir().unwrap();
    let (api, http, cluster) = (free_port(), free_port(), free_port());
    let addr = |p: u16| format!("127.0.0.1:{p}");
    let (code, out, err) = trunkline(&[
        "--json",
        "join",
        invite,
        "--dir",
        &dir.path().display().to_string(),
        "--via",
        via,
        "--api",
        &addr(api),
        "--http",
        &addr(http),
        "--cluster",
        &addr(cluster),
        "--start",
    ]);
    assert_eq!(code, 0, "join failed: {err}{out}");
    let joined: Value = serde_json::from_str(&out).unwrap();
    let pid = joined["pid"].as_u64().unwrap() as u32;
    Member {
        dir,
        api,
        pid,
        joined,
    }
}

fn create(ex: &Cluster, member: &str, block: &str, ttl: &str) -> String {
    let out = ex.nodes[1].cli(&[
        "invite",
        "create",
        "--member",
        member,
        "--allowed",
        block,
        "--ttl",
        ttl,
    ]);
    out.ok().trim().to_owned()
}

/// The invite's ticket, changed by `f`, as a line again.
fn tamper(invite: &str, f: impl FnOnce(&mut pb::InviteTicket)) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bytes = b64.decode(invite.strip_prefix(PREFIX).unwrap()).unwrap();
    let mut t = pb::InviteTicket::decode(bytes.as_slice()).unwrap();
    f(&mut t);
    format!("{PREFIX}{}", b64.encode(t.encode_to_vec()))
}

#[test]
fn fresh_nodes_join_an_exchange_by_invitation_and_route_a_number() {
    let anchor = crate::authority::anchor_dir();
    let ex = exchange(anchor.path());
    let alice_invite = create(&ex, "alice", "+1555123", "1h");
    assert!(alice_invite.starts_with(PREFIX) && !alice_invite.contains(char::is_whitespace));
    let bob_invite = create(&ex, "bob", "+4930555", "1h");

    let alice = join(&alice_invite, "sip:{e164}@alice.pbx.example");
    let bob = join(&bob_invite, "sip:{e164}@bob.pbx.example");
    assert_eq!(alice.joined["session"], "established");
    assert_eq!(alice.joined["exchange"], "club-exchange");
    assert_eq!(alice.joined["authorisations"], 1, "{}", alice.joined);
    let itads = [&alice.joined["itad"], &bob.joined["itad"]];
    assert_eq!(
        itads,
        [4_200_000_000u64, 4_200_000_001],
        "the lowest free private ITADs"
    );
    // The key was made on the member's machine, mode 0600.
    use std::os::unix::fs::PermissionsExt as _;
    let key = std::fs::metadata(alice.dir.path().join("peer.key")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    let snippet = alice.joined["snippet"].as_str().unwrap();
    assert!(
        snippet.contains("CURL(${TRUNKLINE_HTTP}/v1/lookup/"),
        "{snippet}"
    );

    // A number routes from one new member to the other, through the
    // exchange; at the exchange the route is valid by the authorisation
    // the join signed.
    wait_until(
        "alice reaches bob's number",
        Duration::from_secs(20),
        || alice.lookup("+49305551234").as_deref() == Some("sip:+49305551234@bob.pbx.example"),
    );
    wait_until(
        "bob reaches alice's number",
        Duration::from_secs(20),
        || bob.lookup("+15551234567").as_deref() == Some("sip:+15551234567@alice.pbx.example"),
    );
    let at_exchange = ex.nodes[2]
        .cli(&["lookup", "+15551234567", "--json"])
        .json();
    assert_eq!(
        at_exchange["routes"][0]["validation"], "valid",
        "{at_exchange}"
    );
    let list = ex.nodes[0].cli(&["invite", "list", "--json"]).json();
    assert!(
        (list.as_array().unwrap().iter()).all(|i| i["uses_left"] == 0 && i["used"] == 1),
        "{list}"
    );

    // The same invite again: used, says the exchange.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let (code, _, err) = trunkline(&["join", &alice_invite, "--dir", &d]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the exchange at https://127.0.0.1:") && err.contains("was used already"),
        "{err}"
    );
    assert!(
        !dir.path().join("trunkline.toml").exists(),
        "nothing written"
    );

    // Forged: the right id with another secret.
    let carol = create(&ex, "carol", "+4420", "1h");
    let forged = tamper(&carol, |t| t.secret = "0".repeat(64));
    let (code, _, err) = trunkline(&["join", &forged, "--dir", &d]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused") && err.contains("the secret does not match"),
        "{err}"
    );
    // Pinned to another CA: nothing is sent to that exchange.
    let mispinned = tamper(&carol, |t| t.ca_sha256 = vec![0xab; 32]);
    let (code, _, err) = trunkline(&["join", &mispinned, "--dir", &d]);
    assert_eq!(code, 1);
    assert!(err.contains("but the invite pins sha256:abab"), "{err}");
    assert!(
        err.contains("not the exchange that wrote the invite"),
        "{err}"
    );
    // Damaged on the way: the invite's fault.
    let (code, _, err) = trunkline(&["join", &carol[..carol.len() - 9], "--dir", &d]);
    assert_eq!(code, 2);
    assert!(err.contains("the invite: damaged"), "{err}");
    // Expired: this machine's clock says so before anything is sent.
    let brief = create(&ex, "dave", "+4421", "1s");
    std::thread::sleep(Duration::from_secs(2));
    let (code, _, err) = trunkline(&["join", &brief, "--dir", &d]);
    assert_eq!(code, 2);
    assert!(err.contains("the invite: it expired"), "{err}");
    // The exchange checks the clock too, should a member's be wrong.
    let late = tamper(&brief, |t| t.expires_at = u64::MAX);
    let (code, _, err) = trunkline(&["join", &late, "--dir", &d]);
    assert_eq!(code, 1);
    assert!(err.contains("refused") && err.contains("expired"), "{err}");
    // Revoked: unknown to the exchange. Carol's invite still works.
    let id = ex.nodes[0]
        .cli(&["invite", "list", "--json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["member"] == "dave")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ex.nodes[0].cli(&["invite", "revoke", &id]).ok();
    let (code, _, err) = trunkline(&["join", &late, "--dir", &d]);
    assert_eq!(code, 1);
    assert!(
        err.contains("unknown to this exchange, or was revoked"),
        "{err}"
    );
    let (code, out, err) = trunkline(&["join", &carol, "--dir", &d, "--pbx", "kamailio"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("WITH_REDIRECT") && out.contains("trunklined --config"),
        "{out}"
    );
    let config = std::fs::read_to_string(dir.path().join("trunkline.toml")).unwrap();
    assert!(config.contains("[sip]\nenabled = true"), "{config}");
    // A second join into the same directory keeps what is there.
    let (code, _, err) = trunkline(&["join", &carol, "--dir", &d]);
    assert_eq!(code, 1);
    assert!(
        err.contains("this machine:") && err.contains("exists"),
        "{err}"
    );
}
