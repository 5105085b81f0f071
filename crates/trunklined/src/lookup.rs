//! Answering a dialed number from the node's applied state: the one place
//! the gRPC Lookup and every PBX front end (HTTP, ENUM, SIP) ask. Matching,
//! eligibility and template expansion are decided here, once; each caller
//! only writes the answer in its own protocol.

use thiserror::Error;
use trunkline_cluster::View;
use trunkline_core::table::Match;
use trunkline_core::{Number, NumberError, PlanId, Plans, Prefix, Route};

use crate::store::{Removed, StoreHandle};

/// The longest matching prefix of a number, its eligible routes best
/// first, and every next hop expanded for the number, in the order to try
/// them.
#[derive(Debug, Clone)]
pub struct Answer {
    pub number: Number,
    pub matched: Prefix,
    pub routes: Vec<Route>,
    pub hops: Vec<Hop>,
    /// The raft index of the state that answered.
    pub applied_index: u64,
}

/// A next hop with its URI template filled in for the dialed number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub uri: String,
    pub priority: u32,
    pub weight: u32,
    /// Index into [`Answer::routes`] of the route it came from.
    pub route: usize,
}

#[derive(Debug, Error)]
pub enum LookupError {
    /// This node cannot answer: the cluster removed it.
    #[error("{0}")]
    Removed(Removed),
    #[error("number {input:?}: {error}")]
    Number { input: String, error: NumberError },
    #[error("no route for {0}")]
    NoRoute(String),
}

/// Looks up `number` as written by a caller (`+15551234567`, `npstn:55`).
pub fn lookup(store: &StoreHandle, number: &str) -> Result<Answer, LookupError> {
    if let Err(crate::store::WriteError::Removed(r)) = store.serving() {
        return Err(LookupError::Removed(r));
    }
    lookup_in(&store.view().load(), store.plans(), number)
}

/// Looks up `number` as written by a caller in one applied state.
pub fn lookup_in(view: &View, plans: &Plans, number: &str) -> Result<Answer, LookupError> {
    let parsed = plans
        .parse_number(number)
        .map_err(|error| LookupError::Number {
            input: number.to_owned(),
            error,
        })?;
    answered(plans, &parsed, lookup_number(view, &parsed))
}

/// Looks up many numbers as written by a caller in one applied state,
/// with the table's batched match (their memory reads overlap): for each,
/// in order, what [`lookup_in`] says.
pub fn lookup_many<S: AsRef<str>>(
    view: &View,
    plans: &Plans,
    numbers: &[S],
) -> Vec<Result<Answer, LookupError>> {
    let mut out = Vec::with_capacity(numbers.len());
    let (mut batch, mut at) = (Vec::new(), Vec::new());
    for (i, n) in numbers.iter().enumerate() {
        match plans.parse_number(n.as_ref()) {
            Ok(number) => {
                batch.push(number);
                at.push(i);
                // Set below: the batch answers every number it is given.
                out.push(Err(LookupError::NoRoute(String::new())));
            }
            Err(error) => out.push(Err(LookupError::Number {
                input: n.as_ref().to_owned(),
                error,
            })),
        }
    }
    view.table.lookup_batch(&batch, |j, m| {
        let number = &batch[j];
        out[at[j]] = answered(plans, number, m.and_then(|m| answer(view, number, m)));
    });
    out
}

/// An answer, or the error that says there is none for `number`.
fn answered(plans: &Plans, number: &Number, a: Option<Answer>) -> Result<Answer, LookupError> {
    a.ok_or_else(|| LookupError::NoRoute(plans.number_str(number)))
}

/// Looks up a number already parsed; `None` when no route is eligible.
pub fn lookup_number(view: &View, number: &Number) -> Option<Answer> {
    answer(view, number, view.table.lookup(number)?)
}

/// The answer for `number` from its longest match.
fn answer(view: &View, number: &Number, m: Match<'_>) -> Option<Answer> {
    let routes = m.eligible();
    if routes.is_empty() {
        return None;
    }
    Some(Answer {
        number: *number,
        matched: m.prefix,
        hops: hops(number, m.prefix.digits.len(), routes),
        routes: routes.to_vec(),
        applied_index: view.applied_index,
    })
}

/// Whether any route lies below `prefix`: such a name exists though it
/// holds nothing itself (DNS answers NODATA there, RFC 8020).
pub fn has_routes_below(view: &View, prefix: &Prefix) -> bool {
    let mut below = false;
    view.table.walk_longer(prefix, &mut |_, set| {
        below = set.iter().next().is_some();
        !below
    });
    below
}

/// The next hops to try for a dialed number, in order, templates expanded;
/// a URI that expands to one already listed is given once.
pub fn hops(number: &Number, matched_len: usize, routes: &[Route]) -> Vec<Hop> {
    let digits = number.digits.to_string();
    let e164 = if number.plan == PlanId::E164 {
        format!("+{digits}")
    } else {
        digits.clone()
    };
    let mut out: Vec<Hop> = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        let local = r.attrs.local_part(&digits, matched_len);
        for h in &r.attrs.next_hops {
            let uri = h.expand(&e164, &digits, local);
            // A route has a few next hops: a scan costs less than hashing.
            if !out.iter().any(|o| o.uri == uri) {
                out.push(Hop {
                    uri,
                    priority: h.priority,
                    weight: h.weight,
                    route: i,
                });
            }
        }
    }
    out
}

/// The canonical text of the answer's number and prefix.
impl Answer {
    pub fn number_str(&self, plans: &Plans) -> String {
        plans.number_str(&self.number)
    }

    pub fn matched_str(&self, plans: &Plans) -> String {
        plans.prefix_str(&self.matched)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;
    use trunkline_core::{Attrs, NextHop, Route, RouteTable, Source, Validation};

    use super::*;

    fn route(peer: u32, valid: bool) -> Route {
        Route {
            attrs: Arc::new(Attrs {
                source: Source::Peer {
                    itad: 64_512 + peer,
                    name: format!("p{peer}").into(),
                },
                next_hops: vec![NextHop::new("sip:{e164}@p.example", 10, 100).unwrap()],
                path: vec![64_512 + peer],
                local_pref: 100,
                med: 0,
                communities: vec![],
                validation: if valid {
                    Validation::NotFound
                } else {
                    Validation::Invalid
                },
                reject_not_found: false,
                local_from: None,
            }),
            installed_at: 1,
            stale: false,
        }
    }

    /// A prefix or number as written: a plan and a few digits from a
    /// small alphabet, so that numbers fall under prefixes often.
    fn written(plan_digits: (bool, Vec<u8>)) -> String {
        let (npstn, digits) = plan_digits;
        let d: String = digits.iter().map(|d| char::from(b'1' + d % 3)).collect();
        if npstn {
            format!("npstn:{d}")
        } else {
            format!("+{d}")
        }
    }

    proptest! {
        /// A batch answers each number as a lookup of it alone does: with
        /// prefixes in the table's frozen base and in its delta, routes
        /// that are not eligible, numbers of two plans mixed, and input
        /// that is not a number.
        #[test]
        fn a_batch_answers_each_number_as_a_single_lookup_does(
            base in prop::collection::vec(((any::<bool>(), prop::collection::vec(any::<u8>(), 1..5)), 0u32..3, any::<bool>()), 0..40),
            delta in prop::collection::vec(((any::<bool>(), prop::collection::vec(any::<u8>(), 1..5)), 0u32..3, any::<bool>()), 0..10),
            numbers in prop::collection::vec(prop_oneof![
                8 => (any::<bool>(), prop::collection::vec(any::<u8>(), 1..9)).prop_map(written),
                1 => prop::sample::select(vec!["", "+", "abc", "npstn:", "nope:12", "+1-x"]).prop_map(String::from),
            ], 0..60),
        ) {
            let plans = Plans::with_private([("npstn", 7)]).unwrap();
            let mut table = RouteTable::new();
            for (layer, compact) in [(&base, true), (&delta, false)] {
                for (p, peer, valid) in layer {
                    table.upsert(&plans.parse_prefix(&written(p.clone())).unwrap(), route(*peer, *valid));
                }
                if compact {
                    table.compact();
                }
            }
            let view = View { table, applied_index: 7, ..View::default() };
            let batch = lookup_many(&view, &plans, &numbers);
            prop_assert_eq!(batch.len(), numbers.len());
            for (n, b) in numbers.iter().zip(&batch) {
                let one = lookup_in(&view, &plans, n);
                prop_assert_eq!(format!("{b:?}"), format!("{one:?}"), "number {:?}", n);
            }
        }
    }
}
