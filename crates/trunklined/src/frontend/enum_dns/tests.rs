use std::sync::Arc;

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use trunkline_core::{Attrs, NextHop, Plans, Route, RouteTable, Source, Validation};

use super::*;

fn plans() -> Plans {
    Plans::with_private([("npstn", 7)]).unwrap()
}

fn zones() -> Zones {
    let cfg = DnsSection {
        zones: vec![
            ZoneSection {
                name: "e164.arpa.".into(),
                plan: "e164".into(),
            },
            ZoneSection {
                name: "npstn.example.".into(),
                plan: "npstn".into(),
            },
        ],
        ..DnsSection::default()
    };
    cfg.resolve(&plans()).unwrap()
}

fn view() -> View {
    let plans = plans();
    let mut table = RouteTable::new();
    let route = |source: Source, lp: u32, hops: &[(&str, u32, u32)]| Route {
        attrs: Arc::new(Attrs {
            source,
            next_hops: hops
                .iter()
                .map(|(u, p, w)| NextHop::new(u, *p, *w).unwrap())
                .collect(),
            path: vec![],
            local_pref: lp,
            med: 0,
            communities: vec![],
            validation: Validation::NotFound,
            reject_not_found: false,
            local_from: None,
        }),
        installed_at: 1,
        stale: false,
    };
    table.upsert(
        &plans.parse_prefix("+1555123").unwrap(),
        route(
            Source::Api,
            200,
            // In the order to try them, as every route's are.
            &[
                ("sip:{e164}@b.example", 10, 100),
                ("sip:{e164}@a.example", 10, 50),
                ("iax2:guest@c.example/{digits}", 20, 100),
            ],
        ),
    );
    table.upsert(
        &plans.parse_prefix("+1555123").unwrap(),
        route(
            Source::Config { node: 1 },
            100,
            &[("sip:!{local}@d.example", 10, 100)],
        ),
    );
    table.upsert(
        &plans.parse_prefix("npstn:55").unwrap(),
        route(Source::Api, 100, &[("sip:{digits}@npstn.example", 10, 100)]),
    );
    View {
        table,
        ..View::default()
    }
}

fn query(name: &str, t: RecordType) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    m
}

fn ask(m: &Message) -> (Message, Outcome) {
    zones().respond(m, &view(), &plans()).unwrap()
}

fn naptrs(m: &Message) -> Vec<(u16, u16, String, String)> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::NAPTR(n) => Some((
                n.order,
                n.preference,
                String::from_utf8_lossy(&n.services).into_owned(),
                String::from_utf8_lossy(&n.regexp).into_owned(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn naptr_records_follow_the_routes_in_order() {
    let (r, outcome) = ask(&query(
        "7.6.5.4.3.2.1.5.5.5.1.e164.arpa.",
        RecordType::NAPTR,
    ));
    assert_eq!(outcome, Outcome::Hit);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    assert_eq!(
        naptrs(&r),
        [
            (
                100,
                10,
                "E2U+sip".into(),
                "!^.*$!sip:+15551234567@b.example!".into()
            ),
            (
                100,
                20,
                "E2U+sip".into(),
                "!^.*$!sip:+15551234567@a.example!".into()
            ),
            (
                110,
                10,
                "E2U+iax2".into(),
                "!^.*$!iax2:guest@c.example/15551234567!".into()
            ),
            // The alternate route; its URI holds '!', so another delimiter.
            (
                120,
                10,
                "E2U+sip".into(),
                "|^.*$|sip:!4567@d.example|".into()
            ),
        ]
    );
    assert!(r.answers.iter().all(|a| a.ttl == 60));
}

#[test]
fn a_private_plan_has_its_own_zone() {
    let (r, outcome) = ask(&query("3.2.1.5.5.npstn.example.", RecordType::NAPTR));
    assert_eq!(outcome, Outcome::Hit);
    assert_eq!(naptrs(&r)[0].3, "!^.*$!sip:55123@npstn.example!");
    // Longer than the plan allows.
    let (r, _) = ask(&query(
        "1.1.1.1.1.1.1.1.5.5.npstn.example.",
        RecordType::NAPTR,
    ));
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn the_apex_answers_soa_and_ns() {
    let (r, _) = ask(&query("e164.arpa.", RecordType::SOA));
    assert!(matches!(r.answers[0].data, RData::SOA(_)));
    let (r, _) = ask(&query("E164.ARPA.", RecordType::NS));
    assert!(matches!(&r.answers[0].data, RData::NS(ns) if ns.0.to_ascii() == "ns.e164.arpa."));
    let (r, outcome) = ask(&query("e164.arpa.", RecordType::NAPTR));
    assert_eq!(outcome, Outcome::NoData);
    assert!(r.answers.is_empty() && matches!(r.authorities[0].data, RData::SOA(_)));
}

#[test]
fn misses_refusals_and_errors() {
    let cases = [
        (
            query("9.9.9.4.4.e164.arpa.", RecordType::NAPTR),
            ResponseCode::NXDomain,
            Outcome::NxDomain,
        ),
        (
            query("x.1.e164.arpa.", RecordType::NAPTR),
            ResponseCode::NXDomain,
            Outcome::NxDomain,
        ),
        (
            query("12.1.e164.arpa.", RecordType::NAPTR),
            ResponseCode::NXDomain,
            Outcome::NxDomain,
        ),
        (
            query("7.6.5.4.3.2.1.5.5.5.1.e164.arpa.", RecordType::A),
            ResponseCode::NoError,
            Outcome::NoData,
        ),
        // Above +1555123: the name exists (routes are below it), so
        // NODATA, never NXDOMAIN (RFC 8020).
        (
            query("5.5.1.e164.arpa.", RecordType::NAPTR),
            ResponseCode::NoError,
            Outcome::NoData,
        ),
        // A wildcard label is no digit.
        (
            query("*.e164.arpa.", RecordType::NAPTR),
            ResponseCode::NXDomain,
            Outcome::NxDomain,
        ),
        (
            query("example.com.", RecordType::NAPTR),
            ResponseCode::Refused,
            Outcome::Refused,
        ),
        (
            query("arpa.", RecordType::SOA),
            ResponseCode::Refused,
            Outcome::Refused,
        ),
    ];
    for (q, code, outcome) in cases {
        let (r, o) = ask(&q);
        assert_eq!(
            (r.metadata.response_code, o),
            (code, outcome),
            "{:?}",
            q.queries
        );
        if code == ResponseCode::NXDomain {
            assert!(
                matches!(r.authorities[0].data, RData::SOA(_)),
                "negative answers carry the SOA"
            );
        }
    }
    let mut two = query("1.e164.arpa.", RecordType::NAPTR);
    two.add_query(Query::query(
        Name::from_ascii("2.e164.arpa.").unwrap(),
        RecordType::NAPTR,
    ));
    assert_eq!(ask(&two).1, Outcome::FormErr);
    let mut update = query("1.e164.arpa.", RecordType::NAPTR);
    update.metadata.op_code = OpCode::Update;
    assert_eq!(ask(&update).0.metadata.response_code, ResponseCode::NotImp);
    let mut v1 = query("1.e164.arpa.", RecordType::NAPTR);
    let mut edns = Edns::new();
    edns.set_version(1);
    v1.set_edns(edns);
    assert_eq!(ask(&v1).0.metadata.response_code, ResponseCode::BADVERS);
    let mut resp = query("1.e164.arpa.", RecordType::NAPTR);
    resp.metadata.message_type = MessageType::Response;
    assert!(
        zones().respond(&resp, &view(), &plans()).is_none(),
        "responses are not answered"
    );
}

#[test]
fn edns_is_answered_and_large_answers_truncate_over_udp() {
    let mut q = query("7.6.5.4.3.2.1.5.5.5.1.e164.arpa.", RecordType::NAPTR);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    q.set_edns(edns);
    let z = zones();
    let (r, _) = z.respond(&q, &view(), &plans()).unwrap();
    assert_eq!(r.edns.as_ref().unwrap().max_payload(), 1232);
    let full = z.encode(&r, None).unwrap();
    let cut = z.encode(&r, Some(100)).unwrap();
    assert!(full.len() > 100);
    let cut = Message::from_vec(&cut).unwrap();
    assert!(cut.metadata.truncation && cut.answers.is_empty());
}

#[test]
fn regexps_escape_and_pick_a_free_delimiter() {
    assert_eq!(regexp("sip:a@b").unwrap(), "!^.*$!sip:a@b!");
    assert_eq!(regexp("sip:a\\b@c!").unwrap(), "|^.*$|sip:a\\\\b@c!|");
    assert_eq!(regexp("sip:!|#%~`"), None);
}

#[test]
fn config_errors_name_the_field() {
    let bad = |z: &str, plan: &str| {
        DnsSection {
            zones: vec![ZoneSection {
                name: z.into(),
                plan: plan.into(),
            }],
            ..DnsSection::default()
        }
        .resolve(&plans())
        .unwrap_err()
        .to_string()
    };
    assert!(bad("e164.arpa", "e164").starts_with("dns.zones[0].name:"));
    assert!(bad("e164.arpa.", "hamshack").starts_with("dns.zones[0].plan:"));
}

/// Whatever parses as a DNS message gets an answer with its id, within the
/// UDP limit, or none; nothing panics.
fn answer_shape(bytes: &[u8]) {
    let Ok(req) = Message::from_vec(bytes) else {
        return;
    };
    let z = zones();
    if let Some((resp, _)) = z.respond(&req, &view(), &plans()) {
        assert_eq!(resp.metadata.id, req.metadata.id);
        if let Some(wire) = z.encode(&resp, Some(512)) {
            assert!(wire.len() <= 512, "{} bytes", wire.len());
        }
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_packets_never_panic(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)
    ) {
        answer_shape(&bytes);
    }

    #[test]
    fn mutated_queries_never_panic(
        edits in proptest::collection::vec((0usize..200, proptest::prelude::any::<u8>()), 1..8)
    ) {
        let mut q = query("7.6.5.4.3.2.1.5.5.5.1.e164.arpa.", RecordType::NAPTR);
        q.edns = Some(Default::default());
        let mut bytes = q.to_vec().unwrap();
        for (at, byte) in edits {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        answer_shape(&bytes);
    }
}

#[test]
fn a_rule_too_long_for_a_character_string_is_left_out() {
    let long = format!("sip:{}@x.example", "a".repeat(250));
    assert_eq!(regexp(&long), None);
    assert!(regexp("sip:+1@x.example").is_some());
}
