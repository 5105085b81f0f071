//! The authority as a specification: signed bytes, the chain to the
//! anchors, time, revocation, and RFC 6811's three states.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use trunkline_core::Digits;

use crate::envelope::{EnvelopeError, Signed};
use crate::object::{Authorisation, Delegation, Entry, Revocations, Statement};
use crate::set::{Anchor, Authority, Status};
use crate::validate::{Mismatch, Validation};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn d(s: &str) -> Digits {
    Digits::from_ascii(s).unwrap()
}

const DAY: u64 = 86_400;

fn delegation(to: &SigningKey, blocks: &[&str], may_delegate: bool) -> Statement {
    Statement::Delegation(Delegation {
        serial: 1,
        subject: to.verifying_key().to_bytes(),
        name: "club".into(),
        plan: "e164".into(),
        blocks: blocks.iter().map(|b| d(b)).collect(),
        may_delegate,
        not_before: 0,
        not_after: 365 * DAY,
    })
}

fn authorisation(origin: u32, entries: &[(&str, u8)], window: (u64, u64)) -> Statement {
    Statement::Authorisation(Authorisation {
        serial: 1,
        plan: "e164".into(),
        origin,
        entries: entries
            .iter()
            .map(|(p, m)| Entry {
                prefix: d(p),
                max_len: *m,
            })
            .collect(),
        not_before: window.0,
        not_after: window.1,
    })
}

fn signed(s: Statement, by: &SigningKey) -> Signed {
    Signed::sign(s, by).unwrap()
}

/// A federation whose anchor is key 1, with `max_depth`.
fn federation(max_depth: u8) -> Authority {
    Authority::new(
        vec![Anchor {
            plan: "e164".into(),
            name: "federation".into(),
            key: key(1).verifying_key().to_bytes(),
            max_depth,
        }],
        DAY,
    )
}

fn state(a: &Authority, now: u64, prefix: &str, origin: u32) -> Validation {
    a.effective(now).index.validate("e164", &d(prefix), origin)
}

#[test]
fn signed_bytes_verify_and_any_changed_byte_is_refused() {
    let s = signed(authorisation(7, &[("1555123", 11)], (0, DAY)), &key(1));
    let back = Signed::verify(&s.bytes).unwrap();
    assert_eq!(back, s);
    for i in 0..s.bytes.len() {
        let mut b = s.bytes.clone();
        b[i] ^= 0x01;
        assert!(
            Signed::verify(&b).is_err(),
            "byte {i} changed and still verified"
        );
    }
    let mut long = s.bytes.clone();
    long.push(0);
    assert!(Signed::verify(&long).is_err());
    assert!(matches!(
        Signed::verify(&vec![0; 20_000]),
        Err(EnvelopeError::TooLarge(_))
    ));
}

#[test]
fn statements_that_break_the_rules_are_neither_signed_nor_decoded() {
    // Unsorted or overlapping blocks, a max length shorter than its
    // prefix, an empty window.
    let bad = [
        delegation(&key(2), &["1555", "1444"], false),
        delegation(&key(2), &["1555", "15551"], false),
        authorisation(7, &[("1555123", 5)], (0, DAY)),
        authorisation(7, &[("1555", 11), ("1555", 12)], (0, DAY)),
        authorisation(7, &[("1555", 11)], (DAY, DAY)),
    ];
    for s in bad {
        assert!(Signed::sign(s.clone(), &key(1)).is_err(), "{s:?}");
    }
}

/// RFC 6811: every covering authorisation is considered; origin and
/// length decide; AS 0 matches nothing.
#[test]
fn the_three_states() {
    let mut a = federation(2);
    for s in [
        authorisation(7, &[("1555123", 11)], (0, DAY)),
        authorisation(9, &[("1555", 4)], (0, DAY)),
        authorisation(0, &[("1900", 16)], (0, DAY)),
    ] {
        a.insert(&signed(s, &key(1)).bytes).unwrap();
    }
    let now = 10;
    assert!(matches!(
        state(&a, now, "15551234567", 7),
        Validation::Valid { .. }
    ));
    // The shorter authorisation for 9 covers it too, but is exact-length.
    assert_eq!(state(&a, now, "1555", 9).name(), "valid");
    match state(&a, now, "15551234567", 9) {
        Validation::Invalid { why, covering } => {
            assert_eq!(why, Mismatch::Length);
            assert_eq!(covering.len(), 2);
        }
        v => panic!("{v:?}"),
    }
    assert!(matches!(
        state(&a, now, "15551234567", 8),
        Validation::Invalid {
            why: Mismatch::Origin,
            ..
        }
    ));
    assert!(matches!(
        state(&a, now, "155512345678", 7),
        Validation::Invalid {
            why: Mismatch::Length,
            ..
        }
    ));
    assert_eq!(state(&a, now, "4930", 7), Validation::NotFound);
    assert_eq!(state(&a, now, "1900123", 0).name(), "invalid");
}

#[test]
fn a_chain_from_the_anchor_through_a_club_to_a_member_validates() {
    let (club, member) = (key(2), key(3));
    let mut a = federation(2);
    a.insert(&signed(delegation(&club, &["1555"], true), &key(1)).bytes)
        .unwrap();
    a.insert(&signed(delegation(&member, &["1555123"], false), &club).bytes)
        .unwrap();
    let auth = signed(authorisation(42, &[("1555123", 11)], (0, DAY)), &member);
    a.insert(&auth.bytes).unwrap();
    let e = a.effective(100);
    assert_eq!(e.status[&auth.id], Status::Effective);
    assert_eq!(
        e.index.validate("e164", &d("15551234567"), 42),
        Validation::Valid { by: auth.id }
    );
}

#[test]
fn a_delegation_beyond_its_parent_is_refused_and_so_is_all_below_it() {
    let (club, member) = (key(2), key(3));
    let mut a = federation(3);
    a.insert(&signed(delegation(&club, &["1555"], true), &key(1)).bytes)
        .unwrap();
    let greedy = signed(delegation(&member, &["1555123", "1666"], false), &club);
    a.insert(&greedy.bytes).unwrap();
    let auth = signed(authorisation(42, &[("1555123", 11)], (0, DAY)), &member);
    a.insert(&auth.bytes).unwrap();
    let e = a.effective(100);
    assert!(
        matches!(&e.status[&greedy.id], Status::Exceeds(w) if w.contains("1666")),
        "{:?}",
        e.status[&greedy.id]
    );
    assert_eq!(e.status[&auth.id], Status::UnknownSigner);
    assert_eq!(
        e.index.validate("e164", &d("15551234567"), 42),
        Validation::NotFound
    );
    // An authorisation outside its signer's blocks is refused too.
    let club_auth = signed(authorisation(5, &[("1777", 11)], (0, DAY)), &club);
    a.insert(&club_auth.bytes).unwrap();
    assert!(matches!(
        a.effective(100).status[&club_auth.id],
        Status::Exceeds(_)
    ));
}

#[test]
fn depth_and_may_delegate_bound_the_chain() {
    let (club, member, sub) = (key(2), key(3), key(4));
    let mut a = federation(1);
    a.insert(&signed(delegation(&club, &["1555"], true), &key(1)).bytes)
        .unwrap();
    let too_deep = signed(delegation(&member, &["15551"], true), &club);
    a.insert(&too_deep.bytes).unwrap();
    assert!(
        matches!(&a.effective(1).status[&too_deep.id], Status::Exceeds(w) if w.contains("deeper"))
    );
    let mut a = federation(4);
    a.insert(&signed(delegation(&club, &["1555"], false), &key(1)).bytes)
        .unwrap();
    let not_allowed = signed(delegation(&sub, &["15551"], false), &club);
    a.insert(&not_allowed.bytes).unwrap();
    assert!(
        matches!(&a.effective(1).status[&not_allowed.id], Status::Exceeds(w) if w.contains("may not delegate"))
    );
}

#[test]
fn validity_windows_flip_at_the_given_time() {
    let mut a = federation(1);
    let auth = signed(authorisation(7, &[("1555", 11)], (100, 200)), &key(1));
    a.insert(&auth.bytes).unwrap();
    assert_eq!(a.effective(99).status[&auth.id], Status::NotYetValid);
    assert_eq!(state(&a, 100, "15551", 7).name(), "valid");
    assert_eq!(state(&a, 199, "15551", 7).name(), "valid");
    assert_eq!(a.effective(200).status[&auth.id], Status::Expired);
    assert_eq!(state(&a, 200, "15551", 7), Validation::NotFound);
}

#[test]
fn revocations_count_only_from_the_signer_and_stale_lists_fail_closed() {
    let mut a = federation(1);
    let auth = signed(authorisation(7, &[("1555", 11)], (0, 100 * DAY)), &key(1));
    a.insert(&auth.bytes).unwrap();
    let list = |number, revoked: Vec<_>, by: &SigningKey| {
        signed(
            Statement::Revocations(Revocations {
                number,
                this_update: number * 10,
                next_update: number * 10 + DAY,
                revoked,
            }),
            by,
        )
    };
    // Somebody else's list revokes nothing.
    a.insert(&list(1, vec![auth.id], &key(9)).bytes).unwrap();
    assert_eq!(state(&a, 50, "15551", 7).name(), "valid");
    // The signer's own list does; a newer list without it restores it.
    let first = list(2, vec![auth.id], &key(1));
    a.insert(&first.bytes).unwrap();
    assert_eq!(a.effective(50).status[&auth.id], Status::Revoked);
    let second = list(3, vec![], &key(1));
    a.insert(&second.bytes).unwrap();
    let e = a.effective(50);
    assert_eq!(e.status[&auth.id], Status::Effective);
    assert_eq!(e.status[&first.id], Status::Superseded);
    // Past next_update plus the grace: nothing of that signer counts.
    let late = 30 + DAY + DAY + 1;
    assert_eq!(a.effective(late).status[&auth.id], Status::StaleSigner);
    assert_eq!(state(&a, late, "15551", 7), Validation::NotFound);
}

proptest! {
    // Signing is slow in debug builds; 64 cases of up to 8 statements.
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The index answers as a scan of every authorisation would.
    #[test]
    fn validation_matches_a_brute_force_scan(
        auths in proptest::collection::vec(
            (1u32..4, proptest::collection::btree_map("[0-2]{0,4}", 0u8..6, 1..4)),
            0..8,
        ),
        queries in proptest::collection::vec(("[0-2]{0,5}", 0u32..4), 1..40),
    ) {
        let mut a = federation(1);
        let mut flat = Vec::new();
        for (serial, (origin, entries)) in auths.iter().enumerate() {
            let entries: Vec<Entry> = entries
                .iter()
                .map(|(p, extra)| Entry { prefix: d(p), max_len: (p.len() as u8 + extra).min(16) })
                .collect();
            flat.extend(entries.iter().map(|e| (*origin, *e)));
            let s = Statement::Authorisation(Authorisation {
                serial: serial as u64,
                plan: "e164".into(),
                origin: *origin,
                entries,
                not_before: 0,
                not_after: 10,
            });
            a.insert(&signed(s, &key(1)).bytes).unwrap();
        }
        let index = a.effective(5).index;
        for (q, origin) in queries {
            let q = d(&q);
            let covering: Vec<_> = flat.iter().filter(|(_, e)| q.starts_with(&e.prefix)).collect();
            let want = if covering.is_empty() {
                "not-found"
            } else if covering
                .iter()
                .any(|(o, e)| *o != 0 && *o == origin && q.len() <= usize::from(e.max_len))
            {
                "valid"
            } else {
                "invalid"
            };
            prop_assert_eq!(index.validate("e164", &q, origin).name(), want);
        }
    }
}

/// Peers exchange only statements from known signers, each delegation
/// before what its subject signed; a batch may bring the delegation that
/// makes the rest known.
#[test]
fn peers_get_known_signers_statements_in_chain_order() {
    let (club, member, stranger) = (key(2), key(3), key(9));
    let mut fed = federation(2);
    let to_club = signed(delegation(&club, &["1555"], true), &key(1));
    let to_member = signed(delegation(&member, &["1555123"], false), &club);
    let by_member = signed(authorisation(7, &[("1555123", 11)], (0, DAY)), &member);
    let by_stranger = signed(authorisation(8, &[("1555", 11)], (0, DAY)), &stranger);
    // Whatever order they arrive in, the chain decides who is known.
    let incoming = vec![
        by_member.clone(),
        by_stranger.clone(),
        to_member.clone(),
        to_club.clone(),
    ];
    let (keep, refused) = fed.learnable(incoming);
    assert_eq!(refused, vec![by_stranger.clone()]);
    assert_eq!(keep.len(), 3);
    for s in keep {
        fed.keep(s);
    }
    fed.keep(by_stranger);
    let known = fed.known_signers();
    assert!(known.contains(&member.verifying_key().to_bytes()));
    assert!(!known.contains(&stranger.verifying_key().to_bytes()));
    let ids: Vec<_> = fed.for_peers().iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![to_club.id, to_member.id, by_member.id]);
    // On its own, the member's authorisation is a stranger's.
    let (keep, refused) = federation(2).learnable(vec![by_member.clone()]);
    assert!(keep.is_empty() && refused == vec![by_member]);
}
