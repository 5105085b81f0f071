//! What every session of a node shares, and the limits of its streams:
//! below the session's other files, which all use it.

use trunkline_core::{Itad, Plans};

use crate::peering::config::PeeringSection;
use crate::store::StoreHandle;

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
}
