//! A seeded randomized fault run: clients write and read while one fault
//! at a time hits the cluster (kill -9 and restart, or a node cut off and
//! healed). The history is then checked: every acknowledged write is on
//! every node, the nodes converge to identical tables, and every
//! consistent read agrees with the real-time order of the writes.
//!
//! CI runs a short run. A longer one:
//! `TRUNKLINE_FAULT_STEPS=60 TRUNKLINE_FAULT_SEED=7 cargo test -p trunkline-tests faults -- --nocapture`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::harness::{Cluster, announce_retrying, cli};

#[derive(Debug, Clone)]
enum Op {
    /// An announce of a unique prefix; `done` is set once acknowledged.
    Write {
        prefix: String,
        invoked: Instant,
        done: Option<Instant>,
    },
    /// A consistent lookup that completed: did it find the prefix?
    Read {
        prefix: String,
        invoked: Instant,
        done: Instant,
        found: bool,
    },
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn seeded_faults_keep_acknowledged_writes_and_linearizable_reads() {
    let seed = env("TRUNKLINE_FAULT_SEED", 1);
    let steps = env("TRUNKLINE_FAULT_STEPS", 6);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut c = Cluster::start_with_proxies(3, "write_timeout_ms = 3000\n");
    let servers: Vec<String> = c.nodes.iter().map(|n| n.server()).collect();
    let history: Arc<Mutex<Vec<Op>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));

    let mut clients = Vec::new();
    for w in 0..2u64 {
        let (servers, history, stop) = (servers.clone(), history.clone(), stop.clone());
        clients.push(std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let prefix = format!("+6{w}{i:05}");
                let id = format!("f{w}-{i}");
                let at = {
                    let mut h = history.lock().unwrap();
                    h.push(Op::Write {
                        prefix: prefix.clone(),
                        invoked: Instant::now(),
                        done: None,
                    });
                    h.len() - 1
                };
                if announce_retrying(&servers, i as usize, &prefix, &id, 40)
                    && let Op::Write { done, .. } = &mut history.lock().unwrap()[at]
                {
                    *done = Some(Instant::now());
                }
                i += 1;
            }
        }));
    }
    {
        let (servers, history, stop) = (servers.clone(), history.clone(), stop.clone());
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
        clients.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let target = {
                    let h = history.lock().unwrap();
                    let writes: Vec<&String> = h
                        .iter()
                        .filter_map(|o| match o {
                            Op::Write { prefix, .. } => Some(prefix),
                            _ => None,
                        })
                        .collect();
                    if writes.is_empty() {
                        None
                    } else {
                        Some(writes[rng.random_range(0..writes.len())].clone())
                    }
                };
                let Some(prefix) = target else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let server = &servers[rng.random_range(0..servers.len())];
                let invoked = Instant::now();
                let out = cli(&[
                    "--server",
                    server,
                    "--timeout",
                    "4",
                    "lookup",
                    &format!("{prefix}9"),
                    "--consistent",
                ]);
                let done = Instant::now();
                // 0: found, 3: no route; anything else is a failed read.
                if out.code == 0 || out.code == 3 {
                    history.lock().unwrap().push(Op::Read {
                        prefix,
                        invoked,
                        done,
                        found: out.code == 0,
                    });
                }
            }
        }));
    }

    // One fault at a time.
    for step in 0..steps {
        std::thread::sleep(Duration::from_millis(rng.random_range(300..900)));
        let victim = rng.random_range(0..3usize);
        if rng.random_bool(0.5) {
            eprintln!("step {step}: kill -9 node {}", victim + 1);
            c.nodes[victim].kill9();
            std::thread::sleep(Duration::from_millis(rng.random_range(200..1500)));
            c.nodes[victim].restart();
        } else {
            eprintln!("step {step}: cut off node {}", victim + 1);
            c.isolate(victim);
            std::thread::sleep(Duration::from_millis(rng.random_range(200..1500)));
            c.heal();
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for t in clients {
        t.join().unwrap();
    }

    let history = history.lock().unwrap().clone();
    let acked: Vec<&Op> = history
        .iter()
        .filter(|o| matches!(o, Op::Write { done: Some(_), .. }))
        .collect();
    let reads: Vec<&Op> = history
        .iter()
        .filter(|o| matches!(o, Op::Read { .. }))
        .collect();
    eprintln!(
        "seed {seed}: {steps} faults, {} writes acknowledged, {} consistent reads",
        acked.len(),
        reads.len()
    );
    assert!(
        acked.len() > 5 && !reads.is_empty(),
        "the clients made progress"
    );

    // Every acknowledged write is on every node, and the nodes agree.
    let tables = c.converged_tables();
    assert!(tables.windows(2).all(|w| w[0] == w[1]), "tables differ");
    for op in &acked {
        if let Op::Write { prefix, .. } = op {
            assert!(
                tables[0].contains(&format!("\"{prefix}\"")),
                "acknowledged {prefix} is missing"
            );
        }
    }
    // Reads agree with the real-time order of the writes (the workload
    // only inserts, so this is linearizability): a read that started after
    // a write was acknowledged sees it; a read sees nothing that was not
    // yet invoked when the read finished.
    for r in &reads {
        let Op::Read {
            prefix,
            invoked,
            done,
            found,
        } = r
        else {
            continue;
        };
        let w = history
            .iter()
            .find_map(|o| match o {
                Op::Write {
                    prefix: p,
                    invoked,
                    done,
                } if p == prefix => Some((*invoked, *done)),
                _ => None,
            })
            .expect("reads only ask for written prefixes");
        if let (false, Some(acked_at)) = (found, w.1) {
            assert!(
                acked_at > *invoked,
                "stale read: {prefix} acknowledged before a consistent read that missed it"
            );
        }
        if *found {
            assert!(w.0 < *done, "read of {prefix} saw a write from its future");
        }
    }
}
