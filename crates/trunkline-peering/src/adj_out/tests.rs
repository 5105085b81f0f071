use std::sync::Arc;

use trunkline_core::{NextHop, Plans, Route, Source};

use super::*;
use crate::policy::{Action, Filter, Role, Term, import};

const ME: Itad = 100;
const A: Itad = 101;
const B: Itad = 102;
const C: Itad = 103;
const CARRIED: &[PlanId] = &[PlanId::E164];

fn p(s: &str) -> Prefix {
    Plans::default().parse_prefix(s).unwrap()
}

fn open(name: &str, itad: Itad) -> PeerPolicy {
    let all = Filter {
        terms: vec![Term {
            action: Some(Action::Accept),
            ..Term::default()
        }],
    };
    PeerPolicy {
        name: name.into(),
        itad,
        role: Role::Peer,
        allowed: vec![],
        route_server: false,
        transparent: false,
        import: Some(all.clone()),
        export: Some(all),
        local_pref: 100,
        max_prefixes: None,
        reject_not_found: false,
    }
}

/// `ME`'s table holds `+1555` from A (path [A]) and from B (path [B, A]).
fn table() -> RouteTable {
    let mut t = RouteTable::new();
    learn(&mut t, "a", A, &[A], 1);
    learn(&mut t, "b", B, &[B, A], 2);
    t
}

fn learn(t: &mut RouteTable, name: &str, itad: Itad, path: &[Itad], at: u64) {
    let sent = Announced {
        prefix: p("+1555"),
        next_hops: vec![NextHop::new("sip:{e164}@a.example", 10, 100).unwrap()],
        path: path.to_vec(),
        med: 0,
        communities: vec![],
        local_from: None,
    };
    let attrs = import(&open(name, itad), ME, &sent).unwrap();
    t.upsert(
        &sent.prefix,
        Route {
            attrs: Arc::new(attrs),
            installed_at: at,
            stale: false,
        },
    );
}

fn forget(t: &mut RouteTable, name: &str, itad: Itad) {
    let source = Source::Peer {
        itad,
        name: name.into(),
    };
    t.remove(&p("+1555"), &source).unwrap();
}

/// The diff for peer C at `now`: the paths announced and the prefixes
/// withdrawn.
fn update(out: &mut AdjRibOut, t: &RouteTable, now: Millis) -> (Vec<Vec<Itad>>, usize) {
    let c = open("c", C);
    let mut diff = Diff::default();
    let at = Context {
        table: t,
        peer: &c,
        me: ME,
        now,
    };
    out.update(at, CARRIED, [p("+1555")], &mut diff);
    let paths = diff.announce.into_iter().map(|a| a.path).collect();
    (paths, diff.withdraw.len())
}

#[test]
fn without_a_hold_a_worse_route_replaces_at_once() {
    let mut t = table();
    let mut out = AdjRibOut::new(0);
    assert_eq!(update(&mut out, &t, 0), (vec![vec![ME, A]], 0));
    forget(&mut t, "a", A);
    assert_eq!(update(&mut out, &t, 10), (vec![vec![ME, B, A]], 0));
    assert_eq!(out.next_release(), None);
}

/// The clique's path exploration (found by `trunkline-sim run clique`):
/// with no MRAI, each ITAD announced every stale alternative in turn after
/// the origin withdrew, about 156 Updates per link at N = 40. With the
/// hold, the peer is sent a withdrawal, not the longer path.
#[test]
fn a_worse_route_is_withdrawn_at_once_and_sent_after_the_hold() {
    let mut t = table();
    let mut out = AdjRibOut::new(100);
    assert_eq!(update(&mut out, &t, 0), (vec![vec![ME, A]], 0));
    forget(&mut t, "a", A);
    assert_eq!(
        update(&mut out, &t, 10),
        (vec![], 1),
        "withdrawn, not replaced"
    );
    assert_eq!((out.held(), out.next_release()), (1, Some(110)));
    assert_eq!(update(&mut out, &t, 50), (vec![], 0), "still held");
    assert!(out.released(109).is_empty());
    assert_eq!(out.released(110), vec![p("+1555")]);
    assert_eq!(update(&mut out, &t, 110), (vec![vec![ME, B, A]], 0));
    assert_eq!(out.held(), 0);
}

#[test]
fn the_hold_ends_when_a_route_as_good_as_before_returns() {
    let mut t = table();
    let mut out = AdjRibOut::new(100);
    update(&mut out, &t, 0);
    forget(&mut t, "a", A);
    assert_eq!(update(&mut out, &t, 10), (vec![], 1));
    learn(&mut t, "a", A, &[A], 3);
    assert_eq!(update(&mut out, &t, 20), (vec![vec![ME, A]], 0), "at once");
    assert!(out.released(110).is_empty(), "nothing left to release");
    assert_eq!(update(&mut out, &t, 110), (vec![], 0));
}

#[test]
fn a_route_that_goes_away_while_held_is_not_withdrawn_twice() {
    let mut t = table();
    let mut out = AdjRibOut::new(100);
    update(&mut out, &t, 0);
    forget(&mut t, "a", A);
    assert_eq!(update(&mut out, &t, 10), (vec![], 1));
    forget(&mut t, "b", B);
    assert_eq!(update(&mut out, &t, 20), (vec![], 0));
    assert_eq!(out.released(110), vec![p("+1555")]);
    assert_eq!(update(&mut out, &t, 110), (vec![], 0));
}

#[test]
fn during_an_mrai_a_worse_route_is_flushed_with_a_hold_and_kept_without() {
    let c = open("c", C);
    let mut t = table();
    let mut out = AdjRibOut::new(100);
    update(&mut out, &t, 0);
    forget(&mut t, "a", A);
    let at = |t| Context {
        table: t,
        peer: &c,
        me: ME,
        now: 10,
    };
    let mut diff = Diff::default();
    let later = out.update_withdrawals(at(&t), CARRIED, [p("+1555")], &mut diff);
    assert_eq!((diff.withdraw.len(), later.len()), (1, 0), "ghost flushing");
    // Without a hold, the MRAI keeps the worse route and the peer keeps
    // the old one meanwhile (BGP).
    let mut t = table();
    let mut out = AdjRibOut::new(0);
    update(&mut out, &t, 0);
    forget(&mut t, "a", A);
    let mut diff = Diff::default();
    let later = out.update_withdrawals(at(&t), CARRIED, [p("+1555")], &mut diff);
    assert_eq!((diff.withdraw.len(), later.len()), (0, 1));
}
