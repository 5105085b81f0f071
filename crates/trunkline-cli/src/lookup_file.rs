//! `trunkline lookup --file`: a file of dialed numbers (one a line, or the
//! first CSV column; `-` reads standard input) through one LookupBatch
//! stream, answers printed in the file's order as they arrive.

use std::io::Read as _;
use std::path::Path;

use serde_json::json;
use trunkline_proto::v1 as pb;

use crate::client::Conn;
use crate::{Failure, Result, routes_client};

/// Numbers a request carries (the node takes up to 10,000).
const BATCH: usize = 1000;

/// The numbers of `path`, each with its line.
fn read_numbers(path: &Path) -> Result<Vec<(usize, String)>> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    read.map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
    Ok((text.lines().enumerate())
        .map(|(i, l)| (i + 1, l.split(',').next().unwrap_or("").trim()))
        .filter(|(_, n)| !n.is_empty() && !n.starts_with('#'))
        .filter(|(i, n)| !(*i == 1 && n.eq_ignore_ascii_case("number")))
        .map(|(i, n)| (i, n.to_owned()))
        .collect())
}

pub async fn run(ch: Conn, path: &Path, consistent: bool, json: bool) -> Result<()> {
    let numbers = read_numbers(path)?;
    let requests: Vec<pb::LookupBatchRequest> = (numbers.chunks(BATCH))
        .map(|chunk| pb::LookupBatchRequest {
            numbers: chunk.iter().map(|(_, n)| n.clone()).collect(),
            consistent,
            with_routes: false,
        })
        .collect();
    // The stream is pulled as the connection's window allows: requests
    // are sent as fast as answers come back, no faster.
    let mut answers = routes_client(ch)
        .lookup_batch(tokio_stream::iter(requests))
        .await?
        .into_inner();
    let mut chunks = numbers.chunks(BATCH);
    let (mut found, mut missing, mut invalid) = (0u64, 0u64, Vec::new());
    while let Some(resp) = answers.message().await? {
        let chunk = chunks.next().unwrap_or_default();
        if resp.answers.len() != chunk.len() {
            return Err(Failure {
                code: 1,
                message: format!(
                    "the node answered {} numbers of a request of {}",
                    resp.answers.len(),
                    chunk.len()
                ),
            });
        }
        for ((line, input), a) in chunk.iter().zip(resp.answers) {
            use pb::batch_answer::Outcome;
            match a.outcome {
                Some(Outcome::Found(r)) => {
                    found += 1;
                    print_found(*line, &r, json);
                }
                Some(Outcome::Failed(f)) => {
                    let no_route = f.reason() == pb::LookupFailureReason::NoRoute;
                    if no_route {
                        missing += 1;
                    } else {
                        invalid.push(format!("{}:{line}: {}", path.display(), f.message));
                    }
                    print_failed(*line, input, &f, json);
                }
                None => {
                    missing += 1;
                    print_failed(*line, input, &pb::LookupFailure::default(), json);
                }
            }
        }
    }
    let total = numbers.len() as u64;
    eprintln!(
        "{}: {found} answered, {missing} without a route, {} not numbers",
        crate::count(total, "number", "numbers"),
        invalid.len()
    );
    if let Some(first) = invalid.first() {
        return Err(Failure::input(first.clone()));
    }
    if missing > 0 {
        return Err(Failure {
            code: 3,
            message: format!(
                "{} without a route",
                crate::count(missing, "number", "numbers")
            ),
        });
    }
    Ok(())
}

/// One line an answer: the number, the prefix it matched, the next hops
/// in the order to try them (JSON: one object a line).
fn print_found(line: usize, r: &pb::LookupResponse, json: bool) {
    if json {
        let hops: Vec<_> = (r.next_hops.iter())
            .map(|h| json!({"uri": h.uri, "priority": h.priority, "weight": h.weight}))
            .collect();
        let v = json!({"line": line, "number": r.number, "matched_prefix": r.matched_prefix, "next_hops": hops});
        say!("{v}");
        return;
    }
    let hops: Vec<&str> = r.next_hops.iter().map(|h| h.uri.as_str()).collect();
    say!("{}\t{}\t{}", r.number, r.matched_prefix, hops.join(" "));
}

fn print_failed(line: usize, input: &str, f: &pb::LookupFailure, json: bool) {
    let reason = match f.reason() {
        pb::LookupFailureReason::InvalidNumber => "invalid_number",
        _ => "no_route",
    };
    if json {
        let v = json!({"line": line, "input": input, "error": reason, "message": f.message});
        say!("{v}");
        return;
    }
    say!("{input}\t-\t{}", f.message);
}
