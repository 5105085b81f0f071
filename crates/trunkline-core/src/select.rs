//! Route selection (DESIGN section 3): deterministic and explainable.
//!
//! Nothing here depends on a clock or on arrival order outside the
//! replicated log, so every node of a cluster ranks the same inputs the same
//! way.

use std::cmp::Ordering;

use crate::route::{Route, Validation};

/// The steps of route selection, in the order they are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// 1. Origin-validation `invalid` routes are not eligible.
    Validation,
    /// 1a. Fresh before stale: a route kept through a graceful restart,
    /// here or upstream ([`crate::LargeCommunity::STALE`]), loses to any
    /// fresh one (as RFC 9494's LLGR_STALE), so a failed link does not
    /// hold traffic on a dead path for the restart time when another path
    /// is up (found by `trunkline-sim run federation`).
    Fresh,
    /// 2. Highest local preference.
    LocalPref,
    /// 3. Locally originated before learned.
    LocallyOriginated,
    /// 4. Shortest path.
    PathLength,
    /// 5. Lowest MED.
    Med,
    /// 6. Earliest announcement, by the log index that installed it.
    AnnouncedEarlier,
    /// 7. Lowest peer ITAD, then peer name (local sources: api, then config).
    Peer,
}

impl Step {
    pub const ALL: [Step; 8] = [
        Step::Validation,
        Step::Fresh,
        Step::LocalPref,
        Step::LocallyOriginated,
        Step::PathLength,
        Step::Med,
        Step::AnnouncedEarlier,
        Step::Peer,
    ];

    fn compare(self, a: &Route, b: &Route) -> Ordering {
        let (x, y) = (&*a.attrs, &*b.attrs);
        match self {
            Step::Validation => y.origin_eligible().cmp(&x.origin_eligible()),
            Step::Fresh => a.is_stale().cmp(&b.is_stale()),
            Step::LocalPref => y.local_pref.cmp(&x.local_pref),
            Step::LocallyOriginated => y.source.is_local().cmp(&x.source.is_local()),
            Step::PathLength => x.path.len().cmp(&y.path.len()),
            Step::Med => x.med.cmp(&y.med),
            Step::AnnouncedEarlier => a.installed_at.cmp(&b.installed_at),
            Step::Peer => x.source.cmp(&y.source),
        }
    }

    /// Why `loser` lost to `best` at this step, for people.
    pub fn reason(self, best: &Route, loser: &Route) -> String {
        let (b, l) = (&*best.attrs, &*loser.attrs);
        match self {
            Step::Validation => match l.validation {
                Validation::Invalid => "origin validation: invalid routes are not eligible",
                _ => "origin validation: not-found, and its peer's policy rejects not-found",
            }
            .to_owned(),
            Step::Fresh => {
                "stale: kept through a graceful restart; the best route is fresh".to_owned()
            }
            Step::LocalPref => format!("local preference {} < {}", l.local_pref, b.local_pref),
            Step::LocallyOriginated => "learned; the best route is locally originated".to_owned(),
            Step::PathLength => format!("path length {} > {}", l.path.len(), b.path.len()),
            Step::Med => format!("MED {} > {}", l.med, b.med),
            Step::AnnouncedEarlier => format!(
                "installed at log index {} after {}",
                loser.installed_at, best.installed_at
            ),
            Step::Peer => format!("source {} sorts after {}", l.source.name(), b.source.name()),
        }
    }
}

/// Compares two candidates for one prefix: `Less` when `a` is better, with
/// the step that decided (`None` only for identical candidates).
pub fn compare(a: &Route, b: &Route) -> (Ordering, Option<Step>) {
    for step in Step::ALL {
        let o = step.compare(a, b);
        if o != Ordering::Equal {
            return (o, Some(step));
        }
    }
    (Ordering::Equal, None)
}

/// Sorts candidates best first.
pub fn rank(routes: &mut [Route]) {
    routes.sort_by(|a, b| compare(a, b).0);
}

/// Whether a route may be chosen at all.
pub fn is_eligible(r: &Route) -> bool {
    r.attrs.origin_eligible()
}

/// One line of an explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `None` for the best route; otherwise the step at which it lost.
    pub lost_at: Option<Step>,
    pub reason: String,
}

/// For ranked candidates (best first): the best route wins, every other one
/// lost to it at some step.
pub fn explain(ranked: &[Route]) -> Vec<Verdict> {
    let Some(best) = ranked.first() else {
        return Vec::new();
    };
    let best_eligible = is_eligible(best);
    ranked
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if i == 0 && best_eligible {
                return Verdict {
                    lost_at: None,
                    reason: "best route".to_owned(),
                };
            }
            if !is_eligible(r) {
                return Verdict {
                    lost_at: Some(Step::Validation),
                    reason: Step::Validation.reason(best, r),
                };
            }
            let step = compare(best, r).1.unwrap_or(Step::Peer);
            Verdict {
                lost_at: Some(step),
                reason: step.reason(best, r),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
