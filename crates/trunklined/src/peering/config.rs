//! Peers as configured: `[[peer]]` tables in the config file, or the same
//! table sent through the API. Either way the TOML text is what gets
//! replicated, and every node resolves it to a [`Peer`] the same way.

use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use trunkline_core::{Itad, Plans, Prefix};
use trunkline_peering::policy::{Action, Filter, MaxPrefixAction, PeerPolicy, Role, Term};

use crate::parse::{ConfigError, check_addr, parse_community};

/// Node-wide peering settings (`[peering]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeeringSection {
    /// Hold time proposed to peers, in seconds (0, or at least 3).
    #[serde(default = "default_hold_secs")]
    pub hold_secs: u32,
    /// How long peers should keep our routes if a session drops
    /// (graceful restart); 0 turns graceful restart off.
    #[serde(default = "default_restart_secs")]
    pub restart_secs: u32,
    /// Route changes are gathered this long before going out as one Update.
    #[serde(default = "default_batch_ms")]
    pub batch_ms: u64,
    /// A route that got worse for a peer (a longer path) is withdrawn from
    /// it at once and sent this long after: the stale alternatives an
    /// origin's withdrawal leaves are flushed instead of explored.
    #[serde(default = "default_degrade_hold_ms")]
    pub degrade_hold_ms: u64,
    /// Reconnect backoff: first delay, doubled up to the max.
    #[serde(default = "default_retry_min_ms")]
    pub connect_retry_ms: u64,
    #[serde(default = "default_retry_max_ms")]
    pub connect_retry_max_ms: u64,
    /// Updates a second a peer may send, sustained (0: no limit), and at
    /// once; beyond them the session is closed with a Notification.
    #[serde(default = "default_max_updates_per_sec")]
    pub max_updates_per_sec: u32,
    #[serde(default = "default_update_burst")]
    pub update_burst: u32,
    /// After closing a session for the peer's fault (a limit, a malformed
    /// message), none with it for this long, doubled on each repeat up to
    /// the max; a session up for the max starts it over.
    #[serde(default = "default_hold_down_secs")]
    pub hold_down_secs: u32,
    #[serde(default = "default_hold_down_max_secs")]
    pub hold_down_max_secs: u32,
    /// Mutual TLS with peers: this node's peer certificate
    /// (`trunkline:peer:<itad>:<name>`, as peers name it) and the CA
    /// peers' certificates are signed by. Peer addresses are then
    /// `https://`, and a peer must present the certificate of the peer it
    /// is configured as.
    #[serde(default)]
    pub tls: Option<crate::tls::TlsSection>,
}

impl Default for PeeringSection {
    fn default() -> PeeringSection {
        PeeringSection {
            hold_secs: default_hold_secs(),
            restart_secs: default_restart_secs(),
            batch_ms: default_batch_ms(),
            degrade_hold_ms: default_degrade_hold_ms(),
            connect_retry_ms: default_retry_min_ms(),
            connect_retry_max_ms: default_retry_max_ms(),
            max_updates_per_sec: default_max_updates_per_sec(),
            update_burst: default_update_burst(),
            hold_down_secs: default_hold_down_secs(),
            hold_down_max_secs: default_hold_down_max_secs(),
            tls: None,
        }
    }
}

fn default_hold_secs() -> u32 {
    90
}
fn default_restart_secs() -> u32 {
    120
}
fn default_batch_ms() -> u64 {
    5
}
fn default_degrade_hold_ms() -> u64 {
    100
}
fn default_retry_min_ms() -> u64 {
    1_000
}
fn default_retry_max_ms() -> u64 {
    30_000
}
fn default_max_updates_per_sec() -> u32 {
    500
}
fn default_update_burst() -> u32 {
    // A full table of a million routes is 1,000 Updates.
    5_000
}
fn default_hold_down_secs() -> u32 {
    10
}
fn default_hold_down_max_secs() -> u32 {
    600
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoleSection {
    /// Another cluster.
    #[default]
    Peer,
    /// A PBX announcing its own blocks.
    Member,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaxPrefixesSection {
    /// Close the session with a Notification.
    #[default]
    Close,
    /// Keep the session, accept nothing new.
    Refuse,
}

/// What a peer's routes whose origin is not-found (no authorisation covers
/// them) get. Invalid ones are never selected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotFoundSection {
    #[default]
    Accept,
    Reject,
}

impl NotFoundSection {
    fn is_accept(&self) -> bool {
        *self == NotFoundSection::Accept
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionSection {
    Accept,
    Reject,
}

/// One filter term; the first term a route matches decides.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TermSection {
    /// Blocks or prefixes; a route matches when inside one (none: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// Longest prefix, in digits, this term matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// Large communities (`global:local1:local2`); the route must carry one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<String>,
    pub action: ActionSection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_pref: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_communities: Vec<String>,
}

/// A `[[peer]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSection {
    pub name: String,
    pub itad: Itad,
    #[serde(default)]
    pub role: RoleSection,
    /// Where to dial the peer (`http://host:port`); any one will do. Empty:
    /// wait for the peer to connect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Member sessions: the blocks the member may announce.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    /// Send routes without prepending our ITAD (route-server mode).
    #[serde(default)]
    pub route_server: bool,
    /// The peer is a route server: its routes need not start with its ITAD.
    #[serde(default)]
    pub transparent: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_pref: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_prefixes: Option<usize>,
    #[serde(default)]
    pub max_prefixes_action: MaxPrefixesSection,
    /// Origin validation: select this peer's not-found routes (`accept`)
    /// or only valid ones (`reject`).
    #[serde(default, skip_serializing_if = "NotFoundSection::is_accept")]
    pub not_found: NotFoundSection,
    /// Updates a second this peer may send ([peering]'s when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_updates_per_sec: Option<u32>,
    /// Networks the peer may connect from (CIDR); empty: anywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// Overrides `[peering] hold_secs` for this peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_secs: Option<u32>,
    /// Import filter. Absent on a peer session: nothing is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<Vec<TermSection>>,
    /// Export filter. Absent: a member or route-server client gets every
    /// best route, a peer nothing (RFC 8212).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<Vec<TermSection>>,
}

/// A peer resolved for use: parsed prefixes, networks and policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub section: PeerSection,
    pub policy: PeerPolicy,
    pub sources: Vec<IpNet>,
}

impl Peer {
    pub fn name(&self) -> &str {
        &self.section.name
    }

    /// Whether a connection from `ip` may be this peer.
    pub fn admits(&self, ip: std::net::IpAddr) -> bool {
        self.sources.is_empty() || self.sources.iter().any(|n| n.contains(&ip))
    }
}

fn invalid(peer: &str, field: &str, message: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        field: format!("peer[{peer}].{field}"),
        message: message.to_string(),
    }
}

impl PeerSection {
    /// Parses the TOML text of one peer table (as replicated).
    pub fn from_toml(text: &str) -> Result<PeerSection, ConfigError> {
        Ok(toml::from_str(text)?)
    }

    /// What flows by default and may surprise: a peer session without an
    /// import or export policy accepts or sends nothing.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.role == RoleSection::Peer && self.import.is_none() {
            out.push(format!(
                "{}: no import policy, so nothing it sends is accepted (add [[peer.import]] \
                 terms, or --import-all)",
                self.name
            ));
        }
        if self.role == RoleSection::Peer && !self.route_server && self.export.is_none() {
            out.push(format!(
                "{}: no export policy, so nothing is sent to it (add [[peer.export]] terms, \
                 or --export-all)",
                self.name
            ));
        }
        out
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a peer section always serializes")
    }

    /// Checks every field; errors name the field.
    pub fn resolve(&self, plans: &Plans, my_itad: Itad) -> Result<Peer, ConfigError> {
        let name = &self.name;
        let bad = |field: &str, m: &dyn std::fmt::Display| invalid(name, field, m);
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            return Err(bad("name", &"1-64 characters of A-Z a-z 0-9 - _ ."));
        }
        if self.itad == 0 || self.itad == u32::MAX {
            return Err(bad("itad", &"0 and 4294967295 are reserved"));
        }
        if self.itad == my_itad {
            return Err(bad("itad", &"is this node's own ITAD"));
        }
        for (i, a) in self.addresses.iter().enumerate() {
            check_addr(a).map_err(|e| bad(&format!("addresses[{i}]"), &e))?;
        }
        let blocks = |field: &str, list: &[String]| -> Result<Vec<Prefix>, ConfigError> {
            let mut out = Vec::new();
            for (i, b) in list.iter().enumerate() {
                let block = plans
                    .parse_block(b)
                    .map_err(|e| bad(&format!("{field}[{i}]"), &e))?;
                out.extend(block.prefixes());
            }
            Ok(out)
        };
        let allowed = blocks("allowed", &self.allowed)?;
        if self.role == RoleSection::Member && allowed.is_empty() {
            return Err(bad("allowed", &"a member needs the blocks it may announce"));
        }
        let mut sources = Vec::new();
        for (i, s) in self.sources.iter().enumerate() {
            let net = s
                .parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    bad(
                        &format!("sources[{i}]"),
                        &format!("{s:?} is not a CIDR network"),
                    )
                })?;
            sources.push(net);
        }
        if let Some(h) = self.hold_secs
            && (h == 1 || h == 2)
        {
            return Err(bad("hold_secs", &"must be 0 or at least 3"));
        }
        let filter = |field: &str,
                      terms: &Option<Vec<TermSection>>|
         -> Result<Option<Filter>, ConfigError> {
            let Some(terms) = terms else { return Ok(None) };
            let mut out = Vec::new();
            for (i, t) in terms.iter().enumerate() {
                let f = |sub: &str| format!("{field}[{i}].{sub}");
                let communities = |sub: &str, list: &[String]| {
                    list.iter()
                        .map(|c| parse_community(c))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| bad(&f(sub), &e))
                };
                out.push(Term {
                    prefixes: blocks(&f("prefixes"), &t.prefixes)?,
                    max_len: t.max_length,
                    communities: communities("communities", &t.communities)?,
                    action: Some(match t.action {
                        ActionSection::Accept => Action::Accept,
                        ActionSection::Reject => Action::Reject,
                    }),
                    local_pref: t.local_pref,
                    add_communities: communities("add_communities", &t.add_communities)?,
                });
            }
            Ok(Some(Filter { terms: out }))
        };
        let policy = PeerPolicy {
            name: Arc::from(name.as_str()),
            itad: self.itad,
            role: match self.role {
                RoleSection::Peer => Role::Peer,
                RoleSection::Member => Role::Member,
            },
            allowed,
            route_server: self.route_server,
            transparent: self.transparent,
            import: filter("import", &self.import)?,
            export: filter("export", &self.export)?,
            reject_not_found: self.not_found == NotFoundSection::Reject,
            local_pref: self
                .local_pref
                .unwrap_or(trunkline_core::route::DEFAULT_LOCAL_PREF),
            max_prefixes: self.max_prefixes.map(|n| {
                (
                    n,
                    match self.max_prefixes_action {
                        MaxPrefixesSection::Close => MaxPrefixAction::Close,
                        MaxPrefixesSection::Refuse => MaxPrefixAction::Refuse,
                    },
                )
            }),
        };
        Ok(Peer {
            section: self.clone(),
            policy,
            sources,
        })
    }
}

/// Checks a config file's peers as a whole: each valid, names and ITADs
/// unique.
pub fn check_peers(peers: &[PeerSection], plans: &Plans, my_itad: Itad) -> Result<(), ConfigError> {
    let mut names = std::collections::HashSet::new();
    let mut itads = std::collections::HashSet::new();
    for p in peers {
        p.resolve(plans, my_itad)?;
        if !names.insert(p.name.as_str()) {
            return Err(invalid(&p.name, "name", "another peer has this name"));
        }
        if !itads.insert(p.itad) {
            return Err(invalid(&p.name, "itad", "another peer has this ITAD"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
