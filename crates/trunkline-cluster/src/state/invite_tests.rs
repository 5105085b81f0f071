//! Invites in the replicated state: redeemed at most as often as they
//! allow, only with their secret, configuring their member in the same
//! command; kept through a snapshot.

use super::tests::apply;
use super::*;
use crate::command::Command;
use crate::invites::Invite;

fn invite(member: &str, itad: u32, uses: u32) -> Invite {
    Invite {
        member: member.into(),
        itad,
        allowed: vec!["+1555123".into()],
        hash: [7; 32],
        created_at: 100,
        expires_at: 200,
        uses_left: uses,
        used: 0,
    }
}

fn redeem(id: &str, hash: [u8; 32]) -> Command {
    Command::InviteRedeem {
        id: id.into(),
        hash,
        config: "name = \"alice\"\nitad = 4200000101\n".into(),
    }
}

#[test]
fn an_invite_is_redeemed_once_with_its_secret_and_configures_its_member() {
    let mut sm = StateMachine::new(Plans::default());
    let create = Command::InviteCreate {
        id: "a1".into(),
        invite: invite("alice", 4_200_000_101, 1),
    };
    assert_eq!(
        apply(&mut sm, 2, create.clone()),
        Outcome::Applied { changed: 1 }
    );
    assert!(matches!(apply(&mut sm, 3, create), Outcome::Refused(w) if w.contains("exists")));

    let wrong = apply(&mut sm, 4, redeem("a1", [8; 32]));
    assert_eq!(
        wrong,
        Outcome::Refused("invite a1: the secret does not match".into())
    );
    assert!(sm.peers().configs.is_empty(), "nothing configured");
    let unknown = apply(&mut sm, 5, redeem("zz", [7; 32]));
    assert!(matches!(unknown, Outcome::Refused(w) if w.contains("unknown")));

    assert_eq!(
        apply(&mut sm, 6, redeem("a1", [7; 32])),
        Outcome::Applied { changed: 1 }
    );
    let alice = &sm.peers().configs["alice"];
    assert_eq!(alice.itad, 4_200_000_101);
    assert!(alice.config.contains("name = \"alice\""));
    assert_eq!(
        sm.take_changes().sessions,
        ["alice"],
        "watchers see the new neighbor"
    );
    let again = apply(&mut sm, 7, redeem("a1", [7; 32]));
    assert_eq!(
        again,
        Outcome::Refused("invite a1 was used already (1 time)".into())
    );
    let i = &sm.invites().by_id["a1"];
    assert_eq!((i.uses_left, i.used), (0, 1));

    // Kept through a snapshot, used-up state included; revoked after.
    let mut other = StateMachine::new(Plans::default());
    other.restore(&sm.snapshot()).unwrap();
    assert_eq!(other.invites(), sm.invites());
    let gone = Command::InviteRevoke { id: "a1".into() };
    assert_eq!(
        apply(&mut other, 8, gone.clone()),
        Outcome::Applied { changed: 1 }
    );
    assert!(matches!(apply(&mut other, 9, gone), Outcome::Refused(_)));
}

#[test]
fn an_invite_cannot_take_another_neighbors_itad() {
    let mut sm = StateMachine::new(Plans::default());
    let bob = Command::PeerSet {
        name: "bob".into(),
        config: String::new(),
        origin: crate::peers::PeerOrigin::Api,
        itad: 4_200_000_101,
    };
    apply(&mut sm, 2, bob);
    let create = Command::InviteCreate {
        id: "a1".into(),
        invite: invite("alice", 4_200_000_101, 2),
    };
    let refused = apply(&mut sm, 3, create);
    assert!(matches!(refused, Outcome::Refused(w) if w.contains("\"bob\" already has ITAD")));
}

/// Version 6 snapshots (before invites) are version 7 without the invite
/// count, and restore with none.
#[test]
fn a_snapshot_from_before_invites_restores() {
    let sm = StateMachine::new(Plans::default());
    let v7 = sm.snapshot();
    assert_eq!(v7.last(), Some(&0), "no invites");
    let mut v6 = v7[..v7.len() - 1].to_vec();
    v6[..8].copy_from_slice(b"TRKSNAP6");
    let mut old = StateMachine::new(Plans::default());
    old.restore(&v6).unwrap();
    assert!(old.invites().by_id.is_empty());
}
