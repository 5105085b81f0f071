//! The looking glass on a real exchange node with real member nodes: its
//! pages and their JSON twins over HTTP, redaction for anonymous viewers,
//! and a real browser (Debian's chromium, driven through chromedriver)
//! clicking from the neighbor list to a neighbor's refused routes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::harness::{Node, free_port, wait_until};

const EXCHANGE: u32 = 4_200_000_900;
const ALICE: u32 = 4_200_000_101;
const BOB: u32 = 4_200_000_202;
const WAIT: Duration = Duration::from_secs(20);

/// GET `path` with extra header lines: (status, body).
fn get(port: u16, path: &str, headers: &[String]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n{extra}\r\n").unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let code = (buf.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    (code, body.unwrap_or_default())
}

fn json_of(port: u16, path: &str, headers: &[String]) -> (u16, Value) {
    let (code, body) = get(port, path, headers);
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (code, v)
}

/// An exchange node with two members dialling it: alice announces her
/// block; bob announces his and one of alice's, which the exchange refuses.
struct Exchange {
    ex: Node,
    _alice: Node,
    _bob: Node,
}

fn exchange() -> Exchange {
    let ex = Node::start_as(
        EXCHANGE,
        free_port(),
        "[looking_glass]\nhidden_neighbors = [\"collector\"]\n",
    );
    for (name, itad, block) in [
        ("alice", ALICE, "+1555123"),
        ("bob", BOB, "+4930"),
        ("collector", 4_200_000_999, "+999"),
    ] {
        crate::peering::add_member(&ex, name, itad, block, &["--route-server"]);
    }
    let member = |itad: u32, routes: &[(&str, &str)]| {
        let mut extra: String = (routes.iter())
            .map(|(p, via)| format!("[[route]]\nprefix = \"{p}\"\nvia = [\"{via}\"]\n"))
            .collect();
        extra.push_str(&format!(
            "[[peer]]\nname = \"exchange\"\nitad = {EXCHANGE}\naddresses = [\"http://127.0.0.1:{}\"]\n\
             transparent = true\n[[peer.import]]\naction = \"accept\"\n[[peer.export]]\naction = \"accept\"\n",
            ex.spec.grpc
        ));
        Node::start_as(itad, free_port(), &extra)
    };
    let alice = member(ALICE, &[("+1555123", "sip:{e164}@alice.home.example")]);
    let bob = member(
        BOB,
        &[
            ("+4930", "sip:{e164}@bob.home.example"),
            ("+1555123999", "sip:{e164}@bob.home.example"),
        ],
    );
    let port = ex.spec.http;
    wait_until("bob's two routes received, one refused", WAIT, || {
        let (_, v) = json_of(port, "/lg/neighbors?format=json", &[]);
        (v["neighbors"].as_array().into_iter().flatten())
            .any(|n| n["name"] == "bob" && n["accepted"] == 1 && n["refused"] == 1)
    });
    Exchange {
        ex,
        _alice: alice,
        _bob: bob,
    }
}

#[test]
fn pages_have_json_twins_say_how_fresh_they_are_and_hide_hosts_from_strangers() {
    let x = exchange();
    let port = x.ex.spec.http;
    let token = format!(
        "Authorization: Bearer {}",
        std::fs::read_to_string(x.ex.admin_token_file())
            .unwrap()
            .trim()
    );

    // The neighbor list: sessions and counts; the hidden one is not there.
    let (code, list) = json_of(port, "/lg/neighbors", &["Accept: application/json".into()]);
    assert_eq!(code, 200);
    let names: Vec<&str> = (list["neighbors"].as_array().unwrap().iter())
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"], "collector is hidden");
    let bob = &list["neighbors"][1];
    assert_eq!(bob["state"], "established", "{bob}");
    assert_eq!(bob["itad"], u64::from(BOB));
    assert!(bob["uptime_secs"].is_u64());
    assert_eq!(bob["remote"], "…", "a stranger does not see bob's address");
    assert_eq!(get(port, "/lg/neighbors/collector", &[]).0, 404);

    // Freshness: the applied index, the same the API reports.
    let status = x.ex.cli(&["status", "--json"]).json();
    let applied = list["fresh"]["applied_index"].as_u64().unwrap();
    assert!(applied > 0 && applied <= status["raft"]["applied_index"].as_u64().unwrap());
    assert_eq!(list["fresh"]["redacted"], true);

    // A neighbor's refused routes, each with why; hosts hidden.
    let (code, refused) = json_of(port, "/lg/neighbors/bob?rib=refused&format=json", &[]);
    assert_eq!(code, 200);
    assert_eq!(refused["total"], 1);
    let r = &refused["routes"][0];
    assert_eq!(r["prefix"], "+1555123999");
    assert!(
        r["refused"]
            .as_str()
            .unwrap()
            .contains("not inside the blocks"),
        "{r}"
    );
    assert_eq!(r["next_hops"][0]["uri"], "sip:{e164}@…");
    // With a token, the same page in full.
    let (_, full) = json_of(
        port,
        "/lg/neighbors/bob?rib=refused&format=json",
        std::slice::from_ref(&token),
    );
    assert_eq!(
        full["routes"][0]["next_hops"][0]["uri"],
        "sip:{e164}@bob.home.example"
    );
    assert_eq!(full["fresh"]["redacted"], false);
    // A token that does not check out is refused, not taken as anonymous.
    let (code, bad) = json_of(
        port,
        "/lg/neighbors?format=json",
        &["Authorization: Bearer tl_nobody_secret".into()],
    );
    assert_eq!(code, 401, "{bad}");
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("unknown or revoked")
    );

    // A lookup with explain, and the prefix search, agree with the CLI.
    let (_, lookup) = json_of(port, "/lg/lookup?number=%2B15551234567&format=json", &[]);
    let result = &lookup["result"];
    assert_eq!(result["matched_prefix"], "+1555123");
    assert_eq!(result["candidates"][0]["verdict"], "best");
    assert_eq!(result["candidates"][0]["route"]["source"], "alice");
    assert_eq!(result["candidates"][0]["route"]["validation"], "not-found");
    assert_eq!(result["next_hops"][0]["uri"], "sip:+15551234567@…");
    let (_, search) = json_of(port, "/lg/prefix?q=e164%3A&match=longer&format=json", &[]);
    let prefixes: Vec<&str> = (search["routes"].as_array().unwrap().iter())
        .map(|r| r["prefix"].as_str().unwrap())
        .collect();
    assert_eq!(
        prefixes,
        ["+1555123", "+4930"],
        "the refused one is not in the table"
    );
    let (_, missing) = json_of(port, "/lg/lookup?number=%2B44&format=json", &[]);
    assert!(
        missing["error"].as_str().unwrap().contains("no route"),
        "{missing}"
    );

    // Bad input gets a clear error, as a page or as JSON.
    let (code, body) = get(port, "/lg/neighbors/bob?rib=everything", &[]);
    assert_eq!(code, 400);
    assert!(
        body.contains("one of received, accepted, refused, advertised"),
        "{body}"
    );
    let (code, bad) = json_of(port, "/lg/prefix?q=%2B1&match=near&format=json", &[]);
    assert_eq!(
        (code, bad["error"].as_str().unwrap()),
        (400, "match=near: one of longer, exact, shorter")
    );
    let (_, v) = json_of(port, "/lg/prefix?q=%2B1x&format=json", &[]);
    assert!(v["error"].as_str().unwrap().contains("+1x"), "{v}");

    // Every page renders, links its JSON twin and its permalink, and the
    // status page knows the cluster.
    for path in [
        "/lg/",
        "/lg/neighbors",
        "/lg/neighbors/alice?rib=accepted",
        "/lg/authority",
    ] {
        let (code, html) = get(port, path, &[]);
        assert_eq!(code, 200, "{path}");
        assert!(
            html.contains("id=\"permalink\"") && html.contains("format=json"),
            "{path}"
        );
        assert!(html.contains("as of raft index"), "{path}");
    }
    let (_, st) = json_of(port, "/lg/?format=json", &[]);
    assert_eq!(st["itad"], u64::from(EXCHANGE));
    assert_eq!(st["members"][0]["role"], "leader");
    assert_eq!(
        (st["neighbors"].clone(), st["established"].clone()),
        (json!(2), json!(2))
    );
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian's chromium-driver; ./scripts/test installs it)");
    wait_until("chromedriver listening", WAIT, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    Driver { child, port }
}

#[test]
fn a_browser_clicks_from_the_neighbor_list_to_a_neighbors_refused_routes() {
    let x = exchange();
    let base = format!("http://127.0.0.1:{}", x.ex.spec.http);
    let driver = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let png = rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--window-size=1200,800",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let c = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("a chromium session");
        c.goto(&format!("{base}/lg/neighbors")).await.unwrap();
        let row = c.find(Locator::Css("#neighbor-bob")).await.unwrap();
        let row_text = row.text().await.unwrap();
        assert!(row_text.contains("established"), "{row_text}");
        row.find(Locator::Css("a.neighbor"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert!(
            c.current_url()
                .await
                .unwrap()
                .path()
                .ends_with("/lg/neighbors/bob")
        );
        let session = c
            .find(Locator::Css("#session"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(session.contains(&BOB.to_string()), "{session}");
        c.find(Locator::Id("tab-refused"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let url = c.current_url().await.unwrap();
        assert_eq!(url.query(), Some("rib=refused"), "{url}");
        let table = c
            .find(Locator::Css("table.routes"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(table.contains("+1555123999"), "{table}");
        assert!(table.contains("not inside the blocks"), "{table}");
        assert!(
            !table.contains("+4930"),
            "accepted routes are not refused: {table}"
        );
        assert!(!table.contains("bob.home.example"), "hosts hidden: {table}");
        let footer = c
            .find(Locator::Id("freshness"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(footer.contains("as of raft index"), "{footer}");
        // The permalink is this very view.
        c.find(Locator::Id("permalink"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(c.current_url().await.unwrap(), url);
        let png = c.screenshot().await.unwrap();
        c.close().await.unwrap();
        png
    });
    assert!(png.starts_with(b"\x89PNG"), "a screenshot");
    if let Ok(path) = std::env::var("TRUNKLINE_LG_SCREENSHOT") {
        std::fs::write(path, &png).unwrap();
    }
}
