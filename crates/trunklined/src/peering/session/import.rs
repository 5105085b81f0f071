//! What a session does with a received Update: each route checked against
//! the peer's policy and limits (`trunkline_peering::policy::import`), the
//! accepted ones shared by attributes, the refused ones kept with why.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use trunkline_core::{Attrs, Itad, PlanId, Plans, Prefix};
use trunkline_peering::message::Code;
use trunkline_peering::policy::{self, MaxPrefixAction, Rejected};
use trunkline_proto::peering::v1 as pb;

use super::writer::Write;
use crate::peering::config::Peer;
use crate::peering::convert;

/// An Update sorted out: the write to make, or a limit that closes the
/// session.
#[derive(Debug)]
pub(super) enum Imported {
    Write {
        write: Write,
        received: u64,
        rejected: u64,
    },
    Close(Code, String),
}

/// Sorts one Update. `accepted` holds the prefixes accepted in this
/// session (kept only under a prefix limit, so a full table without one
/// does not pay for it).
pub(super) fn import(
    u: &pb::Update,
    peer: &Peer,
    me: Itad,
    plans: &Plans,
    carried: &[PlanId],
    accepted: &mut HashSet<Prefix>,
) -> Imported {
    let mut announce = Vec::with_capacity(u.announce.len());
    let mut refused = Vec::new();
    let mut shared: HashMap<Attrs, Arc<Attrs>> = HashMap::new();
    let mut rejected = 0;
    for r in &u.announce {
        let a = match convert::announced(plans, carried, r) {
            Ok(a) => a,
            Err(why) => {
                rejected += 1;
                // Treat as withdraw (RFC 7606) when the prefix itself reads.
                match plans.parse_prefix(&r.prefix) {
                    Ok(px) if carried.contains(&px.plan) => {
                        accepted.remove(&px);
                        refused.push((px, why, None));
                    }
                    _ => tracing::info!(peer = %peer.name(), error = %why, "unreadable route"),
                }
                continue;
            }
        };
        match policy::import(&peer.policy, me, &a) {
            Ok(attrs) => {
                if let Some((limit, action)) = peer.policy.max_prefixes
                    && !accepted.contains(&a.prefix)
                    && accepted.len() >= limit
                {
                    match action {
                        MaxPrefixAction::Refuse => {
                            rejected += 1;
                            let sent = Arc::new(policy::as_received(&peer.policy, &a));
                            let why = Rejected::MaxPrefixes(limit).to_string();
                            refused.push((a.prefix, why, Some(sent)));
                            continue;
                        }
                        MaxPrefixAction::Close => {
                            let why = format!("more than {limit} prefixes");
                            tracing::warn!(peer = %peer.name(), "{why}: closing the session");
                            return Imported::Close(Code::MaxPrefixes, why);
                        }
                    }
                }
                if peer.policy.max_prefixes.is_some() {
                    accepted.insert(a.prefix);
                }
                let attrs = shared
                    .entry(attrs.clone())
                    .or_insert_with(|| Arc::new(attrs))
                    .clone();
                announce.push((a.prefix, attrs));
            }
            Err(why) => {
                rejected += 1;
                accepted.remove(&a.prefix);
                let sent = Arc::new(policy::as_received(&peer.policy, &a));
                refused.push((a.prefix, why.to_string(), Some(sent)));
            }
        }
    }
    let mut withdraw = Vec::with_capacity(u.withdraw.len());
    for w in &u.withdraw {
        match plans.parse_prefix(w) {
            Ok(px) if carried.contains(&px.plan) => {
                accepted.remove(&px);
                withdraw.push(px);
            }
            _ => tracing::info!(peer = %peer.name(), prefix = %w, "ignoring a withdrawal"),
        }
    }
    Imported::Write {
        write: Write::Routes {
            announce,
            withdraw,
            rejected: refused,
        },
        received: u.announce.len() as u64,
        rejected,
    }
}
