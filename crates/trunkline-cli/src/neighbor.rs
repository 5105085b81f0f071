//! `trunkline neighbor ...` and `trunkline routes --peer NAME`.

use std::path::PathBuf;

use crate::client::Conn;
use clap::Subcommand;
use serde_json::{Value, json};
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::neighbors_client::NeighborsClient;

use crate::output::{hops, path, print_json, route_json, table};
use crate::paint::{Tint, paint};
use crate::{Failure, Result};

#[derive(Debug, Subcommand)]
pub enum NeighborCmd {
    /// Every neighbor and its session.
    List,
    /// One neighbor in detail.
    Show {
        /// The neighbor's name.
        name: String,
    },
    /// Add a neighbor (or replace one of the same name).
    Add(Box<AddArgs>),
    /// Remove a neighbor; its routes are withdrawn.
    Del {
        /// The neighbor's name.
        name: String,
    },
    /// Close the session (it reconnects).
    Reset {
        /// The neighbor's name.
        name: String,
    },
    /// Ask the neighbor to send all its routes again.
    Refresh {
        /// The neighbor's name.
        name: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The neighbor's name: 1-64 of A-Z a-z 0-9 - _ .
    name: String,
    /// The neighbor's ITAD.
    #[arg(long, required_unless_present = "config")]
    itad: Option<u32>,
    /// `peer` (another cluster) or `member` (a PBX announcing its blocks).
    #[arg(long, default_value = "peer")]
    role: String,
    /// Where to dial it (`http://host:port`); repeat for several. None: it dials us.
    #[arg(long)]
    address: Vec<String>,
    /// Blocks a member may announce; repeat for several.
    #[arg(long)]
    allowed: Vec<String>,
    /// Send it routes without prepending our ITAD.
    #[arg(long)]
    route_server: bool,
    /// It is a route server (its routes need not start with its ITAD).
    #[arg(long)]
    transparent: bool,
    /// Accept every route it sends (an import policy of one accept term).
    /// A peer without an import policy gets nothing accepted.
    #[arg(long)]
    import_all: bool,
    /// Send it every best route (an export policy of one accept term).
    /// A peer without an export policy is sent nothing; a member or
    /// route-server client gets every best route anyway.
    #[arg(long)]
    export_all: bool,
    /// Local preference of the routes it sends (default 100).
    #[arg(long)]
    local_pref: Option<u32>,
    /// Most prefixes accepted from it; see --max-prefixes-action.
    #[arg(long)]
    max_prefixes: Option<u64>,
    /// `close` (default) or `refuse`.
    #[arg(long)]
    max_prefixes_action: Option<String>,
    /// Networks it may connect from (CIDR); repeat for several.
    #[arg(long)]
    source: Vec<String>,
    /// Secret both sides configure; checked in the session's Open.
    #[arg(long)]
    password: Option<String>,
    /// Hold time in seconds (0, or at least 3); overrides [peering] hold_secs.
    #[arg(long)]
    hold_secs: Option<u32>,
    /// A file holding the neighbor as in the config file: a `[[peer]]`
    /// table with its `[[peer.import]]` and `[[peer.export]]` terms (or the
    /// same table without the `[[peer]]` header), instead of the flags.
    #[arg(long, conflicts_with_all = ["itad", "address", "allowed", "import_all", "export_all"])]
    config: Option<PathBuf>,
}

/// A TOML basic string.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| quoted(s)).collect();
    format!("[{}]", items.join(", "))
}

impl AddArgs {
    fn toml(&self) -> Result<String> {
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
            return peer_table(&text, &self.name)
                .map_err(|e| Failure::input(format!("{}: {e}", path.display())));
        }
        let mut t = format!("name = {}\n", quoted(&self.name));
        let mut line = |k: &str, v: String| t.push_str(&format!("{k} = {v}\n"));
        line("itad", self.itad.unwrap_or_default().to_string());
        line("role", quoted(&self.role));
        if !self.address.is_empty() {
            line("addresses", list(&self.address));
        }
        if !self.allowed.is_empty() {
            line("allowed", list(&self.allowed));
        }
        if self.route_server {
            line("route_server", "true".into());
        }
        if self.transparent {
            line("transparent", "true".into());
        }
        if let Some(v) = self.local_pref {
            line("local_pref", v.to_string());
        }
        if let Some(v) = self.max_prefixes {
            line("max_prefixes", v.to_string());
        }
        if let Some(v) = &self.max_prefixes_action {
            line("max_prefixes_action", quoted(v));
        }
        if !self.source.is_empty() {
            line("sources", list(&self.source));
        }
        if let Some(v) = &self.password {
            line("password", quoted(v));
        }
        if let Some(v) = self.hold_secs {
            line("hold_secs", v.to_string());
        }
        if self.import_all {
            t.push_str("[[import]]\naction = \"accept\"\n");
        }
        if self.export_all {
            t.push_str("[[export]]\naction = \"accept\"\n");
        }
        Ok(t)
    }
}

/// The neighbor's table from a file as the config file writes it
/// (`[[peer]]` with `[[peer.import]]`...), or as the bare table, with the
/// name from the command line where the file gives none.
fn peer_table(text: &str, name: &str) -> std::result::Result<String, String> {
    let mut doc: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let mut table = match doc.remove("peer") {
        Some(toml::Value::Array(mut peers)) if doc.is_empty() => match (peers.pop(), peers.len()) {
            (Some(toml::Value::Table(t)), 0) => t,
            _ => return Err("expected exactly one [[peer]] table".into()),
        },
        Some(_) if doc.is_empty() => return Err("peer: expected a [[peer]] table".into()),
        Some(v) => {
            doc.insert("peer".into(), v);
            doc
        }
        None => doc,
    };
    match table.get("name") {
        None => {
            table.insert("name".into(), toml::Value::String(name.to_owned()));
        }
        Some(toml::Value::String(n)) if n == name => {}
        Some(other) => {
            return Err(format!(
                "the file names the neighbor {other}, the command {name:?}"
            ));
        }
    }
    toml::to_string(&table).map_err(|e| e.to_string())
}

fn state(s: i32) -> &'static str {
    match pb::SessionState::try_from(s).unwrap_or(pb::SessionState::Unspecified) {
        pb::SessionState::Idle => "idle",
        pb::SessionState::Connect => "connect",
        pb::SessionState::OpenSent => "open-sent",
        pb::SessionState::OpenConfirm => "open-confirm",
        pb::SessionState::Established => "established",
        pb::SessionState::Unspecified => "unknown",
    }
}

fn state_tint(s: i32) -> Tint {
    match pb::SessionState::try_from(s) {
        Ok(pb::SessionState::Established) => Tint::Good,
        Ok(pb::SessionState::Idle) | Ok(pb::SessionState::Unspecified) | Err(_) => Tint::Bad,
        Ok(_) => Tint::Warn,
    }
}

fn role(n: &pb::Neighbor) -> &'static str {
    match n.role() {
        pb::NeighborRole::Peer => "peer",
        pb::NeighborRole::Member => "member",
        pb::NeighborRole::Unspecified => "?",
    }
}

/// `api`, or `config@N` for node N's config file.
fn origin(n: &pb::Neighbor) -> String {
    use pb::neighbor_origin::From;
    match n.origin.as_ref().and_then(|o| o.from.as_ref()) {
        Some(From::Api(_)) => "api".into(),
        Some(From::ConfigNode(node)) => format!("config@{node}"),
        None => "?".into(),
    }
}

fn neighbor_json(n: &pb::Neighbor) -> Value {
    json!({
        "name": n.name,
        "itad": n.itad,
        "role": role(n),
        "addresses": n.addresses,
        "origin": origin(n),
        "state": state(n.state),
        "session_node": n.session_node,
        "epoch": n.epoch,
        "dialing": n.dialing,
        "remote": n.remote,
        "last_error": n.last_error,
        "established_secs": n.established_secs,
        "hold_time_secs": n.hold_time_secs,
        "plans": n.plans,
        "restart_time_secs": n.restart_time_secs,
        "route_refresh": n.route_refresh,
        "authority": n.authority,
        "authority_received": n.authority_received,
        "authority_refused": n.authority_refused,
        "authority_synced": n.authority_synced,
        "received": n.received,
        "accepted": n.accepted,
        "rejected": n.rejected,
        "stale": n.stale,
        "advertised": n.advertised,
        "config": n.config,
    })
}

pub async fn run(ch: Conn, cmd: NeighborCmd, json: bool) -> Result<()> {
    let mut client = NeighborsClient::new(ch);
    match cmd {
        NeighborCmd::List => {
            let r = client
                .list_neighbors(pb::ListNeighborsRequest::default())
                .await?
                .into_inner();
            if json {
                print_json(&Value::Array(
                    r.neighbors.iter().map(neighbor_json).collect(),
                ));
            } else if r.neighbors.is_empty() {
                say!("no neighbors");
            } else {
                let rows: Vec<Vec<String>> = r
                    .neighbors
                    .iter()
                    .map(|n| {
                        vec![
                            n.name.clone(),
                            n.itad.to_string(),
                            role(n).to_owned(),
                            paint(state(n.state).to_owned(), state_tint(n.state)),
                            if n.session_node == 0 {
                                "-".into()
                            } else {
                                n.session_node.to_string()
                            },
                            n.accepted.to_string(),
                            n.rejected.to_string(),
                            n.stale.to_string(),
                            n.last_error.clone(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "NAME",
                        "ITAD",
                        "ROLE",
                        "STATE",
                        "NODE",
                        "ACCEPTED",
                        "REJECTED",
                        "STALE",
                        "LAST ERROR",
                    ],
                    &rows,
                );
            }
        }
        NeighborCmd::Show { name } => {
            let r = client
                .list_neighbors(pb::ListNeighborsRequest { name: name.clone() })
                .await?
                .into_inner();
            let Some(n) = r.neighbors.first() else {
                return Err(Failure {
                    code: 3,
                    message: format!("no neighbor named {name:?} (see `trunkline neighbor list`)"),
                });
            };
            if json {
                print_json(&neighbor_json(n));
            } else {
                let v = neighbor_json(n);
                for (k, val) in v.as_object().expect("an object") {
                    if k == "config" {
                        continue;
                    }
                    let text = match val {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    say!("{k:18} {text}");
                }
                say!("config:\n{}", n.config.trim_end());
            }
        }
        NeighborCmd::Add(a) => {
            let config = a.toml()?;
            let r = client
                .add_neighbor(pb::AddNeighborRequest {
                    config,
                    request_id: String::new(),
                })
                .await?
                .into_inner();
            let verb = if r.replaced { "replaced" } else { "added" };
            crate::done(
                json,
                json!({"neighbor": a.name, "replaced": r.replaced, "log_index": r.log_index, "warnings": r.warnings}),
                format_args!("neighbor {} {verb} (log index {})", a.name, r.log_index),
            );
            for w in &r.warnings {
                eprintln!("trunkline: warning: {w}");
            }
        }
        NeighborCmd::Del { name } => {
            let r = client
                .delete_neighbor(pb::DeleteNeighborRequest {
                    name: name.clone(),
                    request_id: String::new(),
                })
                .await?
                .into_inner();
            crate::done(
                json,
                json!({"neighbor": name, "log_index": r.log_index}),
                format_args!("neighbor {name} deleted (log index {})", r.log_index),
            );
        }
        NeighborCmd::Reset { name } => {
            let r = client
                .reset_neighbor(pb::NeighborRequest { name: name.clone() })
                .await?
                .into_inner();
            crate::done(
                json,
                json!({"neighbor": name, "node": r.node}),
                format_args!("session with {name} reset on node {}", r.node),
            );
        }
        NeighborCmd::Refresh { name } => {
            let r = client
                .refresh_neighbor(pb::NeighborRequest { name: name.clone() })
                .await?
                .into_inner();
            crate::done(
                json,
                json!({"neighbor": name, "node": r.node}),
                format_args!("route refresh asked of {name} (node {})", r.node),
            );
        }
    }
    Ok(())
}

/// `routes --peer NAME --received|--accepted|--advertised`.
pub async fn routes(ch: Conn, name: String, rib: pb::NeighborRib, json: bool) -> Result<()> {
    let mut stream = NeighborsClient::new(ch)
        .max_decoding_message_size(crate::MAX_MESSAGE)
        .list_neighbor_routes(pb::ListNeighborRoutesRequest {
            name,
            rib: rib.into(),
        })
        .await?
        .into_inner();
    let mut rows = Vec::new();
    let mut values = Vec::new();
    while let Some(batch) = stream.message().await? {
        for nr in batch.routes {
            let r = nr.route.unwrap_or_default();
            if json {
                let mut v = route_json(&r);
                v["rejected"] = Value::String(nr.rejected.clone());
                values.push(v);
                continue;
            }
            let status = if !nr.rejected.is_empty() {
                paint(format!("rejected: {}", nr.rejected), Tint::Bad)
            } else if r.stale {
                paint("accepted (stale)".into(), Tint::Warn)
            } else if rib == pb::NeighborRib::Advertised {
                "advertised".into()
            } else {
                "accepted".into()
            };
            rows.push(vec![
                r.prefix.clone(),
                hops(&r),
                path(&r),
                r.med.to_string(),
                status,
            ]);
        }
    }
    if json {
        print_json(&Value::Array(values));
    } else if rows.is_empty() {
        say!("no routes");
    } else {
        table(&["PREFIX", "NEXT HOPS", "PATH", "MED", "STATUS"], &rows);
    }
    Ok(())
}
