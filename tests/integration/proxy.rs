//! A userspace TCP proxy for one directed link between two nodes, which a
//! test can cut, stall, slow down or make flaky (etcd's robustness tests
//! do the same, since this kernel has no netem).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// What the link does to traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Bytes pass untouched.
    None,
    /// Open connections are closed and new ones refused: both ends see the
    /// link fail at once.
    Cut,
    /// Connections stay open but nothing moves; bytes wait and flow again
    /// on heal, as TCP retransmits after a partition. Only keepalives can
    /// tell such a link is dead.
    Blackhole,
    /// Every chunk is held `ms` ± `jitter_ms` (order kept).
    Delay { ms: u64, jitter_ms: u64 },
    /// Each chunk has this chance of killing its connection.
    Flaky { drop: f64 },
}

#[derive(Debug)]
pub struct Proxy {
    pub port: u16,
    fault: Arc<Mutex<Fault>>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

/// Seeds for the per-connection random streams (delay jitter, drops).
static NEXT_SEED: AtomicU64 = AtomicU64::new(1);

impl Proxy {
    /// Listens on a free port and forwards to `127.0.0.1:target`.
    pub fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let fault = Arc::new(Mutex::new(Fault::None));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (f, o, st) = (fault.clone(), open.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let (client, _) = match listener.accept() {
                    Ok(c) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                if *f.lock().unwrap() == Fault::Cut {
                    drop(client);
                    continue;
                }
                // Connecting to the target happens off the accept loop and
                // with a timeout: a target whose backlog is full (a node
                // shutting down) would otherwise stall every connection.
                let (f, o) = (f.clone(), o.clone());
                std::thread::spawn(move || {
                    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], target));
                    let Ok(server) = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                    else {
                        return;
                    };
                    let _ = client.set_nonblocking(false);
                    let mut list = o.lock().unwrap();
                    list.retain(|s: &TcpStream| s.peer_addr().is_ok());
                    list.push(client.try_clone().unwrap());
                    list.push(server.try_clone().unwrap());
                    drop(list);
                    pump(client.try_clone().unwrap(), server.try_clone().unwrap(), &f);
                    pump(server, client, &f);
                });
            }
        });
        Proxy {
            port,
            fault,
            open,
            stop,
        }
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
        if fault == Fault::Cut {
            for s in self.open.lock().unwrap().drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    /// Closes every connection and refuses new ones until [`Proxy::heal`].
    pub fn cut(&self) {
        self.set(Fault::Cut);
    }

    pub fn heal(&self) {
        self.set(Fault::None);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cut();
    }
}

/// Copies one direction: a reader thread stamps each chunk with the time
/// it may leave, a writer thread delivers chunks in order at those times.
fn pump(mut from: TcpStream, mut to: TcpStream, fault: &Arc<Mutex<Fault>>) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let f = fault.clone();
    let (from2, to2) = (from.try_clone().unwrap(), to.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut rng = SmallRng::seed_from_u64(NEXT_SEED.fetch_add(1, Ordering::Relaxed));
        let mut buf = [0u8; 16 * 1024];
        let mut last = Instant::now();
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let at = match *f.lock().unwrap() {
                Fault::Cut => break,
                Fault::Flaky { drop } if rng.random_bool(drop) => break,
                Fault::Delay { ms, jitter_ms } => {
                    let d = ms + rng.random_range(0..=2 * jitter_ms) - jitter_ms.min(ms);
                    Instant::now() + Duration::from_millis(d)
                }
                _ => Instant::now(),
            };
            // Order is kept: a chunk never overtakes the one before it.
            last = last.max(at);
            if tx.send((last, buf[..n].to_vec())).is_err() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to2.shutdown(Shutdown::Both);
    });
    let f = fault.clone();
    std::thread::spawn(move || {
        for (at, chunk) in rx {
            while *f.lock().unwrap() == Fault::Blackhole {
                std::thread::sleep(Duration::from_millis(10));
            }
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if *f.lock().unwrap() == Fault::Cut || to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from2.shutdown(Shutdown::Both);
    });
}
