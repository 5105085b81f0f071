//! ENUM over DNS asked with the real `dig` (Debian bind9-dnsutils,
//! installed by the test script): NAPTR, SOA, NS, NXDOMAIN, REFUSED, TCP,
//! EDNS and truncation, a private plan's zone, and a withdrawal seen
//! through DNS.

use std::process::Command;

use crate::harness::{Node, free_port, http_get, wait_until};

fn dig(port: u16, args: &[&str]) -> String {
    let out = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+norec",
            "+time=2",
            "+tries=1",
        ])
        .args(args)
        .output()
        .expect("dig is installed (scripts/test installs bind9-dnsutils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hops(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{ uri = \"sip:{{e164}}@gateway-number-{i:02}.a-rather-long-domain-name.example\", priority = {}, weight = 100 }}",
                10 + i
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn enum_answers_dig() {
    let port = free_port();
    let node = Node::start_with(
        &format!(
            r#"[dns]
enabled = true
listen = "127.0.0.1:{port}"
zones = [{{ name = "e164.arpa.", plan = "e164" }}, {{ name = "npstn.example.", plan = "npstn" }}]
ttl = 30

[[plan]]
name = "npstn"
max_digits = 7

[[route]]
prefix = "+1555123"
next_hops = [
  {{ uri = "sip:{{e164}}@pbx.example", priority = 10, weight = 100 }},
  {{ uri = "iax2:guest@backup.example/{{digits}}", priority = 20, weight = 100 }},
]

[[route]]
prefix = "npstn:55"
via = ["sip:{{digits}}@npstn-pbx.example"]

[[route]]
prefix = "+4930"
next_hops = [{}]
"#,
            hops(16)
        ),
        "",
    );
    let name = "7.6.5.4.3.2.1.5.5.5.1.e164.arpa.";

    let short = dig(port, &["NAPTR", name, "+short"]);
    let lines: Vec<&str> = short.lines().collect();
    assert_eq!(
        lines,
        [
            r#"100 10 "u" "E2U+sip" "!^.*$!sip:+15551234567@pbx.example!" ."#,
            r#"110 10 "u" "E2U+iax2" "!^.*$!iax2:guest@backup.example/15551234567!" ."#,
        ],
        "{short}"
    );
    let full = dig(port, &["NAPTR", name]);
    assert!(full.contains("status: NOERROR"), "{full}");
    assert!(full.contains(" aa"), "authoritative: {full}");
    assert!(
        full.contains(" 30 IN\tNAPTR"),
        "TTL from the config: {full}"
    );

    let soa = dig(port, &["SOA", "e164.arpa.", "+short"]);
    assert!(
        soa.starts_with("ns.e164.arpa. hostmaster.e164.arpa. "),
        "{soa}"
    );
    assert_eq!(
        dig(port, &["NS", "e164.arpa.", "+short"]).trim(),
        "ns.e164.arpa."
    );

    let miss = dig(port, &["NAPTR", "9.9.9.4.4.e164.arpa."]);
    assert!(miss.contains("status: NXDOMAIN"), "{miss}");
    assert!(
        miss.contains("IN\tSOA"),
        "negative answers carry the SOA: {miss}"
    );
    let nodata = dig(port, &["A", name]);
    assert!(
        nodata.contains("status: NOERROR") && nodata.contains("ANSWER: 0"),
        "{nodata}"
    );
    let refused = dig(port, &["NAPTR", "example.com."]);
    assert!(refused.contains("status: REFUSED"), "{refused}");

    let tcp = dig(port, &["+tcp", "NAPTR", name, "+short"]);
    assert_eq!(tcp.lines().count(), 2, "{tcp}");
    let edns = dig(port, &["+bufsize=4096", "NAPTR", name]);
    assert!(
        edns.contains("EDNS: version: 0") && edns.contains("udp: 1232"),
        "{edns}"
    );

    // 16 long next hops do not fit 512 bytes: truncated over UDP, whole
    // over TCP (dig retries by itself).
    let big = "0.3.9.4.e164.arpa.";
    let cut = dig(port, &["+noedns", "+ignore", "NAPTR", big]);
    assert!(cut.contains(" tc"), "{cut}");
    let whole = dig(port, &["+noedns", "NAPTR", big, "+short"]);
    assert_eq!(whole.lines().count(), 16, "{whole}");

    let private = dig(port, &["NAPTR", "3.2.1.5.5.npstn.example.", "+short"]);
    assert_eq!(
        private.trim(),
        r#"100 10 "u" "E2U+sip" "!^.*$!sip:55123@npstn-pbx.example!" ."#
    );

    // The same query bytes (dig's differ: a fresh cookie each time) come
    // from the answer cache until the table changes: NXDOMAIN, then the
    // announced route, then NXDOMAIN again once withdrawn.
    let raw = |id: u16| {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        s.send_to(&naptr_query(id, "15559991111"), ("127.0.0.1", port))
            .unwrap();
        let mut buf = [0u8; 4096];
        let (n, _) = s.recv_from(&mut buf).expect("an answer");
        assert_eq!(buf[..2], id.to_be_bytes(), "the asker's ID");
        (
            buf[3] & 0x0f,
            String::from_utf8_lossy(&buf[..n]).into_owned(),
        )
    };
    for id in [1, 2] {
        assert_eq!(raw(id).0, 3, "NXDOMAIN before the announcement");
    }
    node.cli(&["announce", "+1555999", "--via", "sip:x@new.example"])
        .ok();
    let (rcode, text) = raw(3);
    assert!(rcode == 0 && text.contains("sip:x@new.example"), "{text}");
    assert!(raw(4).1.contains("sip:x@new.example"), "the same, cached");
    let fresh = "1.1.1.1.9.9.9.5.5.5.1.e164.arpa.";
    assert!(dig(port, &["NAPTR", fresh, "+short"]).contains("sip:x@new.example"));
    node.cli(&["withdraw", "+1555999"]).ok();
    wait_until(
        "the withdrawal in DNS",
        std::time::Duration::from_secs(5),
        || dig(port, &["NAPTR", fresh]).contains("status: NXDOMAIN"),
    );
    assert_eq!(raw(5).0, 3, "NXDOMAIN again, not the cached route");

    let (_, metrics) = http_get(node.spec.http, "/metrics").unwrap();
    assert!(
        metrics.contains("trunkline_frontend_queries_total{frontend=\"dns\",result=\"hit\"}"),
        "{metrics}"
    );
}

/// A NAPTR query for `number` (digits) in e164.arpa, with id `id`.
fn naptr_query(id: u16, number: &str) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for d in number.chars().rev() {
        q.push(1);
        q.push(d as u8);
    }
    for label in ["e164", "arpa"] {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 35, 0, 1]);
    q
}

/// Response-rate limiting: one address asking far above `rate_limit` gets
/// about that many answers a second, the rest are dropped and counted;
/// another address is still served.
#[test]
fn one_source_above_the_rate_limit_is_dropped_and_others_are_served() {
    use std::net::UdpSocket;
    let port = free_port();
    let node = Node::start_with(
        &format!(
            "[dns]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\nrate_limit = 20\n\n[[route]]\nprefix = \"+1555123\"\nvia = [\"sip:{{e164}}@pbx.example\"]\n"
        ),
        "",
    );
    let flood = UdpSocket::bind("127.0.0.1:0").unwrap();
    flood
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    for i in 0..300u16 {
        flood
            .send_to(&naptr_query(i, "15551234567"), ("127.0.0.1", port))
            .unwrap();
    }
    let mut answered = 0;
    let mut buf = [0u8; 4096];
    while flood.recv_from(&mut buf).is_ok() {
        answered += 1;
    }
    assert!(
        (15..=40).contains(&answered),
        "{answered} of 300 answered at 20/s"
    );
    let other = UdpSocket::bind("127.0.0.2:0").unwrap();
    other
        .set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    other
        .send_to(&naptr_query(7, "15551234567"), ("127.0.0.1", port))
        .unwrap();
    let (n, _) = other
        .recv_from(&mut buf)
        .expect("another address is served");
    assert!(n > 12 && buf[..2] == 7u16.to_be_bytes());
    let (_, metrics) = crate::harness::http_get(node.spec.http, "/metrics").unwrap();
    let dropped: u64 = metrics
        .lines()
        .find(|l| l.starts_with("trunkline_frontend_rate_limited_total{frontend=\"dns\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0);
    // Some of the burst may be lost before the server reads it.
    assert!(
        dropped >= 150 && dropped + answered <= 300,
        "{dropped} counted as dropped:\n{metrics}"
    );
}
