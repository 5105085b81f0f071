//! What each page shows, gathered through the node's own public API (the
//! same answers `trunkline` gets), as plain values: the HTML is rendered
//! from them and the JSON twin is them, so the two never disagree.

use serde::Serialize;
use tokio_stream::StreamExt;
use tonic::Request;
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::authority_server::Authority;
use trunkline_proto::v1::cluster_server::Cluster;
use trunkline_proto::v1::neighbors_server::Neighbors;
use trunkline_proto::v1::node_server::Node;
use trunkline_proto::v1::routes_server::Routes;

use crate::api::{Api, NeighborsApi};

/// Where the data came from and how fresh it is: every page says.
#[derive(Debug, Clone, Serialize)]
pub struct Freshness {
    pub node: String,
    pub node_id: u64,
    /// The raft applied index the page was read at (the watch revision).
    pub applied_index: u64,
    /// What this node knows to be committed; a gap means it is catching up.
    pub commit_index: u64,
    /// UTC, when the page was made.
    pub generated_at: String,
    /// Next hops and addresses have their hosts hidden.
    pub redacted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusPage {
    pub fresh: Freshness,
    pub itad: u32,
    pub version: String,
    pub uptime_secs: u64,
    pub role: String,
    pub term: u64,
    pub leader_id: u64,
    pub prefixes: u64,
    pub routes: u64,
    pub plans: Vec<PlanRow>,
    pub members: Vec<MemberRow>,
    pub neighbors: usize,
    pub established: usize,
    /// Authority statements this cluster holds.
    pub statements: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanRow {
    pub name: String,
    pub prefixes: u64,
    pub routes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberRow {
    pub id: u64,
    pub addr: String,
    pub voter: bool,
    pub reachable: bool,
    pub role: String,
    pub applied_index: u64,
    pub lag: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NeighborsPage {
    pub fresh: Freshness,
    pub neighbors: Vec<NeighborRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NeighborRow {
    pub name: String,
    pub itad: u32,
    /// `member` (a PBX) or `peer` (another cluster).
    pub role: String,
    pub state: String,
    /// The node holding the session (0: none).
    pub node: u64,
    /// Seconds since the session came up, where this node holds it.
    pub uptime_secs: u64,
    /// Received in this session (on the node holding it).
    pub received: u64,
    pub accepted: u64,
    pub refused: u64,
    pub stale: u64,
    pub advertised: u64,
    pub last_error: String,
    pub remote: String,
    pub addresses: Vec<String>,
    pub hold_time_secs: u32,
    pub restart_time_secs: u32,
    pub plans: Vec<String>,
    pub authority: bool,
}

/// Which of a neighbor's routes a page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rib {
    /// Everything it sent: accepted and refused.
    Received,
    Accepted,
    /// Sent and not accepted, each with why.
    Refused,
    /// What this cluster sends it.
    Advertised,
}

impl Rib {
    pub const ALL: [Rib; 4] = [Rib::Received, Rib::Accepted, Rib::Refused, Rib::Advertised];

    pub fn name(self) -> &'static str {
        match self {
            Rib::Received => "received",
            Rib::Accepted => "accepted",
            Rib::Refused => "refused",
            Rib::Advertised => "advertised",
        }
    }

    pub fn parse(s: &str) -> Option<Rib> {
        Rib::ALL.into_iter().find(|r| r.name() == s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NeighborPage {
    pub fresh: Freshness,
    pub neighbor: NeighborRow,
    pub rib: Rib,
    pub routes: Vec<RouteRow>,
    /// Routes in the list, of which `routes` shows the first.
    pub total: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteRow {
    pub prefix: String,
    pub next_hops: Vec<HopRow>,
    pub path: Vec<u32>,
    pub local_pref: u32,
    pub med: u32,
    pub communities: Vec<String>,
    /// `api`, `config`, or the peer it came from.
    pub source: String,
    /// `valid`, `invalid`, `not-found`.
    pub validation: String,
    pub stale: bool,
    /// Why it was not accepted (refused routes), or why it is kept but
    /// never selected.
    pub refused: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HopRow {
    pub uri: String,
    pub priority: u32,
    pub weight: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct LookupPage {
    pub fresh: Freshness,
    pub number: String,
    pub result: Option<LookupResult>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LookupResult {
    pub number: String,
    pub matched_prefix: String,
    /// Every next hop to try, in order, expanded for the number.
    pub next_hops: Vec<HopRow>,
    /// Each candidate of the matched prefix and where it lost.
    pub candidates: Vec<CandidateRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CandidateRow {
    pub route: RouteRow,
    /// `best`, or the selection step it lost at.
    pub verdict: String,
    pub reason: String,
}

/// How a prefix search matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Match {
    /// The prefix itself.
    Exact,
    /// It and everything more specific.
    Longer,
    /// It and everything less specific.
    Shorter,
}

impl Match {
    pub const ALL: [Match; 3] = [Match::Longer, Match::Exact, Match::Shorter];

    pub fn name(self) -> &'static str {
        match self {
            Match::Exact => "exact",
            Match::Longer => "longer",
            Match::Shorter => "shorter",
        }
    }

    pub fn parse(s: &str) -> Option<Match> {
        Match::ALL.into_iter().find(|m| m.name() == s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PrefixPage {
    pub fresh: Freshness,
    pub query: String,
    #[serde(rename = "match")]
    pub matching: Match,
    pub routes: Vec<RouteRow>,
    pub total: usize,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthorityPage {
    pub fresh: Freshness,
    /// Replicated time the statements are judged at (unix seconds).
    pub now: u64,
    pub anchors: Vec<String>,
    pub statements: Vec<StatementRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatementRow {
    pub id: String,
    pub kind: String,
    pub summary: String,
    /// `effective`, or why it does not count.
    pub status: String,
}

/// A page's data could not be had: the status code and what to say.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: u16,
    pub message: String,
}

impl From<tonic::Status> for Problem {
    fn from(s: tonic::Status) -> Problem {
        let status = match s.code() {
            tonic::Code::NotFound => 404,
            tonic::Code::InvalidArgument => 400,
            _ => 503,
        };
        Problem {
            status,
            message: s.message().to_owned(),
        }
    }
}

/// Reads pages' data from the node's API, as a viewer may see it.
#[derive(Debug, Clone)]
pub struct Reader {
    pub api: Api,
    pub neighbors: NeighborsApi,
    pub hidden: Vec<String>,
    pub page_routes: usize,
}

/// How one viewer sees the data.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub redact: bool,
}

impl Reader {
    async fn fresh(&self, viewer: Viewer) -> Result<Freshness, Problem> {
        Ok(freshness(&self.status().await?, viewer))
    }

    async fn status(&self) -> Result<pb::StatusResponse, Problem> {
        let r = Node::status(&self.api, Request::new(pb::StatusRequest {})).await?;
        Ok(r.into_inner())
    }

    fn shown(&self, name: &str) -> bool {
        !self.hidden.iter().any(|h| h == name)
    }

    async fn neighbor_list(&self, name: &str) -> Result<Vec<pb::Neighbor>, Problem> {
        if !name.is_empty() && !self.shown(name) {
            return Err(Problem {
                status: 404,
                message: format!("no neighbor named {name:?}"),
            });
        }
        let req = pb::ListNeighborsRequest {
            name: name.to_owned(),
        };
        let r = self.neighbors.list_neighbors(Request::new(req)).await?;
        let mut list = r.into_inner().neighbors;
        list.retain(|n| self.shown(&n.name));
        Ok(list)
    }

    pub async fn status_page(&self, viewer: Viewer) -> Result<StatusPage, Problem> {
        let st = self.status().await?;
        let fresh = freshness(&st, viewer);
        let raft = st.raft.unwrap_or_default();
        let cluster = Cluster::status(&self.api, Request::new(pb::ClusterStatusRequest {}))
            .await?
            .into_inner();
        let neighbors = self.neighbor_list("").await?;
        let statements = self.statements().await.map_or(0, |s| s.statements.len());
        Ok(StatusPage {
            fresh,
            itad: st.itad,
            version: st.version,
            uptime_secs: st.uptime_seconds,
            role: role(raft.role()).into(),
            term: raft.term,
            leader_id: raft.leader_id,
            prefixes: st.prefixes,
            routes: st.routes,
            plans: (st.plans.into_iter())
                .map(|p| PlanRow {
                    name: p.name,
                    prefixes: p.prefixes,
                    routes: p.routes,
                })
                .collect(),
            members: (cluster.members.into_iter())
                .map(|m| {
                    let r = m.raft.clone().unwrap_or_default();
                    MemberRow {
                        id: m.id,
                        addr: redact_addr(&m.addr, viewer),
                        voter: m.membership() == pb::MemberRole::Voter,
                        reachable: m.reachable,
                        role: if m.reachable {
                            role(r.role()).into()
                        } else {
                            "unreachable".into()
                        },
                        applied_index: r.applied_index,
                        lag: m.lag,
                    }
                })
                .collect(),
            established: (neighbors.iter())
                .filter(|n| n.state() == pb::SessionState::Established)
                .count(),
            neighbors: neighbors.len(),
            statements,
        })
    }

    async fn statements(&self) -> Result<pb::ListStatementsResponse, Problem> {
        let req = Request::new(pb::ListStatementsRequest {});
        Ok(Authority::list_statements(&self.api, req)
            .await?
            .into_inner())
    }

    pub async fn authority_page(&self, viewer: Viewer) -> Result<AuthorityPage, Problem> {
        let fresh = self.fresh(viewer).await?;
        let s = self.statements().await?;
        Ok(AuthorityPage {
            fresh,
            now: s.now,
            anchors: s.anchors,
            statements: (s.statements.into_iter())
                .map(|st| StatementRow {
                    id: st.id,
                    kind: st.kind,
                    summary: st.summary,
                    status: st.status,
                })
                .collect(),
        })
    }

    pub async fn neighbors_page(&self, viewer: Viewer) -> Result<NeighborsPage, Problem> {
        let fresh = self.fresh(viewer).await?;
        let neighbors = (self.neighbor_list("").await?.iter())
            .map(|n| neighbor_row(n, viewer))
            .collect();
        Ok(NeighborsPage { fresh, neighbors })
    }

    pub async fn neighbor_page(
        &self,
        viewer: Viewer,
        name: &str,
        rib: Rib,
    ) -> Result<NeighborPage, Problem> {
        let fresh = self.fresh(viewer).await?;
        let n = self.neighbor_list(name).await?;
        let neighbor = n.first().map(|n| neighbor_row(n, viewer)).ok_or(Problem {
            status: 404,
            message: format!("no neighbor named {name:?}"),
        })?;
        let asked = match rib {
            Rib::Received | Rib::Refused => pb::NeighborRib::Received,
            Rib::Accepted => pb::NeighborRib::Accepted,
            Rib::Advertised => pb::NeighborRib::Advertised,
        };
        let req = pb::ListNeighborRoutesRequest {
            name: name.to_owned(),
            rib: asked.into(),
        };
        let mut stream = self
            .neighbors
            .list_neighbor_routes(Request::new(req))
            .await?
            .into_inner();
        let mut routes = Vec::new();
        let mut total = 0;
        while let Some(batch) = stream.next().await {
            for r in batch?.routes {
                if rib == Rib::Refused && r.rejected.is_empty() {
                    continue;
                }
                total += 1;
                if routes.len() < self.page_routes {
                    let mut row = route_row(&r.route.unwrap_or_default(), viewer);
                    row.refused = (!r.rejected.is_empty()).then_some(r.rejected);
                    routes.push(row);
                }
            }
        }
        Ok(NeighborPage {
            fresh,
            neighbor,
            rib,
            routes,
            total,
        })
    }

    pub async fn lookup_page(&self, viewer: Viewer, number: &str) -> Result<LookupPage, Problem> {
        let fresh = self.fresh(viewer).await?;
        let mut page = LookupPage {
            fresh,
            number: number.to_owned(),
            result: None,
            error: None,
        };
        if number.trim().is_empty() {
            return Ok(page);
        }
        let req = pb::LookupRequest {
            number: number.to_owned(),
            consistent: false,
        };
        let lookup = match self.api.lookup(Request::new(req)).await {
            Ok(r) => r.into_inner(),
            Err(s) => {
                page.error = Some(s.message().to_owned());
                return Ok(page);
            }
        };
        let req = pb::ExplainRequest {
            number: number.to_owned(),
            consistent: false,
        };
        let explained = self.api.explain(Request::new(req)).await?.into_inner();
        page.result = Some(LookupResult {
            number: lookup.number,
            matched_prefix: lookup.matched_prefix,
            next_hops: (lookup.next_hops.iter())
                .map(|h| hop(&h.uri, h.priority, h.weight, viewer))
                .collect(),
            candidates: (explained.candidates.iter())
                .map(|c| CandidateRow {
                    route: route_row(c.route.as_ref().unwrap_or(&pb::Route::default()), viewer),
                    verdict: step(c.lost_at()).into(),
                    reason: c.reason.clone(),
                })
                .collect(),
        });
        Ok(page)
    }

    pub async fn prefix_page(
        &self,
        viewer: Viewer,
        query: &str,
        matching: Match,
    ) -> Result<PrefixPage, Problem> {
        let fresh = self.fresh(viewer).await?;
        let mut page = PrefixPage {
            fresh,
            query: query.to_owned(),
            matching,
            routes: Vec::new(),
            total: 0,
            error: None,
        };
        if query.trim().is_empty() {
            return Ok(page);
        }
        let req = pb::ListRoutesRequest {
            prefix: query.to_owned(),
            r#match: match matching {
                Match::Exact => pb::PrefixMatch::Exact,
                Match::Longer => pb::PrefixMatch::Longer,
                Match::Shorter => pb::PrefixMatch::Shorter,
            }
            .into(),
            limit: 0,
            consistent: false,
        };
        let mut stream = match self.api.list_routes(Request::new(req)).await {
            Ok(r) => r.into_inner(),
            Err(s) => {
                page.error = Some(s.message().to_owned());
                return Ok(page);
            }
        };
        while let Some(batch) = stream.next().await {
            for r in batch?.routes {
                page.total += 1;
                if page.routes.len() < self.page_routes {
                    page.routes.push(route_row(&r, viewer));
                }
            }
        }
        Ok(page)
    }
}

/// How fresh a page read at node status `st` is.
fn freshness(st: &pb::StatusResponse, viewer: Viewer) -> Freshness {
    let raft = st.raft.clone().unwrap_or_default();
    Freshness {
        node: st.node_name.clone(),
        node_id: raft.node_id,
        applied_index: raft.applied_index,
        commit_index: raft.commit_index,
        generated_at: utc_now(),
        redacted: viewer.redact,
    }
}

fn role(r: pb::RaftRole) -> &'static str {
    match r {
        pb::RaftRole::Leader => "leader",
        pb::RaftRole::Follower => "follower",
        pb::RaftRole::Candidate => "candidate",
        pb::RaftRole::PreCandidate => "pre-candidate",
        pb::RaftRole::Unspecified => "unknown",
    }
}

fn session_state(s: pb::SessionState) -> &'static str {
    match s {
        pb::SessionState::Established => "established",
        pb::SessionState::Idle => "idle",
        pb::SessionState::Connect => "connect",
        pb::SessionState::OpenSent => "open-sent",
        pb::SessionState::OpenConfirm => "open-confirm",
        pb::SessionState::Unspecified => "unknown",
    }
}

fn step(s: pb::SelectionStep) -> &'static str {
    match s {
        pb::SelectionStep::Best => "best",
        pb::SelectionStep::Validation => "origin validation",
        pb::SelectionStep::LocalPref => "local preference",
        pb::SelectionStep::LocallyOriginated => "locally originated",
        pb::SelectionStep::PathLength => "path length",
        pb::SelectionStep::Med => "MED",
        pb::SelectionStep::AnnouncedEarlier => "announced earlier",
        pb::SelectionStep::Peer => "peer ITAD and name",
        pb::SelectionStep::Fresh => "fresh over stale",
        pb::SelectionStep::Unspecified => "unknown",
    }
}

fn validation(v: pb::Validation) -> &'static str {
    match v {
        pb::Validation::Valid => "valid",
        pb::Validation::Invalid => "invalid",
        pb::Validation::NotFound | pb::Validation::Unspecified => "not-found",
    }
}

fn neighbor_row(n: &pb::Neighbor, viewer: Viewer) -> NeighborRow {
    NeighborRow {
        name: n.name.clone(),
        itad: n.itad,
        role: match n.role() {
            pb::NeighborRole::Member => "member",
            _ => "peer",
        }
        .into(),
        state: session_state(n.state()).into(),
        node: n.session_node,
        uptime_secs: n.established_secs,
        received: n.received,
        accepted: n.accepted,
        refused: n.rejected,
        stale: n.stale,
        advertised: n.advertised,
        last_error: n.last_error.clone(),
        remote: redact_addr(&n.remote, viewer),
        addresses: (n.addresses.iter())
            .map(|a| redact_addr(a, viewer))
            .collect(),
        hold_time_secs: n.hold_time_secs,
        restart_time_secs: n.restart_time_secs,
        plans: n.plans.clone(),
        authority: n.authority,
    }
}

fn hop(uri: &str, priority: u32, weight: u32, viewer: Viewer) -> HopRow {
    HopRow {
        uri: if viewer.redact {
            redact_uri(uri)
        } else {
            uri.to_owned()
        },
        priority,
        weight,
    }
}

fn route_row(r: &pb::Route, viewer: Viewer) -> RouteRow {
    RouteRow {
        prefix: r.prefix.clone(),
        next_hops: (r.next_hops.iter())
            .map(|h| hop(&h.uri, h.priority, h.weight, viewer))
            .collect(),
        path: r.path.clone(),
        local_pref: r.local_pref,
        med: r.med,
        communities: (r.communities.iter())
            .map(|c| format!("{}:{}:{}", c.global, c.local1, c.local2))
            .collect(),
        source: r.source.clone(),
        validation: validation(r.validation()).into(),
        stale: r.stale,
        refused: None,
    }
}

/// The URI with its host hidden: `sip:{e164}@pbx.example:5060` becomes
/// `sip:{e164}@…`; the user part (often the number template) stays.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return "…".into();
    };
    if scheme.eq_ignore_ascii_case("tel") {
        return uri.to_owned();
    }
    match rest.rsplit_once('@') {
        Some((user, _)) => format!("{scheme}:{user}@…"),
        None => format!("{scheme}:…"),
    }
}

/// An address (`https://10.0.0.2:50051`, `10.0.0.2:41234`) with its host
/// hidden, its scheme kept.
pub fn redact_addr(addr: &str, viewer: Viewer) -> String {
    if !viewer.redact || addr.is_empty() {
        return addr.to_owned();
    }
    match addr.split_once("://") {
        Some((scheme, _)) => format!("{scheme}://…"),
        None => "…".into(),
    }
}

/// Now, in UTC, as `2026-12-07T16:05:09Z`.
fn utc_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_hosts_and_keeps_what_is_not_an_address() {
        assert_eq!(redact_uri("sip:{e164}@pbx.example:5060"), "sip:{e164}@…");
        assert_eq!(redact_uri("iax2:guest@10.0.0.5/{local}"), "iax2:guest@…");
        assert_eq!(redact_uri("sip:10.0.0.5"), "sip:…");
        assert_eq!(redact_uri("tel:+15551234567"), "tel:+15551234567");
        assert_eq!(redact_uri("nonsense"), "…");
        let anon = Viewer { redact: true };
        let op = Viewer { redact: false };
        assert_eq!(redact_addr("https://10.0.0.2:50051", anon), "https://…");
        assert_eq!(redact_addr("10.0.0.2:41234", anon), "…");
        assert_eq!(redact_addr("10.0.0.2:41234", op), "10.0.0.2:41234");
        assert_eq!(redact_addr("", anon), "");
    }
}
