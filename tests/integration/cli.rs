//! The five-minute tour of the README, as a test.

use crate::harness::{Node, cli};

#[test]
fn announce_lookup_routes_explain_withdraw() {
    let node = Node::start();
    // A main trunk and a real backup: each --via has its own priority.
    let out = node.cli(&[
        "announce",
        "+1555123XXXX",
        "--via",
        "sip:{e164}@pbx.example.org,10",
        "--via",
        "sip:{digits}@backup.example.org,20",
    ]);
    assert!(
        out.ok().starts_with("announced 1 prefix "),
        "{}",
        out.stdout
    );
    let out = node.cli(&[
        "announce",
        "+15551230000..+15551234999",
        "--via",
        "iax2:club/{local}",
        "--local-pref",
        "200",
    ]);
    assert!(
        out.ok().starts_with("announced 5 prefixes"),
        "{}",
        out.stdout
    );

    // The block's number: the main trunk first, the backup after it.
    let j = node.cli(&["lookup", "+1 (555) 123-9876", "--json"]).json();
    assert_eq!(j["number"], "+15551239876");
    assert_eq!(j["matched_prefix"], "+1555123");
    let hops: Vec<(&str, u64)> = j["next_hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["uri"].as_str().unwrap(), h["priority"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        hops,
        [
            ("sip:+15551239876@pbx.example.org", 10),
            ("sip:15551239876@backup.example.org", 20)
        ]
    );

    // {local} on a range is the digits after the range's fixed part,
    // whichever of its prefixes matched: never the same for two numbers.
    let j = node.cli(&["lookup", "+15551234567", "--json"]).json();
    assert_eq!(j["matched_prefix"], "+15551234");
    assert_eq!(j["next_hops"][0]["uri"], "iax2:club/4567");
    let j = node.cli(&["lookup", "+15551230567", "--json"]).json();
    assert_eq!(j["next_hops"][0]["uri"], "iax2:club/0567");

    // The human table names the next hop too.
    let out = node.cli(&["lookup", "+15551234567"]);
    assert!(out.ok().contains("iax2:club/4567"), "{}", out.stdout);
    assert!(out.stdout.contains("(1 route)"), "{}", out.stdout);

    // Announcing a prefix again replaces the route announced before.
    node.cli(&[
        "announce",
        "+1555123",
        "--via",
        "sip:other@x",
        "--priority",
        "5",
    ])
    .ok();
    let j = node.cli(&["lookup", "+15551239876", "--json"]).json();
    let hops: Vec<&str> = j["next_hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["uri"].as_str().unwrap())
        .collect();
    assert_eq!(hops, ["sip:other@x"], "a re-announce replaces the route");

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

    // An error about the one argument given names it, not an API field.
    let bad = node.cli(&["announce", "+1X5", "--via", "sip:a@b"]);
    assert_eq!(bad.code, 2);
    assert!(!bad.stderr.contains("routes["), "{}", bad.stderr);
    assert!(bad.stderr.contains("\"+1X5\""), "{}", bad.stderr);
    let bad = node.cli(&["withdraw", "+1x2"]);
    assert_eq!(bad.code, 2);
    assert!(!bad.stderr.contains("prefixes["), "{}", bad.stderr);

    let port = crate::harness::free_port();
    let down = cli(&["--server", &format!("http://127.0.0.1:{port}"), "status"]);
    assert_eq!(down.code, 4, "{down:?}");
    assert!(
        down.stderr.contains("cannot reach trunklined"),
        "{}",
        down.stderr
    );
    // A server address without its scheme is bad input, with the fix.
    let bad = cli(&["--server", &format!("127.0.0.1:{port}"), "status"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("http://127.0.0.1"), "{}", bad.stderr);
    // A server that accepts connections and never answers: 4, naming it,
    // well before the default --timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let started = std::time::Instant::now();
    let stalled = cli(&["--server", &url, "status"]);
    assert_eq!(stalled.code, 4, "{stalled:?}");
    assert!(stalled.stderr.contains(&url), "{}", stalled.stderr);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "a silent server held the CLI for {:?}",
        started.elapsed()
    );
}

/// Write commands say what they did, or why they did nothing: nothing is
/// a silent success.
#[test]
fn writes_say_what_they_did_not_do() {
    let node = Node::start_with(
        "[[route]]\nprefix = \"+4930\"\nvia = [\"sip:berlin@x\"]\n",
        "",
    );
    // Nothing to withdraw: not found.
    let out = node.cli(&["withdraw", "+1999"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("nothing withdrawn"), "{}", out.stderr);
    // A config route: only its file can withdraw it, and the CLI says so.
    let out = node.cli(&["withdraw", "+4930"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("config file"), "{}", out.stderr);
    node.cli(&["lookup", "+493012"]).ok();
    // A mixed request withdraws what it can and names the rest.
    node.cli(&["announce", "+1555", "--via", "sip:a@b"]).ok();
    let out = node.cli(&["withdraw", "+1555", "+4930"]);
    assert!(out.ok().starts_with("withdrew 1 prefix "), "{}", out.stdout);
    assert!(
        out.stderr.contains("+4930 (config file of node 1)"),
        "{}",
        out.stderr
    );

    // --json on a write prints what it did.
    let j = node
        .cli(&["announce", "+1556", "--via", "sip:a@b", "--json"])
        .json();
    assert_eq!(j["announced"], 1);
    assert!(j["log_index"].as_u64().unwrap() > 0);

    // The later of two equal local routes loses as "announced-later".
    node.cli(&["announce", "+4930", "--via", "sip:api@x"]).ok();
    let j = node.cli(&["explain", "+493012", "--json"]).json();
    assert_eq!(j["candidates"][0]["route"]["source"], "config@1");
    assert_eq!(j["candidates"][1]["lost_at"], "announced-later");
}

/// Every argument has help text.
#[test]
fn every_flag_and_argument_has_help() {
    for (cmd, wanted) in [
        (
            vec!["announce"],
            vec!["--local-pref", "Local preference", "PRIORITY"],
        ),
        (
            vec!["lookup"],
            vec!["[NUMBER]", "dialed number", "--file", "one a line"],
        ),
        (vec!["explain"], vec!["<NUMBER>", "dialed number"]),
        (
            vec!["neighbor", "add"],
            vec![
                "<NAME>",
                "neighbor's name",
                "Most prefixes accepted",
                "Secret both sides",
                "Hold time",
                "--export-all",
            ],
        ),
        (vec!["neighbor", "show"], vec!["<NAME>", "neighbor's name"]),
        (vec!["cluster", "remove-node"], vec!["<ID>", "node's id"]),
        (
            vec!["cluster", "add-node"],
            vec!["<ID>", "never used before"],
        ),
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let out = cli(&args);
        let help = out.ok();
        for w in wanted {
            assert!(help.contains(w), "{cmd:?} --help lacks {w:?}:\n{help}");
        }
        // clap prints an argument's help beside it or on the lines below
        // it; an argument without help is followed by a blank line.
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim();
            let is_arg = t.starts_with('-') || t.starts_with('<');
            if is_arg && !t.contains("  ") {
                let next = lines.get(i + 1).map_or("", |l| l.trim());
                assert!(
                    !next.is_empty() && !next.starts_with('-') && !next.starts_with('<'),
                    "{cmd:?}: no help for {t:?}:\n{help}"
                );
            }
        }
    }
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
    assert!(out.stderr.contains("bad.csv:3: prefix"), "{}", out.stderr);
    assert!(!out.stderr.contains("routes["), "{}", out.stderr);
    assert_eq!(node.cli(&["lookup", "+19991"]).code, 3);

    // Withdraw from the same kind of file.
    let out = node.cli(&["withdraw", "--file", file.to_str().unwrap()]);
    assert!(
        out.ok().contains("withdrew 20001 prefixes"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_file_of_numbers_is_looked_up_in_batches_in_order() {
    let node = Node::start();
    node.cli(&["announce", "+1555123XXXX", "--via", "sip:{e164}@a.example"])
        .ok();
    node.cli(&[
        "announce",
        "+1555124",
        "--via",
        "sip:{digits}@b.example,10",
        "--via",
        "iax2:c/{local},20",
    ])
    .ok();
    // 2,500 numbers: three requests of the stream. Every seventh has no
    // route; line 2 is a comment and line 1,000 is not a number.
    let mut text = String::from("number\n# dialed today\n");
    let mut expect = Vec::new();
    for i in 0..2_500u32 {
        let n = match i {
            997 => "+1555x".to_owned(),
            _ if i % 7 == 0 => format!("+1666{i:07}"),
            _ => format!("+155512{}{:04}", 3 + i % 2, i),
        };
        text.push_str(&format!("{n}\n"));
        expect.push(n);
    }
    let file = node.dir.path().join("numbers.txt");
    std::fs::write(&file, text).unwrap();
    let out = node.cli(&["lookup", "--file", file.to_str().unwrap()]);
    assert_eq!(
        out.code, 2,
        "a malformed number is bad input: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("numbers.txt:1000: number"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("2500 numbers: 2141 answered, 358 without a route, 1 not numbers"),
        "{}",
        out.stderr
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2_500);
    // Each line is what a lookup of that number alone says, in file order.
    for (i, (line, n)) in lines.iter().zip(&expect).enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if i == 997 {
            assert_eq!(cols[..2], [n.as_str(), "-"], "{line}");
            continue;
        }
        if i % 97 != 1 && i % 7 != 0 {
            continue;
        }
        let one = node.cli(&["lookup", n, "--json"]);
        if i % 7 == 0 {
            assert_eq!(one.code, 3);
            assert_eq!(cols[..2], [n.as_str(), "-"], "{line}");
            continue;
        }
        let j = one.json();
        let hops: Vec<&str> = (j["next_hops"].as_array().unwrap().iter())
            .map(|h| h["uri"].as_str().unwrap())
            .collect();
        assert_eq!(
            cols,
            [
                n.as_str(),
                j["matched_prefix"].as_str().unwrap(),
                &hops.join(" ")
            ]
        );
    }
    // JSON lines from standard input, and only numbers with routes: exit 0.
    let good: String = (expect.iter().enumerate())
        .filter(|(i, _)| *i != 997 && i % 7 != 0)
        .map(|(_, n)| format!("{n}\n"))
        .collect();
    let out = node.cli_stdin(&["lookup", "--file", "-", "--json"], &good);
    let first: serde_json::Value = serde_json::from_str(out.ok().lines().next().unwrap()).unwrap();
    assert_eq!(first["number"], "+15551240001");
    assert_eq!(first["next_hops"][1]["uri"], "iax2:c/0001");
    assert_eq!(out.stdout.lines().count(), 2_141);
}
