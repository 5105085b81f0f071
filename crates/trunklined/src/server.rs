//! Starts the node and owns its one shutdown path: a signal (or the
//! caller's future) stops the listeners, in-flight requests finish, then
//! the raft thread drains and stops.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};
use trunkline_cluster::Command;
use trunkline_cluster::node::NodeConfig;
use trunkline_cluster::peers::PeerOrigin;
use trunkline_core::Source;

use crate::api::{Api, NeighborsApi, RaftService};
use crate::config::Loaded;
use crate::metrics::Metrics;
use crate::store::{Store, StoreConfig, StoreHandle};

/// How long a follower may wait for a snapshot before the leader sends it
/// again.
const SNAPSHOT_STALL: Duration = Duration::from_secs(300);
/// How often certificate files are checked for changes.
const TLS_POLL: Duration = Duration::from_secs(2);

/// What a signal asks of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// SIGTERM, SIGINT: finish in-flight requests and stop.
    Stop,
    /// SIGHUP: read `[[route]]` and `[[peer]]` from the config file again,
    /// and the TLS files.
    Reload,
}

/// Watches the process's signals; the task ends when the receiver goes.
fn watch_signals() -> (mpsc::Receiver<Signal>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(4);
    let task = tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
                signal(SignalKind::hangup()),
            ) else {
                tracing::warn!("cannot watch signals; only Ctrl-C stops the node");
                let _ = tokio::signal::ctrl_c().await;
                let _ = tx.send(Signal::Stop).await;
                return;
            };
            loop {
                let s = tokio::select! {
                    _ = term.recv() => Signal::Stop,
                    _ = int.recv() => Signal::Stop,
                    _ = hup.recv() => Signal::Reload,
                };
                if tx.send(s).await.is_err() {
                    return;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            let _ = tx.send(Signal::Stop).await;
        }
    });
    (rx, task)
}

/// Runs the node until a signal stops it or its store fails. `config` is
/// the file it was started from (None: the embedded default), read again
/// on SIGHUP.
pub async fn run(loaded: Loaded, config: Option<PathBuf>) -> anyhow::Result<()> {
    let cfg = &loaded.config;
    if !cfg.itad_is_private() {
        tracing::info!(
            itad = cfg.node.itad,
            "ITAD is outside the private range 4200000000-4294967294: make sure it is yours"
        );
    }
    for p in &cfg.peers {
        for w in p.warnings() {
            tracing::warn!("peer {w}");
        }
    }
    if cfg.api.insecure && !cfg.api.listen.ip().is_loopback() && cfg.api.tls.is_none() {
        tracing::warn!(
            listen = %cfg.api.listen,
            "[api] insecure = true: the API and peering are plaintext and reachable from other machines"
        );
    }
    if cfg.cluster.insecure && !cfg.cluster_listen().ip().is_loopback() && cfg.cluster.tls.is_none()
    {
        tracing::warn!(
            listen = %cfg.cluster_listen(),
            "[cluster] insecure = true: node-to-node traffic is plaintext and reachable from other machines"
        );
    }
    let tls = crate::tls::NodeTls::new(
        cfg.api.tls.as_ref(),
        cfg.cluster.tls.as_ref(),
        cfg.peering.tls.as_ref(),
    )
    .context("TLS")?;
    let metrics = Metrics::new();
    let data_dir = std::path::absolute(&cfg.node.data_dir).unwrap_or(cfg.node.data_dir.clone());
    if !data_dir.exists() {
        tracing::info!(data_dir = %data_dir.display(), "no data directory yet: starting a new, empty node");
    }
    let store = Store::start(
        StoreConfig {
            dir: cfg.node.data_dir.clone(),
            node: NodeConfig {
                id: cfg.node.id,
                election_tick: cfg.raft.election_ticks,
                election_spread: cfg.raft.election_ticks.div_ceil(2),
                heartbeat_tick: cfg.raft.heartbeat_ticks,
                snapshot_entries: cfg.raft.snapshot_entries,
                trailing_entries: cfg.raft.trailing_entries,
                initial_voters: cfg.initial_voters(),
                // The transport reports every snapshot it sends or gives up
                // on (its own timeout grows with the size); this catches a
                // report lost anyway, after five minutes.
                snapshot_stall_ticks: SNAPSHOT_STALL.as_millis() as u64 / cfg.raft.tick_ms,
                authority: trunkline_cluster::state::AuthorityConfig {
                    anchors: loaded.anchors.clone(),
                    grace_secs: cfg.authority.grace_secs,
                    itad: cfg.node.itad,
                },
            },
            plans: loaded.plans.clone(),
            tick: Duration::from_millis(cfg.raft.tick_ms),
            write_timeout: Duration::from_millis(cfg.api.write_timeout_ms),
            members: cfg
                .cluster
                .members
                .iter()
                .map(|m| (m.id, m.addr.clone()))
                .chain(cfg.advertise().map(|a| (cfg.node.id, a)))
                .collect(),
            dialer: crate::store::NodeDialer::new(tls.cluster_dialer.clone()),
        },
        metrics.clone(),
    )?;
    let handle = store.handle();
    let (local_admin, _) = crate::auth::bootstrap(&data_dir)?;
    let auth = std::sync::Arc::new(crate::auth::Authenticator {
        store: handle.clone(),
        local: local_admin,
        anonymous_read: cfg.anonymous_read(),
    });

    let grpc_listener = tokio::net::TcpListener::bind(cfg.api.listen)
        .await
        .with_context(|| format!("cannot listen for gRPC on {}", cfg.api.listen))?;
    let cluster_listen = cfg.cluster_listen();
    let cluster_listener = tokio::net::TcpListener::bind(cluster_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen for node-to-node traffic on {cluster_listen} (another node on \
                 this machine? set [cluster] listen)"
            )
        })?;
    let http_listen = cfg.http_listen();
    let http_listener = tokio::net::TcpListener::bind(http_listen)
        .await
        .with_context(|| {
            format!("cannot listen for HTTP on {http_listen} (another node on this machine? set [http] listen)")
        })?;

    let api = Api {
        store: handle.clone(),
        metrics: metrics.clone(),
        node_name: cfg.node.name.clone(),
        itad: cfg.node.itad,
        started: Instant::now(),
        data_dir: data_dir.display().to_string(),
        history: crate::api::History::start(&handle),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let (config_done_tx, config_done) = watch::channel(false);
    let peering_ctx = std::sync::Arc::new(crate::peering::session::Context {
        store: handle.clone(),
        node_id: cfg.node.id,
        itad: cfg.node.itad,
        name: cfg.node.name.clone(),
        plans: loaded.plans.clone(),
        settings: cfg.peering.clone(),
        metrics: metrics.clone(),
        tls: tls.peering_dialer.clone(),
    });
    let (peering, peering_task) =
        crate::peering::manager::start(peering_ctx, metrics.clone(), stop_rx.clone());
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        grpc = %cfg.api.listen,
        cluster = %cluster_listen,
        http = %http_listen,
        node = cfg.node.id,
        itad = cfg.node.itad,
        data_dir = %data_dir.display(),
        config = %config.as_ref().map_or("embedded default".into(), |p| p.display().to_string()),
        "trunklined serving"
    );
    let invites = match &cfg.invites {
        Some(section) => Some(std::sync::Arc::new(
            crate::invite::Settings::load(
                section,
                cfg.peering.tls.as_ref().map(|t| t.cert.as_path()),
                cfg.api.listen,
            )
            .map_err(anyhow::Error::msg)?,
        )),
        None => None,
    };
    let services = crate::grpc::Services {
        invites: crate::api::InvitesApi {
            store: handle.clone(),
            settings: invites,
            itad: cfg.node.itad,
            anchors: (cfg.anchors.iter())
                .map(|a| trunkline_proto::v1::Anchor {
                    name: a.name.clone(),
                    key: a.key.clone(),
                    plan: a.plan.clone(),
                    max_depth: a.max_depth.into(),
                })
                .collect(),
        },
        api,
        neighbors: NeighborsApi {
            store: handle.clone(),
            manager: peering.clone(),
            node_id: cfg.node.id,
            itad: cfg.node.itad,
        },
        peering: crate::peering::service::PeeringService {
            manager: peering.clone(),
            tls: cfg.peering.tls.is_some(),
        },
        raft: RaftService {
            store: handle.clone(),
            stop: stop_rx.clone(),
        },
        max_message: cfg.api.max_message_bytes,
        auth,
    };
    let grpc = crate::grpc::public(
        &services,
        grpc_listener,
        tls.public.clone(),
        stopped(stop_rx.clone()),
    )
    .await?;
    let cluster_grpc = crate::grpc::cluster(
        &services,
        cluster_listener,
        tls.cluster.clone(),
        stopped(stop_rx.clone()),
    );
    let http = axum::serve(
        http_listener,
        crate::http::router(metrics.clone(), handle.clone(), config_done, &cfg.http).merge(
            crate::lg::router(
                services.api.clone(),
                services.neighbors.clone(),
                services.auth.clone(),
                &cfg.looking_glass,
            ),
        ),
    )
    .with_graceful_shutdown(stopped(stop_rx.clone()));
    let dns = match &loaded.dns_zones {
        Some(zones) => Some(
            crate::frontend::enum_dns::start(
                &cfg.dns,
                zones.clone(),
                handle.clone(),
                metrics.clone(),
                stop_rx.clone(),
            )
            .await?,
        ),
        None => None,
    };
    let sip = if cfg.sip.enabled {
        Some(
            crate::frontend::sip::start(&cfg.sip, handle.clone(), metrics.clone(), stop_rx.clone())
                .await?,
        )
    } else {
        None
    };
    let grpc = tokio::spawn(grpc);
    let cluster_grpc = tokio::spawn(cluster_grpc);
    let http = tokio::spawn(async move { http.await });
    let config_done_tx = std::sync::Arc::new(config_done_tx);
    let mut config_routes = tokio::spawn(install_config(
        handle.clone(),
        cfg.node.id,
        loaded.routes.clone(),
        cfg.peers.clone(),
        config_done_tx.clone(),
    ));

    let clock = tokio::spawn(replicated_time(
        handle.clone(),
        Duration::from_secs(cfg.authority.tick_secs),
    ));
    let (mut signals, signal_task) = watch_signals();
    let mut failed = std::pin::pin!(store.failed());
    // Storage is open and every listener bound: the node answers (a quorum
    // is the cluster's business, and /readyz says when it has one).
    crate::notify::notify("READY=1\nSTATUS=serving");
    // Rotated certificates are picked up when their files change, as well
    // as on SIGHUP.
    let mut tls_poll = tokio::time::interval(TLS_POLL);
    tls_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let failure = loop {
        tokio::select! {
            _ = tls_poll.tick() => tls.reload(false),
            s = signals.recv() => match s {
                Some(Signal::Reload) => {
                    crate::notify::notify("RELOADING=1");
                    tls.reload(true);
                    if let Some(task) = reload(&loaded, config.as_deref(), &handle, &config_done_tx) {
                        config_routes.abort();
                        config_routes = task;
                    }
                    crate::notify::notify("READY=1");
                }
                Some(Signal::Stop) | None => break None,
            },
            why = &mut failed => break Some(why),
        }
    };
    signal_task.abort();
    clock.abort();
    config_routes.abort();
    crate::notify::notify("STOPPING=1");
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(true);
    // In-flight requests get a grace period; idle connections that a
    // client keeps open must not hold the node up beyond it. After a store
    // failure there is nothing to finish: the node goes at once, as a
    // crashed process would, rather than keep a listening socket that no
    // longer accepts (peers' connections would pile up in its backlog).
    let grace = if failure.is_some() {
        Duration::ZERO
    } else {
        Duration::from_millis(cfg.api.shutdown_grace_ms)
    };
    let (grpc_result, cluster_result, http_result, _) = tokio::join!(
        finish_within(grace, grpc),
        finish_within(grace, cluster_grpc),
        finish_within(grace, http),
        peering_task
    );
    if let Some(dns) = dns {
        dns.stop().await;
    }
    if let Some(sip) = sip {
        sip.stop().await;
    }
    let store_result = store.shutdown().await;
    grpc_result.context("gRPC server")?;
    cluster_result.context("node-to-node gRPC server")?;
    http_result.context("HTTP server")?;
    store_result?;
    if let Some(why) = failure {
        anyhow::bail!("the store failed: {why}");
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

/// SIGHUP: reads the config file again and installs its `[[route]]` and
/// `[[peer]]` tables, as a restart would (routes and peers removed from
/// the file go). Everything else needs a restart, and the log says so. A
/// file that does not load changes nothing. Returns the new install task.
fn reload(
    running: &Loaded,
    path: Option<&std::path::Path>,
    store: &StoreHandle,
    done: &std::sync::Arc<watch::Sender<bool>>,
) -> Option<tokio::task::JoinHandle<()>> {
    let Some(path) = path else {
        tracing::warn!("SIGHUP: running from the embedded default config; nothing to reload");
        return None;
    };
    let new = match crate::config::Config::from_file(path) {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(
                "SIGHUP: {}: {e}; keeping the running config",
                path.display()
            );
            return None;
        }
    };
    if new.plans != running.plans {
        tracing::error!(
            "SIGHUP: {}: [[plan]] changed, which needs a restart; keeping the running config",
            path.display()
        );
        return None;
    }
    let restart = restart_only_changes(&running.config, &new.config);
    if !restart.is_empty() {
        tracing::warn!(
            "SIGHUP: changes to {} take effect only at the next restart",
            restart.join(", ")
        );
    }
    tracing::info!(
        prefixes = new.routes.len(),
        peers = new.config.peers.len(),
        "SIGHUP: reloading [[route]] and [[peer]] from {}",
        path.display()
    );
    for p in &new.config.peers {
        for w in p.warnings() {
            tracing::warn!("peer {w}");
        }
    }
    Some(tokio::spawn(install_config(
        store.clone(),
        running.config.node.id,
        new.routes,
        new.config.peers.clone(),
        done.clone(),
    )))
}

/// Sections that differ between two configs and only a restart applies.
fn restart_only_changes(a: &crate::config::Config, b: &crate::config::Config) -> Vec<&'static str> {
    // The sections compare by their Debug form: they are plain data, and
    // this spares every section type a PartialEq it has no other use for.
    let same =
        |x: &dyn std::fmt::Debug, y: &dyn std::fmt::Debug| format!("{x:?}") == format!("{y:?}");
    let mut out = Vec::new();
    let sections: [(&'static str, &dyn std::fmt::Debug, &dyn std::fmt::Debug); 11] = [
        ("[node]", &a.node, &b.node),
        ("[api]", &a.api, &b.api),
        ("[http]", &a.http, &b.http),
        ("[raft]", &a.raft, &b.raft),
        ("[cluster]", &a.cluster, &b.cluster),
        ("[log]", &a.log, &b.log),
        ("[peering]", &a.peering, &b.peering),
        ("[dns]", &a.dns, &b.dns),
        ("[sip]", &a.sip, &b.sip),
        ("[[anchor]]", &a.anchors, &b.anchors),
        ("[authority]", &a.authority, &b.authority),
    ];
    for (name, x, y) in sections {
        if !same(x, y) {
            out.push(name);
        }
    }
    out
}

/// Config routes and peers are replicated like any other write.
/// Replacing this node's whole route set withdraws what was removed from
/// the file; peers this node's file listed before and no longer does are
/// deleted. In a cluster this waits for a leader, so it retries until it
/// succeeds.
async fn install_config(
    store: StoreHandle,
    node: u64,
    routes: Vec<(
        trunkline_core::Prefix,
        std::sync::Arc<trunkline_core::Attrs>,
    )>,
    peers: Vec<crate::peering::config::PeerSection>,
    done: std::sync::Arc<watch::Sender<bool>>,
) {
    let mut wait = Duration::from_millis(50);
    loop {
        match install_config_once(&store, node, &routes, &peers).await {
            Ok(index) => {
                tracing::info!(
                    prefixes = routes.len(),
                    peers = peers.len(),
                    log_index = index,
                    "config routes and peers installed"
                );
                let _ = done.send(true);
                return;
            }
            Err(e @ crate::store::WriteError::Removed(_)) => {
                tracing::warn!(error = %e, "config routes and peers not installed");
                return;
            }
            Err(e) => {
                tracing::info!(error = %e, "config routes not installed yet");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
        }
    }
}

async fn install_config_once(
    store: &StoreHandle,
    node: u64,
    routes: &[(
        trunkline_core::Prefix,
        std::sync::Arc<trunkline_core::Attrs>,
    )],
    peers: &[crate::peering::config::PeerSection],
) -> Result<u64, crate::store::WriteError> {
    let command = Command::Replace {
        source: Source::Config { node },
        routes: routes.to_vec(),
    };
    let mut index = store.write(String::new(), command).await?.index;
    let current = store.view().load_full().peers.clone();
    for p in peers {
        let config = p.to_toml();
        let same = current
            .configs
            .get(&p.name)
            .is_some_and(|e| e.config == config && e.origin == PeerOrigin::Config { node });
        if !same {
            let command = Command::PeerSet {
                name: p.name.clone(),
                config,
                origin: PeerOrigin::Config { node },
                itad: p.itad,
            };
            let c = store.write(String::new(), command).await?;
            if let trunkline_cluster::Outcome::Refused(why) = &c.outcome {
                // Retrying cannot help: the file must change.
                tracing::error!(peer = %p.name, error = %why, "peer from the config file not installed");
            }
            index = c.index;
        }
    }
    for (name, e) in &current.configs {
        if e.origin == (PeerOrigin::Config { node }) && !peers.iter().any(|p| &p.name == name) {
            let command = Command::PeerDelete { name: name.clone() };
            index = store.write(String::new(), command).await?.index;
        }
    }
    Ok(index)
}

/// On the leader, proposes the wall clock as replicated time every
/// `every`: number authority's validity windows are judged against it,
/// so they flip at the same log position on every node. Followers only
/// apply it.
async fn replicated_time(store: StoreHandle, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_leader = false;
    loop {
        // Also at once when this node becomes leader, so a new leader's
        // time is not up to `every` late.
        let leader = tokio::select! {
            _ = interval.tick() => store.status().raft.role == trunkline_cluster::node::Role::Leader,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                let l = store.status().raft.role == trunkline_cluster::node::Role::Leader;
                if !l || was_leader {
                    was_leader = l;
                    continue;
                }
                true
            }
        };
        was_leader = leader;
        if !leader {
            continue;
        }
        let unix_secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if let Err(e) = store
            .write(String::new(), Command::Tick { unix_secs })
            .await
        {
            tracing::debug!(error = %e, "replicated time not proposed");
        }
    }
}

/// Waits for a server task to end, aborting it after `grace`.
async fn finish_within<E>(
    grace: Duration,
    mut task: tokio::task::JoinHandle<Result<(), E>>,
) -> anyhow::Result<()>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(grace, &mut task).await {
        Ok(joined) => Ok(joined??),
        Err(_) => {
            tracing::warn!("connections still open after {grace:?}; closing them");
            task.abort();
            Ok(())
        }
    }
}
