//! Equivalence classes that let a full table fit (scenario 5).
//!
//! - **Prefixes.** Under one policy everywhere, the prefixes one ITAD
//!   originates are announced, withdrawn and routed alike: each ITAD's are
//!   one prefix weighed as the many it stands for ([`World::weigh_as`]).
//! - **Receivers.** Stubs with the same neighbors, seen the same way, are
//!   sent the same routes at the same moments: each set of them is one
//!   node, and what its neighbors send it counts once for each stub it
//!   stands for ([`World::mirror`]). What the class loses: the stubs'
//!   routes to one another (a class does not learn its own prefix) and
//!   the jitter of their separate links.
//!
//! `scenario::full_table`'s tests run both against every prefix and every
//! stub on its own at a smaller size.

use std::collections::HashMap;

use rand::Rng;

use crate::hierarchy::{Graph, Rel};
use crate::sim::stream;
use crate::world::World;

/// A hierarchy with its stubs grouped.
#[derive(Debug, Clone)]
pub struct Classed {
    /// Tier 1 and transit as they were, then one node per set of stubs.
    pub graph: Graph,
    /// Per node of `graph`: the nodes of the full graph it stands for.
    pub members: Vec<Vec<usize>>,
}

impl Classed {
    /// Groups the stubs of `g` by their neighbors (and how they see them).
    pub fn stubs_of(g: &Graph) -> Classed {
        let adj = g.adjacency();
        let mut members: Vec<Vec<usize>> = (0..g.transit_end).map(|x| vec![x]).collect();
        let mut class_of: HashMap<Vec<(usize, u8)>, usize> = HashMap::new();
        let mut node_of: Vec<usize> = (0..g.nodes)
            .map(|x| if x < g.transit_end { x } else { usize::MAX })
            .collect();
        for s in g.transit_end..g.nodes {
            // A stub linked to another stub (a CAIDA file may say so)
            // stays on its own.
            let key: Vec<(usize, u8)> = if adj[s].iter().any(|&(y, _)| y >= g.transit_end) {
                vec![(s, u8::MAX)]
            } else {
                let mut k: Vec<(usize, u8)> = adj[s].iter().map(|&(y, r)| (y, r as u8)).collect();
                k.sort_unstable();
                k
            };
            let c = *class_of.entry(key).or_insert_with(|| {
                members.push(Vec::new());
                members.len() - 1
            });
            members[c].push(s);
            node_of[s] = c;
        }
        // A class's links are its first member's; the other members' are
        // the same links again.
        let first = |x: usize| members[node_of[x]][0] == x;
        let links = (g.links.iter())
            .filter(|&&(a, b, _)| first(a) && first(b))
            .map(|&(a, b, rel)| (node_of[a], node_of[b], rel))
            .collect();
        Classed {
            graph: Graph {
                nodes: members.len(),
                tier1: g.tier1,
                transit_end: g.transit_end,
                links,
            },
            members,
        }
    }

    /// Every node of the full graph on its own (the reference runs).
    pub fn none(g: &Graph) -> Classed {
        Classed {
            graph: g.clone(),
            members: (0..g.nodes).map(|x| vec![x]).collect(),
        }
    }

    /// Makes what a class's neighbors send it count once per member, and
    /// what it sends count as its members' own messages.
    pub fn mirror(&self, world: &mut World) {
        for (x, m) in self.members.iter().enumerate() {
            world.stands_for(x, m.len() as u64);
        }
        for (link, &(a, b, _)) in self.graph.links.iter().enumerate() {
            for (from, to) in [(a, b), (b, a)] {
                let n = self.members[to].len() as u64;
                if n > 1 {
                    world.mirror(from, link, n);
                }
            }
        }
    }
}

/// How many prefixes each ITAD of `g` originates, `total` in all: in
/// proportion to the square root of its customers plus one, times a
/// seeded factor in 0.5..1.5 (a heavy tail: the largest holds a few
/// thousand of a million, as the largest origins on the internet do).
pub fn prefix_counts(g: &Graph, total: u64, seed: u64) -> Vec<u64> {
    let mut rng = stream(seed, 12);
    let mut customers = vec![0u64; g.nodes];
    for &(a, _, rel) in &g.links {
        if rel == Rel::Customer {
            customers[a] += 1;
        }
    }
    let weights: Vec<f64> = (customers.iter())
        .map(|&c| ((c + 1) as f64).sqrt() * rng.random_range(0.5..1.5))
        .collect();
    let sum: f64 = weights.iter().sum();
    // Each at least one; the remainder goes to the largest fractions.
    let exact: Vec<f64> = weights.iter().map(|w| w / sum * total as f64).collect();
    let mut counts: Vec<u64> = exact.iter().map(|e| (*e as u64).max(1)).collect();
    let mut order: Vec<usize> = (0..g.nodes).collect();
    order.sort_by(|&i, &j| {
        let frac = |k: usize| exact[k] - exact[k].floor();
        frac(j).total_cmp(&frac(i)).then(i.cmp(&j))
    });
    let mut left = total.saturating_sub(counts.iter().sum());
    for i in order.into_iter().cycle().take(g.nodes * 2) {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stubs_with_the_same_providers_are_one_node() {
        let g = Graph::synthetic(2_000, 1);
        let c = Classed::stubs_of(&g);
        assert_eq!(c.members.iter().map(Vec::len).sum::<usize>(), g.nodes);
        assert!(c.graph.nodes < g.nodes, "{} of {}", c.graph.nodes, g.nodes);
        let adj = g.adjacency();
        let cadj = c.graph.adjacency();
        for (x, m) in c.members.iter().enumerate().skip(g.transit_end) {
            for &s in m {
                // Each member's neighbors are its class's, as classes.
                let mut want: Vec<(usize, Rel)> = adj[s].clone();
                want.sort_by_key(|&(y, r)| (y, r as u8));
                let mut got = cadj[x].clone();
                got.sort_by_key(|&(y, r)| (y, r as u8));
                assert_eq!(got, want, "stub {s} in class {x}");
            }
        }
    }

    #[test]
    fn prefix_counts_add_up_and_have_a_tail() {
        let g = Graph::synthetic(3_000, 3);
        let counts = prefix_counts(&g, 300_000, 3);
        assert_eq!(counts.iter().sum::<u64>(), 300_000);
        assert!(counts.iter().all(|&c| c >= 1));
        // A tail: the largest holds many times the mean, not a big share.
        let max = *counts.iter().max().unwrap();
        assert!((500..15_000).contains(&max), "largest origin {max}");
    }
}
