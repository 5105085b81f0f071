//! Human tables and JSON for the read commands.

use serde_json::{Value, json};
use trunkline_proto::v1 as pb;

use crate::paint;

/// Prints rows as left-aligned columns separated by two spaces.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(paint::width(c));
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(w - paint::width(c) + 2));
            }
        }
        say!("{}", s.trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for r in rows {
        line(r.clone());
    }
}

fn origin(r: &pb::Route) -> &'static str {
    match r.origin() {
        pb::RouteOrigin::Api => "api",
        pb::RouteOrigin::Config => "config",
        pb::RouteOrigin::Peer => "peer",
        pb::RouteOrigin::Unspecified => "?",
    }
}

fn validation(r: &pb::Route) -> &'static str {
    match r.validation() {
        pb::Validation::Valid => "valid",
        pb::Validation::Invalid => "invalid",
        pb::Validation::NotFound | pb::Validation::Unspecified => "not-found",
    }
}

pub(crate) fn path(r: &pb::Route) -> String {
    if r.path.is_empty() {
        "-".to_owned()
    } else {
        r.path
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub(crate) fn hops(r: &pb::Route) -> String {
    r.next_hops
        .iter()
        .map(|h| format!("{} ({}/{})", h.uri, h.priority, h.weight))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn route_json(r: &pb::Route) -> Value {
    json!({
        "prefix": r.prefix,
        "next_hops": r.next_hops.iter().map(|h| json!({"uri": h.uri, "priority": h.priority, "weight": h.weight})).collect::<Vec<_>>(),
        "path": r.path,
        "local_pref": r.local_pref,
        "med": r.med,
        "communities": r.communities.iter().map(|c| format!("{}:{}:{}", c.global, c.local1, c.local2)).collect::<Vec<_>>(),
        "origin": origin(r),
        "source": r.source,
        "peer_itad": r.peer_itad,
        "validation": validation(r),
        "installed_at": r.installed_at,
        "stale": r.stale,
        "local_from": r.local_from,
    })
}

pub(crate) fn print_json(v: &Value) {
    say!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub fn lookup(r: &pb::LookupResponse, json: bool) {
    if json {
        print_json(&json!({
            "number": r.number,
            "matched_prefix": r.matched_prefix,
            "next_hops": r.next_hops.iter().map(|h| json!({"uri": h.uri, "priority": h.priority, "weight": h.weight, "route": h.route})).collect::<Vec<_>>(),
            "routes": r.routes.iter().map(route_json).collect::<Vec<_>>(),
            "applied_index": r.applied_index,
        }));
        return;
    }
    say!(
        "{} matches {} ({})",
        r.number,
        r.matched_prefix,
        crate::count(r.routes.len() as u64, "route", "routes")
    );
    let rows: Vec<Vec<String>> = r
        .next_hops
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let src = r.routes.get(h.route as usize).map_or("?".to_owned(), |x| {
                if x.stale {
                    format!("{} (stale)", x.source)
                } else {
                    x.source.clone()
                }
            });
            let origin = r.routes.get(h.route as usize).map_or("?", validation);
            vec![
                (i + 1).to_string(),
                h.uri.clone(),
                h.priority.to_string(),
                h.weight.to_string(),
                src,
                origin.to_owned(),
            ]
        })
        .collect();
    table(
        &["#", "NEXT HOP", "PRIORITY", "WEIGHT", "FROM", "ORIGIN"],
        &rows,
    );
}

/// Collects streamed routes and prints them at the end (tables need widths).
#[derive(Debug)]
pub struct RouteList {
    json: bool,
    rows: Vec<Vec<String>>,
    values: Vec<Value>,
}

impl RouteList {
    pub fn new(json: bool) -> RouteList {
        RouteList {
            json,
            rows: Vec::new(),
            values: Vec::new(),
        }
    }

    pub fn add(&mut self, routes: &[pb::Route]) {
        for r in routes {
            if self.json {
                self.values.push(route_json(r));
            } else {
                self.rows.push(vec![
                    r.prefix.clone(),
                    hops(r),
                    r.local_pref.to_string(),
                    r.med.to_string(),
                    path(r),
                    if r.stale {
                        format!("{} (stale)", r.source)
                    } else {
                        r.source.clone()
                    },
                    r.installed_at.to_string(),
                    validation(r).to_owned(),
                ]);
            }
        }
    }

    pub fn finish(self) {
        if self.json {
            print_json(&Value::Array(self.values));
        } else if self.rows.is_empty() {
            say!("no routes");
        } else {
            table(
                &[
                    "PREFIX",
                    "NEXT HOPS",
                    "LPREF",
                    "MED",
                    "PATH",
                    "SOURCE",
                    "INDEX",
                    "ORIGIN",
                ],
                &self.rows,
            );
        }
    }
}

fn step(s: pb::SelectionStep) -> &'static str {
    match s {
        pb::SelectionStep::Best => "best",
        pb::SelectionStep::Validation => "validation",
        pb::SelectionStep::Fresh => "stale",
        pb::SelectionStep::LocalPref => "local-pref",
        pb::SelectionStep::LocallyOriginated => "local-origin",
        pb::SelectionStep::PathLength => "path-length",
        pb::SelectionStep::Med => "med",
        // The candidate lost because the best was announced earlier.
        pb::SelectionStep::AnnouncedEarlier => "announced-later",
        pb::SelectionStep::Peer => "peer",
        pb::SelectionStep::Unspecified => "?",
    }
}

pub fn explain(r: &pb::ExplainResponse, json: bool) {
    if json {
        print_json(&json!({
            "number": r.number,
            "matched_prefix": r.matched_prefix,
            "candidates": r.candidates.iter().map(|c| json!({
                "route": c.route.as_ref().map(route_json),
                "lost_at": step(c.lost_at()),
                "reason": c.reason,
            })).collect::<Vec<_>>(),
        }));
        return;
    }
    say!(
        "{} matches {} ({})",
        r.number,
        r.matched_prefix,
        crate::count(r.candidates.len() as u64, "candidate", "candidates")
    );
    let rows: Vec<Vec<String>> = r
        .candidates
        .iter()
        .map(|c| {
            let rt = c.route.clone().unwrap_or_default();
            vec![
                step(c.lost_at()).to_owned(),
                rt.source.clone(),
                validation(&rt).to_owned(),
                rt.local_pref.to_string(),
                path(&rt),
                rt.med.to_string(),
                rt.installed_at.to_string(),
                hops(&rt),
                c.reason.clone(),
            ]
        })
        .collect();
    table(
        &[
            "RESULT",
            "SOURCE",
            "ORIGIN",
            "LPREF",
            "PATH",
            "MED",
            "INDEX",
            "NEXT HOPS",
            "WHY",
        ],
        &rows,
    );
}

fn role(r: pb::RaftRole) -> &'static str {
    match r {
        pb::RaftRole::Leader => "leader",
        pb::RaftRole::Follower => "follower",
        pb::RaftRole::Candidate => "candidate",
        pb::RaftRole::PreCandidate => "pre-candidate",
        pb::RaftRole::Unspecified => "?",
    }
}

pub fn status(s: &pb::StatusResponse, json: bool) {
    let raft = s.raft.clone().unwrap_or_default();
    if json {
        print_json(&json!({
            "node_name": s.node_name,
            "itad": s.itad,
            "version": s.version,
            "uptime_seconds": s.uptime_seconds,
            "raft": {
                "node_id": raft.node_id,
                "role": role(raft.role()),
                "term": raft.term,
                "leader_id": raft.leader_id,
                "commit_index": raft.commit_index,
                "applied_index": raft.applied_index,
                "first_index": raft.first_index,
                "last_index": raft.last_index,
                "snapshot_index": raft.snapshot_index,
                "voters": raft.voters,
                "learners": raft.learners,
            },
            "plans": s.plans.iter().map(|p| json!({"name": p.name, "max_digits": p.max_digits, "prefixes": p.prefixes, "routes": p.routes})).collect::<Vec<_>>(),
            "prefixes": s.prefixes,
            "routes": s.routes,
            "data_dir": s.data_dir,
            "removed": s.removed.as_ref().map(|r| json!({"log_index": r.log_index, "detail": r.detail})),
        }));
        return;
    }
    let ids = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
    if let Some(r) = &s.removed {
        say!("REMOVED: {}", r.detail);
    }
    let mut rows = vec![
        vec![
            "node".into(),
            format!("{} (id {})", s.node_name, raft.node_id),
        ],
        vec!["itad".into(), s.itad.to_string()],
        vec!["version".into(), s.version.clone()],
        vec!["uptime".into(), format!("{} s", s.uptime_seconds)],
        vec!["data".into(), s.data_dir.clone()],
        vec![
            "raft".into(),
            format!(
                "{}, term {}, leader {}",
                role(raft.role()),
                raft.term,
                raft.leader_id
            ),
        ],
        vec![
            "log".into(),
            format!(
                "commit {}, applied {}, entries {}..{}, snapshot {}",
                raft.commit_index,
                raft.applied_index,
                raft.first_index,
                raft.last_index,
                raft.snapshot_index
            ),
        ],
        vec!["voters".into(), ids(&raft.voters)],
        vec![
            "routes".into(),
            format!("{} on {} prefixes", s.routes, s.prefixes),
        ],
    ];
    if !raft.learners.is_empty() {
        rows.push(vec!["learners".into(), ids(&raft.learners)]);
    }
    for p in &s.plans {
        rows.push(vec![
            format!("plan {}", p.name),
            format!(
                "max {} digits, {} prefixes, {} routes",
                p.max_digits, p.prefixes, p.routes
            ),
        ]);
    }
    table(&["", ""], &rows);
}

pub fn cluster_status(s: &pb::ClusterStatusResponse, json: bool) {
    let membership = |m: &pb::Member| {
        if m.membership() == pb::MemberRole::Learner {
            "learner"
        } else {
            "voter"
        }
    };
    let role_of = |m: &pb::Member| {
        if m.reachable {
            role(m.raft.clone().unwrap_or_default().role())
        } else {
            "unreachable"
        }
    };
    if json {
        print_json(&json!({
            "leader_id": s.leader_id,
            "term": s.term,
            "members": s.members.iter().map(|m| {
                let r = m.raft.clone().unwrap_or_default();
                json!({
                    "id": m.id,
                    "addr": m.addr,
                    "membership": membership(m),
                    "reachable": m.reachable,
                    "role": role_of(m),
                    "term": r.term,
                    "commit_index": r.commit_index,
                    "applied_index": r.applied_index,
                    "lag": m.lag,
                })
            }).collect::<Vec<_>>(),
        }));
        return;
    }
    say!("leader {} in term {}", s.leader_id, s.term);
    let rows: Vec<Vec<String>> = s
        .members
        .iter()
        .map(|m| {
            let r = m.raft.clone().unwrap_or_default();
            let reach = |v: u64| {
                if m.reachable {
                    v.to_string()
                } else {
                    "-".to_owned()
                }
            };
            vec![
                m.id.to_string(),
                m.addr.clone(),
                membership(m).to_owned(),
                role_of(m).to_owned(),
                reach(r.term),
                reach(r.commit_index),
                reach(r.applied_index),
                reach(m.lag),
            ]
        })
        .collect();
    table(
        &[
            "ID", "ADDRESS", "MEMBER", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG",
        ],
        &rows,
    );
}
