//! What every session of a node shares, and the limits of its streams:
//! below the session's other files, which all use it.

use std::sync::Arc;

use trunkline_core::{Itad, Plans};

use crate::peering::config::PeeringSection;
use crate::store::StoreHandle;

/// The peer a stream's certificate names, with mutual TLS: (ITAD, name).
pub type Certified = (Itad, String);

/// Largest peering message, both ways.
pub const MAX_MESSAGE: usize = 16 << 20;
/// Messages between a session and its stream's own buffer, each way.
pub const STREAM_QUEUE: usize = 256;
/// What every session of a node shares.
#[derive(Debug)]
pub struct Context {
    pub store: StoreHandle,
    pub node_id: u64,
    pub itad: Itad,
    pub name: String,
    pub plans: Plans,
    pub settings: PeeringSection,
    pub metrics: crate::metrics::Metrics,
    /// Mutual TLS for the sessions this node dials (`[peering.tls]`).
    pub tls: Option<Arc<crate::tls::client::Dialer>>,
}
