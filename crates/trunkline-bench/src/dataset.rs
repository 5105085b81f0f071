//! A synthetic numbering data set shaped like real numbering, from a seed:
//! NANP thousands-blocks (`+1` NPA NXX X), prefixes of other country codes
//! of varied lengths, and ported single numbers of 15 digits.

use std::collections::HashSet;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Country codes other than NANP, with how many prefixes each gets (as a
/// share) and the length range of those prefixes (digits after the `+`).
const OTHER: &[(&str, u32, std::ops::RangeInclusive<usize>)] = &[
    ("44", 20, 5..=9),
    ("49", 20, 5..=11),
    ("33", 12, 5..=9),
    ("39", 8, 5..=10),
    ("34", 6, 5..=9),
    ("31", 5, 5..=9),
    ("61", 6, 5..=9),
    ("81", 6, 5..=10),
    ("55", 5, 6..=10),
    ("91", 4, 6..=10),
    ("353", 3, 6..=10),
    ("358", 2, 6..=11),
    ("420", 2, 6..=10),
    ("7", 1, 5..=9),
];

/// One data set entry: a prefix (digits after `+`) and its carrier.
#[derive(Debug, Clone)]
pub struct Entry {
    pub digits: String,
    pub carrier: u32,
}

#[derive(Debug)]
pub struct Dataset {
    pub entries: Vec<Entry>,
    pub nanp_blocks: usize,
    pub other: usize,
    pub ported: usize,
}

/// Number of distinct trunks routes point at.
pub const CARRIERS: u32 = 500;

impl Dataset {
    /// About `total` prefixes: 65 % NANP thousands-blocks, 25 % other
    /// country codes, 10 % ported 15-digit numbers.
    pub fn generate(total: usize, seed: u64) -> Dataset {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut seen = HashSet::with_capacity(total);
        let mut entries = Vec::with_capacity(total);
        let nanp_target = total * 65 / 100;
        let other_target = total * 25 / 100;
        let ported_target = total - nanp_target - other_target;

        // NANP: NPA-NXX codes split into their ten thousands-blocks.
        let mut codes = HashSet::new();
        while codes.len() * 10 < nanp_target {
            let npa = rng.random_range(200..1000u32);
            let nxx = rng.random_range(200..1000u32);
            if npa % 100 == 11 || nxx % 100 == 11 {
                continue;
            }
            codes.insert((npa, nxx));
        }
        let mut codes: Vec<_> = codes.into_iter().collect();
        codes.sort_unstable();
        for (npa, nxx) in codes {
            let carrier = rng.random_range(0..CARRIERS);
            for x in 0..10 {
                if entries.len() >= nanp_target {
                    break;
                }
                let d = format!("1{npa}{nxx}{x}");
                seen.insert(d.clone());
                entries.push(Entry { digits: d, carrier });
            }
        }
        let nanp_blocks = entries.len();

        let weight_sum: u32 = OTHER.iter().map(|o| o.1).sum();
        while entries.len() < nanp_blocks + other_target {
            let mut pick = rng.random_range(0..weight_sum);
            let (cc, _, lens) = OTHER
                .iter()
                .find(|o| {
                    if pick < o.1 {
                        true
                    } else {
                        pick -= o.1;
                        false
                    }
                })
                .expect("weights cover the range");
            let len = rng.random_range(lens.clone());
            let mut d = cc.to_string();
            while d.len() < len {
                d.push(char::from(b'0' + rng.random_range(0..10u8)));
            }
            if seen.insert(d.clone()) {
                entries.push(Entry {
                    digits: d,
                    carrier: rng.random_range(0..CARRIERS),
                });
            }
        }
        let other = entries.len() - nanp_blocks;

        // Ported single numbers: full 15-digit numbers under existing prefixes.
        while entries.len() < nanp_blocks + other + ported_target {
            let base = &entries[rng.random_range(0..nanp_blocks + other)].digits;
            let mut d = base.clone();
            while d.len() < 15 {
                d.push(char::from(b'0' + rng.random_range(0..10u8)));
            }
            if seen.insert(d.clone()) {
                entries.push(Entry {
                    digits: d,
                    carrier: rng.random_range(0..CARRIERS),
                });
            }
        }
        let ported = entries.len() - nanp_blocks - other;
        Dataset {
            entries,
            nanp_blocks,
            other,
            ported,
        }
    }

    /// Numbers to look up: most fall inside announced prefixes (completed to
    /// full length), some anywhere (misses and short matches).
    pub fn queries(&self, n: usize, seed: u64) -> Vec<String> {
        let mut rng = SmallRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let mut d = if rng.random_range(0..10) < 9 {
                    self.entries[rng.random_range(0..self.entries.len())]
                        .digits
                        .clone()
                } else {
                    rng.random_range(1..10u32).to_string()
                };
                let len = if d.starts_with('1') {
                    11.max(d.len())
                } else {
                    12.max(d.len())
                };
                while d.len() < len {
                    d.push(char::from(b'0' + rng.random_range(0..10u8)));
                }
                d
            })
            .collect()
    }

    /// The CSV the CLI's `announce --file` reads.
    pub fn csv(&self) -> String {
        let mut s = String::with_capacity(self.entries.len() * 48);
        s.push_str("prefix,uri,priority,weight\n");
        for e in &self.entries {
            s.push('+');
            s.push_str(&e.digits);
            s.push_str(&format!(
                ",sip:{{e164}}@carrier{}.example.net,10,100\n",
                e.carrier
            ));
        }
        s
    }
}
