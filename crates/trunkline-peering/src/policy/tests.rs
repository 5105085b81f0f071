use super::*;
use trunkline_core::Plans;

const ME: Itad = 4_200_000_000;
const ALICE: Itad = 4_200_000_101;
const BOB: Itad = 4_200_000_202;

fn p(s: &str) -> Prefix {
    Plans::default().parse_prefix(s).unwrap()
}

fn member() -> PeerPolicy {
    PeerPolicy {
        name: "alice".into(),
        itad: ALICE,
        role: Role::Member,
        allowed: vec![p("+1555123")],
        route_server: true,
        transparent: false,
        import: None,
        export: None,
        local_pref: 100,
        max_prefixes: None,
        reject_not_found: false,
    }
}

fn peer() -> PeerPolicy {
    PeerPolicy {
        name: "bob".into(),
        itad: BOB,
        role: Role::Peer,
        allowed: vec![],
        route_server: false,
        import: Some(Filter {
            terms: vec![Term {
                action: Some(Action::Accept),
                ..Term::default()
            }],
        }),
        ..member()
    }
}

fn announced(prefix: &str, path: &[Itad]) -> Announced {
    Announced {
        prefix: p(prefix),
        next_hops: vec![NextHop::new("sip:{e164}@pbx.example", 10, 100).unwrap()],
        path: path.to_vec(),
        med: 5,
        communities: vec![],
        local_from: None,
    }
}

#[test]
fn import_rules() {
    let mut no_policy = peer();
    no_policy.import = None;
    let mut rs_peer = peer();
    rs_peer.transparent = true;
    let mut filtered = peer();
    filtered.import = Some(Filter {
        terms: vec![
            Term {
                prefixes: vec![p("+49")],
                action: Some(Action::Reject),
                ..Term::default()
            },
            Term {
                prefixes: vec![p("+4"), p("+3")],
                max_len: Some(6),
                action: Some(Action::Accept),
                local_pref: Some(250),
                add_communities: vec![LargeCommunity(ME, 1, 1)],
                ..Term::default()
            },
        ],
    });
    let (member, peer) = (member(), peer());
    let mut no_hops = announced("+1555123", &[ALICE]);
    no_hops.next_hops.clear();
    let mut crowded = announced("+44", &[BOB]);
    crowded.communities = vec![LargeCommunity(BOB, 1, 1); 65];
    // (case, peer, route, expected)
    let cases: Vec<(&str, &PeerPolicy, Announced, Result<u32, Rejected>)> = vec![
        (
            "member block",
            &member,
            announced("+15551234", &[ALICE]),
            Ok(100),
        ),
        (
            "member exact block",
            &member,
            announced("+1555123", &[ALICE]),
            Ok(100),
        ),
        (
            "member outside its block",
            &member,
            announced("+1555124", &[ALICE]),
            Err(Rejected::NotAllowed),
        ),
        (
            "member shorter than its block",
            &member,
            announced("+1555", &[ALICE]),
            Err(Rejected::NotAllowed),
        ),
        (
            "member transit path",
            &member,
            announced("+1555123", &[ALICE, BOB]),
            Err(Rejected::MemberPath(vec![ALICE, BOB])),
        ),
        (
            "member foreign origin",
            &member,
            announced("+1555123", &[BOB]),
            Err(Rejected::MemberPath(vec![BOB])),
        ),
        (
            "empty path",
            &member,
            announced("+1555123", &[]),
            Err(Rejected::EmptyPath),
        ),
        (
            "loop",
            &peer,
            announced("+44", &[BOB, ME, 7]),
            Err(Rejected::Loop),
        ),
        (
            "long path",
            &peer,
            announced("+44", &[BOB; 65]),
            Err(Rejected::PathTooLong(65)),
        ),
        ("no next hops", &member, no_hops, Err(Rejected::NoNextHops)),
        (
            "too many communities",
            &peer,
            crowded,
            Err(Rejected::TooManyCommunities(65)),
        ),
        (
            "peer transit",
            &peer,
            announced("+44", &[BOB, 7, 8]),
            Ok(100),
        ),
        (
            "peer first ITAD",
            &peer,
            announced("+44", &[7, 8]),
            Err(Rejected::FirstItad {
                first: 7,
                peer: BOB,
            }),
        ),
        (
            "transparent peer",
            &rs_peer,
            announced("+44", &[7, 8]),
            Ok(100),
        ),
        (
            "peer without import policy",
            &no_policy,
            announced("+44", &[BOB]),
            Err(Rejected::NoImportPolicy),
        ),
        (
            "filter reject term",
            &filtered,
            announced("+4930", &[BOB]),
            Err(Rejected::Filtered),
        ),
        (
            "filter accept term sets local pref",
            &filtered,
            announced("+4420", &[BOB]),
            Ok(250),
        ),
        (
            "filter max length",
            &filtered,
            announced("+4420123", &[BOB]),
            Err(Rejected::Filtered),
        ),
        (
            "no term matches",
            &filtered,
            announced("+1", &[BOB]),
            Err(Rejected::Filtered),
        ),
    ];
    for (case, peer, route, want) in cases {
        let got = import(peer, ME, &route).map(|a| a.local_pref);
        assert_eq!(got, want, "{case}");
    }
    let a = import(&filtered, ME, &announced("+4420", &[BOB])).unwrap();
    assert_eq!(a.communities, vec![LargeCommunity(ME, 1, 1)]);
    assert_eq!(
        a.source,
        Source::Peer {
            itad: BOB,
            name: "bob".into()
        }
    );
}

fn route(source: Source, path: &[Itad]) -> Route {
    Route {
        attrs: Arc::new(Attrs {
            source,
            next_hops: vec![NextHop::new("sip:a@b", 10, 100).unwrap()],
            path: path.to_vec(),
            local_pref: 100,
            med: 7,
            communities: vec![LargeCommunity(1, 2, 3)],
            validation: Validation::NotFound,
            reject_not_found: false,
            local_from: None,
        }),
        installed_at: 1,
        stale: false,
    }
}

/// (case, to, prefix, best route, expected (path, med)).
type ExportCase = (
    &'static str,
    PeerPolicy,
    &'static str,
    Option<Route>,
    Option<(Vec<Itad>, u32)>,
);

#[test]
fn export_rules() {
    let from_alice = Source::Peer {
        itad: ALICE,
        name: "alice".into(),
    };
    let from_bob = Source::Peer {
        itad: BOB,
        name: "bob".into(),
    };
    let mut invalid = route(Source::Api, &[]);
    Arc::make_mut(&mut invalid.attrs).validation = Validation::Invalid;
    let mut only_plus1 = peer();
    only_plus1.export = Some(Filter {
        terms: vec![Term {
            prefixes: vec![p("+1")],
            action: Some(Action::Accept),
            ..Term::default()
        }],
    });
    // A peer session exports what its export filter accepts, and nothing
    // without one (RFC 8212); a member or route-server client gets every
    // best route.
    let mut peer_all = peer();
    peer_all.export = Some(Filter {
        terms: vec![Term {
            action: Some(Action::Accept),
            ..Term::default()
        }],
    });
    let mut rs_client = peer();
    rs_client.route_server = true;
    let peer = || peer_all.clone();
    let cases: Vec<ExportCase> = vec![
        ("nothing", peer(), "+1", None, None),
        (
            "a peer without an export policy gets nothing",
            super::tests::peer(),
            "+1",
            Some(route(Source::Api, &[])),
            None,
        ),
        (
            "a route-server client without one gets every best route",
            rs_client,
            "+1",
            Some(route(Source::Api, &[])),
            Some((vec![ME], 7)),
        ),
        (
            "local route to a peer",
            peer(),
            "+1",
            Some(route(Source::Api, &[])),
            Some((vec![ME], 7)),
        ),
        (
            "local route to a member (route server)",
            member(),
            "+1",
            Some(route(Source::Api, &[])),
            Some((vec![ME], 7)),
        ),
        (
            "member's route to another member",
            member(),
            "+1",
            Some(route(from_bob.clone(), &[BOB])),
            Some((vec![BOB], 7)),
        ),
        (
            "member's route back to it",
            member(),
            "+1",
            Some(route(from_alice.clone(), &[ALICE])),
            None,
        ),
        (
            "learned route to a peer is prepended",
            peer(),
            "+1",
            Some(route(from_alice.clone(), &[ALICE])),
            Some((vec![ME, ALICE], 0)),
        ),
        (
            "peer's ITAD on the path",
            peer(),
            "+1",
            Some(route(from_alice.clone(), &[ALICE, BOB])),
            None,
        ),
        (
            "back to the peer it came from",
            peer(),
            "+1",
            Some(route(from_bob, &[BOB])),
            None,
        ),
        ("invalid", peer(), "+1", Some(invalid), None),
        (
            "export filter passes",
            only_plus1.clone(),
            "+15",
            Some(route(Source::Api, &[])),
            Some((vec![ME], 7)),
        ),
        (
            "export filter stops",
            only_plus1,
            "+44",
            Some(route(Source::Api, &[])),
            None,
        ),
    ];
    for (case, to, prefix, best, want) in cases {
        let got = export(&to, ME, &p(prefix), best.as_ref()).map(|a| (a.path, a.med));
        assert_eq!(got, want, "{case}");
    }
    // A route kept stale through a graceful restart goes out saying so,
    // once, and a fresh one does not.
    let mut stale = route(from_alice, &[ALICE]);
    let marks = |r: &Route| {
        let sent = export(&peer(), ME, &p("+1"), Some(r)).unwrap().communities;
        sent.iter().filter(|c| **c == LargeCommunity::STALE).count()
    };
    assert_eq!(marks(&stale), 0);
    stale.stale = true;
    assert_eq!(marks(&stale), 1);
    Arc::make_mut(&mut stale.attrs)
        .communities
        .push(LargeCommunity::STALE);
    assert_eq!(marks(&stale), 1);
}
