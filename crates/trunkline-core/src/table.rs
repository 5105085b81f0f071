//! The route table: per plan, an index from prefix to its ranked candidates.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::Arc;

use crate::index::Index;
use crate::key::Key;
use crate::number::{Digits, Number, Prefix};
use crate::plan::PlanId;
use crate::route::{Attrs, Route, Source};
use crate::select::{is_eligible, rank};

mod delta;
mod set;

use self::delta::Delta;
pub use self::set::RouteSet;

/// All routes of a cluster, per plan. Cloning is O(1) and a clone is a
/// consistent snapshot: it does not see the original's later changes.
///
/// Each plan's table is a compiled [`Index`] plus a delta of changes made
/// since it was built. Lookups consult the delta only at the key lengths it
/// holds, so a small delta costs little; once the delta grows past a
/// quarter of the index (or a few thousand changes) the two are merged into
/// a new index. Writers never wait for readers and readers never lock.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    plans: Vec<PlanTable>,
}

#[derive(Debug, Clone, Default)]
struct PlanTable {
    base: Arc<Index<RouteSet>>,
    delta: Arc<Delta>,
    routes: usize,
    prefixes: usize,
}

/// Smallest delta that triggers a merge.
const MIN_MERGE: usize = 4096;

impl PlanTable {
    fn current(&self, key: Key) -> Option<&RouteSet> {
        match self.delta.get(&key) {
            Some(change) => change.as_ref(),
            None => self.base.get(key),
        }
    }

    fn set(&mut self, key: Key, value: Option<RouteSet>) {
        let was = self.current(key).is_some();
        let now = value.is_some();
        let in_base = value.is_none() && self.base.get(key).is_none();
        let delta = Arc::make_mut(&mut self.delta);
        if in_base {
            // Removing what the index never had: just forget the change.
            delta.forget(key);
        } else {
            delta.insert(key, value);
        }
        match (was, now) {
            (false, true) => self.prefixes += 1,
            (true, false) => self.prefixes -= 1,
            _ => {}
        }
        if delta.len() >= MIN_MERGE.max(self.base.len() / 4) {
            self.merge();
        }
    }

    /// As `set(key, Some(set))` for a key whose presence the caller just
    /// looked up (`was`): one descent of the delta instead of four.
    fn put(&mut self, key: Key, set: RouteSet, was: bool) {
        let delta = Arc::make_mut(&mut self.delta);
        delta.insert(key, Some(set));
        if !was {
            self.prefixes += 1;
        }
        if delta.len() >= MIN_MERGE.max(self.base.len() / 4) {
            self.merge();
        }
    }

    /// Folds the delta into a new index.
    fn merge(&mut self) {
        let mut merged = Vec::with_capacity(self.prefixes);
        let mut base = self.base.iter().peekable();
        let sorted = self.delta.sorted(Key::EMPTY, Key(u64::MAX));
        let mut changes = sorted.into_iter().peekable();
        loop {
            match (base.peek(), changes.peek()) {
                (None, None) => break,
                (Some(_), None) => merged.extend(base.by_ref().map(|(k, v)| (k, v.clone()))),
                (None, Some(_)) => {
                    merged.extend(changes.by_ref().filter_map(|(k, v)| Some((k, v.clone()?))))
                }
                (Some((bk, _)), Some((ck, _))) => {
                    if bk < ck {
                        let (k, v) = base.next().expect("peeked");
                        merged.push((k, v.clone()));
                    } else {
                        if bk == ck {
                            base.next();
                        }
                        let (k, v) = changes.next().expect("peeked");
                        if let Some(v) = v {
                            merged.push((k, v.clone()));
                        }
                    }
                }
            }
        }
        drop((base, changes));
        self.base = Arc::new(Index::build(merged));
        self.delta = Arc::default();
    }

    fn lookup(&self, digits: &[u8], key: impl Fn() -> Key) -> Option<(usize, &RouteSet)> {
        self.with_delta(digits, key, self.base.longest_match(digits))
    }

    /// The answer, given the index's own (`found`): the delta's changes
    /// applied.
    fn with_delta<'a>(
        &'a self,
        digits: &[u8],
        key: impl Fn() -> Key,
        found: Option<(usize, &'a RouteSet)>,
    ) -> Option<(usize, &'a RouteSet)> {
        if self.delta.mask == 0 {
            return found;
        }
        // Only changes at least as long as the index's answer can change it.
        let base_len = found.map_or(0, |(l, _)| l);
        let n = digits.len();
        let mut lengths = self.delta.mask & ((2u64 << n) - 1) & !((1u64 << base_len) - 1);
        let full = key();
        while lengths != 0 {
            let len = 63 - lengths.leading_zeros() as usize;
            lengths &= !(1 << len);
            match self.delta.get(&full.truncate(len)) {
                Some(Some(v)) => return Some((len, v)),
                // The index's own answer was removed: look further up.
                Some(None) if len == base_len && found.is_some() => {
                    return self.lookup_slow(digits, full);
                }
                _ => {}
            }
        }
        found
    }

    /// Every length, index and delta merged: for when the delta removed
    /// the index's answer.
    fn lookup_slow(&self, digits: &[u8], full: Key) -> Option<(usize, &RouteSet)> {
        let pm = self.base.path_matches(digits);
        let n = digits.len();
        let mut lengths = (pm.mask | self.delta.mask) & ((2u64 << n) - 1);
        while lengths != 0 {
            let len = 63 - lengths.leading_zeros() as usize;
            lengths &= !(1 << len);
            if self.delta.mask & (1 << len) != 0
                && let Some(change) = self.delta.get(&full.truncate(len))
            {
                match change {
                    Some(v) => return Some((len, v)),
                    None => continue,
                }
            }
            if let Some(i) = pm.value_index(len) {
                return Some((len, self.base.value(i)));
            }
        }
        None
    }

    /// Entries in `lo..=hi`, in key order, with the delta applied.
    fn range(&self, lo: Key, hi: Key, f: &mut dyn FnMut(Key, &RouteSet) -> bool) -> bool {
        let mut base = self.base.range(lo, hi).peekable();
        let mut changes = self.delta.sorted(lo, hi).into_iter().peekable();
        loop {
            let (k, v) = match (base.peek(), changes.peek()) {
                (None, None) => return true,
                (Some(_), None) => {
                    let (k, v) = base.next().expect("peeked");
                    (k, Some(v))
                }
                (Some((bk, _)), Some((ck, _))) if bk < ck => {
                    let (k, v) = base.next().expect("peeked");
                    (k, Some(v))
                }
                (b, Some((ck, _))) => {
                    if b.is_some_and(|(bk, _)| bk == ck) {
                        base.next();
                    }
                    let (k, v) = changes.next().expect("peeked");
                    (k, v.as_ref())
                }
            };
            if let Some(v) = v
                && !f(k, v)
            {
                return false;
            }
        }
    }
}

/// The answer to a lookup.
#[derive(Debug, Clone, Copy)]
pub struct Match<'a> {
    pub prefix: Prefix,
    /// Every candidate, best first; ineligible ones at the end.
    pub routes: &'a RouteSet,
}

impl Match<'_> {
    /// The candidates that may carry calls, best first.
    pub fn eligible(&self) -> &[Route] {
        let n = self.routes.iter().take_while(|r| is_eligible(r)).count();
        &self.routes[..n]
    }
}

impl RouteTable {
    pub fn new() -> RouteTable {
        RouteTable::default()
    }

    fn plan(&self, plan: PlanId) -> Option<&PlanTable> {
        self.plans.get(plan.0 as usize)
    }

    fn plan_mut(&mut self, plan: PlanId) -> &mut PlanTable {
        let i = plan.0 as usize;
        if self.plans.len() <= i {
            self.plans.resize_with(i + 1, PlanTable::default);
        }
        &mut self.plans[i]
    }

    /// Number of routes (candidates), all prefixes and plans together.
    pub fn route_count(&self) -> usize {
        self.plans.iter().map(|p| p.routes).sum()
    }

    pub fn route_count_in(&self, plan: PlanId) -> usize {
        self.plan(plan).map_or(0, |p| p.routes)
    }

    /// Number of prefixes with at least one route.
    pub fn prefix_count(&self) -> usize {
        self.plans.iter().map(|p| p.prefixes).sum()
    }

    pub fn prefix_count_in(&self, plan: PlanId) -> usize {
        self.plan(plan).map_or(0, |p| p.prefixes)
    }

    /// Installs `route` for `prefix`, replacing the one from the same
    /// source. Returns the replaced route.
    pub fn upsert(&mut self, prefix: &Prefix, route: Route) -> Option<Route> {
        self.upsert_noting_best(prefix, route).0
    }

    /// As [`RouteTable::upsert`], and whether the prefix's best route
    /// changed (without looking the prefix up again before and after).
    pub fn upsert_noting_best(&mut self, prefix: &Prefix, route: Route) -> (Option<Route>, bool) {
        let key = Key::from_digits(&prefix.digits);
        let pt = self.plan_mut(prefix.plan);
        // A source's new route for a prefix changed since the last merge,
        // whose set no snapshot shares: replaced and re-ranked in place.
        if let Some(delta) = Arc::get_mut(&mut pt.delta)
            && let Some(Some(set)) = delta.get_mut(&key)
            && let Some(routes) = set.get_mut()
            && let Some(i) = (routes.iter()).position(|r| r.attrs.source == route.attrs.source)
        {
            let best_before = routes[0].clone();
            let old = std::mem::replace(&mut routes[i], route);
            rank(routes);
            return (Some(old), routes[0] != best_before);
        }
        let current = pt.current(key);
        let current_was = current.is_some();
        let best_before = current.and_then(|s| s.first()).cloned();
        let mut routes: Vec<Route> = current.map(|s| s.to_vec()).unwrap_or_default();
        let old = match routes
            .iter()
            .position(|r| r.attrs.source == route.attrs.source)
        {
            Some(i) => Some(std::mem::replace(&mut routes[i], route)),
            None => {
                routes.push(route);
                None
            }
        };
        rank(&mut routes);
        if old.is_none() {
            pt.routes += 1;
        }
        let changed = routes.first() != best_before.as_ref();
        pt.put(key, routes.into(), current_was);
        (old, changed)
    }

    /// Rewrites route sets of `plan` in place: `f` returns the new set
    /// (ranked, not empty) of a prefix whose routes change, or None. For a
    /// change that touches most of a plan (an authority change covering
    /// it all) this is one pass over the index instead of an upsert per
    /// prefix. Returns the prefixes changed.
    pub fn revalue(
        &mut self,
        plan: PlanId,
        f: &mut dyn FnMut(&Prefix, &RouteSet) -> Option<RouteSet>,
    ) -> Vec<Prefix> {
        let mut changed = Vec::new();
        let Some(pt) = self.plans.get_mut(plan.0 as usize) else {
            return changed;
        };
        let prefix = |k: Key| Prefix {
            plan,
            digits: k.to_digits(),
        };
        let delta = Arc::make_mut(&mut pt.delta);
        let shadowed: HashSet<Key> = delta.keys().copied().collect();
        for (k, set) in delta.sets_mut() {
            if let Some(new) = f(&prefix(*k), set) {
                debug_assert!(!new.is_empty());
                *set = new;
                changed.push(prefix(*k));
            }
        }
        // In key order, whatever order the delta's layers hold them in.
        changed.sort_unstable();
        for (k, set) in Arc::make_mut(&mut pt.base).values_mut() {
            // A prefix the delta overrides was handled there.
            if shadowed.contains(&k) {
                continue;
            }
            if let Some(new) = f(&prefix(k), set) {
                debug_assert!(!new.is_empty());
                *set = new;
                changed.push(prefix(k));
            }
        }
        changed
    }

    /// Rewrites a whole plan in one pass, for a change that touches much
    /// of it (a peer holding the table goes away): `f` gets each prefix's
    /// set and returns `None` to keep it, `Some(None)` to remove it, or
    /// `Some(Some(set))` (ranked, not empty) to replace it. The plan's index
    /// is built once, instead of an upsert or removal per prefix and the
    /// merges they bring. Returns the prefixes changed, in key order.
    pub fn rewrite(
        &mut self,
        plan: PlanId,
        f: &mut dyn FnMut(&Prefix, &RouteSet) -> Option<Option<RouteSet>>,
    ) -> Vec<Prefix> {
        let mut changed = Vec::new();
        let Some(pt) = self.plans.get_mut(plan.0 as usize) else {
            return changed;
        };
        let mut kept: Vec<(Key, RouteSet)> = Vec::with_capacity(pt.prefixes);
        pt.range(Key::EMPTY, Key(u64::MAX), &mut |k, set| {
            let px = Prefix {
                plan,
                digits: k.to_digits(),
            };
            match f(&px, set) {
                None => kept.push((k, set.clone())),
                Some(new) => {
                    changed.push(px);
                    if let Some(new) = new {
                        debug_assert!(!new.is_empty());
                        kept.push((k, new));
                    }
                }
            }
            true
        });
        pt.routes = kept.iter().map(|(_, set)| set.len()).sum();
        pt.prefixes = kept.len();
        pt.base = Arc::new(Index::build(kept));
        pt.delta = Arc::default();
        changed
    }

    /// Removes the route from `source` for `prefix`.
    pub fn remove(&mut self, prefix: &Prefix, source: &Source) -> Option<Route> {
        self.remove_noting_best(prefix, source).map(|(old, _)| old)
    }

    /// As [`RouteTable::remove`], and whether the prefix's best route
    /// changed: it did when the removed route was the best.
    pub fn remove_noting_best(
        &mut self,
        prefix: &Prefix,
        source: &Source,
    ) -> Option<(Route, bool)> {
        let key = Key::from_digits(&prefix.digits);
        let pt = self.plan_mut(prefix.plan);
        let set = pt.current(key)?;
        let i = set.iter().position(|r| &r.attrs.source == source)?;
        let mut routes = set.to_vec();
        let old = routes.remove(i);
        pt.routes -= 1;
        if routes.is_empty() {
            pt.set(key, None);
        } else {
            pt.put(key, routes.into(), true);
        }
        Some((old, i == 0))
    }

    pub fn get(&self, prefix: &Prefix) -> Option<&RouteSet> {
        self.plan(prefix.plan)?
            .current(Key::from_digits(&prefix.digits))
    }

    /// Longest-prefix match among prefixes with a route that may be
    /// chosen: a more specific prefix holding only invalid routes (a
    /// hijack, say) never hides the valid, less specific one.
    #[inline]
    pub fn lookup(&self, number: &Number) -> Option<Match<'_>> {
        self.lookup_any(number).map(|m| self.eligible_or_shorter(m))
    }

    /// `m`, or when none of its routes may be chosen, the longest less
    /// specific prefix with one (else `m` itself). Rare: only invalid
    /// routes make it search.
    fn eligible_or_shorter<'a>(&'a self, m: Match<'a>) -> Match<'a> {
        if m.routes.iter().any(crate::select::is_eligible) {
            return m;
        }
        self.shorter(&m.prefix)
            .into_iter()
            .rev()
            .find(|(p, set)| *p != m.prefix && set.iter().any(crate::select::is_eligible))
            .map_or(m, |(prefix, routes)| Match { prefix, routes })
    }

    /// Longest-prefix match, whatever its routes.
    #[inline]
    fn lookup_any(&self, number: &Number) -> Option<Match<'_>> {
        let (len, routes) = self
            .plan(number.plan)?
            .lookup(number.digits.as_slice(), || {
                Key::from_digits(&number.digits)
            })?;
        Some(Match {
            prefix: Prefix {
                plan: number.plan,
                digits: number.digits.truncate(len),
            },
            routes,
        })
    }

    /// Longest-prefix match for many numbers: the same answers as
    /// [`RouteTable::lookup`], computed many at a time so their memory
    /// reads overlap. `f` gets each number's position and answer, not
    /// necessarily in order.
    pub fn lookup_batch<'a>(
        &'a self,
        numbers: &[Number],
        mut f: impl FnMut(usize, Option<Match<'a>>),
    ) {
        let mut at = 0;
        while at < numbers.len() {
            let plan = numbers[at].plan;
            let run = numbers[at..].iter().take_while(|n| n.plan == plan).count();
            let slice = &numbers[at..at + run];
            match self.plan(plan) {
                // The index's walks overlap; the delta, where it has
                // changes, is probed after each.
                Some(pt) => {
                    pt.base.longest_match_stream(
                        run,
                        |i| slice[i].digits.as_slice(),
                        |i, r| {
                            let digits = &slice[i].digits;
                            let found = r.map(|(len, v)| (len, pt.base.value(v)));
                            let found = pt.with_delta(
                                digits.as_slice(),
                                || Key::from_digits(digits),
                                found,
                            );
                            f(
                                at + i,
                                found.map(|(len, routes)| {
                                    self.eligible_or_shorter(Match {
                                        prefix: Prefix {
                                            plan,
                                            digits: digits.truncate(len),
                                        },
                                        routes,
                                    })
                                }),
                            )
                        },
                    );
                }
                None => (0..run).for_each(|i| f(at + i, None)),
            }
            at += run;
        }
    }

    /// `prefix` and every less specific prefix that has routes, shortest first.
    pub fn shorter(&self, prefix: &Prefix) -> Vec<(Prefix, &RouteSet)> {
        let Some(pt) = self.plan(prefix.plan) else {
            return Vec::new();
        };
        let key = Key::from_digits(&prefix.digits);
        (0..=prefix.digits.len())
            .filter_map(|len| {
                let digits = prefix.digits.truncate(len);
                pt.current(key.truncate(len)).map(|s| {
                    (
                        Prefix {
                            plan: prefix.plan,
                            digits,
                        },
                        s,
                    )
                })
            })
            .collect()
    }

    /// `prefix` and every more specific prefix, in order; `f` returns false
    /// to stop.
    pub fn walk_longer(&self, prefix: &Prefix, f: &mut dyn FnMut(&Prefix, &RouteSet) -> bool) {
        self.walk_plan_range(prefix, f);
    }

    fn walk_plan_range(
        &self,
        prefix: &Prefix,
        f: &mut dyn FnMut(&Prefix, &RouteSet) -> bool,
    ) -> bool {
        let Some(pt) = self.plan(prefix.plan) else {
            return true;
        };
        let lo = Key::from_digits(&prefix.digits);
        pt.range(lo, lo.subtree_end(), &mut |k, s| {
            f(
                &Prefix {
                    plan: prefix.plan,
                    digits: k.to_digits(),
                },
                s,
            )
        })
    }

    /// Every route of every plan, in plan then prefix order; `f` returns
    /// false to stop.
    pub fn walk_all(&self, f: &mut dyn FnMut(&Prefix, &RouteSet) -> bool) {
        for i in 0..self.plans.len() {
            let all = Prefix {
                plan: PlanId(i as u8),
                digits: Digits::EMPTY,
            };
            if !self.walk_plan_range(&all, f) {
                return;
            }
        }
    }

    /// Folds every plan's pending changes into its index now (normally
    /// done once the changes pile up).
    pub fn compact(&mut self) {
        for p in &mut self.plans {
            if !p.delta.is_empty() {
                p.merge();
            }
        }
    }

    /// Bytes held by the index arrays and deltas (not the routes).
    pub fn index_bytes(&self) -> usize {
        self.plans
            .iter()
            .map(|p| p.base.heap_bytes() + p.delta.heap_bytes())
            .sum()
    }
}

/// Shares equal [`Attrs`] between routes, so a million routes to one trunk
/// hold one copy of it.
#[derive(Debug, Default)]
pub struct AttrsInterner {
    /// A table, not a set: the hash of attributes new to it (most are, at
    /// a hop that prepends itself) is computed once, not for the look-up
    /// and again for the insert.
    set: hashbrown::HashTable<Arc<Attrs>>,
    /// foldhash: a full table's attributes are hashed at every install,
    /// and SipHash was most of that time; still seeded per process.
    hasher: foldhash::fast::RandomState,
}

impl AttrsInterner {
    pub fn intern(&mut self, attrs: Attrs) -> Arc<Attrs> {
        let hasher = &self.hasher;
        let hash = hasher.hash_one(&attrs);
        let entry = (self.set).entry(hash, |a| **a == attrs, |a| hasher.hash_one(&**a));
        match entry {
            hashbrown::hash_table::Entry::Occupied(e) => e.get().clone(),
            hashbrown::hash_table::Entry::Vacant(e) => e.insert(Arc::new(attrs)).get().clone(),
        }
    }

    /// Forgets attributes no route uses any more.
    pub fn purge(&mut self) {
        self.set.retain(|a| Arc::strong_count(a) > 1);
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

#[cfg(test)]
mod tests;
