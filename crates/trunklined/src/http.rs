//! The HTTP side: `/metrics`, `/healthz`, `/readyz`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use trunkline_cluster::node::Role;

use crate::metrics::Metrics;
use crate::store::StoreHandle;

#[derive(Debug, Clone)]
struct HttpState {
    metrics: Metrics,
    store: StoreHandle,
}

pub fn router(metrics: Metrics, store: StoreHandle) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(HttpState { metrics, store })
}

async fn metrics_text(
    State(s): State<HttpState>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

/// Ready once a leader is known and this node has applied what it knows
/// to be committed.
async fn ready(State(s): State<HttpState>) -> (StatusCode, String) {
    let st = s.store.status();
    let has_leader = st.leader_id != 0 || st.role == Role::Leader;
    if has_leader && st.applied_index >= st.commit_index {
        (StatusCode::OK, "ready\n".into())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: leader {} applied {} of {}\n",
                st.leader_id, st.applied_index, st.commit_index
            ),
        )
    }
}
