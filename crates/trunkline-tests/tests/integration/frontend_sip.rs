//! The SIP redirect server driven by the real `sipp` (Debian sip-tester,
//! installed by the test script) over UDP and TCP, plus raw requests for
//! the answers sipp's scenarios do not cover.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Node, free_port, http_get};

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/sipp/{name}.xml"))
}

/// Runs one call of a sipp scenario; true if it passed.
fn sipp(port: u16, scenario_name: &str, number: &str, transport: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("sipp")
        .current_dir(dir.path())
        .args([
            &format!("127.0.0.1:{port}"),
            "-sf",
            scenario(scenario_name).to_str().unwrap(),
            "-s",
            number,
            "-m",
            "1",
            "-t",
            transport,
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
            "-timeout",
            "10s",
            "-nostdin",
            "-trace_err",
        ])
        .output()
        .expect("sipp is installed (scripts/test installs sip-tester)");
    let errors = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("errors.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    (
        out.status.success(),
        format!(
            "{}\n{}\n{errors}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// One UDP request, its answer.
fn raw(port: u16, text: &str) -> Option<String> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    s.send_to(text.as_bytes(), ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 8192];
    let n = s.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn request(method: &str, uri: &str) -> String {
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{method}\r\nFrom: <sip:t@x>;tag=1\r\nTo: <{uri}>\r\nCall-ID: raw-{method}@x\r\nCSeq: 7 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn sip_redirects_with_sipp_and_answers_every_method() {
    let port = free_port();
    let node = Node::start_with(
        &format!(
            "[sip]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\n\n[[route]]\nprefix = \"+1555123\"\nnext_hops = [\n  {{ uri = \"sip:{{e164}}@pbx.example\", priority = 10, weight = 100 }},\n  {{ uri = \"sip:{{e164}}@backup.example\", priority = 20, weight = 100 }},\n]\n"
        ),
        "",
    );
    for transport in ["u1", "t1"] {
        let (ok, out) = sipp(port, "redirect", "+15551234567", transport);
        assert!(ok, "redirect over {transport}:\n{out}");
        let (ok, out) = sipp(port, "notfound", "+4930123", transport);
        assert!(ok, "not found over {transport}:\n{out}");
    }

    let r = raw(port, &request("INVITE", "sip:+15551234567@t.example")).unwrap();
    assert!(r.starts_with("SIP/2.0 302 Moved Temporarily\r\n"), "{r}");
    assert!(
        r.contains("Contact: <sip:+15551234567@pbx.example>;q=1.0\r\n"),
        "{r}"
    );
    assert!(
        r.contains("Contact: <sip:+15551234567@backup.example>;q=0.9\r\n"),
        "{r}"
    );
    assert!(
        r.contains("CSeq: 7 INVITE\r\n") && r.contains("To: <sip:+15551234567@t.example>;tag="),
        "{r}"
    );
    let r = raw(port, &request("INVITE", "tel:+15551234567")).unwrap();
    assert!(r.starts_with("SIP/2.0 302"), "{r}");
    let r = raw(port, &request("OPTIONS", "sip:t.example")).unwrap();
    assert!(
        r.starts_with("SIP/2.0 200 OK\r\n") && r.contains("Allow: INVITE, ACK, CANCEL, OPTIONS"),
        "{r}"
    );
    let r = raw(port, &request("BYE", "sip:x@t.example")).unwrap();
    assert!(r.starts_with("SIP/2.0 405 Method Not Allowed\r\n"), "{r}");
    let r = raw(port, &request("INVITE", "sip:+1555x@t.example")).unwrap();
    assert!(r.starts_with("SIP/2.0 400 Bad Request"), "{r}");
    let r = raw(port, &request("INVITE", "sip:t.example")).unwrap();
    assert!(r.starts_with("SIP/2.0 400 Bad Request - no number"), "{r}");
    assert!(
        raw(port, &request("ACK", "sip:+15551234567@t.example")).is_none(),
        "no answer to ACK"
    );
    // Malformed: answered 400 when the headers are there, dropped when not;
    // the node keeps running either way.
    let bad = request("INVITE", "sip:+1@t").replace("SIP/2.0\r\nVia", "SIP/2.1\r\nVia");
    assert!(
        raw(port, &bad)
            .unwrap()
            .starts_with("SIP/2.0 400 Bad Request - version")
    );
    assert!(raw(port, "\u{0}\u{1}garbage").is_none());
    assert!(raw(port, &request("OPTIONS", "sip:t.example")).is_some());

    let (_, metrics) = http_get(node.spec.http, "/metrics").unwrap();
    assert!(
        metrics.contains("trunkline_frontend_queries_total{frontend=\"sip\",result=\"hit\"}"),
        "{metrics}"
    );
}
