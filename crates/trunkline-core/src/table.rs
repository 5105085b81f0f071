//! The route table: per plan, a trie from prefix to its ranked candidates.

use std::collections::HashSet;
use std::sync::Arc;

use crate::number::{Digits, Number, Prefix};
use crate::plan::PlanId;
use crate::route::{Attrs, Route, Source};
use crate::select::{is_eligible, rank};
use crate::trie::Trie;

/// The candidates for one prefix, best first (see [`crate::select::rank`]).
pub type RouteSet = Arc<[Route]>;

/// All routes of a cluster. Cloning is O(1): clones share structure and do
/// not see each other's later changes.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    plans: Vec<Trie<RouteSet>>,
    /// Routes per plan, same indexes as `plans`.
    routes: Vec<usize>,
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

    fn trie(&self, plan: PlanId) -> Option<&Trie<RouteSet>> {
        self.plans.get(plan.0 as usize)
    }

    fn trie_mut(&mut self, plan: PlanId) -> &mut Trie<RouteSet> {
        let i = plan.0 as usize;
        if self.plans.len() <= i {
            self.plans.resize_with(i + 1, Trie::new);
            self.routes.resize(i + 1, 0);
        }
        &mut self.plans[i]
    }

    /// Number of routes (candidates), all prefixes and plans together.
    pub fn route_count(&self) -> usize {
        self.routes.iter().sum()
    }

    pub fn route_count_in(&self, plan: PlanId) -> usize {
        self.routes.get(plan.0 as usize).copied().unwrap_or(0)
    }

    /// Number of prefixes with at least one route.
    pub fn prefix_count(&self) -> usize {
        self.plans.iter().map(Trie::len).sum()
    }

    pub fn prefix_count_in(&self, plan: PlanId) -> usize {
        self.trie(plan).map_or(0, Trie::len)
    }

    /// Installs `route` for `prefix`, replacing the one from the same
    /// source. Returns the replaced route.
    pub fn upsert(&mut self, prefix: &Prefix, route: Route) -> Option<Route> {
        let trie = self.trie_mut(prefix.plan);
        let mut routes: Vec<Route> = trie
            .get(&prefix.digits)
            .map(|s| s.to_vec())
            .unwrap_or_default();
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
        trie.insert(&prefix.digits, routes.into());
        if old.is_none() {
            self.routes[prefix.plan.0 as usize] += 1;
        }
        old
    }

    /// Removes the route from `source` for `prefix`.
    pub fn remove(&mut self, prefix: &Prefix, source: &Source) -> Option<Route> {
        let trie = self.trie_mut(prefix.plan);
        let set = trie.get(&prefix.digits)?;
        let i = set.iter().position(|r| &r.attrs.source == source)?;
        let mut routes = set.to_vec();
        let old = routes.remove(i);
        if routes.is_empty() {
            trie.remove(&prefix.digits);
        } else {
            trie.insert(&prefix.digits, routes.into());
        }
        self.routes[prefix.plan.0 as usize] -= 1;
        Some(old)
    }

    pub fn get(&self, prefix: &Prefix) -> Option<&RouteSet> {
        self.trie(prefix.plan)?.get(&prefix.digits)
    }

    /// Longest-prefix match.
    #[inline]
    pub fn lookup(&self, number: &Number) -> Option<Match<'_>> {
        let (len, routes) = self
            .trie(number.plan)?
            .longest_match(number.digits.as_slice())?;
        Some(Match {
            prefix: Prefix {
                plan: number.plan,
                digits: number.digits.truncate(len),
            },
            routes,
        })
    }

    /// `prefix` and every less specific prefix that has routes, shortest first.
    pub fn shorter(&self, prefix: &Prefix) -> Vec<(Prefix, &RouteSet)> {
        let Some(t) = self.trie(prefix.plan) else {
            return Vec::new();
        };
        t.matches(&prefix.digits)
            .into_iter()
            .map(|(digits, s)| {
                (
                    Prefix {
                        plan: prefix.plan,
                        digits,
                    },
                    s,
                )
            })
            .collect()
    }

    /// `prefix` and every more specific prefix, in order; `f` returns false
    /// to stop.
    pub fn walk_longer(&self, prefix: &Prefix, f: &mut dyn FnMut(&Prefix, &RouteSet) -> bool) {
        if let Some(t) = self.trie(prefix.plan) {
            t.walk_under(&prefix.digits, &mut |d, s| {
                f(
                    &Prefix {
                        plan: prefix.plan,
                        digits: *d,
                    },
                    s,
                )
            });
        }
    }

    /// Every route of every plan, in plan then prefix order; `f` returns
    /// false to stop.
    pub fn walk_all(&self, f: &mut dyn FnMut(&Prefix, &RouteSet) -> bool) {
        for i in 0..self.plans.len() {
            let mut go = true;
            self.walk_longer(
                &Prefix {
                    plan: PlanId(i as u8),
                    digits: Digits::EMPTY,
                },
                &mut |p, s| {
                    go = f(p, s);
                    go
                },
            );
            if !go {
                return;
            }
        }
    }
}

/// Shares equal [`Attrs`] between routes, so a million routes to one trunk
/// hold one copy of it.
#[derive(Debug, Default)]
pub struct AttrsInterner {
    set: HashSet<Arc<Attrs>>,
}

impl AttrsInterner {
    pub fn intern(&mut self, attrs: Attrs) -> Arc<Attrs> {
        if let Some(a) = self.set.get(&attrs) {
            return a.clone();
        }
        let a = Arc::new(attrs);
        self.set.insert(a.clone());
        a
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
