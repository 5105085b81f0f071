use std::sync::Arc;

use super::*;
use crate::route::{Attrs, Source};

fn route(source: Source, lp: u32, path: &[u32], med: u32, at: u64, v: Validation) -> Route {
    Route {
        attrs: Arc::new(Attrs {
            source,
            next_hops: vec![],
            path: path.to_vec(),
            local_pref: lp,
            med,
            communities: vec![],
            validation: v,
            reject_not_found: false,
            local_from: None,
        }),
        installed_at: at,
        stale: false,
    }
}

fn peer(itad: u32, name: &str) -> Source {
    Source::Peer {
        itad,
        name: name.into(),
    }
}

const NF: Validation = Validation::NotFound;

/// Each case: the better route, the worse one, and the step that decides.
#[test]
fn each_step_decides() {
    let base = || route(peer(65001, "a"), 100, &[65001], 0, 10, NF);
    let cases: Vec<(Route, Route, Step)> = vec![
        (
            base(),
            route(peer(65001, "a"), 200, &[65001], 0, 1, Validation::Invalid),
            Step::Validation,
        ),
        (
            route(peer(65002, "b"), 50, &[65002, 1, 2], 9, 99, NF),
            Route {
                stale: true,
                ..base()
            },
            Step::Fresh,
        ),
        (
            route(peer(65002, "b"), 50, &[65002, 1, 2], 9, 99, NF),
            {
                // Stale upstream: the sender said so.
                let mut r = base();
                Arc::make_mut(&mut r.attrs)
                    .communities
                    .push(crate::LargeCommunity::STALE);
                r
            },
            Step::Fresh,
        ),
        (
            route(peer(65002, "b"), 150, &[65002, 1, 2], 9, 99, NF),
            base(),
            Step::LocalPref,
        ),
        (
            route(Source::Api, 100, &[], 9, 99, NF),
            base(),
            Step::LocallyOriginated,
        ),
        (
            base(),
            route(peer(65000, "b"), 100, &[65000, 65001], 0, 1, NF),
            Step::PathLength,
        ),
        (
            base(),
            route(peer(65000, "b"), 100, &[65000], 5, 1, NF),
            Step::Med,
        ),
        (
            base(),
            route(peer(65000, "b"), 100, &[65000], 0, 11, NF),
            Step::AnnouncedEarlier,
        ),
        (
            base(),
            route(peer(65002, "a"), 100, &[65002], 0, 10, NF),
            Step::Peer,
        ),
        (
            base(),
            route(peer(65001, "b"), 100, &[65001], 0, 10, NF),
            Step::Peer,
        ),
        (
            route(Source::Api, 100, &[], 0, 10, NF),
            route(Source::Config { node: 1 }, 100, &[], 0, 10, NF),
            Step::Peer,
        ),
    ];
    for (i, (better, worse, step)) in cases.iter().enumerate() {
        assert_eq!(
            compare(better, worse),
            (Ordering::Less, Some(*step)),
            "case {i}"
        );
        assert_eq!(
            compare(worse, better),
            (Ordering::Greater, Some(*step)),
            "case {i}"
        );
        let mut ranked = vec![worse.clone(), better.clone()];
        rank(&mut ranked);
        assert_eq!(&ranked[0], better, "case {i}");
        let verdicts = explain(&ranked);
        assert_eq!(verdicts[0].lost_at, None);
        assert_eq!(verdicts[1].lost_at, Some(*step), "case {i}");
    }
}

#[test]
fn explain_names_reasons() {
    let mut ranked = vec![
        route(peer(65002, "b"), 90, &[65002], 0, 3, NF),
        route(peer(65001, "a"), 100, &[65001], 0, 5, NF),
        route(peer(65003, "c"), 100, &[65003], 0, 4, Validation::Invalid),
    ];
    rank(&mut ranked);
    let v = explain(&ranked);
    assert_eq!(ranked[0].attrs.source.name(), "a");
    assert_eq!(v[1].reason, "local preference 90 < 100");
    assert_eq!(v[2].lost_at, Some(Step::Validation));
}
