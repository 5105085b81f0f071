//! Number authority, in process, on the replicated state machine itself:
//! the data set's routes applied, then
//!
//! - one authorisation covering about 1,000 of them published: the time
//!   to apply it (verify, judge, revalidate the covered subtree);
//! - an authorisation for the whole plan (a change touching every route):
//!   the time to apply it;
//! - validation cost per route, with 100,000 authorisations in the index;
//! - memory per 100,000 authorisations (resident, before and after).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use trunkline_authority::{Anchor, Authorisation, Entry, Signed, Statement};
use trunkline_cluster::command::{Origin, Proposal, encode_batch};
use trunkline_cluster::state::AuthorityConfig;
use trunkline_cluster::{Command, StateMachine};
use trunkline_core::{Attrs, Digits, NextHop, Plans, Source, Validation};

use crate::dataset::Dataset;

const ITAD: u32 = 4_200_000_001;

#[derive(Debug, clap::Args)]
pub struct AuthorityArgs {
    /// Authorisations for the validation-cost and memory figures.
    #[arg(long, default_value_t = 100_000)]
    authorisations: usize,
}

struct Sm {
    sm: StateMachine,
    index: u64,
}

impl Sm {
    fn apply(&mut self, command: Command) -> Duration {
        self.index += 1;
        let data = encode_batch(
            &[Proposal {
                origin: Origin { node: 1, token: 0 },
                request_id: String::new(),
                command,
            }],
            self.sm.plans(),
        );
        let t = Instant::now();
        self.sm.apply(self.index, 1, &data);
        t.elapsed()
    }
}

fn authorisation(key: &SigningKey, serial: u64, prefix: &str, max_len: u8) -> Signed {
    Signed::sign(
        Statement::Authorisation(Authorisation {
            serial,
            plan: "e164".into(),
            origin: ITAD,
            entries: vec![Entry {
                prefix: Digits::from_ascii(prefix).expect("digits"),
                max_len,
            }],
            not_before: 0,
            not_after: u64::MAX / 2,
        }),
        key,
    )
    .expect("a valid statement")
}

/// A prefix of the data set with close to `want` routes under it.
fn subtree_of(ds: &Dataset, want: usize) -> (String, usize) {
    let mut best = (String::new(), usize::MAX, 0);
    for len in 3..=8 {
        let mut counts = std::collections::HashMap::<&str, usize>::new();
        for e in &ds.entries {
            if e.digits.len() >= len {
                *counts.entry(&e.digits[..len]).or_default() += 1;
            }
        }
        for (p, n) in counts {
            let d = n.abs_diff(want);
            if d < best.1 {
                best = (p.to_owned(), d, n);
            }
        }
    }
    (best.0, best.2)
}

pub fn run(ds: &Dataset, args: AuthorityArgs) -> anyhow::Result<()> {
    let anchor = SigningKey::from_bytes(&[7; 32]);
    // First, while the heap is fresh, so resident memory counts them.
    let rss0 = crate::rss_bytes("self");
    let mut authority = trunkline_authority::Authority::new(
        vec![Anchor {
            plan: "e164".into(),
            name: "bench".into(),
            key: anchor.verifying_key().to_bytes(),
            max_depth: 4,
        }],
        86_400,
    );
    let t = Instant::now();
    for (i, e) in ds.entries.iter().take(args.authorisations).enumerate() {
        let s = authorisation(&anchor, i as u64, &e.digits, 16);
        authority
            .insert(&s.bytes)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let signed = t.elapsed();
    let t = Instant::now();
    let effective = authority.effective(1_000);
    let judged = t.elapsed();
    let rss1 = crate::rss_bytes("self");
    let queries: Vec<Digits> = ds
        .entries
        .iter()
        .map(|e| Digits::from_ascii(&e.digits).expect("digits"))
        .collect();
    let t = Instant::now();
    let mut valid = 0usize;
    for q in &queries {
        if effective.index.validate("e164", q, ITAD).name() == "valid" {
            valid += 1;
        }
    }
    let per = t.elapsed().as_secs_f64() / queries.len() as f64;
    println!(
        "validation: {:.0} ns per route over {} routes with {} authorisations indexed ({valid} valid); signing and verifying them took {:.1} s, judging them all {:.0} ms; resident {:.1} MB more ({:.0} B per authorisation, signed bytes included)",
        per * 1e9,
        queries.len(),
        args.authorisations,
        signed.as_secs_f64(),
        judged.as_secs_f64() * 1e3,
        rss1.saturating_sub(rss0) as f64 / 1e6,
        rss1.saturating_sub(rss0) as f64 / args.authorisations as f64
    );
    drop((authority, effective, queries));

    let config = AuthorityConfig {
        anchors: vec![Anchor {
            plan: "e164".into(),
            name: "bench".into(),
            key: anchor.verifying_key().to_bytes(),
            max_depth: 4,
        }],
        grace_secs: 86_400,
        itad: ITAD,
    };
    let plans = Plans::default();
    let mut sm = Sm {
        sm: StateMachine::with_authority(plans.clone(), config),
        index: 1,
    };
    sm.apply(Command::Tick { unix_secs: 1_000 });
    let attrs = Arc::new(Attrs {
        source: Source::Api,
        next_hops: vec![NextHop::new("sip:{e164}@pbx.example.org", 10, 100)?],
        path: vec![],
        local_pref: 100,
        med: 0,
        communities: vec![],
        validation: Validation::NotFound,
        reject_not_found: false,
        local_from: None,
    });
    for chunk in ds.entries.chunks(50_000) {
        let routes = chunk
            .iter()
            .map(|e| {
                Ok((
                    plans.parse_prefix(&format!("+{}", e.digits))?,
                    attrs.clone(),
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        sm.apply(Command::Announce(routes));
    }
    let (prefix, covered) = subtree_of(ds, 1_000);
    let one = authorisation(&anchor, 1, &prefix, 16);
    let t_one = sm.apply(Command::AuthorityPublish {
        statement: one.bytes,
    });
    let all = authorisation(&anchor, 2, "", 16);
    let t_all = sm.apply(Command::AuthorityPublish {
        statement: all.bytes,
    });
    println!(
        "revalidation: {} routes; an authorisation covering {covered} of them (+{prefix}) applied in {:.2} ms; one covering all of them in {:.0} ms (verify, judge every statement, revalidate the touched routes)",
        ds.entries.len(),
        t_one.as_secs_f64() * 1e3,
        t_all.as_secs_f64() * 1e3
    );

    Ok(())
}
