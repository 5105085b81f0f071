//! How a node dials another node of its cluster: one endpoint shape for
//! raft links, forwarded writes and passed-on requests, with mutual TLS
//! when the cluster has it, accepting only the node being dialled.

use std::sync::Arc;
use std::time::Duration;

use tonic::transport::Endpoint;

use crate::tls::Identity;
use crate::tls::client::Dialer;

#[derive(Debug, Clone, Default)]
pub struct NodeDialer {
    tls: Option<Arc<Dialer>>,
}

impl NodeDialer {
    pub fn new(tls: Option<Arc<Dialer>>) -> NodeDialer {
        NodeDialer { tls }
    }

    /// An endpoint for node `id` at `addr`, with the timeouts and
    /// keepalive a raft link needs (HTTP/2 keepalive tears down a
    /// connection that died in a partition; a tonic channel can otherwise
    /// stay stuck on it).
    pub fn endpoint(&self, id: u64, addr: &str) -> Result<Endpoint, tonic::transport::Error> {
        let endpoint = Endpoint::from_shared(addr.to_owned())?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_millis(500))
            .keep_alive_timeout(Duration::from_secs(1))
            .keep_alive_while_idle(true);
        match &self.tls {
            Some(tls) if addr.starts_with("https://") => tls.secure(endpoint, Identity::Node(id)),
            _ => Ok(endpoint),
        }
    }
}
