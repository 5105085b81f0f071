//! `Routes.LookupBatch`: numbers by the thousand over one stream, each
//! request answered from one applied state with the table's batched
//! match. The stream is driven by the client's requests; no task of its
//! own outlives it.

use std::pin::Pin;

use tokio_stream::{Stream, StreamExt};
use tonic::{Status, Streaming};
use trunkline_proto::v1 as pb;

use super::convert;
use super::errors::{lookup_error, write_error};
use crate::lookup::{LookupError, lookup_many};
use crate::metrics::{LookupLabels, Metrics};
use crate::store::{StoreHandle, WriteError};

/// Numbers one request may carry: a response stays a few megabytes.
pub const MAX_NUMBERS: usize = 10_000;

pub type BatchStream = Pin<Box<dyn Stream<Item = Result<pb::LookupBatchResponse, Status>> + Send>>;

/// Each request in, its answers out, in order.
pub fn start(
    store: &StoreHandle,
    metrics: &Metrics,
    requests: Streaming<pb::LookupBatchRequest>,
) -> BatchStream {
    let (store, metrics) = (store.clone(), metrics.clone());
    Box::pin(requests.then(move |req| {
        let (store, metrics) = (store.clone(), metrics.clone());
        async move {
            let r = match req {
                Ok(req) => answer(&store, &metrics, req).await,
                Err(s) => Err(s),
            };
            metrics.rpc(
                "LookupBatch",
                r.as_ref().map_or_else(|s| s.code(), |_| tonic::Code::Ok),
            );
            r
        }
    }))
}

async fn answer(
    store: &StoreHandle,
    metrics: &Metrics,
    req: pb::LookupBatchRequest,
) -> Result<pb::LookupBatchResponse, Status> {
    if req.numbers.len() > MAX_NUMBERS {
        return Err(Status::invalid_argument(format!(
            "{} numbers in one request; at most {MAX_NUMBERS}",
            req.numbers.len()
        )));
    }
    if let Err(WriteError::Removed(r)) = store.serving() {
        return Err(lookup_error(LookupError::Removed(r)));
    }
    if req.consistent {
        store.read_barrier().await.map_err(write_error)?;
    }
    let view = store.view().load();
    let plans = store.plans();
    let mut tally = [0u64; 3];
    let answers = (lookup_many(&view, plans, &req.numbers).into_iter())
        .map(|r| {
            use pb::batch_answer::Outcome;
            let (outcome, kind) = match r {
                Ok(a) => (
                    Outcome::Found(convert::answer_with(plans, &a, req.with_routes)),
                    0,
                ),
                Err(e) => {
                    let (reason, kind) = match e {
                        LookupError::NoRoute(_) => (pb::LookupFailureReason::NoRoute, 1),
                        _ => (pb::LookupFailureReason::InvalidNumber, 2),
                    };
                    let failed = pb::LookupFailure {
                        reason: reason.into(),
                        message: e.to_string(),
                    };
                    (Outcome::Failed(failed), kind)
                }
            };
            tally[kind] += 1;
            pb::BatchAnswer {
                outcome: Some(outcome),
            }
        })
        .collect();
    for (result, n) in ["hit", "miss", "error"].into_iter().zip(tally) {
        if n > 0 {
            let labels = LookupLabels { result };
            metrics.lookups.get_or_create(&labels).inc_by(n);
        }
    }
    Ok(pb::LookupBatchResponse {
        answers,
        applied_index: view.applied_index,
    })
}
