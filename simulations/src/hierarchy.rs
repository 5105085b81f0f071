//! An internet-like hierarchy of ITADs, seeded: a tier-1 clique, transit
//! ITADs with power-law customer counts (preferential attachment), about
//! 85 % stubs, customer-provider and peer links. Providers always come
//! before their customers, so there is no customer-provider cycle.
//!
//! Policies are the Gao-Rexford ones, written as the product's own import
//! and export filters: routes from customers get local preference 200,
//! from peers 100, from providers 50, and those from customers a community
//! that says so; to peers and providers go only the ITAD's own and its
//! customers' routes (valley-free), to customers everything.

use std::sync::Arc;

use rand::Rng;
use trunkline_core::{LargeCommunity, route::DEFAULT_LOCAL_PREF};
use trunkline_peering::policy::{Action, Filter, PeerPolicy, Role, Term};

use crate::sim::stream;
use crate::topology::itad;
use crate::world::World;

/// How `a` sees `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rel {
    Customer,
    Peer,
    Provider,
}

impl Rel {
    fn tag(self) -> u32 {
        match self {
            Rel::Customer => 1,
            Rel::Peer => 2,
            Rel::Provider => 3,
        }
    }

    pub fn local_pref(self) -> u32 {
        match self {
            Rel::Customer => 200,
            Rel::Peer => DEFAULT_LOCAL_PREF,
            Rel::Provider => 50,
        }
    }

    fn reverse(self) -> Rel {
        match self {
            Rel::Customer => Rel::Provider,
            Rel::Peer => Rel::Peer,
            Rel::Provider => Rel::Customer,
        }
    }
}

/// The community node `node` tags routes learned over `rel` with.
pub fn tag(node: usize, rel: Rel) -> LargeCommunity {
    LargeCommunity(itad(node), 1, rel.tag())
}

/// Who is linked to whom, as `(a, b, how a sees b)`.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: usize,
    pub tier1: usize,
    /// Nodes `tier1..transit_end` are transit, the rest stubs.
    pub transit_end: usize,
    pub links: Vec<(usize, usize, Rel)>,
}

impl Graph {
    /// A seeded synthetic hierarchy of `n` ITADs.
    pub fn synthetic(n: usize, seed: u64) -> Graph {
        let mut rng = stream(seed, 10);
        let tier1 = (n / 1000).clamp(3, 16).min(n);
        let transit_end = (tier1 + n * 15 / 100).min(n);
        let mut links = Vec::new();
        for a in 0..tier1 {
            for b in a + 1..tier1 {
                links.push((a, b, Rel::Peer));
            }
        }
        // Customers so far of each node, for preferential attachment.
        let mut customers = vec![0usize; n];
        let pick = |rng: &mut rand_chacha::ChaCha8Rng, below: usize, customers: &[usize]| {
            let total: usize = customers[..below].iter().map(|c| c + 1).sum();
            let mut x = rng.random_range(0..total);
            for (i, c) in customers[..below].iter().enumerate() {
                if x <= *c {
                    return i;
                }
                x -= c + 1;
            }
            below - 1
        };
        for x in tier1..n {
            let stub = x >= transit_end;
            // Stubs buy from transit (and now and then a tier-1); transit
            // from anything before it.
            let providers = if rng.random_bool(if stub { 0.35 } else { 0.6 }) {
                2
            } else {
                1
            };
            let mut chosen: Vec<usize> = Vec::new();
            for _ in 0..providers {
                let below = if stub { transit_end } else { x };
                let p = pick(&mut rng, below, &customers);
                if !chosen.contains(&p) {
                    chosen.push(p);
                }
            }
            for p in chosen {
                customers[p] += 1;
                links.push((p, x, Rel::Customer));
            }
            // Transit ITADs peer with one another now and then.
            if !stub && x > tier1 + 1 && rng.random_bool(0.3) {
                let y = rng.random_range(tier1..x);
                if !links
                    .iter()
                    .any(|&(a, b, _)| (a, b) == (y, x) || (a, b) == (x, y))
                {
                    links.push((y, x, Rel::Peer));
                }
            }
        }
        Graph {
            nodes: n,
            tier1,
            transit_end,
            links,
        }
    }

    /// A graph from a CAIDA AS-relationship file (serial-1 or serial-2:
    /// `provider|customer|-1` and `peer|peer|0` lines, `#` comments, a
    /// serial-2 source field ignored). Its tier 1 is the clique the file
    /// names (`# inferred clique: ...`), else the ASes with customers and
    /// no provider; then transit ASes (with customers), then stubs.
    pub fn from_caida(text: &str) -> Result<Graph, String> {
        use std::collections::{BTreeMap, BTreeSet, HashSet};
        let mut clique: BTreeSet<u32> = BTreeSet::new();
        let mut edges: Vec<(u32, u32, Rel)> = Vec::new();
        let mut seen: HashSet<(u32, u32)> = HashSet::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if let Some(c) = line.strip_prefix('#') {
                if let Some(list) = c.trim().strip_prefix("inferred clique:") {
                    for asn in list.split_whitespace() {
                        clique.insert(asn.parse().map_err(|_| {
                            format!("line {}: clique AS {asn:?} is not a number", n + 1)
                        })?);
                    }
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split('|').collect();
            let asn = |s: &str| {
                s.parse::<u32>()
                    .map_err(|_| format!("line {}: {s:?} is not an AS number", n + 1))
            };
            if f.len() < 3 {
                return Err(format!("line {}: expected a|b|relationship", n + 1));
            }
            let (a, b) = (asn(f[0])?, asn(f[1])?);
            let rel = match f[2] {
                "-1" => Rel::Customer,
                "0" => Rel::Peer,
                r => return Err(format!("line {}: relationship {r:?} is not -1 or 0", n + 1)),
            };
            if a == b || !seen.insert((a.min(b), a.max(b))) {
                continue;
            }
            edges.push((a, b, rel));
        }
        let mut has_provider: BTreeSet<u32> = BTreeSet::new();
        let mut has_customer: BTreeSet<u32> = BTreeSet::new();
        let mut all: BTreeSet<u32> = BTreeSet::new();
        for &(a, b, rel) in &edges {
            all.extend([a, b]);
            if rel == Rel::Customer {
                has_customer.insert(a);
                has_provider.insert(b);
            }
        }
        if all.is_empty() {
            return Err("no relationships in the file".into());
        }
        let tier1: Vec<u32> = if clique.iter().any(|a| all.contains(a)) {
            clique.iter().copied().filter(|a| all.contains(a)).collect()
        } else {
            (has_customer.difference(&has_provider)).copied().collect()
        };
        let transit: Vec<u32> = (has_customer.iter())
            .filter(|a| !tier1.contains(a))
            .copied()
            .collect();
        let stubs: Vec<u32> = (all.iter())
            .filter(|a| !has_customer.contains(a) && !tier1.contains(a))
            .copied()
            .collect();
        let order: BTreeMap<u32, usize> = (tier1.iter().chain(&transit).chain(&stubs))
            .enumerate()
            .map(|(i, &a)| (a, i))
            .collect();
        Ok(Graph {
            nodes: order.len(),
            tier1: tier1.len(),
            transit_end: tier1.len() + transit.len(),
            links: edges
                .into_iter()
                .map(|(a, b, rel)| (order[&a], order[&b], rel))
                .collect(),
        })
    }

    /// The same graph without the links at these indexes (in
    /// [`Graph::links`], the order [`Graph::build`] made them in).
    pub fn without(&self, cut: &[usize]) -> Graph {
        Graph {
            links: self
                .links
                .iter()
                .enumerate()
                .filter(|(i, _)| !cut.contains(i))
                .map(|(_, l)| *l)
                .collect(),
            ..self.clone()
        }
    }

    /// Each node's neighbors and how it sees them.
    pub fn adjacency(&self) -> Vec<Vec<(usize, Rel)>> {
        let mut adj = vec![Vec::new(); self.nodes];
        for &(a, b, rel) in &self.links {
            adj[a].push((b, rel));
            adj[b].push((a, rel.reverse()));
        }
        adj
    }

    pub fn tier(&self, node: usize) -> &'static str {
        if node < self.tier1 {
            "tier1"
        } else if node < self.transit_end {
            "transit"
        } else {
            "stub"
        }
    }

    /// Builds the world: nodes, and a session per link with Gao-Rexford
    /// policies on both ends.
    pub fn build(&self, world: &mut World) {
        for i in 0..self.nodes {
            world.add_node(itad(i));
        }
        for &(a, b, rel) in &self.links {
            world.connect(a, b, policy(a, b, rel), policy(b, a, rel.reverse()));
        }
    }
}

/// How node `me` treats neighbor `other`, which it sees as `rel`.
pub fn policy(me: usize, other: usize, rel: Rel) -> PeerPolicy {
    // Only routes from customers need a mark (export to peers and
    // providers looks for it); left unmarked, what a node sends its
    // customers is equal at all of them, and the world's interner shares it.
    let import = Filter {
        terms: vec![Term {
            action: Some(Action::Accept),
            local_pref: Some(rel.local_pref()),
            add_communities: if rel == Rel::Customer {
                vec![tag(me, rel)]
            } else {
                vec![]
            },
            ..Term::default()
        }],
    };
    let export = match rel {
        Rel::Customer => Filter {
            terms: vec![Term {
                action: Some(Action::Accept),
                ..Term::default()
            }],
        },
        // Only our own (tagged as from a customer at origination) and our
        // customers' routes go up and across.
        Rel::Peer | Rel::Provider => Filter {
            terms: vec![Term {
                communities: vec![tag(me, Rel::Customer)],
                action: Some(Action::Accept),
                ..Term::default()
            }],
        },
    };
    PeerPolicy {
        name: Arc::from(format!("n{other}")),
        itad: itad(other),
        role: Role::Peer,
        allowed: vec![],
        route_server: false,
        transparent: false,
        import: Some(import),
        export: Some(export),
        local_pref: DEFAULT_LOCAL_PREF,
        max_prefixes: None,
        reject_not_found: false,
    }
}
