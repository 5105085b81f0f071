//! What peers exchange: statements from signers the federation knows, in
//! an order a receiver can check one by one (each delegation before what
//! its subject signed).
//!
//! A signer is known when it is a trust anchor or the subject of a
//! delegation a known signer signed. Time plays no part here: a key whose
//! delegation expired is still known, and what it signed is judged by
//! [`Authority::effective`]. Only strangers are kept out, so nobody can
//! fill a federation's stores with statements that can never count.

use std::collections::HashSet;

use crate::envelope::Signed;
use crate::object::Statement;
use crate::set::Authority;

impl Authority {
    /// The public keys of the known signers.
    pub fn known_signers(&self) -> HashSet<[u8; 32]> {
        let mut known: HashSet<[u8; 32]> = self.anchors().iter().map(|a| a.key).collect();
        let _ = chain_order(&mut known, self.statements().collect());
        known
    }

    /// Splits verified statements received from a peer into those from
    /// known signers (given the set and each other: a delegation among
    /// them makes its subject known to the rest) and strangers'.
    pub fn learnable(&self, incoming: Vec<Signed>) -> (Vec<Signed>, Vec<Signed>) {
        let mut known = self.known_signers();
        let (ordered, _) = chain_order(&mut known, incoming.iter().collect());
        let keep: HashSet<_> = ordered.iter().map(|s| s.id).collect();
        incoming.into_iter().partition(|s| keep.contains(&s.id))
    }

    /// What to send a peer: every statement from a known signer, each
    /// delegation before what its subject signed.
    pub fn for_peers(&self) -> Vec<&Signed> {
        let mut known: HashSet<[u8; 32]> = self.anchors().iter().map(|a| a.key).collect();
        chain_order(&mut known, self.statements().collect()).0
    }
}

/// Orders `items` by passes: each pass takes those whose signer is known
/// and makes their delegations' subjects known. Returns them in that order
/// and the strangers' left over; `known` grows with the subjects.
fn chain_order<'a>(
    known: &mut HashSet<[u8; 32]>,
    mut items: Vec<&'a Signed>,
) -> (Vec<&'a Signed>, Vec<&'a Signed>) {
    let mut ordered = Vec::with_capacity(items.len());
    loop {
        let (now, later): (Vec<&Signed>, Vec<&Signed>) =
            items.into_iter().partition(|s| known.contains(&s.signer));
        items = later;
        if now.is_empty() {
            return (ordered, items);
        }
        for s in now {
            if let Statement::Delegation(d) = &s.statement {
                known.insert(d.subject);
            }
            ordered.push(s);
        }
    }
}
