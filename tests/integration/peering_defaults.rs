//! What flows between peers by default, and how the neighbor commands
//! tell the operator: default-deny both ways (RFC 8212), refused routes
//! shown as they were sent, stale routes marked, `{local}` carried.

use std::time::Duration;

use crate::harness::{Node, free_port, wait_until};

const ALICE: u32 = 4_200_000_101;
const BOB: u32 = 4_200_000_202;
const WAIT: Duration = Duration::from_secs(20);

fn route(prefix: &str, via: &str) -> String {
    format!("[[route]]\nprefix = \"{prefix}\"\nvia = [\"{via}\"]\n")
}

/// A peer without an export policy is sent nothing; one with an import
/// filter refuses what the filter does not take, and `routes --received`
/// shows the refused route as the peer sent it.
#[test]
fn peers_are_default_deny_both_ways() {
    let (pa, pb) = (free_port(), free_port());
    // Alice imports only +44 from Bob, and exports nothing to him.
    let a = Node::start_as(
        ALICE,
        pa,
        &format!(
            "{}[[peer]]\nname = \"bob\"\nitad = {BOB}\naddresses = [\"http://127.0.0.1:{pb}\"]\n[[peer.import]]\nprefixes = [\"+44\"]\naction = \"accept\"\n",
            route("+1555123XXXX", "sip:{e164}@alice.example")
        ),
    );
    // Bob takes and sends everything.
    let b = Node::start_as(
        BOB,
        pb,
        &format!(
            "{}{}[[peer]]\nname = \"alice\"\nitad = {ALICE}\n[[peer.import]]\naction = \"accept\"\n[[peer.export]]\naction = \"accept\"\n",
            route("+4420", "sip:{e164}@bob.example"),
            route("+4930", "sip:{e164}@bob.example")
        ),
    );
    wait_until("alice learns +4420", WAIT, || {
        a.cli(&["lookup", "+442071"]).code == 0
    });
    // What Alice sends Bob is computed from her table and her policy:
    // nothing, as she has no export policy.
    let adv = a
        .cli(&["routes", "--peer", "bob", "--advertised", "--json"])
        .json();
    assert_eq!(adv, serde_json::json!([]), "sent without an export policy");
    assert_eq!(b.cli(&["lookup", "+15551234567"]).code, 3);
    assert!(
        a.log().contains("no export policy"),
        "the start-up log warns"
    );

    // +4930 was refused by the filter: shown with what Bob sent.
    wait_until("the refused route", WAIT, || {
        a.cli(&["routes", "--peer", "bob", "--received", "--json"])
            .json()
            .as_array()
            .is_some_and(|r| r.len() == 2)
    });
    let received = a
        .cli(&["routes", "--peer", "bob", "--received", "--json"])
        .json();
    let refused = received
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["prefix"] == "+4930")
        .unwrap_or_else(|| panic!("{received}"));
    assert_eq!(refused["rejected"], "rejected by the import filter");
    assert_eq!(refused["next_hops"][0]["uri"], "sip:{e164}@bob.example");
    assert_eq!(refused["path"], serde_json::json!([BOB]));
    let text = a
        .cli(&["routes", "--peer", "bob", "--received"])
        .ok()
        .to_owned();
    let line = text.lines().find(|l| l.contains("+4930")).unwrap();
    assert!(
        line.contains("sip:{e164}@bob.example") && line.contains(&BOB.to_string()),
        "{line}"
    );
}

/// `neighbor add` says when nothing will flow; the documented `[[peer]]`
/// form works with `--config`; refresh and reset without a session fail
/// with the reason.
#[test]
fn neighbor_commands_say_what_will_and_will_not_happen() {
    let n = Node::start();
    let out = n.cli(&["neighbor", "add", "carol", "--itad", "4200000303"]);
    out.ok();
    assert!(
        out.stderr.contains("no import policy") && out.stderr.contains("no export policy"),
        "{}",
        out.stderr
    );
    let out = n.cli(&[
        "neighbor",
        "add",
        "dave",
        "--itad",
        "4200000404",
        "--import-all",
        "--export-all",
    ]);
    out.ok();
    assert_eq!(out.stderr, "", "no warning with both policies");
    let out = n.cli(&[
        "neighbor",
        "add",
        "erin",
        "--itad",
        "4200000505",
        "--role",
        "member",
        "--allowed",
        "+4930",
    ]);
    out.ok();
    assert_eq!(out.stderr, "", "a member's policy is its allowed blocks");

    // The README's syntax, as a file.
    let file = n.dir.path().join("frank.toml");
    std::fs::write(
        &file,
        "[[peer]]\nname = \"frank\"\nitad = 4200000606\n\n[[peer.import]]\nprefixes = [\"+49\"]\naction = \"accept\"\n\n[[peer.export]]\naction = \"accept\"\n",
    )
    .unwrap();
    let out = n.cli(&[
        "neighbor",
        "add",
        "frank",
        "--config",
        file.to_str().unwrap(),
    ]);
    out.ok();
    assert_eq!(out.stderr, "");
    let j = n.cli(&["neighbor", "show", "frank", "--json"]).json();
    let config = j["config"].as_str().unwrap();
    assert!(
        config.contains("[[import]]") && config.contains("\"+49\""),
        "{config}"
    );
    // A file naming another neighbor than the command is refused.
    let out = n.cli(&[
        "neighbor",
        "add",
        "gina",
        "--config",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 2, "{out:?}");

    for verb in ["refresh", "reset"] {
        let out = n.cli(&["neighbor", verb, "carol"]);
        assert_eq!(out.code, 1, "{verb}: {out:?}");
        assert!(
            out.stderr.contains("no established session"),
            "{}",
            out.stderr
        );
    }
    let out = n.cli(&["neighbor", "show", "nobody"]);
    assert_eq!(out.code, 3);
}

/// `{local}` means the same on both sides of a session, and a peer's
/// routes kept through its restart are marked stale in `lookup`.
#[test]
fn local_crosses_a_session_and_stale_routes_are_marked() {
    let (pa, pb) = (free_port(), free_port());
    let a = Node::start_as(
        ALICE,
        pa,
        &format!(
            "[[peer]]\nname = \"bob\"\nitad = {BOB}\naddresses = [\"http://127.0.0.1:{pb}\"]\n[[peer.import]]\naction = \"accept\"\n"
        ),
    );
    let mut b = Node::start_as(
        BOB,
        pb,
        &format!(
            "[[route]]\nprefix = \"+15551230000..+15551234999\"\nvia = [\"iax2:club/{{local}}\"]\n[[peer]]\nname = \"alice\"\nitad = {ALICE}\n[[peer.export]]\naction = \"accept\"\n"
        ),
    );
    wait_until("alice learns bob's range", WAIT, || {
        a.cli(&["lookup", "+15551234567"]).code == 0
    });
    for (number, local) in [("+15551234567", "4567"), ("+15551230567", "0567")] {
        let j = a.cli(&["lookup", number, "--json"]).json();
        assert_eq!(j["next_hops"][0]["uri"], format!("iax2:club/{local}"));
        let here = b.cli(&["lookup", number, "--json"]).json();
        assert_eq!(here["next_hops"][0]["uri"], j["next_hops"][0]["uri"]);
    }
    b.kill9();
    wait_until("bob's routes go stale", WAIT, || {
        a.cli(&["lookup", "+15551234567"]).ok().contains("(stale)")
    });
}

/// No two peers share an ITAD, whether they come from the API or a config
/// file: the rule is kept where every write path passes.
#[test]
fn peer_itads_are_unique_whatever_the_path() {
    let mut n = Node::start_with(
        &format!("[[peer]]\nname = \"bob\"\nitad = {BOB}\n[[peer.import]]\naction = \"accept\"\n"),
        "",
    );
    let out = n.cli(&[
        "neighbor",
        "add",
        "carol",
        "--itad",
        &BOB.to_string(),
        "--import-all",
    ]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("already has ITAD"), "{}", out.stderr);
    n.cli(&[
        "neighbor",
        "add",
        "dave",
        "--itad",
        "4200000404",
        "--import-all",
    ])
    .ok();
    // A config file naming dave's ITAD for another peer: refused, logged.
    n.spec.extra = format!(
        "[[peer]]\nname = \"bob\"\nitad = {BOB}\n[[peer.import]]\naction = \"accept\"\n\
         [[peer]]\nname = \"erin\"\nitad = 4200000404\n[[peer.import]]\naction = \"accept\"\n"
    );
    n.write_config();
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &n.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    wait_until("the refusal in the log", WAIT, || {
        n.log().contains("peer from the config file not installed")
    });
    assert_eq!(n.cli(&["neighbor", "show", "erin"]).code, 3);
    assert!(n.is_running());
}
