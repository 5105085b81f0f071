//! `trunkline`: the command line for Trunkline nodes. It speaks only the
//! public gRPC API (`trunkline.v1`).
//!
//! Exit codes: 0 success, 1 other failure, 2 bad input, 3 no route,
//! 4 server unreachable.

/// `println!` that ends the program quietly when stdout is closed
/// (`trunkline routes | head`), instead of panicking on the broken pipe.
macro_rules! say {
    ($($t:tt)*) => {
        $crate::emit(format_args!($($t)*))
    };
}

mod bulk;
mod neighbor;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tonic::transport::{Channel, Endpoint};
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::cluster_client::ClusterClient;
use trunkline_proto::v1::node_client::NodeClient;
use trunkline_proto::v1::routes_client::RoutesClient;

/// Query and change the route table of a Trunkline node.
#[derive(Debug, Parser)]
#[command(name = "trunkline", version, about)]
struct Args {
    /// gRPC address of the node.
    #[arg(
        long,
        global = true,
        env = "TRUNKLINE_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    server: String,
    /// Print JSON instead of tables (read commands).
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for the server.
    #[arg(long, global = true, default_value_t = 30)]
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
        /// `+15551234567` or `plan:digits`.
        number: String,
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
        number: String,
        /// Linearizable: include every write acknowledged before now.
        #[arg(long)]
        consistent: bool,
    },
    /// Node and raft status.
    Status,
    /// Cluster membership and the status of every member.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Peers and member PBXes: sessions, configuration.
    #[command(subcommand)]
    Neighbor(neighbor::NeighborCmd),
}

#[derive(Debug, Subcommand)]
enum ClusterCmd {
    /// Every member's role, term, commit and applied index, and lag.
    Status,
    /// Add a node (as a learner; it becomes a voter once caught up).
    AddNode {
        id: u64,
        /// Its gRPC address, e.g. http://10.0.0.4:50051.
        addr: String,
    },
    /// Remove a node from the cluster.
    RemoveNode { id: u64 },
    /// Hand leadership to another voter.
    TransferLeader { id: u64 },
}

#[derive(Debug, clap::Args)]
pub struct AnnounceArgs {
    /// Prefix, block (`+1555123XXXX`) or range (`+15551230000..+15551234999`).
    #[arg(required_unless_present = "file")]
    prefix: Option<String>,
    /// Trunk URI; may hold {e164}, {digits}, {local}. Repeat for several.
    #[arg(long)]
    via: Vec<String>,
    /// Priority of the --via next hops (lower first).
    #[arg(long, default_value_t = 10)]
    priority: u32,
    /// Weight of the --via next hops.
    #[arg(long, default_value_t = 100)]
    weight: u32,
    #[arg(long)]
    local_pref: Option<u32>,
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

impl From<tonic::Status> for Failure {
    fn from(s: tonic::Status) -> Failure {
        let code = match s.code() {
            tonic::Code::InvalidArgument
            | tonic::Code::OutOfRange
            | tonic::Code::ResourceExhausted => 2,
            tonic::Code::NotFound => 3,
            tonic::Code::Unavailable => 4,
            _ => 1,
        };
        let message = if s.code() == tonic::Code::Unavailable && s.message().contains("transport") {
            format!("server unavailable: {}", s.message())
        } else {
            s.message().to_owned()
        };
        Failure { code, message }
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

async fn connect(server: &str, timeout: u64) -> Result<Channel> {
    let ep = Endpoint::from_shared(server.to_owned())
        .map_err(|e| Failure::input(format!("--server {server:?}: {e}")))?
        .connect_timeout(Duration::from_secs(timeout.min(10)))
        .timeout(Duration::from_secs(timeout));
    ep.connect().await.map_err(|e| Failure {
        code: 4,
        message: format!("cannot reach trunklined at {server}: {}", source_chain(&e)),
    })
}

fn source_chain(e: &dyn std::error::Error) -> String {
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

fn routes_client(ch: Channel) -> RoutesClient<Channel> {
    RoutesClient::new(ch)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

async fn run(args: Args) -> Result<()> {
    let ch = connect(&args.server, args.timeout).await?;
    let json = args.json;
    match args.cmd {
        Cmd::Announce(a) => {
            let mut client = routes_client(ch);
            match &a.file {
                Some(f) => bulk::announce_file(client, &a, f).await,
                None => {
                    let prefix = a.prefix.clone().unwrap_or_default();
                    if a.via.is_empty() {
                        return Err(Failure::input("announce: give at least one --via URI"));
                    }
                    let spec = bulk::spec(
                        &a,
                        prefix,
                        a.via.iter().map(|v| (v.clone(), a.priority, a.weight)),
                    )?;
                    let r = client
                        .announce(pb::AnnounceRequest {
                            routes: vec![spec],
                            request_id: a.request_id.clone().unwrap_or_default(),
                        })
                        .await?
                        .into_inner();
                    say!(
                        "announced {} prefixes (log index {})",
                        r.announced,
                        r.log_index
                    );
                    Ok(())
                }
            }
        }
        Cmd::Withdraw { prefixes, file } => {
            let mut prefixes = prefixes;
            if let Some(f) = file {
                prefixes.extend(bulk::read_prefix_column(&f)?);
            }
            let mut client = routes_client(ch);
            let mut total = (0, 0);
            for chunk in prefixes.chunks(50_000) {
                let r = client
                    .withdraw(pb::WithdrawRequest {
                        prefixes: chunk.to_vec(),
                        request_id: String::new(),
                    })
                    .await?
                    .into_inner();
                total = (total.0 + r.withdrawn, r.log_index);
            }
            say!("withdrew {} prefixes (log index {})", total.0, total.1);
            Ok(())
        }
        Cmd::Lookup { number, consistent } => {
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
                    say!(
                        "node {id} added as a learner (log index {}); it becomes a voter once caught up",
                        r.log_index
                    );
                }
                ClusterCmd::RemoveNode { id } => {
                    let r = client
                        .remove_node(pb::RemoveNodeRequest { id })
                        .await?
                        .into_inner();
                    say!("node {id} removed (log index {})", r.log_index);
                }
                ClusterCmd::TransferLeader { id } => {
                    client
                        .transfer_leader(pb::TransferLeaderRequest { id })
                        .await?;
                    say!("node {id} is the leader");
                }
            }
            Ok(())
        }
    }
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
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("trunkline: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
