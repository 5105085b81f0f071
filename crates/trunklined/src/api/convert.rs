//! Between protobuf messages and core types. The only place that knows both.

use std::collections::HashMap;
use std::sync::Arc;

use tonic::Status;
use trunkline_core::select::Step;
use trunkline_core::{Attrs, Number, Plans, Prefix, Route, Source, Validation};
use trunkline_proto::v1 as pb;

use crate::parse::local_attrs;

/// Most prefixes one request may expand to.
pub const MAX_PREFIXES_PER_REQUEST: usize = 2_000_000;

pub fn invalid(field: impl std::fmt::Display, e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {e}"))
}

/// Turns an Announce request into routes, sharing equal attributes.
pub fn announce_routes(
    plans: &Plans,
    specs: &[pb::RouteSpec],
) -> Result<Vec<(Prefix, Arc<Attrs>)>, Status> {
    if specs.is_empty() {
        return Err(Status::invalid_argument(
            "routes: at least one route is needed",
        ));
    }
    let mut shared: HashMap<Attrs, Arc<Attrs>> = HashMap::new();
    let mut out = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let block = plans
            .parse_block(&spec.prefix)
            .map_err(|e| invalid(format_args!("routes[{i}].prefix {:?}", spec.prefix), e))?;
        let communities: Vec<String> = spec
            .communities
            .iter()
            .map(|c| format!("{}:{}:{}", c.global, c.local1, c.local2))
            .collect();
        let attrs = local_attrs(
            Source::Api,
            &[],
            spec.next_hops
                .iter()
                .map(|h| (h.uri.as_str(), h.priority, h.weight)),
            spec.local_pref,
            spec.med,
            &communities,
        )
        .map_err(|e| invalid(format_args!("routes[{i}].{}", e.field()), e))?;
        let attrs = Attrs {
            local_from: block.local_from().and_then(|n| u8::try_from(n).ok()),
            ..attrs
        };
        let attrs = shared
            .entry(attrs.clone())
            .or_insert_with(|| Arc::new(attrs))
            .clone();
        for p in block.prefixes() {
            out.push((p, attrs.clone()));
        }
        if out.len() > MAX_PREFIXES_PER_REQUEST {
            return Err(Status::invalid_argument(format!(
                "request expands to more than {MAX_PREFIXES_PER_REQUEST} prefixes; split it"
            )));
        }
    }
    Ok(out)
}

/// Parses prefixes, blocks or ranges of a Withdraw request.
pub fn withdraw_prefixes(plans: &Plans, items: &[String]) -> Result<Vec<Prefix>, Status> {
    if items.is_empty() {
        return Err(Status::invalid_argument(
            "prefixes: at least one prefix is needed",
        ));
    }
    let mut out = Vec::new();
    for (i, s) in items.iter().enumerate() {
        let block = plans
            .parse_block(s)
            .map_err(|e| invalid(format_args!("prefixes[{i}] {s:?}"), e))?;
        out.extend(block.prefixes());
        if out.len() > MAX_PREFIXES_PER_REQUEST {
            return Err(Status::invalid_argument(format!(
                "request expands to more than {MAX_PREFIXES_PER_REQUEST} prefixes; split it"
            )));
        }
    }
    Ok(out)
}

pub fn number(plans: &Plans, s: &str) -> Result<Number, Status> {
    plans
        .parse_number(s)
        .map_err(|e| invalid(format_args!("number {s:?}"), e))
}

pub fn route(plans: &Plans, prefix: &Prefix, r: &Route) -> pb::Route {
    let a = &*r.attrs;
    let (origin, peer_itad) = match &a.source {
        Source::Api => (pb::RouteOrigin::Api, 0),
        Source::Config { .. } => (pb::RouteOrigin::Config, 0),
        Source::Peer { itad, .. } => (pb::RouteOrigin::Peer, *itad),
    };
    pb::Route {
        prefix: plans.prefix_str(prefix),
        next_hops: a
            .next_hops
            .iter()
            .map(|h| pb::NextHop {
                uri: h.uri.clone(),
                priority: h.priority,
                weight: h.weight,
            })
            .collect(),
        path: a.path.clone(),
        local_pref: a.local_pref,
        med: a.med,
        communities: a
            .communities
            .iter()
            .map(|c| pb::LargeCommunity {
                global: c.0,
                local1: c.1,
                local2: c.2,
            })
            .collect(),
        origin: origin.into(),
        source: a.source.name(),
        peer_itad,
        validation: match a.validation {
            Validation::NotFound => pb::Validation::NotFound,
            Validation::Valid => pb::Validation::Valid,
            Validation::Invalid => pb::Validation::Invalid,
        }
        .into(),
        installed_at: r.installed_at,
        stale: r.stale,
        local_from: a.local_from.map(u32::from),
    }
}

pub fn step(s: Option<Step>) -> pb::SelectionStep {
    match s {
        None => pb::SelectionStep::Best,
        Some(Step::Validation) => pb::SelectionStep::Validation,
        Some(Step::Fresh) => pb::SelectionStep::Fresh,
        Some(Step::LocalPref) => pb::SelectionStep::LocalPref,
        Some(Step::LocallyOriginated) => pb::SelectionStep::LocallyOriginated,
        Some(Step::PathLength) => pb::SelectionStep::PathLength,
        Some(Step::Med) => pb::SelectionStep::Med,
        Some(Step::AnnouncedEarlier) => pb::SelectionStep::AnnouncedEarlier,
        Some(Step::Peer) => pb::SelectionStep::Peer,
    }
}

/// A lookup's answer as the gRPC Lookup gives it.
pub fn answer(plans: &Plans, a: &crate::lookup::Answer) -> pb::LookupResponse {
    answer_with(plans, a, true)
}

/// An answer, with its routes or only its next hops (a batch's default).
pub fn answer_with(
    plans: &Plans,
    a: &crate::lookup::Answer,
    with_routes: bool,
) -> pb::LookupResponse {
    let routes = match with_routes {
        true => a
            .routes
            .iter()
            .map(|r| route(plans, &a.matched, r))
            .collect(),
        false => Vec::new(),
    };
    pb::LookupResponse {
        number: plans.number_str(&a.number),
        matched_prefix: plans.prefix_str(&a.matched),
        routes,
        next_hops: a
            .hops
            .iter()
            .map(|h| pb::ResolvedHop {
                uri: h.uri.clone(),
                priority: h.priority,
                weight: h.weight,
                route: h.route as u32,
            })
            .collect(),
        applied_index: a.applied_index,
    }
}

pub fn raft_status(st: &trunkline_cluster::node::Status) -> pb::RaftStatus {
    use trunkline_cluster::node::Role;
    let role = match st.role {
        Role::Follower => pb::RaftRole::Follower,
        Role::Candidate => pb::RaftRole::Candidate,
        Role::PreCandidate => pb::RaftRole::PreCandidate,
        Role::Leader => pb::RaftRole::Leader,
    };
    pb::RaftStatus {
        node_id: st.id,
        role: role.into(),
        term: st.term,
        leader_id: st.leader_id,
        commit_index: st.commit_index,
        applied_index: st.applied_index,
        first_index: st.first_index,
        last_index: st.last_index,
        snapshot_index: st.snapshot_index,
        voters: st.voters.clone(),
        learners: st.learners.clone(),
    }
}
