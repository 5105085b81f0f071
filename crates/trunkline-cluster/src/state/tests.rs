//! The peer lifecycle in the replicated state: sessions fenced by epoch,
//! graceful restart's stale routes, End-of-RIB sweeps, rejections.

use std::sync::Arc;

use trunkline_core::{Attrs, NextHop, Plans, Prefix, Source, Validation};

use super::*;
use crate::command::{Command, Origin, Proposal, encode_batch};

struct Sm {
    sm: StateMachine,
    index: u64,
}

impl Sm {
    fn new() -> Sm {
        Sm {
            sm: StateMachine::new(Plans::default()),
            index: 1,
        }
    }

    /// Applies one command in its own entry; returns the entry's index.
    fn apply(&mut self, command: Command) -> u64 {
        self.index += 1;
        let data = encode_batch(
            &[Proposal {
                origin: Origin { node: 1, token: 0 },
                request_id: String::new(),
                command,
            }],
            self.sm.plans(),
        );
        self.sm.apply(self.index, 1, &data);
        self.index
    }

    /// (prefix, stale) of the peer's routes.
    fn routes(&self, peer: &str) -> Vec<(String, bool)> {
        let source = Source::Peer {
            itad: 7,
            name: peer.into(),
        };
        self.sm
            .routes_of(&source)
            .into_iter()
            .map(|(px, r)| (self.sm.plans().prefix_str(&px), r.stale))
            .collect()
    }
}

/// Applies one command in its own entry at `index`: its outcome.
pub(super) fn apply(sm: &mut StateMachine, index: u64, c: Command) -> Outcome {
    let data = encode_batch(
        &[Proposal {
            origin: Origin { node: 1, token: 0 },
            request_id: String::new(),
            command: c,
        }],
        sm.plans(),
    );
    sm.apply(index, 1, &data).remove(0).outcome
}

fn p(s: &str) -> Prefix {
    Plans::default().parse_prefix(s).unwrap()
}

fn attrs(peer: &str) -> Arc<Attrs> {
    Arc::new(Attrs {
        source: Source::Peer {
            itad: 7,
            name: peer.into(),
        },
        next_hops: vec![NextHop::new("sip:a@b", 10, 100).unwrap()],
        path: vec![7],
        local_pref: 100,
        med: 0,
        communities: vec![],
        validation: Validation::NotFound,
        reject_not_found: false,
        local_from: None,
    })
}

fn routes(peer: &str, epoch: u64, announce: &[&str], withdraw: &[&str]) -> Command {
    Command::PeerRoutes {
        peer: peer.into(),
        epoch,
        announce: announce.iter().map(|s| (p(s), attrs(peer))).collect(),
        withdraw: withdraw.iter().map(|s| p(s)).collect(),
        rejected: vec![],
    }
}

fn up(peer: &str) -> Command {
    Command::SessionUp {
        peer: peer.into(),
        node: 2,
        outbound: false,
    }
}

fn configured(sm: &mut Sm, peer: &str) {
    // A distinct ITAD per name.
    let itad = 4_200_000_000 + peer.bytes().map(u32::from).sum::<u32>();
    sm.apply(Command::PeerSet {
        name: peer.into(),
        config: format!("name = \"{peer}\"\n"),
        origin: crate::peers::PeerOrigin::Api,
        itad,
    });
}

/// No two peers share an ITAD, whichever path the write took: the rule is
/// kept at apply. Replacing a peer under its own name keeps its ITAD.
#[test]
fn peer_itads_are_unique_at_apply() {
    let mut sm = StateMachine::new(Plans::default());
    let set = |name: &str, itad: u32| Command::PeerSet {
        name: name.into(),
        config: String::new(),
        origin: crate::peers::PeerOrigin::Api,
        itad,
    };
    assert_eq!(
        apply(&mut sm, 2, set("bob", 7)),
        Outcome::Applied { changed: 1 }
    );
    assert_eq!(
        apply(&mut sm, 3, set("bob", 7)),
        Outcome::Applied { changed: 1 }
    );
    assert_eq!(
        apply(&mut sm, 4, set("carol", 7)),
        Outcome::Refused("peer[carol].itad: neighbor \"bob\" already has ITAD 7".into())
    );
    assert!(!sm.peers().configs.contains_key("carol"));
    // The rule survives a snapshot.
    let mut other = StateMachine::new(Plans::default());
    other.restore(&sm.snapshot()).unwrap();
    assert!(matches!(
        apply(&mut other, 5, set("dave", 7)),
        Outcome::Refused(_)
    ));
}

#[test]
fn a_session_needs_a_configured_peer() {
    let mut sm = Sm::new();
    let e = sm.apply(up("ghost"));
    sm.apply(routes("ghost", e, &["+44"], &[]));
    assert!(sm.routes("ghost").is_empty());
    assert!(sm.sm.peers().sessions.is_empty());
}

#[test]
fn routes_carry_the_current_epoch_or_are_ignored() {
    let mut sm = Sm::new();
    configured(&mut sm, "bob");
    let e1 = sm.apply(up("bob"));
    sm.apply(routes("bob", e1, &["+44", "+45"], &[]));
    sm.apply(routes("bob", e1, &[], &["+45"]));
    assert_eq!(sm.routes("bob"), [("+44".into(), false)]);
    // A second session (the peer reconnected to another node) fences the
    // first: its late updates change nothing.
    let e2 = sm.apply(up("bob"));
    sm.apply(routes("bob", e1, &["+46"], &[]));
    assert_eq!(sm.routes("bob"), [("+44".into(), true)]);
    sm.apply(routes("bob", e2, &["+44"], &[]));
    assert_eq!(sm.routes("bob"), [("+44".into(), false)]);
    // Routes in another peer's name are not taken from this session.
    sm.apply(Command::PeerRoutes {
        peer: "bob".into(),
        epoch: e2,
        announce: vec![(p("+47"), attrs("mallory"))],
        withdraw: vec![],
        rejected: vec![],
    });
    assert!(sm.routes("mallory").is_empty());
}

#[test]
fn graceful_restart_keeps_routes_stale_until_end_of_rib() {
    let mut sm = Sm::new();
    configured(&mut sm, "bob");
    let e1 = sm.apply(up("bob"));
    sm.apply(routes("bob", e1, &["+44", "+45", "+46"], &[]));
    sm.apply(Command::SessionDown {
        peer: "bob".into(),
        epoch: e1,
        graceful: true,
    });
    assert!(sm.routes("bob").iter().all(|(_, stale)| *stale));
    // Lookups still find stale routes.
    let n = Plans::default().parse_number("+4412345").unwrap();
    assert!(sm.sm.table().lookup(&n).is_some());
    let e2 = sm.apply(up("bob"));
    sm.apply(routes("bob", e2, &["+44", "+46"], &[]));
    sm.apply(Command::EndOfRib {
        peer: "bob".into(),
        epoch: e2,
        plan: p("+1").plan,
    });
    assert_eq!(
        sm.routes("bob"),
        [("+44".into(), false), ("+46".into(), false)]
    );
}

#[test]
fn the_restart_timer_sweeps_and_a_hard_close_drops_at_once() {
    let mut sm = Sm::new();
    configured(&mut sm, "bob");
    let e1 = sm.apply(up("bob"));
    sm.apply(routes("bob", e1, &["+44"], &[]));
    sm.apply(Command::SessionDown {
        peer: "bob".into(),
        epoch: e1,
        graceful: true,
    });
    sm.apply(Command::SweepStale { peer: "bob".into() });
    assert!(sm.routes("bob").is_empty());

    let e2 = sm.apply(up("bob"));
    sm.apply(routes("bob", e2, &["+44"], &[]));
    // A stale epoch's SessionDown does nothing.
    sm.apply(Command::SessionDown {
        peer: "bob".into(),
        epoch: e1,
        graceful: false,
    });
    assert_eq!(sm.routes("bob").len(), 1);
    sm.apply(Command::SessionDown {
        peer: "bob".into(),
        epoch: e2,
        graceful: false,
    });
    assert!(sm.routes("bob").is_empty());
    assert!(!sm.sm.peers().sessions["bob"].up);
}

#[test]
fn rejections_are_remembered_and_replace_accepted_routes() {
    let mut sm = Sm::new();
    configured(&mut sm, "bob");
    let e = sm.apply(up("bob"));
    sm.apply(routes("bob", e, &["+44"], &[]));
    sm.apply(Command::PeerRoutes {
        peer: "bob".into(),
        epoch: e,
        announce: vec![],
        withdraw: vec![],
        rejected: vec![(p("+44"), "filtered".into(), Some(attrs("bob")))],
    });
    assert!(sm.routes("bob").is_empty());
    let r = &sm.sm.peers().rejected["bob"][&p("+44")];
    assert_eq!(r.why, "filtered");
    assert_eq!(r.attrs.as_deref(), Some(&*attrs("bob")));
}

#[test]
fn deleting_a_peer_removes_everything_of_it() {
    let mut sm = Sm::new();
    configured(&mut sm, "bob");
    let e = sm.apply(up("bob"));
    sm.apply(routes("bob", e, &["+44", "+45"], &[]));
    sm.apply(Command::PeerDelete { name: "bob".into() });
    assert!(sm.routes("bob").is_empty());
    assert!(sm.sm.peers().configs.is_empty());
    assert!(sm.sm.peers().sessions.is_empty());
}

#[test]
fn peers_survive_a_snapshot_and_changes_are_reported() {
    let mut sm = Sm::new();
    configured(&mut sm, "bob");
    let e = sm.apply(up("bob"));
    sm.sm.take_changes();
    sm.apply(routes("bob", e, &["+44"], &[]));
    sm.apply(Command::PeerRoutes {
        peer: "bob".into(),
        epoch: e,
        announce: vec![],
        withdraw: vec![],
        rejected: vec![(p("+1555"), "not allowed".into(), Some(attrs("bob")))],
    });
    let changes = sm.sm.take_changes();
    assert_eq!(changes.prefixes, [p("+44")]);
    assert!(!changes.resync);

    let data = sm.sm.snapshot();
    let mut other = StateMachine::new(Plans::default());
    other.restore(&data).unwrap();
    assert_eq!(other.peers(), sm.sm.peers());
    assert_eq!(other.snapshot(), data);
    assert!(other.take_changes().resync);
}

/// A snapshot written before version 4 (no removed members, refused
/// routes without attributes) still restores.
#[test]
fn version_3_snapshots_still_restore() {
    let data = crate::codec::unhex(include_str!("../../tests/fixtures/snapshot_v3.hex"));
    let mut sm = StateMachine::new(Plans::default());
    sm.restore(&data).unwrap();
    assert!(sm.removed().is_empty());
    let source = Source::Peer {
        itad: 7,
        name: "bob".into(),
    };
    assert_eq!(sm.routes_of(&source).len(), 2);
    let r = &sm.peers().rejected["bob"][&p("+1555")];
    assert_eq!((r.why.as_str(), r.attrs.is_none()), ("not allowed", true));
}

/// Removed members are replicated state: they survive a snapshot, and a
/// node added again under the same id is no longer counted removed.
#[test]
fn removed_members_survive_a_snapshot() {
    use raft::prelude::{ConfChangeSingle, ConfChangeType, ConfChangeV2};
    let change = |kind, id| {
        let mut c = ConfChangeSingle::default();
        c.set_change_type(kind);
        c.node_id = id;
        let mut cc = ConfChangeV2::default();
        cc.mut_changes().push(c);
        cc
    };
    let mut sm = StateMachine::new(Plans::default());
    sm.apply_membership(
        5,
        1,
        &change(ConfChangeType::AddLearnerNode, 4),
        b"4 http://h:1\n",
    );
    sm.apply_membership(6, 1, &change(ConfChangeType::RemoveNode, 3), b"");
    assert_eq!(sm.removed().get(&3), Some(&6));
    let mut other = StateMachine::new(Plans::default());
    other.restore(&sm.snapshot()).unwrap();
    assert_eq!(other.removed(), sm.removed());
    assert_eq!(
        other.members().get(&4).map(String::as_str),
        Some("http://h:1")
    );
    sm.apply_membership(7, 1, &change(ConfChangeType::AddNode, 3), b"");
    assert!(sm.removed().is_empty());
}

/// A snapshot written before tokens (version 4, by the previous code)
/// still restores, with no tokens.
#[test]
fn version_4_snapshots_still_restore() {
    let data = crate::codec::unhex(include_str!("../../tests/fixtures/snapshot_v4.hex"));
    let mut sm = StateMachine::new(Plans::default());
    sm.restore(&data).unwrap();
    assert_eq!(sm.removed().get(&3), Some(&5));
    let source = Source::Peer {
        itad: 7,
        name: "bob".into(),
    };
    assert_eq!(sm.routes_of(&source).len(), 2);
    assert!(sm.view().load().tokens.by_id.is_empty());
}

/// Tokens are replicated state: a taken id and an unknown revocation are
/// refused at apply, and the set (hashes, scopes, expiry) survives a
/// snapshot.
#[test]
fn tokens_are_replicated_and_survive_a_snapshot() {
    use crate::tokens::{Role, Token};
    let mut s = Sm::new();
    let token = |name: &str| Token {
        name: name.into(),
        hash: [7; 32],
        role: Role::Write,
        prefixes: vec![p("+1555123")],
        created_at: 1_000,
        expires_at: 2_000,
    };
    let create = |id: &str, name: &str| Command::TokenCreate {
        id: id.into(),
        token: token(name),
    };
    let outcome = |s: &mut Sm, c: Command| {
        s.index += 1;
        let data = encode_batch(
            &[Proposal {
                origin: Origin { node: 1, token: 0 },
                request_id: String::new(),
                command: c,
            }],
            s.sm.plans(),
        );
        s.sm.apply(s.index, 1, &data).remove(0).outcome
    };
    assert_eq!(
        outcome(&mut s, create("a1", "ops")),
        Outcome::Applied { changed: 1 }
    );
    assert!(
        matches!(outcome(&mut s, create("a1", "again")), Outcome::Refused(w) if w.contains("exists"))
    );
    assert_eq!(
        outcome(&mut s, create("b2", "pbx")),
        Outcome::Applied { changed: 1 }
    );
    let revoke = |id: &str| Command::TokenRevoke { id: id.into() };
    assert!(matches!(outcome(&mut s, revoke("zz")), Outcome::Refused(w) if w.contains("no token")));
    assert_eq!(
        outcome(&mut s, revoke("b2")),
        Outcome::Applied { changed: 1 }
    );
    s.sm.publish();
    let tokens = s.sm.view().load().tokens.clone();
    assert_eq!(tokens.by_id.len(), 1);
    let t = &tokens.by_id["a1"];
    assert_eq!(t, &token("ops"));
    assert!(t.covers(&p("+15551234567")) && !t.covers(&p("+1555124")));
    assert!(!t.expired(1_999) && t.expired(2_000));
    let mut other = StateMachine::new(Plans::default());
    other.restore(&s.sm.snapshot()).unwrap();
    assert_eq!(other.view().load().tokens, tokens);

    // Version 5 (tokens, no authority) is version 7 without its last
    // parts: replicated time 0, no statements, no invites. It was once
    // refused by the magic check (found reading the codec for the fuzz
    // target).
    let v7 = s.sm.snapshot();
    assert!(v7.ends_with(&[0, 0, 0]));
    let mut v5 = v7[..v7.len() - 3].to_vec();
    v5[..8].copy_from_slice(b"TRKSNAP5");
    let mut old = StateMachine::new(Plans::default());
    old.restore(&v5).unwrap();
    assert_eq!(old.view().load().tokens, tokens);
}

/// Origin validation in the replicated state: a route's state is set at
/// apply from the statements that count at replicated time; publishing
/// a statement and the time passing its expiry validate again only the
/// routes under it; a snapshot keeps statements, time and states.
#[test]
fn routes_are_validated_against_replicated_authority_and_time() {
    use trunkline_authority::{Authorisation, Entry, Signed, Statement};
    use trunkline_core::{Digits, Validation};
    let (anchor, config) = anchored();
    let mut s = Sm {
        sm: StateMachine::with_authority(Plans::default(), config.clone()),
        index: 1,
    };
    let state = |s: &Sm, prefix: &str| {
        s.sm.table
            .get(&p(prefix))
            .unwrap()
            .iter()
            .next()
            .unwrap()
            .attrs
            .validation
    };
    s.apply(Command::Tick { unix_secs: 1_000 });
    s.apply(Command::Announce(vec![
        local_route("+1555123"),
        local_route("+4930"),
    ]));
    // Peer bob's route names ITAD 7 as its origin.
    configured(&mut s, "bob");
    let epoch = s.apply(up("bob"));
    s.apply(routes("bob", epoch, &["+15551239"], &[]));
    assert_eq!(state(&s, "+1555123"), Validation::NotFound);
    let auth = Signed::sign(
        Statement::Authorisation(Authorisation {
            serial: 1,
            plan: "e164".into(),
            origin: 4_200_000_001,
            entries: vec![Entry {
                prefix: Digits::from_ascii("1555").unwrap(),
                max_len: 11,
            }],
            not_before: 0,
            not_after: 2_000,
        }),
        &anchor,
    )
    .unwrap();
    s.apply(Command::AuthorityPublish {
        statement: auth.bytes.clone(),
    });
    assert_eq!(state(&s, "+1555123"), Validation::Valid);
    assert_eq!(
        state(&s, "+15551239"),
        Validation::Invalid,
        "ITAD 7 is not authorised"
    );
    assert_eq!(state(&s, "+4930"), Validation::NotFound);
    // Invalid routes are not selected.
    assert!(
        !s.sm
            .table
            .get(&p("+15551239"))
            .unwrap()
            .iter()
            .any(trunkline_core::select::is_eligible)
    );
    // A forged statement is refused at apply.
    let mut forged = auth.bytes.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let idx = s.index + 1;
    let data = encode_batch(
        &[Proposal {
            origin: Origin { node: 1, token: 0 },
            request_id: String::new(),
            command: Command::AuthorityPublish { statement: forged },
        }],
        s.sm.plans(),
    );
    assert!(matches!(
        s.sm.apply(idx, 1, &data)[0].outcome,
        Outcome::Refused(_)
    ));
    s.index = idx;
    // The snapshot keeps it all.
    let mut other = StateMachine::with_authority(Plans::default(), config);
    other.restore(&s.sm.snapshot()).unwrap();
    assert_eq!(other.authority.now(), 1_000);
    assert_eq!(other.authority.statements().count(), 1);
    // Replicated time passes the expiry: valid becomes not-found.
    s.apply(Command::Tick { unix_secs: 2_000 });
    assert_eq!(state(&s, "+1555123"), Validation::NotFound);
    assert_eq!(state(&s, "+15551239"), Validation::NotFound);
    // Time never goes back.
    s.apply(Command::Tick { unix_secs: 1_500 });
    assert_eq!(s.sm.authority.now(), 2_000);
}

/// An authorisation at a plan's root touches every route: the in-place
/// pass over the whole plan gives the same states as the per-prefix one.
#[test]
fn a_change_at_the_root_revalidates_the_whole_plan() {
    use trunkline_authority::{Authorisation, Entry, Signed, Statement};
    use trunkline_core::{Digits, Validation};
    let (anchor, config) = anchored();
    let mut s = Sm {
        sm: StateMachine::with_authority(Plans::default(), config),
        index: 1,
    };
    s.apply(Command::Tick { unix_secs: 10 });
    let many: Vec<_> = (0..300)
        .map(|i| local_route(&format!("+1555{i:03}")))
        .collect();
    s.apply(Command::Announce(many));
    s.sm.table.compact();
    s.apply(Command::Announce(vec![local_route("+4930")]));
    let root = Signed::sign(
        Statement::Authorisation(Authorisation {
            serial: 1,
            plan: "e164".into(),
            origin: 4_200_000_001,
            entries: vec![Entry {
                prefix: Digits::from_ascii("").unwrap(),
                max_len: 16,
            }],
            not_before: 0,
            not_after: 20,
        }),
        &anchor,
    )
    .unwrap();
    s.apply(Command::AuthorityPublish {
        statement: root.bytes,
    });
    let states = |s: &Sm| {
        let mut v = Vec::new();
        s.sm.table.walk_all(&mut |_, set| {
            v.extend(set.iter().map(|r| r.attrs.validation));
            true
        });
        v
    };
    assert_eq!(states(&s).len(), 301);
    assert!(states(&s).iter().all(|v| *v == Validation::Valid));
    assert!(s.sm.take_changes().prefixes.len() >= 301);
    s.apply(Command::Tick { unix_secs: 20 });
    assert!(states(&s).iter().all(|v| *v == Validation::NotFound));
    // Lookups see the new states (the index was rewritten in place).
    let n = trunkline_core::Number {
        plan: trunkline_core::PlanId(0),
        digits: Digits::from_ascii("1555042").unwrap(),
    };
    let m = s.sm.table.lookup(&n).unwrap();
    assert_eq!(m.routes[0].attrs.validation, Validation::NotFound);
}

/// A trust anchor (its key) and the authority config naming it, for
/// cluster ITAD 4200000001.
fn anchored() -> (ed25519_dalek::SigningKey, AuthorityConfig) {
    let anchor = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let config = AuthorityConfig {
        anchors: vec![trunkline_authority::Anchor {
            plan: "e164".into(),
            name: "federation".into(),
            key: anchor.verifying_key().to_bytes(),
            max_depth: 2,
        }],
        grace_secs: 0,
        itad: 4_200_000_001,
    };
    (anchor, config)
}

/// A route of this cluster's own (from the API) for `prefix`.
fn local_route(prefix: &str) -> (Prefix, Arc<Attrs>) {
    let mut a = (*attrs("x")).clone();
    a.source = Source::Api;
    a.path = vec![];
    (p(prefix), Arc::new(a))
}

/// Statements learned from a peer: those from known signers are kept and
/// validate routes; a stranger's and a forged one are dropped; learning
/// what is already held changes nothing and reports no growth (so
/// statements do not bounce between peers forever).
#[test]
fn statements_learned_from_peers_keep_out_strangers() {
    use trunkline_authority::{Authorisation, Entry, Signed, Statement};
    use trunkline_core::{Digits, Validation};
    let (anchor, config) = anchored();
    let mut s = Sm {
        sm: StateMachine::with_authority(Plans::default(), config),
        index: 1,
    };
    s.apply(Command::Announce(vec![local_route("+1555123")]));
    let auth = |origin: u32, key: &ed25519_dalek::SigningKey| {
        Signed::sign(
            Statement::Authorisation(Authorisation {
                serial: 1,
                plan: "e164".into(),
                origin,
                entries: vec![Entry {
                    prefix: Digits::from_ascii("1555").unwrap(),
                    max_len: 11,
                }],
                not_before: 0,
                not_after: u64::MAX,
            }),
            key,
        )
        .unwrap()
    };
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let good = auth(4_200_000_001, &anchor);
    let mut forged = auth(4_200_000_001, &anchor).bytes;
    let last = forged.len() - 1;
    forged[last] ^= 1;
    s.sm.take_changes();
    s.apply(Command::AuthorityLearn {
        statements: vec![auth(7, &stranger).bytes, forged, good.bytes.clone()],
    });
    let held: Vec<_> = s.sm.authority.statements().map(|s| s.id).collect();
    assert_eq!(held, vec![good.id]);
    let changes = s.sm.take_changes();
    assert!(changes.authority);
    let route =
        s.sm.table
            .get(&p("+1555123"))
            .unwrap()
            .iter()
            .next()
            .cloned();
    assert_eq!(route.unwrap().attrs.validation, Validation::Valid);
    s.apply(Command::AuthorityLearn {
        statements: vec![good.bytes],
    });
    assert!(!s.sm.take_changes().authority, "nothing new");
}

/// The change feed names a peer when its configuration or session
/// changes, once per batch; a session change that is fenced out (an old
/// epoch, an unknown peer) names nobody.
#[test]
fn changes_name_peers_whose_session_or_config_changed() {
    let mut sm = Sm::new();
    configured(&mut sm, "bob");
    let e1 = sm.apply(up("bob"));
    assert_eq!(sm.sm.take_changes().sessions, ["bob"], "set and up, once");
    sm.apply(up("ghost"));
    sm.apply(Command::SessionDown {
        peer: "bob".into(),
        epoch: e1 + 100,
        graceful: false,
    });
    assert!(sm.sm.take_changes().sessions.is_empty(), "fenced out");
    sm.apply(Command::SessionDown {
        peer: "bob".into(),
        epoch: e1,
        graceful: true,
    });
    sm.apply(Command::PeerDelete { name: "bob".into() });
    assert_eq!(sm.sm.take_changes().sessions, ["bob"]);
}
