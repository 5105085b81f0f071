//! `GET /v1/lookup/{number}` on the HTTP port: the same answer as the gRPC
//! Lookup, as JSON, or with `?format=dial&tech=pjsip|sip|iax2` a plain
//! Asterisk dial string for `CURL()`.
//!
//! - 200: the routes (JSON) or the dial string (text);
//! - 400: a malformed number or query, with the reason (for the dial
//!   format in `X-Trunkline-Reason`, the body empty);
//! - 404: no route (or no next hop for that technology), likewise;
//! - 503: too many lookups in flight (`[http] lookup_max_in_flight`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use trunkline_core::{Plans, Prefix, Route, Source, Validation};

use super::dial::{Tech, dial_string};
use crate::lookup::{Answer, LookupError};
use crate::metrics::Metrics;
use crate::store::StoreHandle;

#[derive(Debug, Clone)]
pub struct LookupState {
    pub store: StoreHandle,
    pub metrics: Metrics,
    pub in_flight: Arc<Semaphore>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    /// `json` (default) or `dial`.
    format: Option<String>,
    /// With `format=dial`: `pjsip` (default), `sip` or `iax2`.
    tech: Option<String>,
    /// With `tech=pjsip`: the endpoint to send through (default `trunkline`).
    endpoint: Option<String>,
    /// With `format=dial`: which suitable next hop, from 1 (the best), so a
    /// dialplan can fail over to the next.
    index: Option<usize>,
}

fn text(code: StatusCode, body: String) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body + "\n",
    )
        .into_response()
}

/// An error answer. The dial format keeps the body empty, so a dialplan
/// can test `${CURL(...)}` for "" (Asterisk's CURL() returns the body
/// whatever the status); the reason goes in `X-Trunkline-Reason`.
fn error(code: StatusCode, json: bool, reason: &str) -> Response {
    if json {
        return (code, axum::Json(json!({ "error": reason }))).into_response();
    }
    let printable: String = reason
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect();
    (code, [("x-trunkline-reason", printable)], "").into_response()
}

pub async fn lookup(
    State(s): State<LookupState>,
    Path(number): Path<String>,
    uri: axum::http::Uri,
    query: Result<Query<LookupQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let start = Instant::now();
    // Asked for a dial string: even errors found before the query is read
    // (busy, a malformed query) get the dial format's empty body.
    let dial = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "format=dial"));
    let (result, response) = answer(&s, &number, !dial, query);
    s.metrics.frontend_answered("http", result, start);
    response
}

fn answer(
    s: &LookupState,
    number: &str,
    wants_json: bool,
    query: Result<Query<LookupQuery>, axum::extract::rejection::QueryRejection>,
) -> (&'static str, Response) {
    let Ok(_permit) = s.in_flight.try_acquire() else {
        return (
            "busy",
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                wants_json,
                "too many lookups in flight",
            ),
        );
    };
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => {
            return (
                "bad-request",
                error(StatusCode::BAD_REQUEST, wants_json, &e.body_text()),
            );
        }
    };
    let json = match q.format.as_deref() {
        None | Some("json") => true,
        Some("dial") => false,
        Some(other) => {
            let why = format!("format {other:?}: json or dial");
            return ("bad-request", error(StatusCode::BAD_REQUEST, true, &why));
        }
    };
    let tech = match q.tech.as_deref().unwrap_or("pjsip").parse::<Tech>() {
        Ok(t) => t,
        Err(why) => return ("bad-request", error(StatusCode::BAD_REQUEST, json, &why)),
    };
    let r = match crate::lookup::lookup(&s.store, number) {
        Ok(r) => r,
        Err(e) => {
            let (result, code) = match e {
                LookupError::NoRoute(_) => ("miss", StatusCode::NOT_FOUND),
                LookupError::Number { .. } => ("bad-request", StatusCode::BAD_REQUEST),
                LookupError::Removed(_) => ("error", StatusCode::SERVICE_UNAVAILABLE),
            };
            return (result, error(code, json, &e.to_string()));
        }
    };
    let plans = s.store.plans();
    if json {
        return (
            "hit",
            (StatusCode::OK, axum::Json(body(plans, &r))).into_response(),
        );
    }
    let endpoint = q.endpoint.as_deref().unwrap_or("trunkline");
    if endpoint.is_empty() || endpoint.contains(['/', '&', ',', ' ']) {
        return (
            "bad-request",
            error(
                StatusCode::BAD_REQUEST,
                false,
                "endpoint: a PJSIP endpoint name",
            ),
        );
    }
    let index = q.index.unwrap_or(1);
    if index == 0 {
        return (
            "bad-request",
            error(StatusCode::BAD_REQUEST, false, "index: counts from 1"),
        );
    }
    match r
        .hops
        .iter()
        .filter_map(|h| dial_string(tech, endpoint, &h.uri))
        .nth(index - 1)
    {
        Some(d) => ("hit", text(StatusCode::OK, d)),
        None => {
            let why = format!(
                "no next hop {index} for {tech} towards {}",
                r.number_str(plans)
            );
            ("miss", error(StatusCode::NOT_FOUND, false, &why))
        }
    }
}

/// The JSON answer: what `trunkline lookup --json` prints.
fn body(plans: &Plans, a: &Answer) -> Value {
    json!({
        "number": a.number_str(plans),
        "matched_prefix": a.matched_str(plans),
        "applied_index": a.applied_index,
        "next_hops": a.hops.iter().map(|h| json!({
            "uri": h.uri,
            "priority": h.priority,
            "weight": h.weight,
            "route": h.route,
        })).collect::<Vec<_>>(),
        "routes": a.routes.iter().map(|r| route(plans, &a.matched, r)).collect::<Vec<_>>(),
    })
}

fn route(plans: &Plans, prefix: &Prefix, r: &Route) -> Value {
    let a = &*r.attrs;
    let (origin, peer_itad) = match &a.source {
        Source::Api => ("api", 0),
        Source::Config { .. } => ("config", 0),
        Source::Peer { itad, .. } => ("peer", *itad),
    };
    json!({
        "prefix": plans.prefix_str(prefix),
        "next_hops": a.next_hops.iter().map(|h| json!({
            "uri": h.uri, "priority": h.priority, "weight": h.weight,
        })).collect::<Vec<_>>(),
        "path": a.path,
        "local_pref": a.local_pref,
        "med": a.med,
        "communities": a.communities.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "origin": origin,
        "source": a.source.name(),
        "peer_itad": peer_itad,
        "validation": match a.validation {
            Validation::Valid => "valid",
            Validation::Invalid => "invalid",
            Validation::NotFound => "not-found",
        },
        "installed_at": r.installed_at,
        "stale": r.stale,
        "local_from": a.local_from,
    })
}
