//! Prometheus metrics, rendered at `/metrics`.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use trunkline_cluster::View;
use trunkline_cluster::node::{Role, Status};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    pub method: &'static str,
    pub code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabels {
    pub peer: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NeighborLabels {
    pub neighbor: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FrontendLabels {
    pub frontend: &'static str,
    pub result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FrontendOnly {
    pub frontend: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LookupLabels {
    pub result: &'static str,
}

/// Every metric of the node; cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub rpcs: Family<RpcLabels, Counter>,
    pub lookups: Family<LookupLabels, Counter>,
    pub lookup_seconds: Histogram,
    pub proposals: Counter,
    pub raft_term: Gauge,
    pub raft_leader: Gauge,
    pub raft_is_leader: Gauge,
    pub raft_commit: Gauge,
    pub raft_applied: Gauge,
    pub raft_first: Gauge,
    pub raft_last: Gauge,
    pub raft_snapshot: Gauge,
    pub routes: Gauge,
    pub prefixes: Gauge,
    /// On the leader: how far each member's log is behind the leader's.
    pub peer_lag: Family<PeerLabels, Gauge>,
    /// Peering streams refused before a session, by reason.
    pub peering_refused: Family<ReasonLabel, Counter>,
    /// 1 while this node holds an established session with the neighbor.
    pub peering_up: Family<NeighborLabels, Gauge>,
    pub peering_received: Family<NeighborLabels, Counter>,
    pub peering_rejected: Family<NeighborLabels, Counter>,
    pub peering_updates_sent: Family<NeighborLabels, Counter>,
    /// Queries to the PBX front ends (HTTP, DNS, SIP) by result.
    pub frontend_queries: Family<FrontendLabels, Counter>,
    pub frontend_seconds: Family<FrontendOnly, Histogram>,
    /// UDP answers dropped by response-rate limiting.
    pub frontend_rate_limited: Family<FrontendOnly, Counter>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("trunkline");
        let m = Metrics {
            registry: Arc::default(),
            rpcs: Family::default(),
            lookups: Family::default(),
            lookup_seconds: Histogram::new(exponential_buckets(1e-6, 4.0, 10)),
            proposals: Counter::default(),
            raft_term: Gauge::default(),
            raft_leader: Gauge::default(),
            raft_is_leader: Gauge::default(),
            raft_commit: Gauge::default(),
            raft_applied: Gauge::default(),
            raft_first: Gauge::default(),
            raft_last: Gauge::default(),
            raft_snapshot: Gauge::default(),
            routes: Gauge::default(),
            prefixes: Gauge::default(),
            peer_lag: Family::default(),
            peering_refused: Family::default(),
            peering_up: Family::default(),
            peering_received: Family::default(),
            peering_rejected: Family::default(),
            peering_updates_sent: Family::default(),
            frontend_queries: Family::default(),
            frontend_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(1e-6, 4.0, 10))
            }),
            frontend_rate_limited: Family::default(),
        };
        r.register(
            "frontend_rate_limited",
            "UDP answers dropped by response-rate limiting (per destination address)",
            m.frontend_rate_limited.clone(),
        );
        r.register(
            "frontend_queries",
            "Queries to the PBX front ends by front end and result (hit, miss, bad-request, busy, error)",
            m.frontend_queries.clone(),
        );
        r.register(
            "frontend_duration_seconds",
            "Time to answer a front-end query",
            m.frontend_seconds.clone(),
        );
        r.register(
            "peering_refused",
            "Peering streams refused before a session (source network, unknown ITAD)",
            m.peering_refused.clone(),
        );
        r.register(
            "peering_session_up",
            "1 while this node holds an established session with the neighbor",
            m.peering_up.clone(),
        );
        r.register(
            "peering_routes_received",
            "Routes received from the neighbor",
            m.peering_received.clone(),
        );
        r.register(
            "peering_routes_rejected",
            "Received routes not accepted (policy, limits, malformed)",
            m.peering_rejected.clone(),
        );
        r.register(
            "peering_updates_sent",
            "Update messages sent to the neighbor",
            m.peering_updates_sent.clone(),
        );
        r.register(
            "grpc_requests",
            "gRPC requests by method and status code",
            m.rpcs.clone(),
        );
        r.register(
            "lookups",
            "Route lookups by result (hit, miss, error)",
            m.lookups.clone(),
        );
        r.register(
            "lookup_duration_seconds",
            "Time to answer a lookup",
            m.lookup_seconds.clone(),
        );
        r.register(
            "proposals",
            "Write requests proposed to raft",
            m.proposals.clone(),
        );
        r.register("raft_term", "Current raft term", m.raft_term.clone());
        r.register(
            "raft_leader_id",
            "Node id of the known leader (0: none)",
            m.raft_leader.clone(),
        );
        r.register(
            "raft_is_leader",
            "1 if this node is the leader",
            m.raft_is_leader.clone(),
        );
        r.register(
            "raft_commit_index",
            "Highest committed log index",
            m.raft_commit.clone(),
        );
        r.register(
            "raft_applied_index",
            "Highest applied log index",
            m.raft_applied.clone(),
        );
        r.register(
            "raft_first_index",
            "First index still in the log",
            m.raft_first.clone(),
        );
        r.register(
            "raft_last_index",
            "Last index in the log",
            m.raft_last.clone(),
        );
        r.register(
            "raft_snapshot_index",
            "Index of the newest snapshot",
            m.raft_snapshot.clone(),
        );
        r.register(
            "routes",
            "Routes in the table (all candidates)",
            m.routes.clone(),
        );
        r.register(
            "prefixes",
            "Prefixes with at least one route",
            m.prefixes.clone(),
        );
        r.register(
            "raft_peer_lag",
            "On the leader: entries each member's log is behind the leader's last index",
            m.peer_lag.clone(),
        );
        Metrics {
            registry: Arc::new(r),
            ..m
        }
    }

    pub fn observe_raft(&self, st: &Status, view: &View) {
        let g = |g: &Gauge, v: u64| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        g(&self.raft_term, st.term);
        g(&self.raft_leader, st.leader_id);
        g(&self.raft_is_leader, u64::from(st.role == Role::Leader));
        g(&self.raft_commit, st.commit_index);
        g(&self.raft_applied, st.applied_index);
        g(&self.raft_first, st.first_index);
        g(&self.raft_last, st.last_index);
        g(&self.raft_snapshot, st.snapshot_index);
        g(&self.routes, view.table.route_count() as u64);
        g(&self.prefixes, view.table.prefix_count() as u64);
        self.peer_lag.clear();
        if st.role == Role::Leader {
            for (peer, matched) in &st.progress {
                let lag = st.last_index.saturating_sub(*matched);
                g(
                    &self.peer_lag.get_or_create(&PeerLabels {
                        peer: peer.to_string(),
                    }),
                    lag,
                );
            }
        }
    }

    /// Counts one front-end answer and how long it took.
    pub fn frontend_answered(
        &self,
        frontend: &'static str,
        result: &'static str,
        started: std::time::Instant,
    ) {
        self.frontend_queries
            .get_or_create(&FrontendLabels { frontend, result })
            .inc();
        self.frontend_seconds
            .get_or_create(&FrontendOnly { frontend })
            .observe(started.elapsed().as_secs_f64());
    }

    pub fn rpc(&self, method: &'static str, code: tonic::Code) {
        let code = match code {
            tonic::Code::Ok => "ok",
            tonic::Code::InvalidArgument => "invalid_argument",
            tonic::Code::NotFound => "not_found",
            tonic::Code::Unavailable => "unavailable",
            tonic::Code::DeadlineExceeded => "deadline_exceeded",
            tonic::Code::ResourceExhausted => "resource_exhausted",
            _ => "other",
        };
        self.rpcs.get_or_create(&RpcLabels { method, code }).inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
