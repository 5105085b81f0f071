//! The SIP redirect server driven by the real `sipp` (Debian sip-tester,
//! installed by the test script) over UDP and TCP, plus raw requests for
//! the answers sipp's scenarios do not cover.

use crate::harness::{Node, free_port, http_get};
use crate::sipp;

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
        let (ok, out) = sipp::call(port, "redirect", "+15551234567", transport);
        assert!(ok, "redirect over {transport}:\n{out}");
        let (ok, out) = sipp::call(port, "notfound", "+4930123", transport);
        assert!(ok, "not found over {transport}:\n{out}");
    }

    let ask = |method: &str, uri: &str| sipp::udp_exchange(port, &sipp::request(method, uri));
    let r = ask("INVITE", "sip:+15551234567@t.example").unwrap();
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
    // The request asked for rport (RFC 3581): filled in, with received.
    assert!(
        r.contains(";branch=z9hG4bK-INVITE;received=127.0.0.1;rport="),
        "{r}"
    );
    let r = ask("INVITE", "tel:+15551234567").unwrap();
    assert!(r.starts_with("SIP/2.0 302"), "{r}");
    let r = ask("INVITE", "sip:%2B15551234567@t.example").unwrap();
    assert!(r.starts_with("SIP/2.0 302"), "{r}");
    // A national form is well formed, only not routable: 404, not 400.
    let r = ask("INVITE", "sip:5551234567@t.example").unwrap();
    assert!(
        r.starts_with("SIP/2.0 404 Not Found - not in E.164 form"),
        "{r}"
    );
    let r = ask("OPTIONS", "sip:t.example").unwrap();
    assert!(
        r.starts_with("SIP/2.0 200 OK\r\n") && r.contains("Allow: INVITE, ACK, CANCEL, OPTIONS"),
        "{r}"
    );
    let r = ask("BYE", "sip:x@t.example").unwrap();
    assert!(r.starts_with("SIP/2.0 405 Method Not Allowed\r\n"), "{r}");
    let r = ask("INVITE", "sip:+1555x@t.example").unwrap();
    assert!(r.starts_with("SIP/2.0 400 Bad Request"), "{r}");
    let r = ask("INVITE", "sip:t.example").unwrap();
    assert!(r.starts_with("SIP/2.0 400 Bad Request - no number"), "{r}");
    assert!(
        ask("ACK", "sip:+15551234567@t.example").is_none(),
        "no answer to ACK"
    );
    // Malformed: answered 400 when the headers are there, dropped when not;
    // the node keeps running either way.
    let bad = sipp::request("INVITE", "sip:+1@t").replace("SIP/2.0\r\nVia", "SIP/2.1\r\nVia");
    assert!(
        sipp::udp_exchange(port, &bad)
            .unwrap()
            .starts_with("SIP/2.0 400 Bad Request - version")
    );
    assert!(sipp::udp_exchange(port, "\u{0}\u{1}garbage").is_none());
    // No CSeq: still answered, so the client is not left retransmitting.
    let no_cseq: String = sipp::request("INVITE", "sip:+15551234567@t")
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("cseq"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let r = sipp::udp_exchange(port, &no_cseq).unwrap();
    assert!(r.starts_with("SIP/2.0 400 Bad Request - no cseq"), "{r}");
    assert!(r.contains("\r\nCSeq: 0 INVITE\r\n"), "{r}");
    assert!(ask("OPTIONS", "sip:t.example").is_some());

    let (_, metrics) = http_get(node.spec.http, "/metrics").unwrap();
    assert!(
        metrics.contains("trunkline_frontend_queries_total{frontend=\"sip\",result=\"hit\"}"),
        "{metrics}"
    );
}
