//! The API is plain gRPC: the standard health service answers, and server
//! reflection lists and describes every method.

use prost::Message as _;
use tokio_stream::StreamExt as _;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::harness::Node;

#[tokio::test]
async fn health_and_reflection() {
    let node = Node::start();
    let mut health = HealthClient::new(node.channel().await);
    for service in ["", "trunkline.v1.Routes", "trunkline.v1.Node"] {
        let r = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service}");
    }

    let mut refl = ServerReflectionClient::new(node.channel().await);
    let ask = |m: MessageRequest| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    };
    let reqs = tokio_stream::iter(vec![
        ask(MessageRequest::ListServices(String::new())),
        ask(MessageRequest::FileContainingSymbol(
            "trunkline.v1.Routes".into(),
        )),
        ask(MessageRequest::FileContainingSymbol(
            "trunkline.v1.Node".into(),
        )),
    ]);
    let mut stream = refl
        .server_reflection_info(reqs)
        .await
        .unwrap()
        .into_inner();
    let mut services = Vec::new();
    let mut methods = Vec::new();
    while let Some(r) = stream.next().await {
        match r.unwrap().message_response.unwrap() {
            MessageResponse::ListServicesResponse(l) => {
                services.extend(l.service.into_iter().map(|s| s.name))
            }
            MessageResponse::FileDescriptorResponse(f) => {
                for bytes in f.file_descriptor_proto {
                    let fd = prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap();
                    for s in fd.service {
                        for m in s.method {
                            methods.push(format!(
                                "{}.{}",
                                s.name.clone().unwrap(),
                                m.name.unwrap()
                            ));
                        }
                    }
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for s in [
        "trunkline.v1.Routes",
        "trunkline.v1.Node",
        "grpc.health.v1.Health",
    ] {
        assert!(services.iter().any(|x| x == s), "{s} not in {services:?}");
    }
    // The node-to-node service is not the public port's to list.
    assert!(
        !services.iter().any(|x| x.starts_with("trunkline.cluster.")),
        "{services:?}"
    );
    methods.sort();
    methods.dedup();
    assert_eq!(
        methods,
        [
            "Node.Status",
            "Routes.Announce",
            "Routes.Explain",
            "Routes.ListRoutes",
            "Routes.Lookup",
            "Routes.LookupBatch",
            "Routes.Watch",
            "Routes.Withdraw"
        ]
    );
}

/// Node-to-node traffic is not served on the public port: a client calling
/// the raft service there gets UNIMPLEMENTED, and nothing changes.
#[tokio::test]
async fn the_public_port_does_not_serve_the_raft_service() {
    use trunkline_proto::cluster::v1 as wire;
    use trunkline_proto::cluster::v1::raft_transport_client::RaftTransportClient;
    let node = Node::start();
    // Without credentials the public port refuses it as it refuses any
    // admin method; with them, it does not know the service.
    let mut anon = RaftTransportClient::new(node.channel().await);
    let e = anon
        .forward(wire::ForwardRequest { proposal: vec![2] })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    let mut raft = RaftTransportClient::new(node.authed().await);
    let forward = raft
        .forward(wire::ForwardRequest {
            proposal: vec![2, 0, 0, 0],
        })
        .await
        .unwrap_err();
    assert_eq!(forward.code(), tonic::Code::Unimplemented, "{forward:?}");
    let send = raft
        .send(tokio_stream::iter([wire::RaftBatch::default()]))
        .await
        .unwrap_err();
    assert_eq!(send.code(), tonic::Code::Unimplemented, "{send:?}");
    let snap = raft
        .send_snapshot(tokio_stream::iter([wire::SnapshotChunk::default()]))
        .await
        .unwrap_err();
    assert_eq!(snap.code(), tonic::Code::Unimplemented, "{snap:?}");
    let st = node.cli(&["status", "--json"]).json();
    assert_eq!(st["routes"], 0);
}
