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

    // Withdrawn: the same name is NXDOMAIN.
    node.cli(&["announce", "+1555999", "--via", "sip:x@new.example"])
        .ok();
    let fresh = "1.1.1.1.9.9.9.5.5.5.1.e164.arpa.";
    assert!(dig(port, &["NAPTR", fresh, "+short"]).contains("sip:x@new.example"));
    node.cli(&["withdraw", "+1555999"]).ok();
    wait_until(
        "the withdrawal in DNS",
        std::time::Duration::from_secs(5),
        || dig(port, &["NAPTR", fresh]).contains("status: NXDOMAIN"),
    );

    let (_, metrics) = http_get(node.spec.http, "/metrics").unwrap();
    assert!(
        metrics.contains("trunkline_frontend_queries_total{frontend=\"dns\",result=\"hit\"}"),
        "{metrics}"
    );
}
