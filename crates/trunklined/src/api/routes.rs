//! `trunkline.v1.Routes`: announce, withdraw, lookup, list, explain and
//! watch (in `watch.rs`); lookups by the thousand in `lookup_batch.rs`.
//!
//! Reads answer from the published view (no lock, no raft round trip);
//! writes go to the store task and return once applied.

use std::pin::Pin;
use std::time::Instant;

use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use trunkline_cluster::{Command, Outcome};
use trunkline_core::select::explain;
use trunkline_core::{Prefix, Source};
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::routes_server::Routes;

use super::convert;
use super::errors::{lookup_error, write_error};
use crate::auth::Principal;
use crate::metrics::{LookupLabels, Metrics};
use crate::store::StoreHandle;

/// Routes streamed per ListRoutes message.
const LIST_BATCH: usize = 1000;

/// Request ids longer than this are refused.
const MAX_REQUEST_ID: usize = 128;

#[derive(Debug, Clone)]
pub struct Api {
    pub store: StoreHandle,
    pub metrics: Metrics,
    pub node_name: String,
    pub itad: u32,
    pub started: Instant,
    /// The data directory, as an absolute path.
    pub data_dir: String,
    /// Recent changes, for watches that resume.
    pub history: super::history::History,
}

fn request_id(id: &str) -> Result<String, Status> {
    if id.len() > MAX_REQUEST_ID {
        return Err(Status::invalid_argument(format!(
            "request_id: at most {MAX_REQUEST_ID} bytes"
        )));
    }
    Ok(id.to_owned())
}

impl Api {
    fn count<T>(&self, method: &'static str, r: Result<T, Status>) -> Result<T, Status> {
        self.metrics.rpc(
            method,
            r.as_ref().map_or_else(|s| s.code(), |_| tonic::Code::Ok),
        );
        r
    }

    async fn write(&self, id: String, command: Command) -> Result<(u64, u64), Status> {
        let c = self.store.write(id, command).await.map_err(write_error)?;
        match c.outcome {
            // A retried request id answers what its first try would have
            // been told: the index where it applied.
            Outcome::Applied { changed } | Outcome::Duplicate { changed, .. } => {
                Ok((changed, c.effective_index()))
            }
            Outcome::Rejected(why) => Err(Status::internal(why)),
            Outcome::Refused(why) => Err(Status::invalid_argument(why)),
        }
    }

    /// Refuses the whole request when any prefix is outside the caller's
    /// scope: nothing is proposed.
    fn check_scope<'a>(
        &self,
        who: &Principal,
        mut prefixes: impl Iterator<Item = &'a Prefix>,
    ) -> Result<(), Status> {
        match prefixes.find(|p| !who.may_write(p)) {
            None => Ok(()),
            Some(p) => {
                let plans = self.store.plans();
                let scope: Vec<String> = who.scope.iter().map(|s| plans.prefix_str(s)).collect();
                Err(Status::permission_denied(format!(
                    "{} may change routes only under {}; {} is outside",
                    who.who,
                    scope.join(", "),
                    plans.prefix_str(p)
                )))
            }
        }
    }

    async fn announce_inner(
        &self,
        who: &Principal,
        req: pb::AnnounceRequest,
    ) -> Result<pb::AnnounceResponse, Status> {
        let id = request_id(&req.request_id)?;
        let routes = convert::announce_routes(self.store.plans(), &req.routes)?;
        self.check_scope(who, routes.iter().map(|(p, _)| p))?;
        let prefixes: Vec<Prefix> = routes.iter().map(|(p, _)| *p).take(1_000).collect();
        let (announced, log_index) = self.write(id, Command::Announce(routes)).await?;
        // Local routes are validated too: say when one is invalid (it is
        // kept, and never selected).
        let view = self.store.view().load();
        for px in &prefixes {
            let invalid = view.table.get(px).is_some_and(|set| {
                set.iter().any(|r| {
                    r.attrs.source == Source::Api
                        && r.attrs.validation == trunkline_core::Validation::Invalid
                })
            });
            if invalid {
                tracing::warn!(
                    prefix = %self.store.plans().prefix_str(px),
                    "announced route is invalid by origin validation: it will not be selected"
                );
            }
        }
        Ok(pb::AnnounceResponse {
            announced,
            log_index,
        })
    }

    async fn withdraw_inner(
        &self,
        who: &Principal,
        req: pb::WithdrawRequest,
    ) -> Result<pb::WithdrawResponse, Status> {
        let id = request_id(&req.request_id)?;
        let prefixes = convert::withdraw_prefixes(self.store.plans(), &req.prefixes)?;
        self.check_scope(who, prefixes.iter())?;
        // What will not be withdrawn, to say so: prefixes without an API
        // route, some of them held by a config file.
        let (mut absent, mut config_owned) = (0, Vec::new());
        {
            let view = self.store.view().load();
            for px in &prefixes {
                let set = view.table.get(px);
                if set.is_some_and(|s| s.iter().any(|r| r.attrs.source == Source::Api)) {
                    continue;
                }
                absent += 1;
                let owner = set.and_then(|s| {
                    s.iter().find_map(|r| match r.attrs.source {
                        Source::Config { node } => Some(node),
                        _ => None,
                    })
                });
                if let Some(node) = owner
                    && config_owned.len() < 100
                {
                    config_owned.push(pb::ConfigOwned {
                        prefix: self.store.plans().prefix_str(px),
                        node,
                    });
                }
            }
        }
        let (withdrawn, log_index) = self
            .write(
                id,
                Command::Withdraw {
                    source: Source::Api,
                    prefixes,
                },
            )
            .await?;
        Ok(pb::WithdrawResponse {
            withdrawn,
            log_index,
            absent,
            config_owned,
        })
    }

    /// For a consistent read: checks the number, then waits until this
    /// node has applied everything acknowledged before now.
    async fn barrier(&self, consistent: bool, number: &str) -> Result<(), Status> {
        if consistent {
            convert::number(self.store.plans(), number)?;
            self.store.read_barrier().await.map_err(write_error)?;
        }
        Ok(())
    }

    fn lookup_inner(&self, req: &pb::LookupRequest) -> Result<pb::LookupResponse, Status> {
        lookup(&self.store, &req.number)
    }
}

/// The gRPC Lookup: the shared answer (`lookup.rs`) as protobuf.
pub fn lookup(store: &StoreHandle, number: &str) -> Result<pb::LookupResponse, Status> {
    match crate::lookup::lookup(store, number) {
        Ok(a) => Ok(convert::answer(store.plans(), &a)),
        Err(e) => Err(lookup_error(e)),
    }
}

type ListStream = Pin<Box<dyn Stream<Item = Result<pb::ListRoutesResponse, Status>> + Send>>;
type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Routes for Api {
    async fn announce(
        &self,
        req: Request<pb::AnnounceRequest>,
    ) -> Result<Response<pb::AnnounceResponse>, Status> {
        let who = Principal::of(&req)?.clone();
        let r = self.announce_inner(&who, req.into_inner()).await;
        self.count("Announce", r).map(Response::new)
    }

    async fn withdraw(
        &self,
        req: Request<pb::WithdrawRequest>,
    ) -> Result<Response<pb::WithdrawResponse>, Status> {
        let who = Principal::of(&req)?.clone();
        let r = self.withdraw_inner(&who, req.into_inner()).await;
        self.count("Withdraw", r).map(Response::new)
    }

    async fn lookup(
        &self,
        req: Request<pb::LookupRequest>,
    ) -> Result<Response<pb::LookupResponse>, Status> {
        let start = Instant::now();
        let r = match self
            .barrier(req.get_ref().consistent, &req.get_ref().number)
            .await
        {
            Ok(()) => self.lookup_inner(req.get_ref()),
            Err(e) => Err(e),
        };
        self.metrics
            .lookup_seconds
            .observe(start.elapsed().as_secs_f64());
        let result = match &r {
            Ok(_) => "hit",
            Err(s) if s.code() == tonic::Code::NotFound => "miss",
            Err(_) => "error",
        };
        self.metrics
            .lookups
            .get_or_create(&LookupLabels { result })
            .inc();
        self.count("Lookup", r).map(Response::new)
    }

    type LookupBatchStream = super::lookup_batch::BatchStream;

    async fn lookup_batch(
        &self,
        req: Request<tonic::Streaming<pb::LookupBatchRequest>>,
    ) -> Result<Response<Self::LookupBatchStream>, Status> {
        let requests = req.into_inner();
        let stream = super::lookup_batch::start(&self.store, &self.metrics, requests);
        Ok(Response::new(stream))
    }

    type ListRoutesStream = ListStream;

    async fn list_routes(
        &self,
        req: Request<pb::ListRoutesRequest>,
    ) -> Result<Response<ListStream>, Status> {
        let req = req.into_inner();
        self.count("ListRoutes", self.store.serving().map_err(write_error))?;
        let plans = self.store.plans().clone();
        let filter = if req.prefix.is_empty() {
            None
        } else {
            let p = plans
                .parse_prefix(&req.prefix)
                .map_err(|e| convert::invalid(format_args!("prefix {:?}", req.prefix), e));
            Some(self.count("ListRoutes", p)?)
        };
        let mode = match req.r#match() {
            pb::PrefixMatch::Unspecified | pb::PrefixMatch::Longer => pb::PrefixMatch::Longer,
            m => m,
        };
        let limit = if req.limit == 0 { u64::MAX } else { req.limit };
        if req.consistent {
            let r = self
                .store
                .read_barrier()
                .await
                .map(|_| ())
                .map_err(write_error);
            self.count("ListRoutes", r)?;
        }
        let view = self.store.view().load_full();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        self.metrics.rpc("ListRoutes", tonic::Code::Ok);
        // The walk is synchronous; it runs on a blocking thread and stops as
        // soon as the client goes away (the send fails).
        tokio::task::spawn_blocking(move || {
            let mut batch = Vec::with_capacity(LIST_BATCH);
            let mut sent = 0u64;
            let mut emit = |p: &Prefix, set: &trunkline_core::RouteSet| -> bool {
                for r in set.iter() {
                    if sent >= limit {
                        return false;
                    }
                    batch.push(convert::route(&plans, p, r));
                    sent += 1;
                    if batch.len() == LIST_BATCH {
                        let routes = std::mem::replace(&mut batch, Vec::with_capacity(LIST_BATCH));
                        if tx
                            .blocking_send(Ok(pb::ListRoutesResponse { routes }))
                            .is_err()
                        {
                            return false;
                        }
                    }
                }
                true
            };
            match (filter, mode) {
                (None, _) => view.table.walk_all(&mut emit),
                (Some(p), pb::PrefixMatch::Exact) => {
                    if let Some(set) = view.table.get(&p) {
                        emit(&p, set);
                    }
                }
                (Some(p), pb::PrefixMatch::Shorter) => {
                    for (q, set) in view.table.shorter(&p) {
                        if !emit(&q, set) {
                            break;
                        }
                    }
                }
                (Some(p), _) => view.table.walk_longer(&p, &mut emit),
            }
            if !batch.is_empty() {
                let _ = tx.blocking_send(Ok(pb::ListRoutesResponse { routes: batch }));
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type WatchStream = WatchStream;

    async fn watch(&self, req: Request<pb::WatchRequest>) -> Result<Response<WatchStream>, Status> {
        let r = (self.store.serving().map_err(write_error))
            .and_then(|()| super::watch::start(&self.store, &self.history, req.get_ref()));
        let rx = self.count("Watch", r)?;
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn explain(
        &self,
        req: Request<pb::ExplainRequest>,
    ) -> Result<Response<pb::ExplainResponse>, Status> {
        if let Err(e) = self
            .barrier(req.get_ref().consistent, &req.get_ref().number)
            .await
        {
            return self.count("Explain", Err(e));
        }
        let r = (|| {
            self.store.serving().map_err(write_error)?;
            let plans = self.store.plans();
            let number = convert::number(plans, &req.get_ref().number)?;
            let view = self.store.view().load();
            let m = view.table.lookup(&number).ok_or_else(|| {
                Status::not_found(format!("no route for {}", plans.number_str(&number)))
            })?;
            let verdicts = explain(m.routes);
            Ok(pb::ExplainResponse {
                number: plans.number_str(&number),
                matched_prefix: plans.prefix_str(&m.prefix),
                candidates: m
                    .routes
                    .iter()
                    .zip(verdicts)
                    .map(|(r, v)| pb::Candidate {
                        route: Some(convert::route(plans, &m.prefix, r)),
                        lost_at: convert::step(v.lost_at).into(),
                        reason: v.reason,
                    })
                    .collect(),
            })
        })();
        self.count("Explain", r).map(Response::new)
    }
}
