//! Origin validation as RFC 6811 defines it, over decimal prefixes: a
//! route is *valid* when an authorisation that counts covers its prefix
//! for its origin ITAD and the prefix is no longer than that
//! authorisation's maximum length; *invalid* when authorisations cover it
//! but none matches; *not-found* when none covers it. Every covering
//! authorisation is considered, not only the longest.
//!
//! The index is keyed by (plan, prefix), so the covering entries of a
//! prefix are its at most 17 ancestors, and the routes one entry touches
//! are a contiguous range of keys (its subtree): revalidation visits
//! those, never the whole table.

use std::collections::{BTreeMap, HashMap};

use trunkline_core::Digits;

use crate::object::StatementId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub origin: u32,
    pub max_len: u8,
    pub id: StatementId,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PlanIndex {
    by_prefix: BTreeMap<Digits, Vec<IndexEntry>>,
    /// How many authorised prefixes have each length: a lookup probes
    /// only the lengths that occur.
    lengths: [u32; trunkline_core::plan::MAX_DIGITS + 1],
}

#[derive(Debug, Clone, Default)]
pub struct Index {
    plans: HashMap<String, PlanIndex>,
}

/// Why a covered route is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// No covering authorisation names its origin.
    Origin,
    /// One names its origin, but allows only shorter prefixes.
    Length,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    NotFound,
    Valid {
        by: StatementId,
    },
    Invalid {
        why: Mismatch,
        covering: Vec<StatementId>,
    },
}

impl Validation {
    pub fn name(&self) -> &'static str {
        match self {
            Validation::NotFound => "not-found",
            Validation::Valid { .. } => "valid",
            Validation::Invalid { .. } => "invalid",
        }
    }
}

impl Index {
    pub(crate) fn add(&mut self, plan: &str, prefix: Digits, e: IndexEntry) {
        let pi = self.plans.entry(plan.to_owned()).or_default();
        let list = pi.by_prefix.entry(prefix).or_insert_with(|| {
            pi.lengths[prefix.len()] += 1;
            Vec::new()
        });
        if !list.contains(&e) {
            list.push(e);
        }
    }

    /// Authorised prefixes.
    pub fn len(&self) -> usize {
        self.plans.values().map(|p| p.by_prefix.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry covering `prefix`, shortest first.
    pub fn covering<'a>(
        &'a self,
        plan: &str,
        prefix: &'a Digits,
    ) -> impl Iterator<Item = (Digits, &'a IndexEntry)> + 'a {
        let pi = self.plans.get(plan);
        pi.into_iter().flat_map(move |pi| {
            (0..=prefix.len())
                .filter(|&n| pi.lengths[n] > 0)
                .flat_map(move |n| {
                    let p = prefix.truncate(n);
                    pi.by_prefix
                        .get(&p)
                        .into_iter()
                        .flatten()
                        .map(move |e| (p, e))
                })
        })
    }

    /// RFC 6811 for a route to `prefix` whose origin is `origin`.
    pub fn validate(&self, plan: &str, prefix: &Digits, origin: u32) -> Validation {
        let mut covering = Vec::new();
        let mut length = false;
        for (_, e) in self.covering(plan, prefix) {
            if e.origin != 0 && e.origin == origin {
                if prefix.len() <= usize::from(e.max_len) {
                    return Validation::Valid { by: e.id };
                }
                length = true;
            }
            covering.push(e.id);
        }
        if covering.is_empty() {
            Validation::NotFound
        } else {
            covering.sort_unstable();
            covering.dedup();
            Validation::Invalid {
                why: if length {
                    Mismatch::Length
                } else {
                    Mismatch::Origin
                },
                covering,
            }
        }
    }

    /// The prefixes whose entries differ between two indexes (added,
    /// removed or changed): what a change of the statement set touches.
    pub fn differences(&self, other: &Index) -> Vec<(String, Digits)> {
        let empty = PlanIndex::default();
        let mut out = Vec::new();
        let plans: std::collections::BTreeSet<&String> =
            self.plans.keys().chain(other.plans.keys()).collect();
        for plan in plans {
            let a = self.plans.get(plan).unwrap_or(&empty);
            let b = other.plans.get(plan).unwrap_or(&empty);
            if a == b {
                continue;
            }
            for (k, v) in &a.by_prefix {
                if b.by_prefix.get(k) != Some(v) {
                    out.push((plan.clone(), *k));
                }
            }
            for k in b.by_prefix.keys() {
                if !a.by_prefix.contains_key(k) {
                    out.push((plan.clone(), *k));
                }
            }
        }
        out
    }
}
