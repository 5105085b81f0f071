use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::route::Validation;

fn route(source: u8, lp: u32) -> Route {
    Route {
        attrs: Arc::new(Attrs {
            source: if source == 0 {
                Source::Api
            } else {
                Source::Peer {
                    itad: u32::from(source),
                    name: format!("p{source}").into(),
                }
            },
            next_hops: vec![],
            path: vec![],
            local_pref: lp,
            med: 0,
            communities: vec![],
            validation: Validation::NotFound,
            reject_not_found: false,
            local_from: None,
        }),
        installed_at: 0,
        stale: false,
    }
}

fn prefix(plan: u8, d: &[u8]) -> Prefix {
    Prefix {
        plan: PlanId(plan),
        digits: Digits::from_values(d).unwrap(),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Upsert(u8, Vec<u8>, u8, u32),
    Remove(u8, Vec<u8>, u8),
    Compact,
    Snapshot,
    /// In one plan's rewrite: source `s`'s routes get local pref `lp`,
    /// or with `None` are removed.
    Rewrite(u8, u8, Option<u32>),
}

fn op() -> impl Strategy<Value = Op> {
    let digits = prop::collection::vec(0u8..3, 0..6);
    prop_oneof![
        6 => (0u8..2, digits.clone(), 0u8..3, 0u32..3).prop_map(|(p, d, s, lp)| Op::Upsert(p, d, s, lp)),
        3 => (0u8..2, digits, 0u8..3).prop_map(|(p, d, s)| Op::Remove(p, d, s)),
        1 => Just(Op::Compact),
        1 => Just(Op::Snapshot),
        1 => (0u8..2, 0u8..3, prop::option::of(0u32..3)).prop_map(|(p, s, lp)| Op::Rewrite(p, s, lp)),
    ]
}

/// The reference: (plan, digits) -> source -> local pref.
type Model = BTreeMap<(u8, Vec<u8>), BTreeMap<u8, u32>>;

fn check(t: &RouteTable, m: &Model, probes: &[(u8, Vec<u8>)]) -> Result<(), TestCaseError> {
    let count: usize = m.values().map(BTreeMap::len).sum();
    prop_assert_eq!(t.route_count(), count);
    prop_assert_eq!(t.prefix_count(), m.len());
    for (plan, q) in probes {
        let want = (0..=q.len())
            .rev()
            .find(|n| m.contains_key(&(*plan, q[..*n].to_vec())));
        let number = Number {
            plan: PlanId(*plan),
            digits: Digits::from_values(q).unwrap(),
        };
        let got = t.lookup(&number);
        prop_assert_eq!(got.map(|g| g.prefix.digits.len()), want);
        if let Some(g) = got {
            // Best first: highest local preference.
            let best = m[&(*plan, q[..g.prefix.digits.len()].to_vec())]
                .values()
                .max()
                .copied();
            prop_assert_eq!(Some(g.routes[0].attrs.local_pref), best);
            prop_assert_eq!(
                g.routes.len(),
                m[&(*plan, q[..g.prefix.digits.len()].to_vec())].len()
            );
        }
        let shorter: Vec<usize> = t
            .shorter(&prefix(*plan, q))
            .iter()
            .map(|(p, _)| p.digits.len())
            .collect();
        let want: Vec<usize> = (0..=q.len())
            .filter(|n| m.contains_key(&(*plan, q[..*n].to_vec())))
            .collect();
        prop_assert_eq!(shorter, want);
        let mut under = Vec::new();
        t.walk_longer(&prefix(*plan, q), &mut |p, _| {
            under.push(p.digits.as_slice().to_vec());
            true
        });
        let want: Vec<Vec<u8>> = m
            .keys()
            .filter(|(p, d)| p == plan && d.starts_with(q))
            .map(|(_, d)| d.clone())
            .collect();
        prop_assert_eq!(under, want);
    }
    // The batched lookup answers exactly as single lookups do.
    let numbers: Vec<Number> = probes
        .iter()
        .map(|(plan, q)| Number {
            plan: PlanId(*plan),
            digits: Digits::from_values(q).unwrap(),
        })
        .collect();
    let mut batch = vec![None; numbers.len()];
    t.lookup_batch(&numbers, |i, m| {
        batch[i] = m.map(|m| (m.prefix, m.routes.len()))
    });
    for (i, n) in numbers.iter().enumerate() {
        prop_assert_eq!(batch[i], t.lookup(n).map(|m| (m.prefix, m.routes.len())));
    }
    let mut all = Vec::new();
    t.walk_all(&mut |p, s| {
        all.push(((p.plan.0, p.digits.as_slice().to_vec()), s.len()));
        true
    });
    let want: Vec<((u8, Vec<u8>), usize)> = m.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    prop_assert_eq!(all, want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Random changes, merges and snapshots against a naive model; every
    /// snapshot keeps answering as it did when it was taken.
    #[test]
    fn matches_a_naive_model(ops in prop::collection::vec(op(), 0..150),
                             probes in prop::collection::vec((0u8..2, prop::collection::vec(0u8..3, 0..7)), 30)) {
        let mut t = RouteTable::new();
        let mut m = Model::new();
        let mut snapshots: Vec<(RouteTable, Model)> = Vec::new();
        for op in ops {
            match op {
                Op::Upsert(p, d, s, lp) => {
                    let old = t.upsert(&prefix(p, &d), route(s, lp));
                    let mold = m.entry((p, d)).or_default().insert(s, lp);
                    prop_assert_eq!(old.map(|r| r.attrs.local_pref), mold);
                }
                Op::Remove(p, d, s) => {
                    let src = route(s, 0).attrs.source.clone();
                    let old = t.remove(&prefix(p, &d), &src);
                    let key = (p, d);
                    let mold = m.get_mut(&key).and_then(|e| e.remove(&s));
                    if m.get(&key).is_some_and(BTreeMap::is_empty) {
                        m.remove(&key);
                    }
                    prop_assert_eq!(old.map(|r| r.attrs.local_pref), mold);
                }
                Op::Compact => t.compact(),
                Op::Snapshot => snapshots.push((t.clone(), m.clone())),
                Op::Rewrite(p, s, lp) => {
                    let source = route(s, 0).attrs.source.clone();
                    let changed = t.rewrite(PlanId(p), &mut |_, set| {
                        if !set.iter().any(|r| r.attrs.source == source) {
                            return None;
                        }
                        let mut routes: Vec<Route> = (set.iter())
                            .filter(|r| r.attrs.source != source)
                            .cloned()
                            .chain(lp.map(|lp| route(s, lp)))
                            .collect();
                        crate::select::rank(&mut routes);
                        Some((!routes.is_empty()).then(|| routes.into()))
                    });
                    let mut want = Vec::new();
                    for ((mp, d), sources) in m.iter_mut().filter(|((mp, _), _)| *mp == p) {
                        if let Some(old) = sources.get_mut(&s) {
                            want.push(prefix(*mp, d));
                            match lp {
                                Some(lp) => *old = lp,
                                None => {
                                    sources.remove(&s);
                                }
                            }
                        }
                    }
                    m.retain(|_, sources| !sources.is_empty());
                    prop_assert_eq!(changed, want);
                }
            }
        }
        check(&t, &m, &probes)?;
        for (st, sm) in &snapshots {
            check(st, sm, &probes)?;
        }
    }
}

#[test]
fn large_tables_merge_automatically() {
    let mut t = RouteTable::new();
    for i in 0..20_000u32 {
        let d: Vec<u8> = format!("{i:05}").bytes().map(|b| b - b'0').collect();
        t.upsert(&prefix(0, &d), route(0, 100));
    }
    assert!(t.plans[0].delta.len() < MIN_MERGE);
    assert_eq!(t.prefix_count(), 20_000);
    let n = Number {
        plan: PlanId(0),
        digits: Digits::from_values(&[1, 2, 3, 4, 5, 6]).unwrap(),
    };
    assert_eq!(t.lookup(&n).unwrap().prefix.digits.len(), 5);
}

/// A more specific prefix whose routes are all invalid (a hijack kept for
/// the record) does not hide the valid, less specific one; with no valid
/// route anywhere, the invalid match is what there is.
#[test]
fn invalid_more_specifics_do_not_hide_the_covering_route() {
    let invalid = |source| {
        let mut r = route(source, 100);
        Arc::make_mut(&mut r.attrs).validation = Validation::Invalid;
        r
    };
    let mut t = RouteTable::new();
    t.upsert(&prefix(0, &[1, 5, 5, 5]), route(0, 100));
    t.upsert(&prefix(0, &[1, 5, 5, 5, 1, 2, 3]), invalid(7));
    t.upsert(&prefix(0, &[4, 9]), invalid(7));
    let n = |d: &[u8]| Number {
        plan: PlanId(0),
        digits: Digits::from_values(d).unwrap(),
    };
    let m = t.lookup(&n(&[1, 5, 5, 5, 1, 2, 3, 4])).unwrap();
    assert_eq!(m.prefix, prefix(0, &[1, 5, 5, 5]));
    let mut batch = Vec::new();
    t.lookup_batch(&[n(&[1, 5, 5, 5, 1, 2, 3, 4]), n(&[4, 9, 3])], |i, m| {
        batch.push((i, m.map(|m| m.prefix)))
    });
    batch.sort_by_key(|(i, _)| *i);
    assert_eq!(batch[0].1, Some(prefix(0, &[1, 5, 5, 5])));
    assert_eq!(
        batch[1].1,
        Some(prefix(0, &[4, 9])),
        "only invalid: the match stays"
    );
}

#[test]
fn upsert_and_remove_say_when_the_best_route_changed() {
    let mut t = RouteTable::new();
    let px = prefix(0, &[4, 4]);
    // The first route is best; a worse one does not change that; a
    // better one does, and replacing it with a worse one again does.
    assert!(t.upsert_noting_best(&px, route(1, 100)).1);
    assert!(!t.upsert_noting_best(&px, route(2, 50)).1);
    assert!(t.upsert_noting_best(&px, route(3, 200)).1);
    assert!(t.upsert_noting_best(&px, route(3, 10)).1);
    // Removing a route that is not best changes nothing; the best does.
    assert_eq!(t.get(&px).unwrap()[0], route(1, 100));
    let src = |s: u8| route(s, 0).attrs.source.clone();
    assert!(!t.remove_noting_best(&px, &src(3)).unwrap().1);
    assert!(t.remove_noting_best(&px, &src(1)).unwrap().1);
    assert!(t.remove_noting_best(&px, &src(1)).is_none());
    assert!(t.remove_noting_best(&px, &src(2)).unwrap().1);
    assert!(t.get(&px).is_none());
}
