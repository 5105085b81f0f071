//! `trunklined`: the Trunkline daemon's command line (the daemon itself is
//! the library beside it).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use trunklined::config::{Config, DEFAULT_CONFIG};
use trunklined::{logging, server};

mod allocator;

/// Trunkline node: routes telephone numbers like BGP routes IP prefixes.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Config file (TOML). Without it the node runs from the embedded default.
    #[arg(long, short)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Validate a config file and exit.
    CheckConfig { file: PathBuf },
    /// Print the embedded default config.
    DefaultConfig,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.cmd.is_none() {
        allocator::configure();
    }
    match args.cmd {
        Some(Cmd::CheckConfig { file }) => match Config::from_file(&file) {
            Ok(l) => {
                let count = |n: usize, one: &str, many: &str| {
                    format!("{n} {}", if n == 1 { one } else { many })
                };
                println!(
                    "{}: ok (node {} \"{}\", ITAD {}, {}, {}, {})",
                    file.display(),
                    l.config.node.id,
                    l.config.node.name,
                    l.config.node.itad,
                    count(l.plans.len(), "plan", "plans"),
                    count(l.routes.len(), "configured prefix", "configured prefixes"),
                    count(l.config.peers.len(), "peer", "peers"),
                );
                for p in &l.config.peers {
                    for w in p.warnings() {
                        println!("warning: peer {w}");
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                ExitCode::from(2)
            }
        },
        Some(Cmd::DefaultConfig) => {
            print!("{DEFAULT_CONFIG}");
            ExitCode::SUCCESS
        }
        None => {
            let loaded = match &args.config {
                Some(f) => Config::from_file(f).map_err(|e| format!("{}: {e}", f.display())),
                None => {
                    Config::from_toml(DEFAULT_CONFIG).map_err(|e| format!("embedded config: {e}"))
                }
            };
            let loaded = match loaded {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("trunklined: {e}");
                    return ExitCode::from(2);
                }
            };
            logging::init(&loaded.config.log);
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("trunklined: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(server::run(loaded, args.config.clone())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    // The log goes to stderr already: say it once.
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
