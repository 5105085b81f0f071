//! `trunkline authority` on local files: keys, a delegation, an
//! authorisation and a revocation list, verified by `show`; a changed
//! byte is refused.

use crate::harness::cli;

#[test]
fn keys_and_statements_are_made_signed_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).display().to_string();
    let ta = cli(&["--json", "authority", "keygen", "--out", &p("ta")]).json();
    cli(&["authority", "keygen", "--out", &p("club")]).ok();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(p("ta.key")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(ta["public_key"].as_str().unwrap().len(), 64);
    cli(&[
        "authority",
        "delegate",
        "--key",
        &p("ta.key"),
        "--to",
        &p("club.pub"),
        "--block",
        "+1555",
        "--may-delegate",
        "--name",
        "Club",
        "--out",
        &p("club.tla"),
    ])
    .ok();
    let a = cli(&[
        "--json",
        "authority",
        "sign",
        "--key",
        &p("club.key"),
        "--origin",
        "4200000123",
        "--prefix",
        "+15551230000..+15551234999",
        "--days",
        "90",
        "--out",
        &p("a.tla"),
    ])
    .json();
    let shown = cli(&["--json", "authority", "show", &p("a.tla")]).json();
    assert_eq!(shown["id"], a["id"]);
    assert!(
        shown["statement"]
            .as_str()
            .unwrap()
            .contains("+15551234 (up to 8 digits)"),
        "{shown}"
    );
    let club = std::fs::read_to_string(p("club.pub")).unwrap();
    assert_eq!(shown["signer"].as_str().unwrap(), club.trim());
    let id = a["id"].as_str().unwrap();
    cli(&[
        "authority",
        "revoke",
        "--key",
        &p("club.key"),
        "--id",
        id,
        "--number",
        "1",
        "--days",
        "7",
        "--out",
        &p("rev.tla"),
    ])
    .ok();
    assert!(
        cli(&["authority", "show", &p("rev.tla")])
            .ok()
            .contains("1 revoked")
    );
    // Statements are never overwritten, and a changed byte is refused.
    let again = cli(&[
        "authority",
        "sign",
        "--key",
        &p("club.key"),
        "--origin",
        "1",
        "--prefix",
        "+1555",
        "--out",
        &p("a.tla"),
    ]);
    assert_eq!(again.code, 2, "{again:?}");
    let mut bytes = std::fs::read(p("a.tla")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(p("forged.tla"), bytes).unwrap();
    let forged = cli(&["authority", "show", &p("forged.tla")]);
    assert_eq!(forged.code, 2, "{forged:?}");
    assert!(forged.stderr.contains("signature"), "{}", forged.stderr);
}

/// A directory holding a trust anchor's key pair, `ta.key` and `ta.pub`.
pub(crate) fn anchor_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ta").display().to_string();
    cli(&["authority", "keygen", "--out", &out]).ok();
    dir
}

/// A node with `[[anchor]]` (the key in `dir/ta.pub`) and `extra` config.
pub(crate) fn anchored_node(
    dir: &std::path::Path,
    itad: u32,
    port: u16,
    extra: &str,
) -> crate::harness::Node {
    let key = std::fs::read_to_string(dir.join("ta.pub")).unwrap();
    crate::harness::Node::start_as(
        itad,
        port,
        &format!(
            "[[anchor]]\nname = \"federation\"\nkey = \"{}\"\n{extra}",
            key.trim()
        ),
    )
}

/// Signs an authorisation with the anchor key in `dir`; the file.
pub(crate) fn authorise(
    dir: &std::path::Path,
    origin: u32,
    prefix: &str,
    max_len: u8,
    out: &str,
) -> String {
    let f = dir.join(out).display().to_string();
    cli(&[
        "authority",
        "sign",
        "--key",
        &dir.join("ta.key").display().to_string(),
        "--origin",
        &origin.to_string(),
        "--prefix",
        prefix,
        "--max-len",
        &max_len.to_string(),
        "--out",
        &f,
    ])
    .ok();
    f
}

fn route_state(node: &crate::harness::Node, number: &str) -> String {
    let j = node.cli(&["lookup", number, "--json"]);
    serde_json::from_str::<serde_json::Value>(&j.stdout).map_or("no route".into(), |v| {
        v["routes"][0]["validation"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    })
}

/// A published authorisation makes the node's own route valid; a route
/// longer than it allows is invalid (kept, not selected, with a warning
/// in the log); `authority check` says why; the HTTP JSON shows it too.
#[test]
fn published_authority_validates_local_routes() {
    let dir = anchor_dir();
    let n = anchored_node(dir.path(), 4_200_000_001, crate::harness::free_port(), "");
    n.cli(&["announce", "+1555123", "--via", "sip:a@alice"])
        .ok();
    assert_eq!(route_state(&n, "+15551234567"), "not-found");
    let f = authorise(dir.path(), 4_200_000_001, "+1555123", 7, "a.tla");
    let out = n.cli(&["authority", "publish", &f]).ok().to_owned();
    assert!(out.contains("effective"), "{out}");
    assert_eq!(route_state(&n, "+15551234567"), "valid");
    // Longer than the authorisation's maximum: invalid, not selected.
    n.cli(&["announce", "+15551234", "--via", "sip:b@alice"])
        .ok();
    let j = n.cli(&["lookup", "+15551234567", "--json"]).json();
    assert_eq!(
        j["matched_prefix"], "+1555123",
        "the invalid longer prefix is not selected: {j}"
    );
    let routes = n.cli(&["routes", "+15551234", "--json"]).json();
    assert_eq!(routes[0]["validation"], "invalid", "{routes}");
    assert!(
        n.log().contains("invalid by origin validation"),
        "{}",
        n.log()
    );
    let check = n
        .cli(&[
            "--json",
            "authority",
            "check",
            "+15551234",
            "--origin",
            "4200000001",
        ])
        .json();
    assert_eq!(check["state"], "invalid");
    assert!(
        check["reason"].as_str().unwrap().contains("shorter"),
        "{check}"
    );
    let other = n
        .cli(&[
            "--json",
            "authority",
            "check",
            "+1555123",
            "--origin",
            "4200000099",
        ])
        .json();
    assert_eq!(other["state"], "invalid");
    let (code, body) = crate::harness::http_get(n.spec.http, "/v1/lookup/+15551234567").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("\"validation\":\"valid\""), "{body}");
    let list = n.cli(&["authority", "list"]).ok().to_owned();
    assert!(
        list.contains("effective") && list.contains("anchor federation"),
        "{list}"
    );
    // A forged statement is refused and nothing changes.
    let mut bytes = std::fs::read(&f).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let forged = dir.path().join("forged.tla");
    std::fs::write(&forged, bytes).unwrap();
    let out = n.cli(&["authority", "publish", &forged.display().to_string()]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(route_state(&n, "+15551234567"), "valid");
}

/// Operator B announces operator A's block to A: A keeps it as invalid,
/// never selects it, and `routes --peer --received` says why; B, outside
/// the federation, keeps none of A's statements.
#[test]
fn a_hijacked_block_from_a_peer_is_invalid_and_never_selected() {
    const A: u32 = 4_200_000_101;
    const B: u32 = 4_200_000_202;
    let dir = anchor_dir();
    let (pa, pb) = (crate::harness::free_port(), crate::harness::free_port());
    let peer = |name: &str, itad: u32, dial: Option<u16>| {
        let addr = dial.map_or(String::new(), |p| format!("\"http://127.0.0.1:{p}\""));
        format!(
            "[[peer]]\nname = \"{name}\"\nitad = {itad}\naddresses = [{addr}]\n[[peer.import]]\naction = \"accept\"\n[[peer.export]]\naction = \"accept\"\n"
        )
    };
    let a = anchored_node(dir.path(), A, pa, &peer("bob", B, Some(pb)));
    // Bob is outside the federation (no anchor): he keeps none of the
    // statements Alice sends, so his own claim is not-found to him and he
    // sends it on. (Inside it, his own node would hold it back as invalid.)
    let b = crate::harness::Node::start_as(B, pb, &peer("alice", A, None));
    let f = authorise(dir.path(), A, "+1555123", 11, "a.tla");
    a.cli(&["authority", "publish", &f]).ok();
    // Bob claims Alice's block.
    b.cli(&["announce", "+1555123", "--via", "sip:mallory@bob"])
        .ok();
    crate::harness::wait_until(
        "alice receives bob's route",
        std::time::Duration::from_secs(20),
        || {
            let j = a.cli(&["routes", "--peer", "bob", "--received", "--json"]);
            j.code == 0 && j.stdout.contains("+1555123")
        },
    );
    let rec = a
        .cli(&["routes", "--peer", "bob", "--received", "--json"])
        .json();
    assert_eq!(rec[0]["validation"], "invalid", "{rec}");
    assert!(
        rec[0]["rejected"]
            .as_str()
            .unwrap_or_default()
            .contains("origin validation"),
        "{rec}"
    );
    assert_eq!(
        a.cli(&["lookup", "+15551234567"]).code,
        3,
        "the hijack is never selected"
    );
    // Alice's own announcement is valid and wins.
    a.cli(&["announce", "+1555123", "--via", "sip:alice@a"])
        .ok();
    let j = a.cli(&["lookup", "+15551234567", "--json"]).json();
    assert_eq!(j["next_hops"][0]["uri"], "sip:alice@a");
    assert_eq!(j["routes"][0]["validation"], "valid");
    let held = b.cli(&["--json", "authority", "list"]).json();
    assert_eq!(held["statements"], serde_json::json!([]), "{held}");
}

/// A peer whose policy is `not_found = "reject"`: its not-found routes
/// are kept, shown with why, and never selected; once an authorisation
/// covers one for its origin it is valid and selected.
#[test]
fn a_peer_with_not_found_reject_gets_only_valid_routes_selected() {
    const A: u32 = 4_200_000_101;
    const B: u32 = 4_200_000_202;
    let dir = anchor_dir();
    let (pa, pb) = (crate::harness::free_port(), crate::harness::free_port());
    let a = anchored_node(
        dir.path(),
        A,
        pa,
        &format!(
            "[[peer]]\nname = \"bob\"\nitad = {B}\naddresses = [\"http://127.0.0.1:{pb}\"]\n\
             not_found = \"reject\"\n[[peer.import]]\naction = \"accept\"\n"
        ),
    );
    let b = anchored_node(
        dir.path(),
        B,
        pb,
        &format!(
            "[[route]]\nprefix = \"+4930\"\nvia = [\"sip:{{e164}}@bob.example\"]\n\
             [[peer]]\nname = \"alice\"\nitad = {A}\n[[peer.export]]\naction = \"accept\"\n"
        ),
    );
    crate::harness::wait_until(
        "alice receives bob's route",
        std::time::Duration::from_secs(20),
        || {
            let j = a.cli(&["routes", "--peer", "bob", "--received", "--json"]);
            j.code == 0 && j.stdout.contains("+4930")
        },
    );
    let rec = a
        .cli(&["routes", "--peer", "bob", "--received", "--json"])
        .json();
    assert_eq!(rec[0]["validation"], "not-found", "{rec}");
    assert!(
        rec[0]["rejected"]
            .as_str()
            .unwrap_or_default()
            .contains("not_found = \"reject\""),
        "{rec}"
    );
    assert_eq!(a.cli(&["lookup", "+493012"]).code, 3, "not selected");
    let explain = a.cli(&["explain", "+493012"]).stdout;
    assert!(explain.contains("not-found"), "{explain}");
    // An authorisation for bob's ITAD, published at bob, reaches alice
    // over the session and makes the route valid there.
    let f = authorise(dir.path(), B, "+4930", 15, "bob.tla");
    b.cli(&["authority", "publish", &f]).ok();
    crate::harness::wait_until(
        "bob's route valid and selected at alice",
        std::time::Duration::from_secs(10),
        || route_state(&a, "+493012") == "valid",
    );
    let _ = b;
}
