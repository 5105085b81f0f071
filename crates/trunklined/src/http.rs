//! The HTTP side: `/metrics`, `/healthz`, `/readyz`, `/readyz/local`,
//! `/v1/lookup/{number}`; in builds with the `failpoints` feature also
//! `/debug/failpoints`, where crash tests arm fail-rs failpoints in a
//! running node (as etcd's gofail does).

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
    config_routes: tokio::sync::watch::Receiver<bool>,
}

pub fn router(
    metrics: Metrics,
    store: StoreHandle,
    config_routes: tokio::sync::watch::Receiver<bool>,
    cfg: &crate::config::HttpSection,
) -> Router {
    let lookup = if cfg.lookup {
        Router::new()
            .route(
                "/v1/lookup/{number}",
                get(crate::frontend::http_lookup::lookup),
            )
            .with_state(crate::frontend::http_lookup::LookupState {
                store: store.clone(),
                metrics: metrics.clone(),
                in_flight: std::sync::Arc::new(tokio::sync::Semaphore::new(
                    cfg.lookup_max_in_flight,
                )),
            })
    } else {
        Router::new()
    };
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/readyz/local", get(ready_local));
    let router = if cfg.metrics {
        router.route("/metrics", get(metrics_text))
    } else {
        router
    };
    #[cfg(feature = "failpoints")]
    let router = router
        .route("/debug/failpoints", get(failpoints::list))
        .route(
            "/debug/failpoints/{name}",
            axum::routing::put(failpoints::set),
        );
    router
        .with_state(HttpState {
            metrics,
            store,
            config_routes,
        })
        .merge(lookup)
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

/// Ready to answer from its own table, quorum or not (a Kubernetes
/// readiness probe: a cluster that lost its quorum keeps answering
/// lookups, and its pods must stay reachable to find each other again).
/// Only a node removed from its cluster is not.
async fn ready_local(State(s): State<HttpState>) -> (StatusCode, String) {
    match s.store.serving() {
        Ok(()) => (
            StatusCode::OK,
            "ready to answer from the local table\n".into(),
        ),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")),
    }
}

/// Ready once a leader is known, this node has applied what it knows to
/// be committed, and the routes of its config file are installed.
async fn ready(State(s): State<HttpState>) -> (StatusCode, String) {
    if let Err(e) = s.store.serving() {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n"));
    }
    let st = s.store.status().raft;
    let has_leader = st.leader_id != 0 || st.role == Role::Leader;
    if !*s.config_routes.borrow() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: config routes not installed yet\n".into(),
        );
    }
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

#[cfg(feature = "failpoints")]
mod failpoints {
    use axum::extract::Path;
    use axum::http::StatusCode;

    /// `PUT /debug/failpoints/NAME` with a fail-rs action as the body, for
    /// example `panic`, `3*off->panic` or `off`.
    pub(super) async fn set(Path(name): Path<String>, body: String) -> (StatusCode, String) {
        match fail::cfg(&name, body.trim()) {
            Ok(()) => {
                tracing::warn!(failpoint = %name, action = %body.trim(), "failpoint armed");
                (StatusCode::OK, "ok\n".into())
            }
            Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")),
        }
    }

    pub(super) async fn list() -> String {
        fail::list()
            .into_iter()
            .map(|(name, action)| format!("{name}={action}\n"))
            .collect()
    }
}
