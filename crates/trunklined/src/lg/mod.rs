//! The looking glass: read-only pages under `/lg/` on the HTTP port, as
//! the IXP looking glasses have them (status, neighbors, a neighbor's
//! received, accepted, refused and advertised routes, a number lookup with
//! explain, a prefix search, number authority). Each page is rendered on
//! the server and works without JavaScript; each has a JSON twin
//! (`?format=json` or `Accept: application/json`) and a permalink, and
//! says the raft index its data is as of. Data comes through the node's
//! own API, so a page and `trunkline` always agree. Viewers without a
//! token see next-hop hosts and addresses hidden (configurable).

pub mod config;
mod data;
mod pages;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use self::config::LookingGlassSection;
use self::data::{Match, Problem, Reader, Rib, Viewer};
use self::pages::encode;
use crate::api::{Api, NeighborsApi};
use crate::auth::Authenticator;

#[derive(Debug, Clone)]
struct Lg {
    reader: Reader,
    auth: Arc<Authenticator>,
    redact: bool,
}

/// The pages, or no routes at all when `[looking_glass] enabled = false`.
pub fn router(
    api: Api,
    neighbors: NeighborsApi,
    auth: Arc<Authenticator>,
    cfg: &LookingGlassSection,
) -> Router {
    if !cfg.enabled {
        return Router::new();
    }
    let lg = Lg {
        reader: Reader {
            api,
            neighbors,
            hidden: cfg.hidden_neighbors.clone(),
            page_routes: cfg.page_routes,
        },
        auth,
        redact: cfg.redact_next_hops,
    };
    Router::new()
        .route("/lg", get(|| async { Redirect::permanent("/lg/") }))
        .route("/lg/", get(status))
        .route("/lg/neighbors", get(neighbors_list))
        .route("/lg/neighbors/{name}", get(neighbor))
        .route("/lg/lookup", get(lookup))
        .route("/lg/prefix", get(prefix))
        .route("/lg/authority", get(authority))
        .with_state(lg)
}

/// Every query parameter any page takes; the rest are ignored.
#[derive(Debug, Default, Deserialize)]
struct Params {
    format: Option<String>,
    rib: Option<String>,
    number: Option<String>,
    q: Option<String>,
    #[serde(rename = "match")]
    matching: Option<String>,
}

/// How the viewer wants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Html,
    Json,
}

fn format(params: &Params, headers: &HeaderMap) -> Result<Format, Problem> {
    match params.format.as_deref() {
        Some("json") => return Ok(Format::Json),
        Some("html") => return Ok(Format::Html),
        Some(other) => {
            return Err(Problem {
                status: 400,
                message: format!("format={other}: html or json"),
            });
        }
        None => {}
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Ok(if accept.trim_start().starts_with("application/json") {
        Format::Json
    } else {
        Format::Html
    })
}

impl Lg {
    /// Who is looking: a valid token (of any role) sees everything; a
    /// token that does not check out is refused, not treated as anonymous.
    fn viewer(&self, headers: &HeaderMap) -> Result<Viewer, Problem> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Ok(Viewer {
                redact: self.redact,
            });
        };
        let value = value.to_str().map_err(|_| Problem {
            status: 401,
            message: "authorization: not text".into(),
        })?;
        match self.auth.principal(Some(value), None) {
            Ok(_) => Ok(Viewer { redact: false }),
            Err(s) => Err(Problem {
                status: 401,
                message: s.message().to_owned(),
            }),
        }
    }
}

#[derive(Debug, Serialize)]
struct ProblemJson<'a> {
    status: u16,
    error: &'a str,
}

fn problem(p: &Problem, format: Format) -> Response {
    let code = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match format {
        Format::Json => {
            let j = ProblemJson {
                status: p.status,
                error: &p.message,
            };
            return (code, no_store(), axum::Json(j)).into_response();
        }
        Format::Html => pages::problem(p.status, &p.message).into_string(),
    };
    (code, no_store(), axum::response::Html(body)).into_response()
}

/// The data is live: never cached.
fn no_store() -> [(header::HeaderName, &'static str); 1] {
    [(header::CACHE_CONTROL, "no-store")]
}

/// Renders a page's data as asked, or says why there is none.
fn respond<T: Serialize>(
    format: Format,
    data: Result<T, Problem>,
    url: &str,
    render: impl FnOnce(&T, &str) -> maud::Markup,
) -> Response {
    match data {
        Ok(d) => match format {
            Format::Json => (no_store(), axum::Json(d)).into_response(),
            Format::Html => {
                let html = render(&d, url).into_string();
                (no_store(), axum::response::Html(html)).into_response()
            }
        },
        Err(p) => problem(&p, format),
    }
}

/// What a request asks for: its format, who is viewing, its parameters;
/// or the response refusing it (a bad format, a token that does not
/// check out).
#[derive(Debug)]
struct Asked {
    format: Format,
    viewer: Viewer,
    params: Params,
}

impl FromRequestParts<Lg> for Asked {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, lg: &Lg) -> Result<Asked, Response> {
        let Query(params) = Query::<Params>::from_request_parts(parts, lg)
            .await
            .map_err(IntoResponse::into_response)?;
        let format = format(&params, &parts.headers).map_err(|p| problem(&p, Format::Html))?;
        let viewer = lg.viewer(&parts.headers).map_err(|p| problem(&p, format))?;
        Ok(Asked {
            format,
            viewer,
            params,
        })
    }
}

async fn status(State(lg): State<Lg>, a: Asked) -> Response {
    let data = lg.reader.status_page(a.viewer).await;
    respond(a.format, data, "/lg/", pages::status)
}

async fn neighbors_list(State(lg): State<Lg>, a: Asked) -> Response {
    let data = lg.reader.neighbors_page(a.viewer).await;
    respond(a.format, data, "/lg/neighbors", pages::neighbors)
}

async fn neighbor(State(lg): State<Lg>, Path(name): Path<String>, a: Asked) -> Response {
    let rib = match a.params.rib.as_deref() {
        None | Some("") => Rib::Received,
        Some(r) => match Rib::parse(r) {
            Some(rib) => rib,
            None => {
                let message = format!("rib={r}: one of received, accepted, refused, advertised");
                return problem(
                    &Problem {
                        status: 400,
                        message,
                    },
                    a.format,
                );
            }
        },
    };
    let url = format!("/lg/neighbors/{}?rib={}", encode(&name), rib.name());
    let data = lg.reader.neighbor_page(a.viewer, &name, rib).await;
    respond(a.format, data, &url, pages::neighbor)
}

async fn lookup(State(lg): State<Lg>, a: Asked) -> Response {
    let number = a.params.number.unwrap_or_default();
    let number = number.trim();
    let url = match number {
        "" => "/lg/lookup".to_owned(),
        n => format!("/lg/lookup?number={}", encode(n)),
    };
    let data = lg.reader.lookup_page(a.viewer, number).await;
    respond(a.format, data, &url, pages::lookup)
}

async fn prefix(State(lg): State<Lg>, a: Asked) -> Response {
    let matching = match a.params.matching.as_deref() {
        None | Some("") => Match::Longer,
        Some(m) => match Match::parse(m) {
            Some(m) => m,
            None => {
                let message = format!("match={m}: one of longer, exact, shorter");
                return problem(
                    &Problem {
                        status: 400,
                        message,
                    },
                    a.format,
                );
            }
        },
    };
    let q = a.params.q.unwrap_or_default();
    let q = q.trim();
    let url = match q {
        "" => "/lg/prefix".to_owned(),
        q => format!("/lg/prefix?q={}&match={}", encode(q), matching.name()),
    };
    let data = lg.reader.prefix_page(a.viewer, q, matching).await;
    respond(a.format, data, &url, pages::prefix)
}

async fn authority(State(lg): State<Lg>, a: Asked) -> Response {
    let data = lg.reader.authority_page(a.viewer).await;
    respond(a.format, data, "/lg/authority", pages::authority)
}
