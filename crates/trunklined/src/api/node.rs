//! `trunkline.v1.Node`: the status of this node.

use tonic::{Request, Response, Status};
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::node_server::Node;

use super::convert;
use super::routes::Api;

#[tonic::async_trait]
impl Node for Api {
    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let status = self.store.status();
        let st = status.raft;
        let view = self.store.view().load();
        let plans = self.store.plans();
        let mut plan_status = Vec::new();
        for (id, plan) in plans.iter() {
            plan_status.push(pb::PlanStatus {
                name: plan.name.clone(),
                max_digits: plan.max_digits.into(),
                prefixes: view.table.prefix_count_in(id) as u64,
                routes: view.table.route_count_in(id) as u64,
            });
        }
        let resp = pb::StatusResponse {
            node_name: self.node_name.clone(),
            itad: self.itad,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_seconds: self.started.elapsed().as_secs(),
            raft: Some(convert::raft_status(&st)),
            plans: plan_status,
            prefixes: view.table.prefix_count() as u64,
            routes: view.table.route_count() as u64,
            removed: status.removed.map(|r| pb::Removed {
                log_index: r.log_index,
                detail: r.to_string(),
            }),
            data_dir: self.data_dir.clone(),
        };
        self.metrics.rpc("Status", tonic::Code::Ok);
        Ok(Response::new(resp))
    }
}
