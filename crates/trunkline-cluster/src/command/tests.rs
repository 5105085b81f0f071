use super::*;

fn plans() -> Plans {
    Plans::with_private([("npstn", 7)]).unwrap()
}

fn sample(plans: &Plans) -> Vec<Proposal> {
    let trunk = Arc::new(Attrs {
        source: Source::Api,
        next_hops: vec![NextHop::new("sip:{e164}@pbx.example.org", 10, 100).unwrap()],
        path: vec![],
        local_pref: 100,
        med: 0,
        communities: vec![LargeCommunity(4200000001, 1, 2)],
        validation: Validation::NotFound,
        reject_not_found: false,
        local_from: None,
    });
    let peer = Arc::new(Attrs {
        source: Source::Peer {
            itad: 4200000002,
            name: "club".into(),
        },
        path: vec![4200000002, 4200000003],
        validation: Validation::Invalid,
        // A peer whose policy rejects not-found: the flag round-trips.
        reject_not_found: true,
        local_from: None,
        ..(*trunk).clone()
    });
    let p = |s: &str| plans.parse_prefix(s).unwrap();
    vec![
        Proposal {
            origin: Origin { node: 1, token: 7 },
            request_id: "req-1".into(),
            command: Command::Announce(vec![
                (p("+1555123"), trunk.clone()),
                (p("+1555124"), trunk.clone()),
                (p("npstn:55"), peer.clone()),
                (p("e164:"), trunk.clone()),
            ]),
        },
        Proposal {
            origin: Origin { node: 2, token: 8 },
            request_id: String::new(),
            command: Command::Withdraw {
                source: Source::Api,
                prefixes: vec![p("+1555123"), p("npstn:")],
            },
        },
        Proposal {
            origin: Origin { node: 1, token: 9 },
            request_id: String::new(),
            command: Command::Replace {
                source: Source::Config { node: 3 },
                routes: vec![(p("+49"), peer.clone())],
            },
        },
        Proposal {
            origin: Origin { node: 1, token: 10 },
            request_id: String::new(),
            command: Command::Announce(vec![(
                p("+15551230"),
                Arc::new(Attrs {
                    local_from: Some(7),
                    ..(*trunk).clone()
                }),
            )]),
        },
    ]
    .into_iter()
    .chain(
        [
            Command::PeerSet {
                name: "club".into(),
                config: "itad = 4200000002\n".into(),
                origin: crate::peers::PeerOrigin::Api,
                itad: 4200000002,
            },
            Command::SessionUp {
                peer: "club".into(),
                node: 2,
                outbound: true,
            },
            Command::PeerRoutes {
                peer: "club".into(),
                epoch: 12,
                announce: vec![(p("npstn:56"), peer.clone())],
                withdraw: vec![p("npstn:57")],
                rejected: vec![
                    (p("+1"), "not allowed".into(), Some(peer.clone())),
                    (p("+2"), "unreadable".into(), None),
                ],
            },
            Command::EndOfRib {
                peer: "club".into(),
                epoch: 12,
                plan: p("npstn:").plan,
            },
            Command::SessionDown {
                peer: "club".into(),
                epoch: 12,
                graceful: true,
            },
            Command::SweepStale {
                peer: "club".into(),
            },
            Command::PeerDelete {
                name: "club".into(),
            },
        ]
        .into_iter()
        .enumerate()
        .map(|(i, command)| Proposal {
            origin: Origin {
                node: 3,
                token: i as u64,
            },
            request_id: String::new(),
            command,
        }),
    )
    .collect()
}

#[test]
fn batches_round_trip_and_share_attrs() {
    let plans = plans();
    let batch = sample(&plans);
    let data = encode_batch(&batch, &plans);
    let mut interner = AttrsInterner::default();
    let back = decode_batch(&data, &plans, &mut interner).unwrap();
    assert_eq!(back, batch);
    assert_eq!(interner.len(), 3);
}

/// An entry written by version 1 of the encoding (before `local_from` and
/// the attributes of refused routes) still decodes: old logs replay.
#[test]
fn version_1_entries_still_decode() {
    let plans = plans();
    let data = crate::codec::unhex(include_str!("../../tests/fixtures/batch_v1.hex"));
    let back = decode_batch(&data, &plans, &mut AttrsInterner::default()).unwrap();
    let Command::PeerRoutes { rejected, .. } = &back[5].command else {
        panic!("not the fixture's PeerRoutes: {:?}", back[5].command);
    };
    assert_eq!(
        rejected,
        &[(p_of(&plans, "+1"), "not allowed".into(), None)]
    );
    let Command::Announce(routes) = &back[0].command else {
        panic!("not an announce");
    };
    assert!(routes.iter().all(|(_, a)| a.local_from.is_none()));
}

fn p_of(plans: &Plans, s: &str) -> Prefix {
    plans.parse_prefix(s).unwrap()
}

#[test]
fn every_truncation_and_corruption_is_an_error_not_a_panic() {
    let plans = plans();
    let data = encode_batch(&sample(&plans), &plans);
    for n in 0..data.len() {
        assert!(decode_batch(&data[..n], &plans, &mut AttrsInterner::default()).is_err());
    }
    // Flip bytes with a fixed-seed xorshift; decoding may succeed or fail,
    // but never panics.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..20_000 {
        let mut d = data.clone();
        for _ in 0..3 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x % d.len() as u64) as usize;
            d[i] = (x >> 32) as u8;
        }
        let _ = decode_batch(&d, &plans, &mut AttrsInterner::default());
    }
}

#[test]
fn unknown_plans_are_refused() {
    let plans = plans();
    let data = encode_batch(&sample(&plans), &plans);
    let err = decode_batch(&data, &Plans::default(), &mut AttrsInterner::default()).unwrap_err();
    assert_eq!(err.to_string(), "unknown number plan \"npstn\"");
}
