//! `trunkline.v1.Neighbors`: configure peers at run time (replicated),
//! see their sessions, reset or refresh them (on whichever node holds the
//! session), and list what was received, accepted and advertised.

use std::collections::HashMap;
use std::pin::Pin;

use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use trunkline_cluster::peers::PeerOrigin;
use trunkline_cluster::state::View;
use trunkline_cluster::{Command, Outcome};
use trunkline_core::{Itad, Prefix, Route, Source};
use trunkline_peering::policy::export;
use trunkline_peering::session::State;
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::neighbors_client::NeighborsClient;
use trunkline_proto::v1::neighbors_server::Neighbors;

use super::convert;
use super::errors::write_error;
use crate::peering::config::{Peer, PeerSection};
use crate::peering::manager::ManagerHandle;
use crate::peering::session::SessionStatus;
use crate::store::StoreHandle;

const LIST_BATCH: usize = 1000;

#[derive(Debug, Clone)]
pub struct NeighborsApi {
    pub store: StoreHandle,
    pub manager: ManagerHandle,
    pub node_id: u64,
    pub itad: Itad,
}

type RouteStream =
    Pin<Box<dyn Stream<Item = Result<pb::ListNeighborRoutesResponse, Status>> + Send>>;

fn state(s: State) -> pb::SessionState {
    match s {
        State::Idle => pb::SessionState::Idle,
        State::Connect => pb::SessionState::Connect,
        State::OpenSent => pb::SessionState::OpenSent,
        State::OpenConfirm => pb::SessionState::OpenConfirm,
        State::Established => pb::SessionState::Established,
    }
}

impl NeighborsApi {
    fn resolve(&self, view: &View, name: &str) -> Result<Peer, Status> {
        let entry = view
            .peers
            .configs
            .get(name)
            .ok_or_else(|| Status::not_found(format!("no neighbor named {name:?}")))?;
        PeerSection::from_toml(&entry.config)
            .and_then(|s| s.resolve(self.store.plans(), self.itad))
            .map_err(|e| Status::failed_precondition(format!("neighbor {name:?}: {e}")))
    }

    fn neighbor(
        &self,
        view: &View,
        name: &str,
        counts: &HashMap<String, (u64, u64)>,
        local: Option<&SessionStatus>,
    ) -> pb::Neighbor {
        let entry = &view.peers.configs[name];
        let section = PeerSection::from_toml(&entry.config).ok();
        let mark = view.peers.sessions.get(name);
        let (accepted, stale) = counts.get(name).copied().unwrap_or_default();
        let mut n = pb::Neighbor {
            name: name.to_owned(),
            config: entry.config.clone(),
            origin: Some(match entry.origin {
                PeerOrigin::Api => pb::NeighborOrigin {
                    from: Some(pb::neighbor_origin::From::Api(pb::Empty {})),
                },
                PeerOrigin::Config { node } => pb::NeighborOrigin {
                    from: Some(pb::neighbor_origin::From::ConfigNode(node)),
                },
            }),
            accepted,
            stale,
            rejected: view.peers.rejected.get(name).map_or(0, |r| r.len() as u64),
            ..Default::default()
        };
        if let Some(s) = &section {
            n.itad = s.itad;
            n.role = match s.role {
                crate::peering::config::RoleSection::Peer => pb::NeighborRole::Peer,
                crate::peering::config::RoleSection::Member => pb::NeighborRole::Member,
            }
            .into();
            n.addresses = s.addresses.clone();
        }
        if let Some(m) = mark.filter(|m| m.up) {
            n.state = pb::SessionState::Established.into();
            n.session_node = m.node;
            n.epoch = m.epoch;
        } else {
            n.state = pb::SessionState::Idle.into();
        }
        if let Some(l) = local {
            // This node's own session task knows the details.
            let holds = mark.is_none_or(|m| !m.up || m.node == self.node_id);
            if holds && let Some(st) = l.state {
                n.state = state(st).into();
            }
            n.dialing = l.active;
            n.last_error = l.last_error.clone().unwrap_or_default();
            if let Some(up) = &l.established {
                n.session_node = self.node_id;
                n.established_secs = up.secs;
                n.received = l.received;
                n.advertised = up.advertised as u64;
                n.remote = l.remote.clone().unwrap_or_default();
                let neg = &up.negotiated;
                n.hold_time_secs = neg.hold_secs;
                n.plans = neg.plans.clone();
                n.restart_time_secs = neg.peer_restart_secs.unwrap_or(0);
                n.route_refresh = neg.route_refresh;
                n.authority = neg.authority;
                n.authority_received = up.authority_received;
                n.authority_refused = up.authority_refused;
                n.authority_synced = up.authority_synced;
            }
        }
        n
    }

    /// Runs a session action where the session is: here, or on the node
    /// holding it (through that node's API).
    async fn act(&self, name: &str, refresh: bool) -> Result<u64, Status> {
        let view = self.store.view().load_full();
        self.resolve(&view, name)?;
        let what = if refresh { "refresh" } else { "reset" };
        let Some(holder) = view
            .peers
            .sessions
            .get(name)
            .filter(|m| m.up)
            .map(|m| m.node)
        else {
            return Err(Status::failed_precondition(format!(
                "{name} has no established session, so there is nothing to {what}; \
                 `trunkline neighbor show {name}` says why (state, last error)"
            )));
        };
        if holder == self.node_id {
            let r = if refresh {
                self.manager.refresh(name.to_owned()).await
            } else {
                self.manager.reset(name.to_owned()).await
            };
            r.map_err(|e| Status::failed_precondition(e.to_string()))?;
            return Ok(holder);
        }
        let addr = self
            .store
            .status()
            .members
            .get(&holder)
            .cloned()
            .ok_or_else(|| Status::unavailable(format!("no address for node {holder}")))?;
        let channel = self
            .store
            .dialer()
            .endpoint(holder, &addr)
            .map_err(|e| Status::unavailable(format!("node {holder} at {addr}: {e}")))?
            .connect()
            .await
            .map_err(|e| {
                Status::unavailable(format!(
                    "node {holder} at {addr}: {}",
                    crate::store::transport::source_chain(&e)
                ))
            })?;
        let mut client = NeighborsClient::new(channel);
        let req = pb::NeighborRequest {
            name: name.to_owned(),
        };
        let resp = if refresh {
            client.refresh_neighbor(req).await?
        } else {
            client.reset_neighbor(req).await?
        };
        Ok(resp.into_inner().node)
    }
}

/// Per peer name: (routes in the table, of which stale).
fn route_counts(view: &View) -> HashMap<String, (u64, u64)> {
    let mut counts: HashMap<String, (u64, u64)> = HashMap::new();
    view.table.walk_all(&mut |_, set| {
        for r in set.iter() {
            if let Source::Peer { name, .. } = &r.attrs.source {
                let c = counts.entry(name.to_string()).or_default();
                c.0 += 1;
                c.1 += u64::from(r.stale);
            }
        }
        true
    });
    counts
}

#[tonic::async_trait]
impl Neighbors for NeighborsApi {
    type ListNeighborRoutesStream = RouteStream;

    async fn list_neighbors(
        &self,
        req: Request<pb::ListNeighborsRequest>,
    ) -> Result<Response<pb::ListNeighborsResponse>, Status> {
        let name = req.into_inner().name;
        let view = self.store.view().load_full();
        if !name.is_empty() && !view.peers.configs.contains_key(&name) {
            return Err(Status::not_found(format!("no neighbor named {name:?}")));
        }
        let local: HashMap<String, SessionStatus> = self
            .manager
            .status()
            .await
            .into_iter()
            .filter_map(|(p, s)| s.map(|s| (p.name().to_owned(), s)))
            .collect();
        let counts = route_counts(&view);
        let neighbors = view
            .peers
            .configs
            .keys()
            .filter(|n| name.is_empty() || **n == name)
            .map(|n| self.neighbor(&view, n, &counts, local.get(n)))
            .collect();
        Ok(Response::new(pb::ListNeighborsResponse { neighbors }))
    }

    async fn add_neighbor(
        &self,
        req: Request<pb::AddNeighborRequest>,
    ) -> Result<Response<pb::AddNeighborResponse>, Status> {
        let req = req.into_inner();
        let section = PeerSection::from_toml(&req.config)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        section
            .resolve(self.store.plans(), self.itad)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let view = self.store.view().load_full();
        let existing = view.peers.configs.get(&section.name);
        if let Some(e) = existing
            && let PeerOrigin::Config { node } = e.origin
        {
            return Err(Status::failed_precondition(format!(
                "neighbor {:?} comes from node {node}'s config file; change it there",
                section.name
            )));
        }
        // ITADs are unique among peers: the state machine checks it where
        // every write path passes.
        let command = Command::PeerSet {
            name: section.name.clone(),
            config: section.to_toml(),
            origin: PeerOrigin::Api,
            itad: section.itad,
        };
        let c = self
            .store
            .write(req.request_id, command)
            .await
            .map_err(write_error)?;
        if let Outcome::Refused(why) = c.outcome {
            return Err(Status::invalid_argument(why));
        }
        Ok(Response::new(pb::AddNeighborResponse {
            log_index: c.index,
            replaced: existing.is_some(),
            warnings: section.warnings(),
        }))
    }

    async fn delete_neighbor(
        &self,
        req: Request<pb::DeleteNeighborRequest>,
    ) -> Result<Response<pb::DeleteNeighborResponse>, Status> {
        let req = req.into_inner();
        let view = self.store.view().load_full();
        let e = view
            .peers
            .configs
            .get(&req.name)
            .ok_or_else(|| Status::not_found(format!("no neighbor named {:?}", req.name)))?;
        if let PeerOrigin::Config { node } = e.origin {
            return Err(Status::failed_precondition(format!(
                "neighbor {:?} comes from node {node}'s config file; remove it there",
                req.name
            )));
        }
        let command = Command::PeerDelete { name: req.name };
        let c = self
            .store
            .write(req.request_id, command)
            .await
            .map_err(write_error)?;
        Ok(Response::new(pb::DeleteNeighborResponse {
            log_index: c.index,
        }))
    }

    async fn reset_neighbor(
        &self,
        req: Request<pb::NeighborRequest>,
    ) -> Result<Response<pb::NeighborActionResponse>, Status> {
        let node = self.act(&req.into_inner().name, false).await?;
        Ok(Response::new(pb::NeighborActionResponse { node }))
    }

    async fn refresh_neighbor(
        &self,
        req: Request<pb::NeighborRequest>,
    ) -> Result<Response<pb::NeighborActionResponse>, Status> {
        let node = self.act(&req.into_inner().name, true).await?;
        Ok(Response::new(pb::NeighborActionResponse { node }))
    }

    async fn list_neighbor_routes(
        &self,
        req: Request<pb::ListNeighborRoutesRequest>,
    ) -> Result<Response<RouteStream>, Status> {
        let req = req.into_inner();
        let rib = req.rib();
        if rib == pb::NeighborRib::Unspecified {
            return Err(Status::invalid_argument(
                "rib: one of received, accepted, advertised",
            ));
        }
        let view = self.store.view().load_full();
        let peer = self.resolve(&view, &req.name)?;
        let plans = self.store.plans().clone();
        let me = self.itad;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let name = peer.name().to_owned();
            let rejected = view.peers.rejected.get(&name).cloned().unwrap_or_default();
            let mut batch: Vec<pb::NeighborRoute> = Vec::with_capacity(LIST_BATCH);
            let flush = |batch: &mut Vec<pb::NeighborRoute>| {
                let routes = std::mem::take(batch);
                tx.blocking_send(Ok(pb::ListNeighborRoutesResponse { routes }))
                    .is_ok()
            };
            let emit = |batch: &mut Vec<pb::NeighborRoute>, r: pb::NeighborRoute| {
                batch.push(r);
                batch.len() < LIST_BATCH || flush(batch)
            };
            // Kept, but never selected nor passed on: say so.
            let accepted = |px: &Prefix, r: &Route| pb::NeighborRoute {
                route: Some(convert::route(&plans, px, r)),
                rejected: match r.attrs.validation {
                    trunkline_core::Validation::Invalid => {
                        "origin validation: invalid (no authorisation that counts lets its \
                         origin ITAD announce it; see `trunkline authority check`)"
                            .to_owned()
                    }
                    trunkline_core::Validation::NotFound if r.attrs.reject_not_found => {
                        "origin validation: not-found (no authorisation covers it), and this \
                         peer's policy is not_found = \"reject\""
                            .to_owned()
                    }
                    _ => String::new(),
                },
            };
            match rib {
                pb::NeighborRib::Advertised => {
                    view.table.walk_all(&mut |px, set| {
                        let Some(a) = export(&peer.policy, me, px, set.iter().next()) else {
                            return true;
                        };
                        let best = set.iter().next().expect("exported a route");
                        let mut route = convert::route(&plans, px, best);
                        route.path = a.path;
                        route.med = a.med;
                        emit(
                            &mut batch,
                            pb::NeighborRoute {
                                route: Some(route),
                                rejected: String::new(),
                            },
                        )
                    });
                }
                pb::NeighborRib::Accepted | pb::NeighborRib::Received => {
                    let mut ok = true;
                    view.table.walk_all(&mut |px, set| {
                        for r in set.iter().filter(|r| r.attrs.source.is_peer(&name)) {
                            ok = emit(&mut batch, accepted(px, r));
                        }
                        ok
                    });
                    if ok && rib == pb::NeighborRib::Received {
                        for (px, rej) in &rejected {
                            // What the peer sent, where the log kept it.
                            let route = match &rej.attrs {
                                Some(attrs) => convert::route(
                                    &plans,
                                    px,
                                    &Route {
                                        attrs: attrs.clone(),
                                        installed_at: 0,
                                        stale: false,
                                    },
                                ),
                                None => pb::Route {
                                    prefix: plans.prefix_str(px),
                                    source: name.clone(),
                                    ..Default::default()
                                },
                            };
                            let r = pb::NeighborRoute {
                                route: Some(route),
                                rejected: rej.why.clone(),
                            };
                            if !emit(&mut batch, r) {
                                return;
                            }
                        }
                    }
                }
                pb::NeighborRib::Unspecified => {}
            }
            if !batch.is_empty() {
                flush(&mut batch);
            }
        });
        let stream: RouteStream = Box::pin(ReceiverStream::new(rx));
        Ok(Response::new(stream))
    }
}
