//! `[invites]`: this node mints invites and lets members join with them.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitesSection {
    /// The CA that signs members' peer certificates: the one `[peering.tls]
    /// ca` names, so the exchange takes the certificates it signs.
    pub ca_cert: PathBuf,
    /// Its key. Only nodes that hold it answer joins.
    pub ca_key: PathBuf,
    /// What members dial (any will do), written into every invite.
    /// Default: this node's `[api] listen`, as `https://`.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// How long a member's certificate is valid.
    #[serde(default = "default_days")]
    pub cert_days: u32,
    /// An Ed25519 key (`trunkline authority keygen`) that signs each member
    /// an authorisation for its blocks; its own delegation must cover them.
    /// Absent: members get none, and their routes validate as not-found.
    #[serde(default)]
    pub authority_key: Option<PathBuf>,
    /// How long those authorisations are valid.
    #[serde(default = "default_days")]
    pub authority_days: u32,
}

fn default_days() -> u32 {
    365
}
