//! Every TLS piece a node runs with, built from its config and reloaded
//! together.

use std::sync::Arc;

use super::client;
use super::files::{TlsError, TlsSection};
use super::server;

/// Every TLS piece a node runs with; None where a channel is plaintext.
#[derive(Debug, Clone, Default)]
pub struct NodeTls {
    /// The public port: API clients, and peers by [`server::PEERING_SNI`].
    pub public: Option<Arc<server::ServerTls>>,
    /// The node-to-node port.
    pub cluster: Option<Arc<server::ServerTls>>,
    pub cluster_dialer: Option<Arc<client::Dialer>>,
    pub peering_dialer: Option<Arc<client::Dialer>>,
}

impl NodeTls {
    pub fn new(
        api: Option<&TlsSection>,
        cluster: Option<&TlsSection>,
        peering: Option<&TlsSection>,
    ) -> Result<NodeTls, TlsError> {
        use server::{ClientAuth, ServerTls, Side};
        let public = match api {
            Some(api) => Some(Arc::new(ServerTls {
                main: Side::new(api.clone(), ClientAuth::Optional)?,
                peering: peering
                    .map(|p| Side::new(p.clone(), ClientAuth::Required))
                    .transpose()?,
                nodes_only: false,
            })),
            None => None,
        };
        let cluster_server = match cluster {
            Some(c) => Some(Arc::new(ServerTls {
                main: Side::new(c.clone(), ClientAuth::Required)?,
                peering: None,
                nodes_only: true,
            })),
            None => None,
        };
        Ok(NodeTls {
            public,
            cluster: cluster_server,
            cluster_dialer: cluster
                .map(|c| client::Dialer::new(c.clone(), "cluster.trunkline.invalid").map(Arc::new))
                .transpose()?,
            peering_dialer: peering
                .map(|p| client::Dialer::new(p.clone(), server::PEERING_SNI).map(Arc::new))
                .transpose()?,
        })
    }

    /// Reads the files again where they changed (all of them when
    /// `force`, as on SIGHUP). Connections already up keep their
    /// certificates; new ones get the new files. A file that does not
    /// load keeps what was read before, and the log says why.
    pub fn reload(&self, force: bool) {
        let servers = [&self.public, &self.cluster]
            .into_iter()
            .flatten()
            .flat_map(|s| s.sides());
        let mut results: Vec<(&TlsSection, Result<bool, TlsError>)> =
            servers.map(|s| (s.files(), s.reload(force))).collect();
        for d in [&self.cluster_dialer, &self.peering_dialer]
            .into_iter()
            .flatten()
        {
            results.push((d.files(), d.reload(force)));
        }
        for (files, r) in results {
            match r {
                Ok(true) => tracing::info!(
                    cert = %files.cert.display(),
                    "TLS files read again: new connections use them"
                ),
                Ok(false) => {}
                Err(e) => tracing::error!(
                    cert = %files.cert.display(),
                    "TLS files not reloaded, keeping the ones in use: {e}"
                ),
            }
        }
    }
}
