//! Bulk loads from CSV files: `prefix[,uri[,priority[,weight]]]` per line.
//! Several lines for one prefix give it several next hops. Requests are
//! pipelined so the node can batch them into few log entries.

use std::path::Path;

use crate::client::Conn;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinSet;
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::routes_client::RoutesClient;

use crate::{AnnounceArgs, Failure, Result};

/// What one announce task returns: (announced, routes sent), or the error
/// with the index of its first route in the file's specs.
type TaskResult = std::result::Result<(u64, usize), (tonic::Status, usize)>;

/// Requests in flight at once during a bulk load.
const IN_FLIGHT: usize = 4;

fn community(s: &str) -> Result<pb::LargeCommunity> {
    let parts: Vec<&str> = s.split(':').collect();
    let n = |x: &str| {
        x.parse::<u32>()
            .map_err(|_| Failure::input(format!("--community {s:?}: {x:?} is not a number")))
    };
    match parts.as_slice() {
        [g, a, b] => Ok(pb::LargeCommunity {
            global: n(g)?,
            local1: n(a)?,
            local2: n(b)?,
        }),
        _ => Err(Failure::input(format!(
            "--community {s:?}: expected global:local1:local2"
        ))),
    }
}

/// A RouteSpec from the command line's attributes and the given next hops.
pub fn spec(
    a: &AnnounceArgs,
    prefix: String,
    hops: impl Iterator<Item = (String, u32, u32)>,
) -> Result<pb::RouteSpec> {
    Ok(pb::RouteSpec {
        prefix,
        next_hops: hops
            .map(|(uri, priority, weight)| pb::NextHop {
                uri,
                priority,
                weight,
            })
            .collect(),
        local_pref: a.local_pref,
        med: a.med,
        communities: a
            .community
            .iter()
            .map(|c| community(c))
            .collect::<Result<_>>()?,
    })
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Failure::input(format!("{}: {e}", path.display())))
}

/// Lines that carry data: not blank, not `#` comments, not a header.
fn data_lines(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(i, l)| (i, l.split(',').map(str::trim).collect::<Vec<_>>()))
        .filter(|(i, cols)| !(*i == 1 && cols[0].eq_ignore_ascii_case("prefix")))
}

/// The first column of every data line, with its line number.
pub fn read_prefix_column(path: &Path) -> Result<Vec<(String, usize)>> {
    Ok(data_lines(&read(path)?)
        .map(|(i, c)| (c[0].to_owned(), i))
        .collect())
}

/// Parses the file into specs, remembering each spec's line for errors.
fn parse(a: &AnnounceArgs, path: &Path) -> Result<(Vec<pb::RouteSpec>, Vec<usize>)> {
    let text = read(path)?;
    let mut specs: Vec<pb::RouteSpec> = Vec::new();
    let mut lines = Vec::new();
    let where_ = |i: usize| format!("{}:{i}", path.display());
    for (i, cols) in data_lines(&text) {
        if cols.len() > 4 {
            return Err(Failure::input(format!(
                "{}: expected prefix[,uri[,priority[,weight]]], found {} columns",
                where_(i),
                cols.len()
            )));
        }
        let num = |k: usize, default: u32, what: &str| -> Result<u32> {
            match cols.get(k).filter(|s| !s.is_empty()) {
                None => Ok(default),
                Some(s) => s.parse().map_err(|_| {
                    Failure::input(format!("{}: {what} {s:?} is not a number", where_(i)))
                }),
            }
        };
        let hops: Vec<(String, u32, u32)> = match cols.get(1).filter(|s| !s.is_empty()) {
            Some(uri) => vec![(
                (*uri).to_owned(),
                num(2, a.priority, "priority")?,
                num(3, a.weight, "weight")?,
            )],
            None if !a.via.is_empty() => a
                .via
                .iter()
                .map(|v| crate::parse_via(v, a.priority, a.weight))
                .collect::<Result<_>>()?,
            None => {
                return Err(Failure::input(format!(
                    "{}: no next hop (add a URI column or --via)",
                    where_(i)
                )));
            }
        };
        match specs.last_mut() {
            Some(last) if last.prefix == cols[0] && cols.get(1).is_some_and(|s| !s.is_empty()) => {
                last.next_hops
                    .extend(hops.into_iter().map(|(uri, priority, weight)| pb::NextHop {
                        uri,
                        priority,
                        weight,
                    }));
            }
            _ => {
                specs.push(spec(a, cols[0].to_owned(), hops.into_iter())?);
                lines.push(i);
            }
        }
    }
    if specs.is_empty() {
        return Err(Failure::input(format!(
            "{}: no routes in the file",
            path.display()
        )));
    }
    Ok((specs, lines))
}

/// Points an error about `routes[N].FIELD` of a request at the file's
/// line, in the file's words: `blocks.csv:12: prefix "+1x": ...`.
fn locate(status: tonic::Status, path: &Path, lines: &[usize]) -> Failure {
    let msg = status.message();
    let located = msg.strip_prefix("routes[").and_then(|r| {
        let (n, rest) = r.split_once(']')?;
        let line = lines.get(n.parse::<usize>().ok()?)?;
        let rest = rest.strip_prefix('.').unwrap_or(rest);
        let rest = rest
            .strip_prefix("next_hops: ")
            .map_or(rest.to_owned(), |r| format!("uri: {r}"));
        Some(format!("{}:{line}: {rest}", path.display()))
    });
    let mut f = Failure::from(status.clone());
    if let Some(m) = located {
        f.message = m;
    }
    f
}

pub async fn announce_file(
    client: RoutesClient<Conn>,
    a: &AnnounceArgs,
    path: &Path,
    json: bool,
) -> Result<()> {
    let (specs, lines) = parse(a, path)?;
    let batch = a.batch.max(1);
    let bar = ProgressBar::new(specs.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} routes, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let mut tasks: JoinSet<std::result::Result<(u64, usize), (tonic::Status, usize)>> =
        JoinSet::new();
    let mut announced = 0u64;
    let mut finish = |r: std::result::Result<TaskResult, tokio::task::JoinError>| -> Result<()> {
        match r {
            Ok(Ok((n, count))) => {
                announced += n;
                bar.inc(count as u64);
                Ok(())
            }
            Ok(Err((status, offset))) => Err(locate(status, path, &lines[offset..])),
            Err(e) => Err(Failure {
                code: 1,
                message: format!("request task failed: {e}"),
            }),
        }
    };
    for (k, chunk) in specs.chunks(batch).enumerate() {
        if tasks.len() >= IN_FLIGHT
            && let Some(r) = tasks.join_next().await
        {
            finish(r)?;
        }
        let mut c = client.clone();
        let routes = chunk.to_vec();
        let count = routes.len();
        let offset = k * batch;
        let request_id = a
            .request_id
            .as_ref()
            .map(|id| format!("{id}/{k}"))
            .unwrap_or_default();
        tasks.spawn(async move {
            c.announce(pb::AnnounceRequest { routes, request_id })
                .await
                .map(|r| (r.into_inner().announced, count))
                .map_err(|s| (s, offset))
        });
    }
    while let Some(r) = tasks.join_next().await {
        finish(r)?;
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if json {
        crate::output::print_json(&serde_json::json!({
            "announced": announced,
            "entries": specs.len(),
            "seconds": secs,
        }));
    } else {
        say!(
            "announced {} from {} in {:.2} s ({:.0} routes/s)",
            crate::count(announced, "prefix", "prefixes"),
            crate::count(specs.len() as u64, "entry", "entries"),
            secs,
            specs.len() as f64 / secs.max(1e-9)
        );
    }
    Ok(())
}
