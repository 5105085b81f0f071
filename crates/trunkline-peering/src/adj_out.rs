//! What one session has sent its peer (Adj-RIB-Out), and the difference
//! to what it should have sent given the current table.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use trunkline_core::{Itad, PlanId, Prefix, RouteTable};

use crate::policy::{Announced, PeerPolicy, export};

/// Routes to announce and prefixes to withdraw.
#[derive(Debug, Default)]
pub struct Diff {
    pub announce: Vec<Announced>,
    pub withdraw: Vec<Prefix>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.announce.is_empty() && self.withdraw.is_empty()
    }
}

/// Per prefix, a fingerprint of what was last announced.
#[derive(Debug, Default)]
pub struct AdjRibOut {
    sent: HashMap<Prefix, u64>,
}

fn fingerprint(a: &Announced) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    a.hash(&mut h);
    h.finish()
}

impl AdjRibOut {
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }

    /// What the peer should get for `prefix` now.
    fn wanted(
        table: &RouteTable,
        peer: &PeerPolicy,
        me: Itad,
        prefix: &Prefix,
    ) -> Option<Announced> {
        let best = table.get(prefix).and_then(|set| set.iter().next());
        export(peer, me, prefix, best)
    }

    /// Settles only the prefixes the peer must no longer have; returns the
    /// others, still to send (an MRAI holds announcements back, but not
    /// withdrawals).
    pub fn update_withdrawals(
        &mut self,
        table: &RouteTable,
        peer: &PeerPolicy,
        me: Itad,
        carried: &[PlanId],
        prefixes: impl IntoIterator<Item = Prefix>,
        diff: &mut Diff,
    ) -> Vec<Prefix> {
        let carried = prefixes.into_iter().filter(|px| carried.contains(&px.plan));
        self.settle_each(table, peer, me, carried, true, diff)
    }

    /// Brings these prefixes up to date.
    pub fn update(
        &mut self,
        table: &RouteTable,
        peer: &PeerPolicy,
        me: Itad,
        carried: &[PlanId],
        prefixes: impl IntoIterator<Item = Prefix>,
        diff: &mut Diff,
    ) {
        let carried = prefixes.into_iter().filter(|px| carried.contains(&px.plan));
        self.settle_each(table, peer, me, carried, false, diff);
    }

    /// Settles each prefix, or with `withdrawals_only` only those with
    /// nothing to send; returns the ones left.
    fn settle_each(
        &mut self,
        table: &RouteTable,
        peer: &PeerPolicy,
        me: Itad,
        prefixes: impl Iterator<Item = Prefix>,
        withdrawals_only: bool,
        diff: &mut Diff,
    ) -> Vec<Prefix> {
        let mut later = Vec::new();
        for px in prefixes {
            match Self::wanted(table, peer, me, &px) {
                Some(_) if withdrawals_only => later.push(px),
                wanted => self.settle(px, wanted, diff),
            }
        }
        later
    }

    fn settle(&mut self, px: Prefix, wanted: Option<Announced>, diff: &mut Diff) {
        match wanted {
            Some(a) => {
                let f = fingerprint(&a);
                if self.sent.insert(px, f) != Some(f) {
                    diff.announce.push(a);
                }
            }
            None => {
                if self.sent.remove(&px).is_some() {
                    diff.withdraw.push(px);
                }
            }
        }
    }

    /// Compares the whole table (of `plans`) with what was sent: after a
    /// refresh request, a snapshot install, or missed change notices.
    /// `forget` first: resend everything, as for a route refresh.
    pub fn full(
        &mut self,
        table: &RouteTable,
        peer: &PeerPolicy,
        me: Itad,
        plans: &[PlanId],
        forget: bool,
        diff: &mut Diff,
    ) {
        if forget {
            self.sent.retain(|px, _| !plans.contains(&px.plan));
        }
        table.walk_all(&mut |px, set| {
            if plans.contains(&px.plan) {
                let wanted = export(peer, me, px, set.iter().next());
                self.settle(*px, wanted, diff);
            }
            true
        });
        // Sent, but the prefix has no route at all any more.
        let mut gone: Vec<Prefix> = self
            .sent
            .keys()
            .filter(|px| plans.contains(&px.plan) && table.get(px).is_none())
            .copied()
            .collect();
        // In prefix order, not the map's: a simulation's runs must repeat.
        gone.sort_unstable();
        for px in gone {
            self.sent.remove(&px);
            diff.withdraw.push(px);
        }
    }
}
