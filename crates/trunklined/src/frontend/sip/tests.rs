use super::*;

const INVITE: &str = "INVITE sip:+15551234567@trunkline.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n\
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1\r\n\
Max-Forwards: 70\r\n\
To: <sip:+15551234567@trunkline.example>\r\n\
From: Alice <sip:alice@pbx.example>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@10.0.0.1>\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn a_request_parses_with_compact_and_folded_headers() {
    let r = parse(INVITE).unwrap();
    assert_eq!(r.method, "INVITE");
    assert_eq!(r.all("via").count(), 2);
    let compact = "OPTIONS sip:x@y SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bKa\r\nf: <sip:a@b>;tag=1\r\nt: <sip:x@y>\r\ni: abc\r\nCSeq: 1\r\n OPTIONS\r\n\r\n";
    let r = parse(compact).unwrap();
    assert_eq!(r.one("call-id"), Some("abc"));
    assert_eq!(r.one("cseq"), Some("1 OPTIONS"));
}

#[test]
fn malformed_requests_say_why() {
    let cases = [
        ("", "bad request line"),
        ("INVITE sip:x@y SIP/3.0\r\n\r\n", "version"),
        ("invite sip:x@y SIP/2.0\r\n\r\n", "method"),
        (
            "INVITE sip:x@y SIP/2.0\r\nVia SIP/2.0/UDP h\r\n\r\n",
            "without ':'",
        ),
        (
            "INVITE sip:x@y SIP/2.0\r\nVia: a\r\nFrom: b\r\nTo: c\r\nCSeq: 1 INVITE\r\n\r\n",
            "no call-id",
        ),
        (
            "INVITE sip:x@y SIP/2.0\r\nVia: a\r\nFrom: b\r\nTo: c\r\nCall-ID: d\r\nCSeq: 1 BYE\r\n\r\n",
            "CSeq",
        ),
        (" x\r\n\r\n", "bad request line"),
    ];
    for (text, want) in cases {
        let err = parse(text).unwrap_err();
        assert!(err.contains(want), "{text:?}: {err}");
    }
}

#[test]
fn the_number_comes_from_the_request_uri() {
    let d = |uri| dialed(uri);
    assert_eq!(
        d("sip:+15551234567@x.example;user=phone").as_deref(),
        Some("+15551234567")
    );
    assert_eq!(d("sips:+4930@x").as_deref(), Some("+4930"));
    assert_eq!(
        d("tel:+15551234567;phone-context=x").as_deref(),
        Some("+15551234567")
    );
    assert_eq!(d("sip:%2B4930@x").as_deref(), Some("+4930"));
    assert_eq!(d("sip:%2@x"), None);
    assert_eq!(d("sip:x.example"), None);
    assert_eq!(d("http://x"), None);
    assert!(redirectable("sip:+1@pbx") && redirectable("TEL:+1"));
    assert!(!redirectable("iax2:guest@pbx/1") && !redirectable("sip:a>b@c"));
}

#[test]
fn responses_copy_the_transaction_headers_and_add_a_to_tag() {
    let r = parse(INVITE).unwrap();
    let text = response(&r, 404, "Not Found", &[]);
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines[0], "SIP/2.0 404 Not Found");
    assert_eq!(
        lines[1],
        "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds"
    );
    assert_eq!(lines[2], "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1");
    assert_eq!(
        lines[3],
        "From: Alice <sip:alice@pbx.example>;tag=1928301774"
    );
    assert!(lines[4].starts_with("To: <sip:+15551234567@trunkline.example>;tag="));
    assert_eq!(lines[5], "Call-ID: a84b4c76e66710@pc33.example");
    assert_eq!(lines[6], "CSeq: 314159 INVITE");
    assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
    // A retransmission gets the same tag.
    assert_eq!(text, response(&r, 404, "Not Found", &[]));
}

#[test]
fn a_bad_request_is_answered_only_when_it_can_be() {
    let no_version = INVITE.replace("SIP/2.0\r\nVia", "SIP/9.9\r\nVia");
    assert!(lenient(&no_version).is_some());
    assert!(lenient("INVITE x SIP/2.0\r\nFrom: a\r\n\r\n").is_none());
    // Without a CSeq, the client can still be told: the 400 names the
    // request line's method.
    let no_cseq: String = INVITE
        .split("\r\n")
        .filter(|l| !l.starts_with("CSeq"))
        .collect::<Vec<_>>()
        .join("\r\n");
    assert!(parse(&no_cseq).unwrap_err().contains("no cseq"));
    let r = lenient(&no_cseq).unwrap();
    assert!(response(&r, 400, "Bad Request", &[]).contains("\r\nCSeq: 0 INVITE\r\n"));
}

/// Byte edits of a valid request: (position, byte, replace/insert/delete).
fn mutate(base: &str, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut b = base.as_bytes().to_vec();
    for &(at, byte, op) in edits {
        let at = at % (b.len() + 1);
        match op {
            0 if at < b.len() => b[at] = byte,
            1 => b.insert(at, byte),
            _ if at < b.len() => {
                b.remove(at);
            }
            _ => {}
        }
    }
    b
}

/// What the server does with a datagram, minus the store: parse, or fall
/// back to answering 400; every answer must be one well-formed message.
fn answer_shape(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let head = text.split("\r\n\r\n").next().unwrap_or(&text);
    let mut req = match parse(head) {
        Ok(req) => req,
        Err(_) => match lenient(head) {
            Some(req) => req,
            None => return,
        },
    };
    req.stamp_source("192.0.2.1:5060".parse().unwrap());
    let r = response(&req, 400, "Bad Request", &[]);
    assert!(r.starts_with("SIP/2.0 400 Bad Request\r\n"), "{r:?}");
    let head = r
        .strip_suffix("\r\n\r\n")
        .unwrap_or_else(|| panic!("{r:?}"));
    for line in head.split("\r\n") {
        // No bare CR or LF echoed from the request: they would split or
        // corrupt the answer's headers.
        assert!(!line.contains(['\r', '\n']), "{r:?}");
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_are_answered_well_formed_or_not_at_all(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)
    ) {
        answer_shape(&bytes);
    }

    #[test]
    fn mutated_invites_are_answered_well_formed_or_not_at_all(
        edits in proptest::collection::vec((0usize..2000, proptest::prelude::any::<u8>(), 0u8..3), 1..12)
    ) {
        answer_shape(&mutate(INVITE, &edits));
    }
}
