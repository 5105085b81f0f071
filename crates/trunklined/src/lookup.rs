//! Answering a dialed number from the node's applied state: the one place
//! the gRPC Lookup and every PBX front end (HTTP, ENUM, SIP) ask. Matching,
//! eligibility and template expansion are decided here, once; each caller
//! only writes the answer in its own protocol.

use thiserror::Error;
use trunkline_cluster::View;
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
    lookup_number(view, &parsed).ok_or_else(|| LookupError::NoRoute(plans.number_str(&parsed)))
}

/// Looks up a number already parsed; `None` when no route is eligible.
pub fn lookup_number(view: &View, number: &Number) -> Option<Answer> {
    let m = view.table.lookup(number)?;
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
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        let local = r.attrs.local_part(&digits, matched_len);
        for h in &r.attrs.next_hops {
            let uri = h.expand(&e164, &digits, local);
            if seen.insert(uri.clone()) {
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
