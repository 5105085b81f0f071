//! `GET /v1/lookup/{number}` as Asterisk's `CURL()` would call it, with the
//! real `curl` (Debian package, installed by the test script).

use std::process::Command;

use crate::harness::{Node, http_get};

/// (status, body) from curl; an empty body is followed by the
/// `X-Trunkline-Reason` header (the dial format's errors).
fn curl(port: u16, path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "-w",
            "%header{x-trunkline-reason}\n%{http_code}",
            &format!("http://127.0.0.1:{port}{path}"),
        ])
        .output()
        .expect("curl is installed (scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.trim_end().to_owned())
}

#[test]
fn http_lookup_answers_json_and_dial_strings() {
    let node = Node::start_with(
        "[[route]]\nprefix = \"+1555123\"\nnext_hops = [\n  { uri = \"sip:{e164}@pbx.example:5070;transport=tcp\", priority = 10, weight = 100 },\n  { uri = \"iax2:guest@backup.example/{digits}\", priority = 20, weight = 100 },\n  { uri = \"sip:{local}@second.example\", priority = 30, weight = 100 },\n]\n",
        "",
    );
    let port = node.spec.http;

    let (code, body) = curl(port, "/v1/lookup/+15551234567");
    assert_eq!(code, 200, "{body}");
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["matched_prefix"], "+1555123");
    assert_eq!(
        j["next_hops"][0]["uri"],
        "sip:+15551234567@pbx.example:5070;transport=tcp"
    );
    assert_eq!(
        j["next_hops"][1]["uri"],
        "iax2:guest@backup.example/15551234567"
    );
    assert_eq!(j["next_hops"][2]["uri"], "sip:4567@second.example");
    assert_eq!(j["routes"][0]["source"], "config@1");
    // Each route as `trunkline lookup --json` shows it.
    let cli = node.cli(&["lookup", "+15551234567", "--json"]).json();
    for field in [
        "origin",
        "source",
        "peer_itad",
        "validation",
        "installed_at",
        "stale",
        "path",
        "local_pref",
    ] {
        assert_eq!(j["routes"][0][field], cli["routes"][0][field], "{field}");
    }
    assert_eq!(j["routes"][0]["origin"], "config");

    let dial = |q: &str| curl(port, &format!("/v1/lookup/+15551234567?format=dial&{q}"));
    assert_eq!(
        dial("tech=pjsip"),
        (
            200,
            "PJSIP/trunkline/sip:+15551234567@pbx.example:5070;transport=tcp".into()
        )
    );
    assert_eq!(
        dial("tech=pjsip&endpoint=upstream&index=2"),
        (200, "PJSIP/upstream/sip:4567@second.example".into())
    );
    assert_eq!(
        dial("tech=sip"),
        (200, "SIP/+15551234567@pbx.example:5070".into())
    );
    assert_eq!(
        dial("tech=iax2"),
        (200, "IAX2/guest@backup.example/15551234567".into())
    );
    let (code, why) = dial("tech=iax2&index=2");
    assert_eq!(code, 404, "{why}");
    assert!(why.contains("no next hop 2 for iax2"), "{why}");

    let (code, body) = curl(port, "/v1/lookup/+4930123");
    assert_eq!(code, 404);
    assert!(body.contains("no route for +4930123"), "{body}");
    for (path, want) in [
        ("/v1/lookup/+1555x", "letter"),
        ("/v1/lookup/+15551234567?format=xml", "format"),
        ("/v1/lookup/+15551234567?format=dial&tech=dahdi", "tech"),
        ("/v1/lookup/+15551234567?bogus=1", "unknown field"),
        ("/v1/lookup/+15551234567?format=dial&index=0", "index"),
    ] {
        let (code, body) = curl(port, path);
        assert_eq!(code, 400, "{path}: {body}");
        assert!(body.to_lowercase().contains(want), "{path}: {body}");
    }
    // A query the server cannot even read still gets the dial format's
    // empty body when a dial string was asked for: a dialplan tests "".
    let (code, text) = curl(port, "/v1/lookup/+15551234567?format=dial&index=abc");
    assert_eq!(code, 400);
    assert!(!text.starts_with('{') && text.contains("index"), "{text}");
    let (_, metrics) = http_get(port, "/metrics").unwrap();
    assert!(
        metrics.contains("trunkline_frontend_queries_total{frontend=\"http\",result=\"hit\"} 5"),
        "{metrics}"
    );
}
