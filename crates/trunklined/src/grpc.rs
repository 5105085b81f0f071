//! The node's two gRPC servers. The public one carries the API, peering,
//! health and reflection; the cluster one, on `[cluster] listen`, carries
//! what other nodes of the cluster call: raft traffic and forwarded writes
//! (`trunkline.cluster.v1.RaftTransport`), and the requests they pass on
//! (cluster membership and status, neighbor actions). The internal service
//! never shares the public port, and public reflection does not list it.

use std::future::Future;
use std::sync::Arc;

use prost::Message as _;
use tokio::net::TcpListener;
use trunkline_proto::cluster::v1::raft_transport_server::RaftTransportServer;
use trunkline_proto::peering::v1::peering_server::PeeringServer;
use trunkline_proto::v1::authority_server::AuthorityServer;
use trunkline_proto::v1::cluster_server::ClusterServer;
use trunkline_proto::v1::invites_server::InvitesServer;
use trunkline_proto::v1::neighbors_server::NeighborsServer;
use trunkline_proto::v1::node_server::NodeServer;
use trunkline_proto::v1::routes_server::RoutesServer;
use trunkline_proto::v1::tokens_server::TokensServer;

use crate::api::{Api, InvitesApi, NeighborsApi, RaftService};
use crate::peering::service::PeeringService;
use crate::tls::server::{ServerTls, incoming};

/// The package of the node-to-node service, kept out of public reflection.
const INTERNAL_PACKAGE: &str = "trunkline.cluster.v1";

/// The service values both servers are built from.
#[derive(Debug)]
pub struct Services {
    pub api: Api,
    pub neighbors: NeighborsApi,
    pub invites: InvitesApi,
    pub peering: PeeringService,
    pub raft: RaftService,
    pub max_message: usize,
    /// Who may call what on the public port.
    pub auth: Arc<crate::auth::Authenticator>,
}

/// The public descriptors: every trunkline file but the internal one.
fn public_descriptors() -> anyhow::Result<prost_types::FileDescriptorSet> {
    let mut set = prost_types::FileDescriptorSet::decode(trunkline_proto::FILE_DESCRIPTOR_SET)?;
    set.file.retain(|f| f.package() != INTERNAL_PACKAGE);
    Ok(set)
}

/// The public server, until `stop` resolves.
pub async fn public<F>(
    s: &Services,
    listener: TcpListener,
    tls: Option<Arc<ServerTls>>,
    stop: F,
) -> anyhow::Result<impl Future<Output = Result<(), tonic::transport::Error>> + use<F>>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<RoutesServer<Api>>().await;
    health.set_serving::<NodeServer<Api>>().await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_file_descriptor_set(public_descriptors()?)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_file_descriptor_set(public_descriptors()?)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let max = s.max_message;
    Ok(tonic::transport::Server::builder()
        // HTTP/2 flow-control windows far above the protocol's 64 KiB: a
        // batch of lookups or a table dump is many windows long. Fixed
        // rather than adaptive: h2 bounds the small DATA frames it holds
        // for calls not yet read by half the connection window, and a
        // client with hundreds of small calls in flight on a 64 KiB window
        // (where adaptive windows start) gets its connection closed.
        .initial_stream_window_size(Some(STREAM_WINDOW))
        .initial_connection_window_size(Some(CONNECTION_WINDOW))
        // Calls at once on one connection, stated rather than left to
        // hyper's builder default (200): one busy client (a proxy, a PBX
        // farm's gateway) keeps more in flight.
        .max_concurrent_streams(Some(MAX_STREAMS))
        .layer(crate::auth::AuthLayer(s.auth.clone()))
        .add_service(
            RoutesServer::new(s.api.clone())
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .add_service(NodeServer::new(s.api.clone()))
        .add_service(ClusterServer::new(s.api.clone()))
        .add_service(
            PeeringServer::new(s.peering.clone())
                .max_decoding_message_size(crate::peering::session::MAX_MESSAGE)
                .max_encoding_message_size(crate::peering::session::MAX_MESSAGE),
        )
        .add_service(NeighborsServer::new(s.neighbors.clone()))
        .add_service(TokensServer::new(s.api.clone()))
        .add_service(AuthorityServer::new(s.api.clone()))
        .add_service(InvitesServer::new(s.invites.clone()))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(incoming(listener, tls), stop))
}

/// Most concurrent calls on one client connection (etcd's
/// `--max-concurrent-streams` is unlimited by default).
const MAX_STREAMS: u32 = 10_000;
/// Flow-control windows of the public server: what one call, and one
/// connection, may send before the server reads it.
const STREAM_WINDOW: u32 = 2 << 20;
const CONNECTION_WINDOW: u32 = 8 << 20;

/// The node-to-node server, until `stop` resolves.
pub fn cluster<F>(
    s: &Services,
    listener: TcpListener,
    tls: Option<Arc<ServerTls>>,
    stop: F,
) -> impl Future<Output = Result<(), tonic::transport::Error>> + use<F>
where
    F: Future<Output = ()> + Send + 'static,
{
    tonic::transport::Server::builder()
        .add_service(
            RaftTransportServer::new(s.raft.clone())
                .max_decoding_message_size(crate::store::transport::MAX_MESSAGE)
                .max_encoding_message_size(crate::store::transport::MAX_MESSAGE),
        )
        .add_service(ClusterServer::new(s.api.clone()))
        .add_service(NodeServer::new(s.api.clone()))
        .add_service(NeighborsServer::new(s.neighbors.clone()))
        .serve_with_incoming_shutdown(incoming(listener, tls), stop)
}
