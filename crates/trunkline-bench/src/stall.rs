//! What a member holding the whole table costs the exchange when it goes:
//! while it goes, two probes run back to back against an exchange node, a
//! consistent lookup (a ReadIndex round through the leader's raft thread)
//! and a plain one (the published view). The consistent probe's longest
//! round trip bounds how long a raft thread stood still; the plain one's
//! is the longest any reader waited. The raft terms before and after say
//! whether an election started.

use std::time::{Duration, Instant};

use trunkline_proto::v1 as pb;
use trunkline_proto::v1::node_client::NodeClient;
use trunkline_proto::v1::routes_client::RoutesClient;

use crate::cluster::Member;
use crate::secure::Target;

/// How long the probes run after the event.
const WINDOW: Duration = Duration::from_secs(8);

/// The longest consistent and plain lookup while `event` happens, and
/// whether any exchange node's raft term moved.
#[derive(Debug)]
pub struct Stall {
    pub consistent: Duration,
    pub plain: Duration,
    pub probes: u64,
    pub terms: (Vec<u64>, Vec<u64>),
}

impl std::fmt::Display for Stall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let elections = if self.terms.0 == self.terms.1 {
            "no election (terms unchanged)".to_owned()
        } else {
            format!("terms moved {:?} -> {:?}", self.terms.0, self.terms.1)
        };
        write!(
            f,
            "longest consistent lookup {:.0} ms, longest plain lookup {:.1} ms over {} probes; {elections}",
            self.consistent.as_secs_f64() * 1e3,
            self.plain.as_secs_f64() * 1e3,
            self.probes
        )
    }
}

async fn terms(exchange: &[Member]) -> anyhow::Result<Vec<u64>> {
    let mut out = Vec::new();
    for m in exchange {
        let st = NodeClient::new(m.target().authed().await?)
            .status(pb::StatusRequest {})
            .await?
            .into_inner();
        out.push(st.raft.map_or(0, |r| r.term));
    }
    Ok(out)
}

/// Probes `target` from half a second before `event` until [`WINDOW`]
/// after it.
pub fn through(
    rt: &tokio::runtime::Runtime,
    exchange: &[Member],
    target: &Target,
    number: &str,
    event: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<Stall> {
    let before = rt.block_on(terms(exchange))?;
    let end = Instant::now() + Duration::from_millis(500) + WINDOW;
    let probe = |consistent: bool| {
        let (target, number) = (target.clone(), number.to_owned());
        rt.spawn(async move {
            let mut c = RoutesClient::new(target.authed().await?);
            let (mut worst, mut n) = (Duration::ZERO, 0u64);
            while Instant::now() < end {
                let t = Instant::now();
                let r = c
                    .lookup(pb::LookupRequest {
                        number: number.clone(),
                        consistent,
                    })
                    .await;
                if let Err(s) = r
                    && s.code() != tonic::Code::NotFound
                {
                    anyhow::bail!("a lookup failed: {s}");
                }
                worst = worst.max(t.elapsed());
                n += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok::<_, anyhow::Error>((worst, n))
        })
    };
    let (consistent, plain) = (probe(true), probe(false));
    std::thread::sleep(Duration::from_millis(500));
    event()?;
    let (consistent, a) = rt.block_on(consistent)??;
    let (plain, b) = rt.block_on(plain)??;
    let after = rt.block_on(terms(exchange))?;
    Ok(Stall {
        consistent,
        plain,
        probes: a + b,
        terms: (before, after),
    })
}
