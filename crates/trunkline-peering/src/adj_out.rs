//! What one session has sent its peer (Adj-RIB-Out), and the difference
//! to what it should have sent given the current table.
//!
//! With a degrade hold (see [`crate::pacing::Pacing::degrade_hold_ms`]) a
//! route that gets worse for the peer (a longer path) is not replaced at
//! once: the peer gets a withdrawal now and the worse route after the
//! hold ("ghost flushing", Bremler-Barr, Afek and Schwarz, INFOCOM 2003).
//! After an origin withdraws, every ITAD would otherwise announce each
//! stale alternative it still holds in turn (BGP's path exploration); the
//! withdrawals outrun them, so the stale paths are flushed in about one
//! message per link.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

use foldhash::fast::{FixedState, RandomState};

use trunkline_core::key::Key;
use trunkline_core::{Itad, PlanId, Prefix, RouteTable};

use crate::policy::{Announced, PeerPolicy, export};
use crate::session::Millis;

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

/// Per prefix, what was last announced: a fingerprint of the route in the
/// high bits and its path length in the low byte (one word a prefix, as a
/// full-table session holds a million).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent(u64);

impl Sent {
    fn of(a: &Announced) -> Sent {
        // Fixed, so equal routes fingerprint alike for the whole run.
        const FINGERPRINT: FixedState = FixedState::with_seed(0x7472_756e_6b6c_696e);
        Sent(FINGERPRINT.hash_one(a) << 8 | path_len(a))
    }

    fn path_len(self) -> u64 {
        self.0 & 0xff
    }
}

fn path_len(a: &Announced) -> u64 {
    a.path.len().min(255) as u64
}

/// A prefix whose worse route waits: the peer last had a path this long.
#[derive(Debug, Clone, Copy)]
struct Held {
    until: Millis,
    path_len: u64,
}

/// Per prefix, what was sent: keyed by the packed digits, a map per plan
/// (16 bytes an entry rather than 32; a full-table session holds a million).
#[derive(Debug, Default)]
struct SentMap {
    plans: Vec<HashMap<Key, Sent, RandomState>>,
}

impl SentMap {
    fn len(&self) -> usize {
        self.plans.iter().map(HashMap::len).sum()
    }

    fn is_empty(&self) -> bool {
        self.plans.iter().all(HashMap::is_empty)
    }

    fn get(&self, px: &Prefix) -> Option<&Sent> {
        let plan = self.plans.get(usize::from(px.plan.0))?;
        plan.get(&Key::from_digits(&px.digits))
    }

    fn remove(&mut self, px: &Prefix) -> Option<Sent> {
        let plan = self.plans.get_mut(usize::from(px.plan.0))?;
        plan.remove(&Key::from_digits(&px.digits))
    }

    fn insert(&mut self, px: Prefix, s: Sent) -> Option<Sent> {
        let i = usize::from(px.plan.0);
        if self.plans.len() <= i {
            self.plans.resize_with(i + 1, HashMap::default);
        }
        self.plans[i].insert(Key::from_digits(&px.digits), s)
    }

    /// Forgets what was sent of these plans.
    fn clear_plans(&mut self, plans: &[PlanId]) {
        for p in plans {
            if let Some(m) = self.plans.get_mut(usize::from(p.0)) {
                m.clear();
            }
        }
    }

    /// The prefixes sent of these plans.
    fn prefixes(&self, plans: &[PlanId]) -> Vec<Prefix> {
        let mut out = Vec::new();
        for p in plans {
            if let Some(m) = self.plans.get(usize::from(p.0)) {
                out.extend(m.keys().map(|k| Prefix {
                    plan: *p,
                    digits: k.to_digits(),
                }));
            }
        }
        out
    }
}

#[derive(Debug, Default)]
pub struct AdjRibOut {
    sent: SentMap,
    /// How long a worse route waits after its withdrawal; 0: no hold.
    hold_ms: Millis,
    held: HashMap<Prefix, Held, RandomState>,
    /// Release order (every hold is as long); entries whose hold was
    /// cleared or renewed are skipped.
    releases: VecDeque<(Millis, Prefix)>,
}

impl AdjRibOut {
    /// `hold_ms`: how long a route that got worse waits after the peer was
    /// sent its withdrawal (0: replaced at once).
    pub fn new(hold_ms: Millis) -> AdjRibOut {
        AdjRibOut {
            hold_ms,
            ..AdjRibOut::default()
        }
    }

    pub fn len(&self) -> usize {
        self.sent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }

    /// Prefixes whose worse route waits.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// When the next held route may go.
    pub fn next_release(&self) -> Option<Millis> {
        self.releases.front().map(|&(t, _)| t)
    }

    /// The held prefixes whose hold ended by `now`: the caller settles
    /// them again.
    pub fn released(&mut self, now: Millis) -> Vec<Prefix> {
        let mut out = Vec::new();
        while let Some(&(t, px)) = self.releases.front() {
            if t > now {
                break;
            }
            self.releases.pop_front();
            if self.held.get(&px).is_some_and(|h| h.until == t) {
                self.held.remove(&px);
                out.push(px);
            }
        }
        out
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

    /// Settles only the prefixes the peer must no longer have (or, with a
    /// degrade hold, no longer have for now); returns the others, still
    /// to send (an MRAI holds announcements back, but not withdrawals).
    pub fn update_withdrawals(
        &mut self,
        at: Context<'_>,
        carried: &[PlanId],
        prefixes: impl IntoIterator<Item = Prefix>,
        diff: &mut Diff,
    ) -> Vec<Prefix> {
        let carried = prefixes.into_iter().filter(|px| carried.contains(&px.plan));
        self.settle_each(at, carried, true, diff)
    }

    /// Brings these prefixes up to date.
    pub fn update(
        &mut self,
        at: Context<'_>,
        carried: &[PlanId],
        prefixes: impl IntoIterator<Item = Prefix>,
        diff: &mut Diff,
    ) {
        let carried = prefixes.into_iter().filter(|px| carried.contains(&px.plan));
        self.settle_each(at, carried, false, diff);
    }

    /// Settles each prefix, or with `withdrawals_only` only those that
    /// need no announcement; returns the ones left.
    fn settle_each(
        &mut self,
        at: Context<'_>,
        prefixes: impl Iterator<Item = Prefix>,
        withdrawals_only: bool,
        diff: &mut Diff,
    ) -> Vec<Prefix> {
        let mut later = Vec::new();
        for px in prefixes {
            match Self::wanted(at.table, at.peer, at.me, &px) {
                Some(a) if withdrawals_only && !self.flushes(&px, &a) => later.push(px),
                wanted => self.settle(px, wanted, at.now, diff),
            }
        }
        later
    }

    /// Whether announcing `a` would replace what the peer has with a worse
    /// route, so that it is withdrawn now and held.
    fn flushes(&self, px: &Prefix, a: &Announced) -> bool {
        self.hold_ms > 0
            && !self.held.contains_key(px)
            && self
                .sent
                .get(px)
                .is_some_and(|s| *s != Sent::of(a) && path_len(a) > s.path_len())
    }

    fn settle(&mut self, px: Prefix, wanted: Option<Announced>, now: Millis, diff: &mut Diff) {
        let Some(a) = wanted else {
            if self.sent.remove(&px).is_some() {
                diff.withdraw.push(px);
            }
            return;
        };
        if let Some(h) = self.held.get(&px) {
            if path_len(&a) > h.path_len {
                return; // still worse than what the peer had: it waits
            }
            self.held.remove(&px);
        }
        if self.flushes(&px, &a) {
            let before = self.sent.remove(&px).map_or(0, Sent::path_len);
            let until = now + self.hold_ms;
            self.held.insert(
                px,
                Held {
                    until,
                    path_len: before,
                },
            );
            self.releases.push_back((until, px));
            diff.withdraw.push(px);
            return;
        }
        let s = Sent::of(&a);
        if self.sent.insert(px, s) != Some(s) {
            diff.announce.push(a);
        }
    }

    /// Compares the whole table (of `plans`) with what was sent: after a
    /// refresh request, a snapshot install, or missed change notices.
    /// `forget` first: resend everything, as for a route refresh.
    pub fn full(&mut self, at: Context<'_>, plans: &[PlanId], forget: bool, diff: &mut Diff) {
        if forget {
            self.sent.clear_plans(plans);
            self.held.retain(|px, _| !plans.contains(&px.plan));
        }
        at.table.walk_all(&mut |px, set| {
            if plans.contains(&px.plan) {
                let wanted = export(at.peer, at.me, px, set.iter().next());
                self.settle(*px, wanted, at.now, diff);
            }
            true
        });
        // Sent, but the prefix has no route at all any more.
        let mut gone: Vec<Prefix> = (self.sent.prefixes(plans).into_iter())
            .filter(|px| at.table.get(px).is_none())
            .collect();
        // In prefix order, not the map's: a simulation's runs must repeat.
        gone.sort_unstable();
        for px in gone {
            self.sent.remove(&px);
            diff.withdraw.push(px);
        }
    }
}

/// What a diff is taken against: the table, the peer's policy, our ITAD,
/// and the time (for holds).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub table: &'a RouteTable,
    pub peer: &'a PeerPolicy,
    pub me: Itad,
    pub now: Millis,
}

#[cfg(test)]
mod tests;
