//! `[looking_glass]`: the read-only pages on the HTTP port.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookingGlassSection {
    /// Serve the pages under `/lg/` on the `[http]` port.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Viewers without a token (`Authorization: Bearer`, read role or
    /// more) see next-hop URIs and peers' addresses with their hosts
    /// hidden: they are often a hobbyist's home address.
    #[serde(default = "yes")]
    pub redact_next_hops: bool,
    /// Neighbors never shown (route collectors, internal sessions).
    #[serde(default)]
    pub hidden_neighbors: Vec<String>,
    /// Routes shown on one page; the rest are counted.
    #[serde(default = "default_page_routes")]
    pub page_routes: usize,
}

fn yes() -> bool {
    true
}

fn default_page_routes() -> usize {
    500
}

impl Default for LookingGlassSection {
    fn default() -> Self {
        LookingGlassSection {
            enabled: true,
            redact_next_hops: true,
            hidden_neighbors: Vec::new(),
            page_routes: default_page_routes(),
        }
    }
}
