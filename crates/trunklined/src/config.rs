//! The TOML config file. Unknown fields are errors; a missing or broken file
//! is an error, never a silent default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use trunkline_core::route::PRIVATE_ITADS;
use trunkline_core::{Attrs, Itad, Plans, Prefix, Source};

use crate::logging::{LogSection, check_log_level};
use crate::parse::{
    ConfigError, check_addr, default_priority, default_weight, invalid, local_attrs,
};

/// The config `trunklined` runs with when given none.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub node: NodeSection,
    #[serde(default)]
    pub api: ApiSection,
    #[serde(default)]
    pub http: HttpSection,
    /// The looking glass on the HTTP port.
    #[serde(default)]
    pub looking_glass: crate::lg::config::LookingGlassSection,
    #[serde(default)]
    pub raft: RaftSection,
    /// Other nodes of this node's cluster. Absent: a cluster of one.
    #[serde(default)]
    pub cluster: ClusterSection,
    #[serde(default)]
    pub log: LogSection,
    /// Private number plans.
    #[serde(default, rename = "plan")]
    pub plans: Vec<PlanSection>,
    /// Routes this node originates.
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteSection>,
    #[serde(default)]
    pub peering: crate::peering::config::PeeringSection,
    /// ENUM over DNS.
    #[serde(default)]
    pub dns: crate::frontend::enum_dns::DnsSection,
    /// The SIP redirect server.
    #[serde(default)]
    pub sip: crate::frontend::sip::SipSection,
    /// Peers and members this node's cluster exchanges routes with.
    #[serde(default, rename = "peer")]
    pub peers: Vec<crate::peering::config::PeerSection>,
    /// Trust anchors of number authority: every node of a cluster lists
    /// the same.
    #[serde(default, rename = "anchor")]
    pub anchors: Vec<AnchorSection>,
    #[serde(default)]
    pub authority: AuthoritySection,
    /// Invites: members join this exchange with one line.
    #[serde(default)]
    pub invites: Option<crate::invite::config::InvitesSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorSection {
    pub name: String,
    /// Its Ed25519 public key, in hex (`trunkline authority keygen`).
    pub key: String,
    #[serde(default = "default_e164")]
    pub plan: String,
    /// Delegation levels below it.
    #[serde(default = "default_max_depth")]
    pub max_depth: u8,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthoritySection {
    /// How long past a revocation list's next update its signer still
    /// counts; after that nothing it signed does (stale data fails closed).
    #[serde(default = "default_grace_secs")]
    pub grace_secs: u64,
    /// How often the leader proposes replicated time.
    #[serde(default = "default_tick_secs")]
    pub tick_secs: u64,
}

impl Default for AuthoritySection {
    fn default() -> Self {
        AuthoritySection {
            grace_secs: default_grace_secs(),
            tick_secs: default_tick_secs(),
        }
    }
}

fn default_e164() -> String {
    "e164".to_owned()
}
fn default_max_depth() -> u8 {
    4
}
fn default_grace_secs() -> u64 {
    86_400
}
fn default_tick_secs() -> u64 {
    30
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// Raft node id, unique in the cluster, at least 1.
    pub id: u64,
    #[serde(default = "default_name")]
    pub name: String,
    pub itad: Itad,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    #[serde(default = "default_api_listen")]
    pub listen: SocketAddr,
    /// Largest gRPC message accepted, in bytes.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// How long a write may wait to be committed.
    #[serde(default = "default_write_timeout_ms")]
    pub write_timeout_ms: u64,
    /// On shutdown, how long in-flight requests may take to finish.
    #[serde(default = "default_shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
    /// TLS for API clients (and peers, who dial the same port). `ca`, if
    /// given, lets clients present certificates as identities.
    #[serde(default)]
    pub tls: Option<crate::tls::TlsSection>,
    /// Serve plaintext on a listener other than loopback: say so in words.
    #[serde(default)]
    pub insecure: bool,
    /// Reads (lookups, lists, status) without a credential. Default: on
    /// for a loopback listener, off otherwise.
    #[serde(default)]
    pub anonymous_read: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Default: `[api] listen`'s address, port 9180 (see [`Config::http_listen`]).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Serve `GET /v1/lookup/{number}`.
    #[serde(default = "default_true")]
    pub lookup: bool,
    /// Serve `GET /metrics` (Prometheus), to anyone who reaches the port.
    #[serde(default = "default_true")]
    pub metrics: bool,
    /// Lookups answered at once; more get 503.
    #[serde(default = "default_lookup_max_in_flight")]
    pub lookup_max_in_flight: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftSection {
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
    #[serde(default = "default_election_ticks")]
    pub election_ticks: usize,
    #[serde(default = "default_heartbeat_ticks")]
    pub heartbeat_ticks: usize,
    /// Applied entries between snapshots.
    #[serde(default = "default_snapshot_entries")]
    pub snapshot_entries: u64,
    /// Entries kept behind a snapshot.
    #[serde(default = "default_trailing_entries")]
    pub trailing_entries: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// The voters a new cluster starts with, this node included. Every
    /// node of the cluster lists the same set.
    #[serde(default)]
    pub members: Vec<MemberSection>,
    /// Start empty and wait to be added (`trunkline cluster add-node`)
    /// instead of bootstrapping from `members`.
    #[serde(default)]
    pub join: bool,
    /// Where node-to-node traffic (raft, forwarded writes and requests)
    /// is served, apart from the public API. Default: `[api] listen`'s
    /// address at port 50052.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// The address other nodes reach this one at (`http://host:port`, the
    /// cluster listener). Default: its entry in `members`, else `[cluster]
    /// listen` when that is a specific address (not 0.0.0.0 or ::).
    #[serde(default)]
    pub advertise: Option<String>,
    /// Mutual TLS between nodes: this node's certificate
    /// (`trunkline:node:<id>`) and the cluster's CA. Members are then
    /// `https://` addresses.
    #[serde(default)]
    pub tls: Option<crate::tls::TlsSection>,
    /// Node-to-node traffic in plaintext on a listener other than
    /// loopback: say so in words.
    #[serde(default)]
    pub insecure: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSection {
    pub id: u64,
    /// The member's cluster address (its `[cluster] listen`), e.g.
    /// `http://10.0.0.2:50052`.
    pub addr: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSection {
    pub name: String,
    pub max_digits: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    /// A prefix, block or range.
    pub prefix: String,
    /// Shorthand for next hops of priority 10 and weight 100, in order.
    #[serde(default)]
    pub via: Vec<String>,
    #[serde(default)]
    pub next_hops: Vec<NextHopSection>,
    #[serde(default)]
    pub local_pref: Option<u32>,
    #[serde(default)]
    pub med: u32,
    /// Large communities as `global:local1:local2`.
    #[serde(default)]
    pub communities: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextHopSection {
    pub uri: String,
    #[serde(default = "default_priority")]
    pub priority: u32,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_name() -> String {
    "trunkline".to_owned()
}
/// `$STATE_DIRECTORY` when systemd gives one (`StateDirectory=` in the
/// unit), so a service keeps its data in /var/lib; otherwise
/// `./trunkline-data`, relative to the directory the node starts in.
fn default_data_dir() -> PathBuf {
    std::env::var_os("STATE_DIRECTORY")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("./trunkline-data"), PathBuf::from)
}
fn default_api_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}
fn default_true() -> bool {
    true
}
fn default_lookup_max_in_flight() -> usize {
    1024
}
/// Port of the HTTP listener when `[http] listen` is not given.
pub const DEFAULT_HTTP_PORT: u16 = 9180;
/// Port of the node-to-node listener when `[cluster] listen` is not given.
pub const DEFAULT_CLUSTER_PORT: u16 = 50052;
fn default_max_message_bytes() -> usize {
    16 << 20
}
fn default_write_timeout_ms() -> u64 {
    10_000
}
fn default_shutdown_grace_ms() -> u64 {
    5_000
}
fn default_tick_ms() -> u64 {
    100
}
fn default_election_ticks() -> usize {
    10
}
fn default_heartbeat_ticks() -> usize {
    1
}
fn default_snapshot_entries() -> u64 {
    10_000
}
fn default_trailing_entries() -> u64 {
    1_000
}
impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: default_api_listen(),
            max_message_bytes: default_max_message_bytes(),
            write_timeout_ms: default_write_timeout_ms(),
            shutdown_grace_ms: default_shutdown_grace_ms(),
            tls: None,
            insecure: false,
            anonymous_read: None,
        }
    }
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            listen: None,
            lookup: true,
            metrics: true,
            lookup_max_in_flight: default_lookup_max_in_flight(),
        }
    }
}

impl Default for RaftSection {
    fn default() -> Self {
        RaftSection {
            tick_ms: default_tick_ms(),
            election_ticks: default_election_ticks(),
            heartbeat_ticks: default_heartbeat_ticks(),
            snapshot_entries: default_snapshot_entries(),
            trailing_entries: default_trailing_entries(),
        }
    }
}

/// A config that parsed and passed every check, with what it implies.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub plans: Plans,
    /// The DNS zones, when `[dns]` is enabled.
    pub dns_zones: Option<crate::frontend::enum_dns::Zones>,
    /// Routes from `[[route]]`, expanded to prefixes.
    pub routes: Vec<(Prefix, Arc<Attrs>)>,
    /// `[[anchor]]`, read.
    pub anchors: Vec<trunkline_authority::Anchor>,
}

impl Config {
    pub fn from_toml(text: &str) -> Result<Loaded, ConfigError> {
        let config: Config = toml::from_str(text)?;
        config.check()
    }

    pub fn from_file(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text)
    }

    fn check(self) -> Result<Loaded, ConfigError> {
        if self.node.id == 0 {
            return Err(invalid("node.id", "must be at least 1"));
        }
        if self.node.name.is_empty() {
            return Err(invalid("node.name", "must not be empty"));
        }
        if self.node.itad == 0 || self.node.itad == u32::MAX {
            return Err(invalid("node.itad", "0 and 4294967295 are reserved"));
        }
        if self.raft.tick_ms == 0 {
            return Err(invalid("raft.tick_ms", "must be at least 1"));
        }
        if self.raft.heartbeat_ticks == 0 || self.raft.election_ticks <= self.raft.heartbeat_ticks {
            return Err(invalid(
                "raft.election_ticks",
                "must be larger than raft.heartbeat_ticks, which must be at least 1",
            ));
        }
        if self.raft.snapshot_entries == 0 {
            return Err(invalid("raft.snapshot_entries", "must be at least 1"));
        }
        if self.api.max_message_bytes < 1024 {
            return Err(invalid("api.max_message_bytes", "must be at least 1024"));
        }
        let mut ids = std::collections::HashSet::new();
        for (i, m) in self.cluster.members.iter().enumerate() {
            if m.id == 0 || !ids.insert(m.id) {
                return Err(invalid(
                    format!("cluster.members[{i}].id"),
                    "ids must be unique and at least 1",
                ));
            }
            check_addr(&m.addr).map_err(|e| invalid(format!("cluster.members[{i}].addr"), e))?;
        }
        if self.cluster.join && !self.cluster.members.is_empty() {
            return Err(invalid(
                "cluster.join",
                "a joining node starts empty and learns the members when added; \
                 remove cluster.members, or set join = false to start a new cluster",
            ));
        }
        if !self.cluster.members.is_empty() && !ids.contains(&self.node.id) {
            return Err(invalid(
                "cluster.members",
                format!("must include this node (id {})", self.node.id),
            ));
        }
        let cluster_listen = self.cluster_listen();
        if cluster_listen == self.api.listen || cluster_listen == self.http_listen() {
            return Err(invalid(
                "cluster.listen",
                format!("{cluster_listen} is taken by [api] or [http] listen"),
            ));
        }
        if let Some(m) = self.cluster.members.iter().find(|m| m.id == self.node.id)
            && m.addr.rsplit(':').next() == Some(&self.api.listen.port().to_string())
            && m.addr.rsplit(':').next() != Some(&cluster_listen.port().to_string())
        {
            return Err(invalid(
                "cluster.members",
                format!(
                    "this node's entry {:?} is its [api] listen port; members are reached at \
                     their [cluster] listen ({cluster_listen} here): node-to-node traffic no \
                     longer shares the public API's port",
                    m.addr
                ),
            ));
        }
        if let Some(a) = &self.cluster.advertise {
            check_addr(a).map_err(|e| invalid("cluster.advertise", e))?;
            if let Some(m) = self.cluster.members.iter().find(|m| m.id == self.node.id)
                && &m.addr != a
            {
                return Err(invalid(
                    "cluster.advertise",
                    format!(
                        "differs from this node's entry in cluster.members ({:?})",
                        m.addr
                    ),
                ));
            }
        }
        self.check_tls()?;
        if self.api.write_timeout_ms == 0 {
            return Err(invalid("api.write_timeout_ms", "must be at least 1"));
        }
        check_log_level(&self.log.level).map_err(|e| invalid("log.level", e))?;
        let plans = Plans::with_private(self.plans.iter().map(|p| (p.name.as_str(), p.max_digits)))
            .map_err(|e| invalid("plan", e))?;
        let p = &self.peering;
        if p.hold_secs == 1 || p.hold_secs == 2 {
            return Err(invalid("peering.hold_secs", "must be 0 or at least 3"));
        }
        if p.connect_retry_ms == 0 || p.connect_retry_max_ms < p.connect_retry_ms {
            return Err(invalid(
                "peering.connect_retry_ms",
                "must be at least 1 and at most connect_retry_max_ms",
            ));
        }
        crate::peering::config::check_peers(&self.peers, &plans, self.node.itad)?;
        if self.sip.enabled && self.sip.max_tcp_connections == 0 {
            return Err(invalid("sip.max_tcp_connections", "must be at least 1"));
        }
        let dns_zones = if self.dns.enabled {
            Some(self.dns.resolve(&plans)?)
        } else {
            None
        };
        let mut routes = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            let field = |f: &str| format!("route[{i}].{f}");
            let block = plans
                .parse_block(&r.prefix)
                .map_err(|e| invalid(field("prefix"), e))?;
            let attrs = Arc::new(
                local_attrs(
                    Source::Config { node: self.node.id },
                    &r.via,
                    r.next_hops
                        .iter()
                        .map(|h| (h.uri.as_str(), h.priority, h.weight)),
                    r.local_pref,
                    r.med,
                    &r.communities,
                )
                .map_err(|e| invalid(field(e.field()), e))
                .map(|a| Attrs {
                    local_from: block.local_from().and_then(|n| u8::try_from(n).ok()),
                    ..a
                })?,
            );
            routes.extend(block.prefixes().into_iter().map(|p| (p, attrs.clone())));
        }
        let mut anchors = Vec::new();
        for (i, a) in self.anchors.iter().enumerate() {
            let field = |f: &str| format!("anchor[{i}].{f}");
            if plans.by_name(&a.plan).is_none() {
                return Err(invalid(field("plan"), format!("no plan {:?}", a.plan)));
            }
            let key = trunkline_authority::envelope::unhex::<32>(&a.key)
                .ok_or_else(|| invalid(field("key"), "an Ed25519 public key: 64 hex digits"))?;
            anchors.push(trunkline_authority::Anchor {
                plan: a.plan.clone(),
                name: a.name.clone(),
                key,
                max_depth: a.max_depth,
            });
        }
        if self.authority.tick_secs == 0 {
            return Err(invalid("authority.tick_secs", "must be at least 1"));
        }
        Ok(Loaded {
            config: self,
            plans,
            dns_zones,
            routes,
            anchors,
        })
    }

    /// Plaintext only where nobody else can listen in, unless the config
    /// says otherwise in words; a secured channel has everything it needs.
    fn check_tls(&self) -> Result<(), ConfigError> {
        let exposed = |a: SocketAddr| !a.ip().is_loopback();
        if exposed(self.api.listen) && self.api.tls.is_none() && !self.api.insecure {
            return Err(invalid(
                "api.tls",
                format!(
                    "{} is reachable from other machines: give [api.tls] cert and key (see \
                     `trunkline pki`), or set [api] insecure = true to serve plaintext there",
                    self.api.listen
                ),
            ));
        }
        let cluster = self.cluster_listen();
        if exposed(cluster) && self.cluster.tls.is_none() && !self.cluster.insecure {
            return Err(invalid(
                "cluster.tls",
                format!(
                    "node-to-node traffic on {cluster} is reachable from other machines: give \
                     [cluster.tls] cert, key and ca (see `trunkline pki`), or set [cluster] \
                     insecure = true to send it in plaintext"
                ),
            ));
        }
        if let Some(t) = &self.cluster.tls
            && t.ca.is_none()
        {
            return Err(invalid(
                "cluster.tls.ca",
                "the cluster's CA is needed to check other nodes",
            ));
        }
        if let Some(t) = &self.peering.tls {
            if t.ca.is_none() {
                return Err(invalid(
                    "peering.tls.ca",
                    "the CA peers' certificates are signed by is needed",
                ));
            }
            // On loopback without [api.tls] the node only dials its peers
            // (a member PBX node): a stream arriving in plaintext has no
            // certificate and is refused.
            if self.api.tls.is_none() && exposed(self.api.listen) {
                return Err(invalid(
                    "peering.tls",
                    "peers dial this node's [api] port, which then speaks TLS to everyone: give \
                     [api.tls] too (it may name the same certificate)",
                ));
            }
        }
        if self.invites.is_some() && (self.api.tls.is_none() || self.peering.tls.is_none()) {
            return Err(invalid(
                "invites",
                "members join over TLS and peer with certificates: [invites] needs [api.tls] \
                 and [peering.tls]",
            ));
        }
        let scheme = if self.cluster.tls.is_some() {
            "https://"
        } else {
            "http://"
        };
        let addrs = self
            .cluster
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("cluster.members[{i}].addr"), &m.addr))
            .chain(
                self.cluster
                    .advertise
                    .iter()
                    .map(|a| ("cluster.advertise".to_owned(), a)),
            );
        for (field, addr) in addrs {
            if !addr.starts_with(scheme) {
                return Err(invalid(
                    field,
                    format!(
                        "{addr:?}: node-to-node traffic is {} here, so addresses start with {scheme}",
                        if self.cluster.tls.is_some() {
                            "TLS"
                        } else {
                            "plaintext"
                        }
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn itad_is_private(&self) -> bool {
        PRIVATE_ITADS.contains(&self.node.itad)
    }
}

impl Config {
    /// Where HTTP listens: `[http] listen`, else the gRPC listener's
    /// address at port 9180, so nodes on 127.0.0.1, .2 and .3 of one
    /// machine do not collide.
    pub fn http_listen(&self) -> SocketAddr {
        self.http
            .listen
            .unwrap_or_else(|| SocketAddr::new(self.api.listen.ip(), DEFAULT_HTTP_PORT))
    }

    /// The address other nodes reach this node at, if it has one: see
    /// [`ClusterSection::advertise`].
    pub fn advertise(&self) -> Option<String> {
        if let Some(a) = &self.cluster.advertise {
            return Some(a.clone());
        }
        if let Some(m) = self.cluster.members.iter().find(|m| m.id == self.node.id) {
            return Some(m.addr.clone());
        }
        let listen = self.cluster_listen();
        let scheme = if self.cluster.tls.is_some() {
            "https"
        } else {
            "http"
        };
        (!listen.ip().is_unspecified()).then(|| format!("{scheme}://{listen}"))
    }

    /// Whether reads need no credential: see [`ApiSection::anonymous_read`].
    pub fn anonymous_read(&self) -> bool {
        self.api
            .anonymous_read
            .unwrap_or_else(|| self.api.listen.ip().is_loopback())
    }

    /// Where node-to-node traffic is served: `[cluster] listen`, else the
    /// gRPC listener's address at port 50052.
    pub fn cluster_listen(&self) -> SocketAddr {
        self.cluster
            .listen
            .unwrap_or_else(|| SocketAddr::new(self.api.listen.ip(), DEFAULT_CLUSTER_PORT))
    }

    /// Voters a fresh store starts with.
    pub fn initial_voters(&self) -> Vec<u64> {
        if self.cluster.join {
            Vec::new()
        } else if self.cluster.members.is_empty() {
            vec![self.node.id]
        } else {
            self.cluster.members.iter().map(|m| m.id).collect()
        }
    }
}

#[cfg(test)]
mod tests;
