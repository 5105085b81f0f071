//! The five-minute tour of the README, as a test.

use crate::harness::{Node, cli};

#[test]
fn announce_lookup_routes_explain_withdraw() {
    let node = Node::start();
    let out = node.cli(&[
        "announce",
        "+1555123XXXX",
        "--via",
        "sip:{e164}@pbx.example.org",
        "--via",
        "sip:{digits}@backup.example.org",
    ]);
    assert!(
        out.ok().starts_with("announced 1 prefixes"),
        "{}",
        out.stdout
    );
    node.cli(&[
        "announce",
        "+15551230000..+15551234999",
        "--via",
        "iax2:club/{local}",
        "--local-pref",
        "50",
    ])
    .ok();
    node.cli(&[
        "announce",
        "+1555123",
        "--via",
        "sip:other@x",
        "--priority",
        "5",
    ])
    .ok();

    // Lookup: the longest prefix wins; templates are expanded, in order.
    let j = node.cli(&["lookup", "+1 (555) 123-9876", "--json"]).json();
    assert_eq!(j["number"], "+15551239876");
    assert_eq!(j["matched_prefix"], "+1555123");
    let hops: Vec<&str> = j["next_hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["uri"].as_str().unwrap())
        .collect();
    assert_eq!(
        hops,
        ["sip:other@x"],
        "a re-announce replaces the route from the same source"
    );

    let j = node.cli(&["lookup", "+15551234567", "--json"]).json();
    assert_eq!(j["matched_prefix"], "+15551234");
    assert_eq!(j["next_hops"][0]["uri"], "iax2:club/567");

    // The human table names the next hop too.
    let out = node.cli(&["lookup", "+15551234567"]);
    assert!(out.ok().contains("iax2:club/567"), "{}", out.stdout);

    // routes: longer (default), exact, shorter.
    let all = node.cli(&["routes", "--json"]).json();
    assert_eq!(all.as_array().unwrap().len(), 6);
    let under = node.cli(&["routes", "+15551234", "--json"]).json();
    assert_eq!(under.as_array().unwrap().len(), 1);
    let exact = node
        .cli(&["routes", "+1555123", "--exact", "--json"])
        .json();
    assert_eq!(exact[0]["prefix"], "+1555123");
    assert_eq!(exact.as_array().unwrap().len(), 1);
    let shorter = node
        .cli(&["routes", "+15551234", "--shorter", "--json"])
        .json();
    let prefixes: Vec<&str> = shorter
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["prefix"].as_str().unwrap())
        .collect();
    assert_eq!(prefixes, ["+1555123", "+15551234"]);
    assert!(node.cli(&["routes"]).ok().contains("+15551230"));

    // explain names the winner.
    let j = node.cli(&["explain", "+15551234567", "--json"]).json();
    assert_eq!(j["candidates"][0]["lost_at"], "best");

    // status
    let j = node.cli(&["status", "--json"]).json();
    assert_eq!(j["raft"]["role"], "leader");
    assert_eq!(j["prefixes"], 6);
    assert!(node.cli(&["status"]).ok().contains("leader"));

    // withdraw a range: its prefixes go, the block stays.
    let out = node.cli(&["withdraw", "+15551230000..+15551234999"]);
    assert!(
        out.ok().starts_with("withdrew 5 prefixes"),
        "{}",
        out.stdout
    );
    let j = node.cli(&["lookup", "+15551234567", "--json"]).json();
    assert_eq!(j["matched_prefix"], "+1555123");
    node.cli(&["withdraw", "+1555123XXXX"]).ok();
    let out = node.cli(&["lookup", "+15551234567"]);
    assert_eq!(out.code, 3, "no route: {out:?}");
    assert!(
        out.stderr.contains("no route for +15551234567"),
        "{}",
        out.stderr
    );
}

#[test]
fn clear_errors_and_exit_codes() {
    let node = Node::start();
    let bad = node.cli(&["lookup", "+1５55"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("not an ASCII digit"), "{}", bad.stderr);
    let bad = node.cli(&["announce", "+1555", "--via", "http://x"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("scheme must be sip:"), "{}", bad.stderr);
    let bad = node.cli(&["announce", "+1555"]);
    assert_eq!(bad.code, 2);
    let bad = node.cli(&["lookup", "+"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("lone '+'"), "{}", bad.stderr);

    let port = crate::harness::free_port();
    let down = cli(&["--server", &format!("http://127.0.0.1:{port}"), "status"]);
    assert_eq!(down.code, 4, "{down:?}");
    assert!(
        down.stderr.contains("cannot reach trunklined"),
        "{}",
        down.stderr
    );
}

#[test]
fn bulk_load_from_a_csv_file() {
    let node = Node::start();
    let file = node.dir.path().join("blocks.csv");
    let mut csv = String::from("prefix,uri,priority,weight\n# NANP thousands-blocks\n");
    for i in 0..20_000u32 {
        csv.push_str(&format!(
            "+1{:03}{:03}{},sip:{{e164}}@pbx{}.example.org\n",
            200 + i / 1000,
            200 + (i / 10) % 100,
            i % 10,
            i % 3
        ));
    }
    // Two lines for one prefix: two next hops.
    csv.push_str("+4930,sip:a@berlin,10,100\n+4930,sip:b@berlin,20,100\n");
    std::fs::write(&file, csv).unwrap();
    let out = node.cli(&[
        "announce",
        "--file",
        file.to_str().unwrap(),
        "--batch",
        "3000",
    ]);
    assert!(
        out.ok().contains("announced 20001 prefixes"),
        "{}",
        out.stdout
    );
    let j = node.cli(&["status", "--json"]).json();
    assert_eq!(j["prefixes"], 20_001);
    let j = node.cli(&["lookup", "+493012345", "--json"]).json();
    let hops: Vec<&str> = j["next_hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["uri"].as_str().unwrap())
        .collect();
    assert_eq!(hops, ["sip:a@berlin", "sip:b@berlin"]);

    // A bad line is reported with its line number; nothing of that request applies.
    let bad = node.dir.path().join("bad.csv");
    std::fs::write(&bad, "+1999,sip:a@x\n+1998,sip:b@x\n+19ab,sip:c@x\n").unwrap();
    let out = node.cli(&["announce", "--file", bad.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("bad.csv:3"), "{}", out.stderr);
    assert_eq!(node.cli(&["lookup", "+19991"]).code, 3);

    // Withdraw from the same kind of file.
    let out = node.cli(&["withdraw", "--file", file.to_str().unwrap()]);
    assert!(
        out.ok().contains("withdrew 20001 prefixes"),
        "{}",
        out.stdout
    );
}
