//! Number authority travels over peering (snapshot, end, deltas), so a
//! federation validates alike: an authorisation published at one member
//! validates its route at the far member; a hijack stops at the first
//! exchange; forged statements and strangers' are kept out; an expired
//! and a revoked authorisation take the route out downstream at once.
//!
//! ```text
//! mallory (raw) ─┐
//!   m1 ── x1 ── x2 ── m2        every node trusts one anchor
//! ```

use std::time::{Duration, Instant};

use trunkline_proto::peering::v1 as pb;
use trunkline_proto::peering::v1::peer_message::Body;

use crate::authority::{anchor_dir, anchored_node, authorise};
use crate::harness::{Node, cli, free_port, wait_until};
use crate::peer_input::{Stream, open_with, route};

const M1: u32 = 4_200_000_011;
const X1: u32 = 4_200_000_100;
const X2: u32 = 4_200_000_200;
const M2: u32 = 4_200_000_022;
const MALLORY: u32 = 4_200_000_666;

/// A `[[peer]]` accepting and sending everything, dialled when `dial`.
fn peer(name: &str, itad: u32, dial: Option<u16>) -> String {
    let addr = dial.map_or(String::new(), |p| format!("\"http://127.0.0.1:{p}\""));
    format!(
        "[[peer]]\nname = \"{name}\"\nitad = {itad}\naddresses = [{addr}]\n\
         [[peer.import]]\naction = \"accept\"\n[[peer.export]]\naction = \"accept\"\n"
    )
}

fn statements(n: &Node) -> usize {
    let j = n.cli(&["--json", "authority", "list"]);
    if j.code != 0 {
        return 0;
    }
    j.json()["statements"].as_array().map_or(0, Vec::len)
}

/// The first next hop and validation state `n` answers `number` with.
fn answer(n: &Node, number: &str) -> Option<(String, String)> {
    let j = n.cli(&["lookup", number, "--json"]);
    (j.code == 0).then(|| {
        let v = j.json();
        (
            v["next_hops"][0]["uri"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            v["routes"][0]["validation"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    })
}

/// Polls until `n` has no route for `number`; how long that took.
fn gone_within(n: &Node, number: &str, since: Instant, limit: Duration) -> Duration {
    loop {
        if answer(n, number).is_none() {
            return since.elapsed();
        }
        assert!(since.elapsed() < limit, "{number} still routed at {n:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn authority_crosses_federated_exchanges_and_hijacks_stop_at_the_first() {
    let dir = anchor_dir();
    let d = dir.path();
    let (pm1, px1, px2, pm2) = (free_port(), free_port(), free_port(), free_port());
    let tick = "[authority]\ntick_secs = 1\n";
    let m1 = anchored_node(
        d,
        M1,
        pm1,
        &format!(
            "{tick}[[route]]\nprefix = \"+4930\"\nvia = [\"sip:{{e164}}@m1.example\"]\n\
             [[route]]\nprefix = \"+4931\"\nvia = [\"sip:{{e164}}@m1.example\"]\n{}",
            peer("x1", X1, Some(px1))
        ),
    );
    let x1 = anchored_node(
        d,
        X1,
        px1,
        &format!(
            "{tick}{}{}{}",
            peer("m1", M1, None),
            peer("x2", X2, Some(px2)),
            peer("mallory", MALLORY, None)
        ),
    );
    let x2 = anchored_node(
        d,
        X2,
        px2,
        &format!("{tick}{}{}", peer("x1", X1, None), peer("m2", M2, None)),
    );
    let m2 = anchored_node(d, M2, pm2, &format!("{tick}{}", peer("x2", X2, Some(px2))));
    wait_until("m1's routes reach m2", Duration::from_secs(30), || {
        answer(&m2, "+493012").is_some() && answer(&m2, "+493112").is_some()
    });
    assert_eq!(answer(&m2, "+493012").unwrap().1, "not-found");

    // The anchor covers +49 for nobody (origin 0) and lets m1 announce
    // +4931 for a few seconds; +4930 comes down a chain: the anchor
    // delegates it to a club, the club to m1's key, which authorises m1.
    // The club also hands m1 +4931, which it does not hold: refused.
    // All of it is published at m1 only.
    let file = |f: &str| d.join(f).display().to_string();
    let key = file("ta.key");
    for k in ["club", "m1"] {
        cli(&["authority", "keygen", "--out", &file(k)]).ok();
    }
    let delegate = |by: &str, to: &str, block: &str, out: &str, more: &[&str]| {
        let mut args = vec![
            "authority",
            "delegate",
            "--key",
            by,
            "--to",
            to,
            "--block",
            block,
            "--out",
            out,
        ];
        args.extend(more);
        cli(&args).ok();
    };
    let (club, member, beyond) = (file("club.tla"), file("m1.tla"), file("beyond.tla"));
    delegate(
        &key,
        &file("club.pub"),
        "+4930",
        &club,
        &["--may-delegate", "--name", "Club"],
    );
    delegate(
        &file("club.key"),
        &file("m1.pub"),
        "+4930",
        &member,
        &["--name", "m1"],
    );
    delegate(
        &file("club.key"),
        &file("m1.pub"),
        "+4931",
        &beyond,
        &["--name", "m1"],
    );
    let cover = authorise(d, 0, "+49", 15, "cover.tla");
    let a30 = file("a30.tla");
    let m1_key = file("m1.key");
    let (m1_itad, a31) = (M1.to_string(), file("a31.tla"));
    cli(&[
        "authority",
        "sign",
        "--key",
        &m1_key,
        "--origin",
        &m1_itad,
        "--prefix",
        "+4930",
        "--max-len",
        "15",
        "--out",
        &a30,
    ])
    .ok();
    let signed_at = unix_now();
    cli(&[
        "authority",
        "sign",
        "--key",
        &key,
        "--origin",
        &m1_itad,
        "--prefix",
        "+4931",
        "--max-len",
        "15",
        "--seconds",
        "8",
        "--out",
        &a31,
    ])
    .ok();
    let published = Instant::now();
    // The member's authorisation first: peers still get the chain in an
    // order they can check one by one.
    for f in [&a30, &member, &club, &cover, &a31] {
        m1.cli(&["authority", "publish", f]).ok();
    }
    let out = m1.cli(&["authority", "publish", &beyond]).ok().to_owned();
    assert!(out.contains("exceeds"), "{out}");
    wait_until("the statements reach m2", Duration::from_secs(10), || {
        statements(&m2) == 6
    });
    let reached = published.elapsed();
    for n in [&x1, &x2] {
        assert_eq!(statements(n), 6, "{n:?}");
    }
    let list = m2.cli(&["authority", "list"]).ok().to_owned();
    assert!(list.contains("exceeds its signer's authority"), "{list}");
    // Generous: the suite runs many clusters at once on two cores.
    wait_until("m1's route valid at m2", Duration::from_secs(15), || {
        answer(&m2, "+493012").is_some_and(|(_, v)| v == "valid")
    });
    let hop = answer(&m2, "+493012").unwrap().0;
    assert_eq!(hop, "sip:+493012@m1.example");
    let n = x2.cli(&["neighbor", "show", "x1", "--json"]).json();
    assert_eq!(n["authority"], true, "{n}");
    assert_eq!(n["authority_synced"], true, "{n}");

    // Mallory, a peer of x1: its snapshot holds a forged authorisation
    // and one signed by a key nobody delegated to; then it claims +4930.
    cli(&[
        "authority",
        "keygen",
        "--out",
        &d.join("mallory").display().to_string(),
    ])
    .ok();
    let stranger = d.join("stranger.tla").display().to_string();
    cli(&[
        "authority",
        "sign",
        "--key",
        &d.join("mallory.key").display().to_string(),
        "--origin",
        &MALLORY.to_string(),
        "--prefix",
        "+4930",
        "--out",
        &stranger,
    ])
    .ok();
    let mut forged = std::fs::read(&a30).unwrap();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _mallory = rt.block_on(async {
        let mut s = Stream::open(px1).await;
        s.send(open_with(MALLORY, 90, true)).await;
        assert!(matches!(s.next().await, Some(Body::Open(_))));
        s.send(Body::Keepalive(pb::Keepalive {})).await;
        // x1's snapshot first (each delegation before what it signs),
        // its end, then its routes.
        let mut got = 0;
        loop {
            match s.next().await {
                Some(Body::AuthoritySnapshot(a)) => got += a.statements.len(),
                Some(Body::AuthorityEnd(e)) => {
                    assert_eq!(e.statements as usize, got);
                    break;
                }
                other => panic!("expected x1's authority snapshot, got {other:?}"),
            }
        }
        assert_eq!(got, 6);
        s.send(Body::AuthoritySnapshot(pb::AuthoritySnapshot {
            statements: vec![forged, std::fs::read(&stranger).unwrap()],
        }))
        .await;
        s.send(Body::AuthorityEnd(pb::AuthorityEnd { statements: 2 }))
            .await;
        s.send(Body::Update(pb::Update {
            announce: vec![route("+4930", "sip:{e164}@mallory.example", &[MALLORY])],
            withdraw: vec![],
        }))
        .await;
        s
    });
    wait_until("x1 judges mallory's claim", Duration::from_secs(10), || {
        let j = x1.cli(&["routes", "--peer", "mallory", "--received", "--json"]);
        j.code == 0 && j.stdout.contains("+4930")
    });
    let rec = x1
        .cli(&["routes", "--peer", "mallory", "--received", "--json"])
        .json();
    assert_eq!(rec[0]["validation"], "invalid", "{rec}");
    let n = x1.cli(&["neighbor", "show", "mallory", "--json"]).json();
    assert_eq!(
        (
            n["authority_received"].as_u64(),
            n["authority_refused"].as_u64()
        ),
        (Some(1), Some(1)),
        "{n}"
    );
    assert_eq!(statements(&x1), 6, "the stranger's statement is kept out");
    // The hijack travels no further: x2 knows +4930 only through m1.
    std::thread::sleep(Duration::from_millis(500));
    let from_x1 = x2
        .cli(&["routes", "--peer", "x1", "--received", "--json"])
        .json();
    let paths: Vec<&serde_json::Value> = from_x1
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["prefix"] == "+4930")
        .map(|r| &r["path"])
        .collect();
    assert_eq!(paths, [&serde_json::json!([X1, M1])], "{from_x1}");
    assert_eq!(answer(&m2, "+493012").unwrap().0, "sip:+493012@m1.example");

    // +4931's authorisation expires: under the cover it is invalid, and
    // it leaves m2's table.
    let expiry = signed_at + 8;
    while unix_now() < expiry {
        assert!(answer(&m2, "+493112").is_some(), "gone before its expiry");
        std::thread::sleep(Duration::from_millis(100));
    }
    let at_expiry = Instant::now();
    let expired = gone_within(&m2, "+493112", at_expiry, Duration::from_secs(5));

    // m1's key revokes its +4930 authorisation, at m1.
    let id = cli(&["--json", "authority", "show", &a30]).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rev = d.join("rev.tla").display().to_string();
    cli(&[
        "authority",
        "revoke",
        "--key",
        &m1_key,
        "--id",
        &id,
        "--number",
        "1",
        "--days",
        "7",
        "--out",
        &rev,
    ])
    .ok();
    m1.cli(&["authority", "publish", &rev]).ok();
    let revoked = gone_within(&m2, "+493012", Instant::now(), Duration::from_secs(5));
    // Mallory's claim is still at x1, invalid, and went nowhere.
    let rec = x1
        .cli(&["routes", "--peer", "mallory", "--received", "--json"])
        .json();
    assert_eq!(rec[0]["validation"], "invalid", "{rec}");
    let from_x1 = x2
        .cli(&["routes", "--peer", "x1", "--received", "--json"])
        .json();
    assert!(
        !from_x1.to_string().contains("mallory.example"),
        "{from_x1}"
    );
    // m1's revoked route leaves x2 too, once x1's withdrawal follows the
    // revocation (which travels ahead of it, and may already have taken
    // the route from m2).
    wait_until(
        "x1 withdraws the revoked route from x2",
        Duration::from_secs(5),
        || {
            let from_x1 = x2.cli(&["routes", "--peer", "x1", "--received", "--json"]);
            !from_x1.ok().contains("+4930")
        },
    );
    eprintln!(
        "statements reached m2 in {reached:?}; expired route left m2 {expired:?} after the \
         expiry second began; revoked route left m2 {revoked:?} after the publish returned"
    );
    assert!(
        revoked < Duration::from_secs(1),
        "revocation took {revoked:?}"
    );
    // Replicated time moves in whole seconds (tick_secs = 1): the expiry
    // is seen at the first tick past it, then travels like a revocation.
    assert!(expired < Duration::from_secs(2), "expiry took {expired:?}");
}
