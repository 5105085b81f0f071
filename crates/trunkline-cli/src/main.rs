//! `trunkline`: the command line for Trunkline nodes. It speaks only the
//! public gRPC API (`trunkline.v1`).
//!
//! Exit codes: 0 success; 1 refused (the request was understood but
//! cannot be done, the message says why); 2 bad input; 3 not found (no
//! route, no such neighbor or member, nothing to withdraw); 4 the server
//! could not answer (unreachable, timed out, no leader or no quorum).

/// `println!` that ends the program quietly when stdout is closed
/// (`trunkline routes | head`), instead of panicking on the broken pipe.
macro_rules! say {
    ($($t:tt)*) => {
        $crate::emit(format_args!($($t)*))
    };
}

mod authority;
mod bulk;
mod client;
mod docs;
mod files;
mod invite;
mod join;
mod lookup_file;
mod neighbor;
mod output;
mod paint;
mod pki;
mod token;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use client::Conn;
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::cluster_client::ClusterClient;
use trunkline_proto::v1::node_client::NodeClient;
use trunkline_proto::v1::routes_client::RoutesClient;

/// Query and change the route table of a Trunkline node.
#[derive(Debug, Parser)]
#[command(name = "trunkline", version, about)]
struct Args {
    #[command(flatten)]
    conn: client::ConnArgs,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for an answer; longer than the node's own write
    /// timeout (10 s by default), so its answer comes first.
    #[arg(long, global = true, default_value_t = 15)]
    timeout: u64,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Announce a prefix, block or range (or a CSV file of them).
    Announce(AnnounceArgs),
    /// Withdraw announced prefixes, blocks or ranges.
    Withdraw {
        /// Prefixes, blocks (`+1555123XXXX`) or ranges (`A..B`).
        #[arg(required_unless_present = "file")]
        prefixes: Vec<String>,
        /// A file with one prefix, block or range per line (first CSV column).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Where does a dialed number go?
    Lookup {
        /// The dialed number: `+15551234567` or `plan:digits`.
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        number: Option<String>,
        /// A file of numbers, one a line or the first CSV column (`-`:
        /// standard input), looked up in batches over one stream; one line
        /// an answer: number, matched prefix, next hops.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Linearizable: include every write acknowledged before now.
        #[arg(long)]
        consistent: bool,
    },
    /// List routes, optionally under or above a prefix.
    Routes {
        /// Only this prefix and more specific ones (see --exact, --shorter).
        prefix: Option<String>,
        /// Only the prefix itself.
        #[arg(long, conflicts_with = "shorter", requires = "prefix")]
        exact: bool,
        /// The prefix and every less specific one.
        #[arg(long, requires = "prefix")]
        shorter: bool,
        /// At most this many routes (0: all).
        #[arg(long, default_value_t = 0)]
        limit: u64,
        /// Linearizable: include every write acknowledged before now.
        #[arg(long)]
        consistent: bool,
        /// Routes of one neighbor instead: with --received, --accepted
        /// (the default) or --advertised.
        #[arg(long, conflicts_with_all = ["prefix", "consistent", "limit"])]
        peer: Option<String>,
        /// With --peer: everything received, refused routes with the reason.
        #[arg(long, requires = "peer", conflicts_with_all = ["accepted", "advertised"])]
        received: bool,
        /// With --peer: its routes in the table.
        #[arg(long, requires = "peer", conflicts_with = "advertised")]
        accepted: bool,
        /// With --peer: what this cluster sends it.
        #[arg(long, requires = "peer")]
        advertised: bool,
    },
    /// Show every candidate route for a number and why each one lost.
    Explain {
        /// The dialed number: `+15551234567` or `plan:digits`.
        number: String,
        /// Linearizable: include every write acknowledged before now.
        #[arg(long)]
        consistent: bool,
    },
    /// Follow the routes under a prefix: the current ones, then every
    /// change as the node applies it (Ctrl-C stops).
    Watch(watch::WatchArgs),
    /// Node and raft status.
    Status,
    /// Cluster membership and the status of every member.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Peers and member PBXes: sessions, configuration.
    #[command(subcommand)]
    Neighbor(neighbor::NeighborCmd),
    /// A private certificate authority and the certificates of nodes,
    /// peers and clients (works on local files; no server needed).
    #[command(subcommand)]
    Pki(pki::PkiCmd),
    /// Number-block authority on local files: keys, delegations,
    /// authorisations, revocation lists (no server needed).
    #[command(subcommand)]
    Authority(authority::AuthorityCmd),
    /// API tokens: create (with a role, prefix scope and lifetime), list,
    /// revoke.
    #[command(subcommand)]
    Token(token::TokenCmd),
    /// At an exchange: invites for new members (one line each), their
    /// list, revocation.
    #[command(subcommand)]
    Invite(invite::InviteCmd),
    /// Join an exchange with an invite: a key made here, a certificate the
    /// exchange signs, this node's config, and the PBX's snippet (needs
    /// no --server: the invite names the exchange).
    Join(join::JoinArgs),
    /// The completion script for a shell, on stdout (for example
    /// `trunkline completions bash > /etc/bash_completion.d/trunkline`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Man pages: trunkline(1) and one for each subcommand.
    Man {
        /// The directory to write them into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ClusterCmd {
    /// Every member's role, term, commit and applied index, and lag.
    Status,
    /// Add a node (as a learner; it becomes a voter once caught up).
    AddNode {
        /// The new node's id (its `[node] id`), never used before in this cluster.
        id: u64,
        /// Its gRPC address, e.g. http://10.0.0.4:50051.
        addr: String,
    },
    /// Remove a node from the cluster; it stops serving once it learns it.
    RemoveNode {
        /// The node's id.
        id: u64,
    },
    /// Hand leadership to another voter.
    TransferLeader {
        /// The voter's id.
        id: u64,
    },
}

#[derive(Debug, clap::Args)]
pub struct AnnounceArgs {
    /// Prefix, block (`+1555123XXXX`) or range (`+15551230000..+15551234999`).
    /// Announcing a prefix again replaces the route announced before for it.
    #[arg(required_unless_present = "file")]
    prefix: Option<String>,
    /// Next hop `URI[,PRIORITY[,WEIGHT]]`: a trunk URI, which may hold
    /// {e164}, {digits} or {local}, with its own priority and weight
    /// (else --priority and --weight). Repeat for several.
    #[arg(long, value_name = "URI[,PRIORITY[,WEIGHT]]")]
    via: Vec<String>,
    /// Priority of --via next hops that give none (lower is tried first).
    #[arg(long, default_value_t = 10)]
    priority: u32,
    /// Weight of --via next hops that give none (share among equal priorities).
    #[arg(long, default_value_t = 100)]
    weight: u32,
    /// Local preference (higher wins; default 100).
    #[arg(long)]
    local_pref: Option<u32>,
    /// Multi-exit discriminator (lower wins among equal paths).
    #[arg(long, default_value_t = 0)]
    med: u32,
    /// Large community `global:local1:local2`; repeat for several.
    #[arg(long)]
    community: Vec<String>,
    /// CSV lines `prefix[,uri[,priority[,weight]]]`; lines without a URI use --via.
    #[arg(long, conflicts_with = "prefix")]
    file: Option<PathBuf>,
    /// Routes per request for --file.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Makes a retried announce apply once.
    #[arg(long)]
    request_id: Option<String>,
}

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn input(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
}

/// The exit code that means the server could not answer.
pub const UNAVAILABLE: u8 = 4;

impl From<tonic::Status> for Failure {
    fn from(s: tonic::Status) -> Failure {
        // The connection failed under the request (tonic says Unknown,
        // "transport error"): the server could not answer.
        // Or it never spoke HTTP/2 (a TLS port answering plaintext with an
        // alert reads as a protocol error).
        let lost = (matches!(s.code(), tonic::Code::Unknown | tonic::Code::Cancelled)
            && !s.message().contains("Timeout expired")
            && std::error::Error::source(&s).is_some())
            || s.message().starts_with("h2 protocol error");
        let code = match s.code() {
            _ if lost => UNAVAILABLE,
            tonic::Code::InvalidArgument
            | tonic::Code::OutOfRange
            | tonic::Code::ResourceExhausted => 2,
            tonic::Code::NotFound => 3,
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => UNAVAILABLE,
            // tonic's own client timeout.
            tonic::Code::Cancelled if s.message().contains("Timeout expired") => UNAVAILABLE,
            _ => 1,
        };
        let message = if s.code() == tonic::Code::Cancelled && code == UNAVAILABLE {
            "no answer in time (see --timeout)".to_owned()
        } else if lost && s.message().starts_with("h2 protocol error") {
            format!("the server does not speak gRPC here ({})", s.message())
        } else if let Some(cause) = std::error::Error::source(&s)
            && (s.code() == tonic::Code::Unavailable || lost)
        {
            // A connection failure: "transport error" alone says nothing.
            format!("server unavailable: {}", source_chain(cause))
        } else {
            s.message().to_owned()
        };
        Failure { code, message }
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// `n` and the noun in the right number: `1 prefix`, `5 prefixes`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Parses `URI[,PRIORITY[,WEIGHT]]`: trailing numbers after the last
/// commas are the priority and weight, so a URI may hold commas itself.
pub fn parse_via(v: &str, priority: u32, weight: u32) -> Result<(String, u32, u32)> {
    let mut parts: Vec<&str> = v.rsplitn(3, ',').collect();
    parts.reverse();
    let numeric = |s: &str| !s.trim().is_empty() && s.trim().bytes().all(|b| b.is_ascii_digit());
    let n = |s: &str, what: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| Failure::input(format!("--via {v:?}: {what} {s:?} is not a number")))
    };
    match parts.as_slice() {
        [uri, p, w] if numeric(p) && numeric(w) => {
            Ok(((*uri).to_owned(), n(p, "priority")?, n(w, "weight")?))
        }
        [head @ .., p, w] if numeric(w) => {
            let uri = head
                .iter()
                .chain([p])
                .copied()
                .collect::<Vec<_>>()
                .join(",");
            Ok((uri, n(w, "priority")?, weight))
        }
        _ => Ok((v.to_owned(), priority, weight)),
    }
}

/// An error about `routes[0].FIELD` or `prefixes[0]` of a request made
/// from one command-line argument, in the command line's words.
pub(crate) fn for_one_argument(mut f: Failure) -> Failure {
    for (api, cli) in [
        ("routes[0].prefix ", ""),
        ("routes[0].next_hops: ", "--via: "),
        ("routes[0].communities: ", "--community: "),
        ("routes[0].local_pref: ", "--local-pref: "),
        ("prefixes[0] ", ""),
    ] {
        if let Some(rest) = f.message.strip_prefix(api) {
            f.message = format!("{cli}{rest}");
            break;
        }
    }
    f
}

pub fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let part = c.to_string();
        if !s.ends_with(&part) {
            s.push_str(": ");
            s.push_str(&part);
        }
        cur = c.source();
    }
    s
}

/// Most bytes of one gRPC message the CLI sends or accepts.
const MAX_MESSAGE: usize = 64 << 20;

pub(crate) fn routes_client(ch: Conn) -> RoutesClient<Conn> {
    RoutesClient::new(ch)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

async fn run(args: Args) -> Result<()> {
    let json = args.json;
    match args.cmd {
        Cmd::Pki(p) => return pki::run(p, json),
        Cmd::Authority(a) if a.is_local() => return authority::run(a, json),
        Cmd::Completions { shell } => {
            docs::completions(shell);
            return Ok(());
        }
        Cmd::Man { out } => return docs::man_pages(&out),
        Cmd::Join(j) => return join::run(j, json).await,
        _ => {}
    }
    let target = args.conn.resolve()?;
    let ch = client::connect(&target, args.timeout).await?;
    match args.cmd {
        Cmd::Announce(a) => {
            let mut client = routes_client(ch);
            match &a.file {
                Some(f) => bulk::announce_file(client, &a, f, json).await,
                None => {
                    let prefix = a.prefix.clone().unwrap_or_default();
                    if a.via.is_empty() {
                        return Err(Failure::input("announce: give at least one --via URI"));
                    }
                    let hops = a
                        .via
                        .iter()
                        .map(|v| parse_via(v, a.priority, a.weight))
                        .collect::<Result<Vec<_>>>()?;
                    let spec = bulk::spec(&a, prefix, hops.into_iter())?;
                    let r = client
                        .announce(pb::AnnounceRequest {
                            routes: vec![spec],
                            request_id: a.request_id.clone().unwrap_or_default(),
                        })
                        .await
                        .map_err(|s| for_one_argument(s.into()))?
                        .into_inner();
                    if json {
                        output::print_json(&serde_json::json!({
                            "announced": r.announced,
                            "log_index": r.log_index,
                        }));
                    } else {
                        say!(
                            "announced {} (log index {})",
                            count(r.announced, "prefix", "prefixes"),
                            r.log_index
                        );
                    }
                    Ok(())
                }
            }
        }
        Cmd::Withdraw { prefixes, file } => {
            let one = file.is_none() && prefixes.len() == 1;
            // Where each prefix came from, for errors: an argument or a line.
            let mut items: Vec<(String, String)> = prefixes
                .into_iter()
                .map(|p| (p.clone(), format!("{p:?}")))
                .collect();
            if let Some(f) = &file {
                items.extend(
                    bulk::read_prefix_column(f)?
                        .into_iter()
                        .map(|(p, line)| (p, format!("{}:{line}", f.display()))),
                );
            }
            withdraw(routes_client(ch), items, one, json).await
        }
        Cmd::Lookup {
            file: Some(file),
            consistent,
            ..
        } => lookup_file::run(ch, &file, consistent, json).await,
        Cmd::Lookup {
            number, consistent, ..
        } => {
            let number = number.unwrap_or_default();
            let r = routes_client(ch)
                .lookup(pb::LookupRequest { number, consistent })
                .await?
                .into_inner();
            output::lookup(&r, json);
            Ok(())
        }
        Cmd::Routes {
            peer: Some(peer),
            received,
            advertised,
            ..
        } => {
            let rib = if received {
                pb::NeighborRib::Received
            } else if advertised {
                pb::NeighborRib::Advertised
            } else {
                pb::NeighborRib::Accepted
            };
            neighbor::routes(ch, peer, rib, json).await
        }
        Cmd::Neighbor(c) => neighbor::run(ch, c, json).await,
        Cmd::Pki(p) => pki::run(p, json),
        Cmd::Authority(a) => authority::run_remote(ch, a, json).await,
        Cmd::Watch(w) => watch::run(ch, w, json).await,
        Cmd::Completions { .. } | Cmd::Man { .. } | Cmd::Join(_) => {
            unreachable!("answered without a server")
        }
        Cmd::Invite(i) => invite::run(ch, i, json).await,
        Cmd::Token(t) => token::run(ch, t, json).await,
        Cmd::Routes {
            prefix,
            exact,
            shorter,
            limit,
            consistent,
            ..
        } => {
            let mode = match (exact, shorter) {
                (true, _) => pb::PrefixMatch::Exact,
                (_, true) => pb::PrefixMatch::Shorter,
                _ => pb::PrefixMatch::Longer,
            };
            let mut stream = routes_client(ch)
                .list_routes(pb::ListRoutesRequest {
                    prefix: prefix.unwrap_or_default(),
                    r#match: mode.into(),
                    limit,
                    consistent,
                })
                .await?
                .into_inner();
            let mut out = output::RouteList::new(json);
            while let Some(batch) = stream.message().await? {
                out.add(&batch.routes);
            }
            out.finish();
            Ok(())
        }
        Cmd::Explain { number, consistent } => {
            let r = routes_client(ch)
                .explain(pb::ExplainRequest { number, consistent })
                .await?
                .into_inner();
            output::explain(&r, json);
            Ok(())
        }
        Cmd::Status => {
            let r = NodeClient::new(ch)
                .status(pb::StatusRequest {})
                .await?
                .into_inner();
            output::status(&r, json);
            Ok(())
        }
        Cmd::Cluster(c) => {
            let mut client = ClusterClient::new(ch);
            match c {
                ClusterCmd::Status => {
                    let r = client
                        .status(pb::ClusterStatusRequest {})
                        .await?
                        .into_inner();
                    output::cluster_status(&r, json);
                }
                ClusterCmd::AddNode { id, addr } => {
                    let r = client
                        .add_node(pb::AddNodeRequest { id, addr })
                        .await?
                        .into_inner();
                    done(
                        json,
                        serde_json::json!({"node": id, "log_index": r.log_index}),
                        format_args!(
                            "node {id} added as a learner (log index {}); it becomes a voter once caught up",
                            r.log_index
                        ),
                    );
                }
                ClusterCmd::RemoveNode { id } => {
                    let r = client
                        .remove_node(pb::RemoveNodeRequest { id })
                        .await?
                        .into_inner();
                    done(
                        json,
                        serde_json::json!({"node": id, "log_index": r.log_index}),
                        format_args!(
                            "node {id} removed (log index {}); once it learns it, it serves nothing: stop it",
                            r.log_index
                        ),
                    );
                }
                ClusterCmd::TransferLeader { id } => {
                    let r = client
                        .transfer_leader(pb::TransferLeaderRequest { id })
                        .await?
                        .into_inner();
                    done(
                        json,
                        serde_json::json!({"leader": id, "log_index": r.log_index}),
                        format_args!("node {id} is the leader"),
                    );
                }
            }
            Ok(())
        }
    }
}

/// What a write command prints: JSON with --json, else one line.
pub fn done(json: bool, value: serde_json::Value, text: std::fmt::Arguments<'_>) {
    if json {
        output::print_json(&value);
    } else {
        emit(text);
    }
}

/// Withdraws `(prefix, where it was given)` items, in requests of at most
/// 50,000.
async fn withdraw(
    mut client: RoutesClient<Conn>,
    items: Vec<(String, String)>,
    one: bool,
    json: bool,
) -> Result<()> {
    let (mut withdrawn, mut log_index, mut absent) = (0, 0, 0);
    let mut config_owned = Vec::new();
    for chunk in items.chunks(50_000) {
        let r = client
            .withdraw(pb::WithdrawRequest {
                prefixes: chunk.iter().map(|(p, _)| p.clone()).collect(),
                request_id: String::new(),
            })
            .await
            .map_err(|s| {
                let mut f = Failure::from(s);
                // `prefixes[N] "x": why` names where the item was given.
                let at = f.message.strip_prefix("prefixes[").and_then(|r| {
                    let (n, rest) = r.split_once("] ")?;
                    let (_, given) = chunk.get(n.parse::<usize>().ok()?)?;
                    let why = rest.split_once(": ").map_or(rest, |(_, w)| w);
                    Some(format!("{given}: {why}"))
                });
                if let Some(m) = at {
                    f.message = m;
                }
                if one { for_one_argument(f) } else { f }
            })?
            .into_inner();
        withdrawn += r.withdrawn;
        log_index = r.log_index;
        absent += r.absent;
        config_owned.extend(r.config_owned);
    }
    let owned: Vec<String> = config_owned
        .iter()
        .map(|c| format!("{} (config file of node {})", c.prefix, c.node))
        .collect();
    if json {
        output::print_json(&serde_json::json!({
            "withdrawn": withdrawn,
            "log_index": log_index,
            "absent": absent,
            "config_owned": config_owned.iter().map(|c| serde_json::json!({"prefix": c.prefix, "node": c.node})).collect::<Vec<_>>(),
        }));
    }
    if withdrawn == 0 && !owned.is_empty() {
        return Err(Failure {
            code: 1,
            message: format!(
                "nothing withdrawn: {} from a config file, not the API; remove it there \
                 (then reload with SIGHUP or restart)",
                owned.join(", ")
            ),
        });
    }
    if withdrawn == 0 {
        return Err(Failure {
            code: 3,
            message: "nothing withdrawn: no route announced through the API matches".into(),
        });
    }
    if !json {
        say!(
            "withdrew {} (log index {log_index})",
            count(withdrawn, "prefix", "prefixes")
        );
    }
    if !owned.is_empty() {
        eprintln!(
            "trunkline: kept {}: from a config file; remove it there",
            owned.join(", ")
        );
    }
    if absent > 0 {
        eprintln!(
            "trunkline: {} had no route announced through the API",
            count(absent, "prefix", "prefixes")
        );
    }
    Ok(())
}

pub fn emit(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{args}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("trunkline: cannot write output: {e}");
        std::process::exit(1);
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let server = args
        .conn
        .resolve()
        .map_or_else(|_| String::new(), |t| t.server);
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // Say which server could not answer, once.
            // A TLS server hangs up on plaintext without a word.
            let hint = if f.code == UNAVAILABLE && server.starts_with("http://") {
                " (if the node speaks TLS, use https:// and --ca)"
            } else {
                ""
            };
            if f.code == UNAVAILABLE && !server.is_empty() && !f.message.contains(&server) {
                eprintln!("trunkline: trunklined at {server}: {}{hint}", f.message);
            } else {
                eprintln!("trunkline: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}
