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

use std::collections::BTreeMap;

use trunkline_core::Digits;

use crate::object::StatementId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub origin: u32,
    pub max_len: u8,
    pub id: StatementId,
}

#[derive(Debug, Clone, Default)]
pub struct Index {
    by_prefix: BTreeMap<(String, Digits), Vec<IndexEntry>>,
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
        let list = self.by_prefix.entry((plan.to_owned(), prefix)).or_default();
        if !list.contains(&e) {
            list.push(e);
        }
    }

    /// Authorised prefixes.
    pub fn len(&self) -> usize {
        self.by_prefix.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_prefix.is_empty()
    }

    /// Every entry covering `prefix`, shortest first.
    pub fn covering<'a>(
        &'a self,
        plan: &'a str,
        prefix: &'a Digits,
    ) -> impl Iterator<Item = (Digits, &'a IndexEntry)> + 'a {
        (0..=prefix.len()).flat_map(move |n| {
            let p = prefix.truncate(n);
            self.by_prefix
                .get(&(plan.to_owned(), p))
                .into_iter()
                .flatten()
                .map(move |e| (p, e))
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
        let mut out = Vec::new();
        for (k, v) in &self.by_prefix {
            if other.by_prefix.get(k) != Some(v) {
                out.push(k.clone());
            }
        }
        for k in other.by_prefix.keys() {
            if !self.by_prefix.contains_key(k) {
                out.push(k.clone());
            }
        }
        out
    }

    /// The authorised prefixes at or below `prefix` (what a change there
    /// can touch).
    pub fn subtree<'a>(
        &'a self,
        plan: &'a str,
        prefix: &'a Digits,
    ) -> impl Iterator<Item = &'a Digits> + 'a {
        self.by_prefix
            .range((plan.to_owned(), *prefix)..)
            .take_while(move |((p, d), _)| p == plan && d.starts_with(prefix))
            .map(|((_, d), _)| d)
    }
}
