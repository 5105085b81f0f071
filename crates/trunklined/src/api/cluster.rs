//! `trunkline.v1.Cluster`: membership changes and the status of every
//! member. Changes must be proposed by the leader; any other node passes
//! the request on to it.

use std::time::Duration;

use raft::prelude::{ConfChangeSingle, ConfChangeType, ConfChangeV2};
use tonic::{Request, Response, Status};
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::cluster_client::ClusterClient;
use trunkline_proto::v1::cluster_server::Cluster;
use trunkline_proto::v1::node_client::NodeClient;

use super::convert;
use super::errors::write_error;
use super::routes::Api;
use crate::store::WriteError;

/// How long a membership change waits for an election in progress.
const LEADER_WAIT: Duration = Duration::from_secs(5);
/// Pause between tries while a new leader is elected.
const RETRY: Duration = Duration::from_millis(100);
/// How long `cluster status` waits for each member.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(1);

fn change(kind: ConfChangeType, id: u64) -> ConfChangeV2 {
    let mut c = ConfChangeSingle::default();
    c.set_change_type(kind);
    c.node_id = id;
    let mut cc = ConfChangeV2::default();
    cc.mut_changes().push(c);
    cc
}

impl Api {
    /// A client for the leader's Cluster service, when this node is not it.
    /// Waits (briefly) for an election in progress.
    async fn leader(&self) -> Result<Option<ClusterClient<tonic::transport::Channel>>, Status> {
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        while self.store.status().raft.leader_id == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let st = self.store.status();
        if st.raft.role == trunkline_cluster::node::Role::Leader {
            return Ok(None);
        }
        let addr = st
            .members
            .get(&st.raft.leader_id)
            .ok_or_else(|| write_error(WriteError::NoLeader))?;
        let ch = self
            .store
            .dialer()
            .endpoint(st.raft.leader_id, addr)
            .map_err(|e| Status::unavailable(e.to_string()))?
            .connect_lazy();
        Ok(Some(ClusterClient::new(ch)))
    }

    async fn membership(
        &self,
        cc: ConfChangeV2,
        context: Vec<u8>,
    ) -> Result<pb::MembershipResponse, Status> {
        let log_index = self
            .store
            .conf_change(cc, context)
            .await
            .map_err(write_error)?;
        Ok(pb::MembershipResponse { log_index })
    }
}

#[tonic::async_trait]
impl Cluster for Api {
    async fn status(
        &self,
        _: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        let st = self.store.status();
        let me = st.raft.id;
        let mut ids: Vec<u64> = st
            .raft
            .voters
            .iter()
            .chain(&st.raft.learners)
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut members = Vec::new();
        for id in ids {
            let addr = st.members.get(&id).cloned().unwrap_or_default();
            let raft = if id == me {
                Some(convert::raft_status(&st.raft))
            } else if addr.is_empty() {
                None
            } else {
                ask_status(self.store.dialer(), id, &addr).await
            };
            members.push(pb::Member {
                id,
                addr,
                membership: if st.raft.learners.contains(&id) {
                    pb::MemberRole::Learner
                } else {
                    pb::MemberRole::Voter
                }
                .into(),
                reachable: raft.is_some(),
                raft,
                lag: 0,
            });
        }
        // Lag: how far each member's applied index is behind the leader's commit.
        let leader = members
            .iter()
            .filter_map(|m| m.raft.as_ref())
            .filter(|r| r.role() == pb::RaftRole::Leader)
            .max_by_key(|r| r.term)
            .cloned();
        if let Some(l) = &leader {
            for m in &mut members {
                if let Some(r) = &m.raft {
                    m.lag = l.commit_index.saturating_sub(r.applied_index);
                }
            }
        }
        Ok(Response::new(pb::ClusterStatusResponse {
            leader_id: leader.as_ref().map_or(st.raft.leader_id, |l| l.node_id),
            term: leader.as_ref().map_or(st.raft.term, |l| l.term),
            members,
        }))
    }

    async fn add_node(
        &self,
        req: Request<pb::AddNodeRequest>,
    ) -> Result<Response<pb::MembershipResponse>, Status> {
        let r = req.into_inner();
        if r.id == 0 {
            return Err(Status::invalid_argument("id: must be at least 1"));
        }
        crate::parse::check_addr(&r.addr)
            .map_err(|e| Status::invalid_argument(format!("addr: {e}")))?;
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        while let Some(mut leader) = self.leader().await? {
            match leader.add_node(r.clone()).await {
                Err(s) if retry(&s, deadline) => tokio::time::sleep(RETRY).await,
                other => return other,
            }
        }
        let status = self.store.status();
        let st = &status.raft;
        if st.voters.contains(&r.id) || st.learners.contains(&r.id) {
            return Err(Status::already_exists(format!(
                "node {} is already a member",
                r.id
            )));
        }
        if let Some(at) = status.removed_members.get(&r.id) {
            return Err(Status::failed_precondition(format!(
                "node {} was removed at log index {at}, and a removed id never comes back \
                 (its disk may hold an old log): start the machine with an empty data_dir \
                 and add it under a new id",
                r.id
            )));
        }
        check_reachable(&status.members, st, &r.addr)?;
        // Every member's address travels with the change, so the new node
        // can reach all of them.
        let mut book = status.members.clone();
        book.insert(r.id, r.addr);
        let context: String = book
            .iter()
            .map(|(id, addr)| format!("{id} {addr}\n"))
            .collect();
        let resp = self
            .membership(
                change(ConfChangeType::AddLearnerNode, r.id),
                context.into_bytes(),
            )
            .await?;
        Ok(Response::new(resp))
    }

    async fn remove_node(
        &self,
        req: Request<pb::RemoveNodeRequest>,
    ) -> Result<Response<pb::MembershipResponse>, Status> {
        let r = req.into_inner();
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        while let Some(mut leader) = self.leader().await? {
            match leader.remove_node(r).await {
                Err(s) if retry(&s, deadline) => tokio::time::sleep(RETRY).await,
                other => return other,
            }
        }
        let st = self.store.status().raft;
        if !st.voters.contains(&r.id) && !st.learners.contains(&r.id) {
            return Err(Status::not_found(format!("node {} is not a member", r.id)));
        }
        if st.voters == [r.id] {
            return Err(Status::failed_precondition("cannot remove the last voter"));
        }
        let resp = self
            .membership(change(ConfChangeType::RemoveNode, r.id), Vec::new())
            .await?;
        Ok(Response::new(resp))
    }

    async fn transfer_leader(
        &self,
        req: Request<pb::TransferLeaderRequest>,
    ) -> Result<Response<pb::MembershipResponse>, Status> {
        let r = req.into_inner();
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        while let Some(mut leader) = self.leader().await? {
            match leader.transfer_leader(r).await {
                Err(s) if retry(&s, deadline) => tokio::time::sleep(RETRY).await,
                other => return other,
            }
        }
        let st = self.store.status().raft;
        if !st.voters.contains(&r.id) {
            return Err(Status::invalid_argument(format!(
                "node {} is not a voter",
                r.id
            )));
        }
        self.store
            .transfer_leader(r.id)
            .await
            .map_err(write_error)?;
        // Wait (briefly) for the handover, so the caller sees its effect.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while tokio::time::Instant::now() < deadline {
            let st = self.store.status().raft;
            if st.leader_id == r.id {
                return Ok(Response::new(pb::MembershipResponse {
                    log_index: st.commit_index,
                }));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(Status::deadline_exceeded(format!(
            "node {} did not take over within 5 s",
            r.id
        )))
    }
}

/// Refuses a new member that could not reach every current one: a member
/// with no address (a single node listening on 0.0.0.0 without
/// `[cluster] advertise`), or one on loopback while the new node is not.
fn check_reachable(
    book: &std::collections::BTreeMap<u64, String>,
    st: &trunkline_cluster::node::Status,
    new_addr: &str,
) -> Result<(), Status> {
    let loopback = |a: &str| {
        let host = a.split("://").nth(1).unwrap_or(a);
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    };
    for id in st.voters.iter().chain(&st.learners) {
        let Some(addr) = book.get(id) else {
            return Err(Status::failed_precondition(format!(
                "node {id} has no address the new node could reach it at (it listens on an \
                 unspecified address such as 0.0.0.0): set [cluster] advertise = \
                 \"http://HOST:PORT\" in node {id}'s config, restart it, and add the node again"
            )));
        };
        if loopback(addr) && !loopback(new_addr) {
            return Err(Status::failed_precondition(format!(
                "node {id} is known by the loopback address {addr}, which {new_addr} cannot \
                 reach: set [cluster] advertise (or [api] listen) of node {id} to an address \
                 the new node can reach, restart it, and add the node again"
            )));
        }
    }
    Ok(())
}

/// Whether a request passed to the leader should be tried again: the
/// leader could not be reached (it may just have died) and time remains
/// for the next election.
fn retry(s: &Status, deadline: tokio::time::Instant) -> bool {
    s.code() == tonic::Code::Unavailable && tokio::time::Instant::now() + RETRY < deadline
}

async fn ask_status(
    dialer: &crate::store::NodeDialer,
    id: u64,
    addr: &str,
) -> Option<pb::RaftStatus> {
    let ch = dialer.endpoint(id, addr).ok()?.connect_lazy();
    let mut req = Request::new(pb::StatusRequest {});
    req.set_timeout(MEMBER_TIMEOUT);
    tokio::time::timeout(MEMBER_TIMEOUT, NodeClient::new(ch).status(req))
        .await
        .ok()?
        .ok()?
        .into_inner()
        .raft
}
