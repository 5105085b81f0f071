//! The stable Gao-Rexford solution for one origin, computed on its own
//! from the graph (not from the simulated routes): every ITAD prefers a
//! route from a customer, then from a peer, then from a provider, then the
//! shortest; routes go up and across only from customers (valley-free).

use std::collections::VecDeque;

use super::Violation;
use crate::hierarchy::{Graph, Rel};
use crate::world::World;

/// Per node: the class and length (ITADs on the path) of its best route
/// to `origin`; `None`: no valley-free path.
pub fn solve(g: &Graph, origin: usize) -> Vec<Option<(Rel, usize)>> {
    solve_on(g, &g.adjacency(), origin)
}

/// The same on `g`'s adjacency, made once for many origins.
pub fn solve_on(g: &Graph, adj: &[Vec<(usize, Rel)>], origin: usize) -> Vec<Option<(Rel, usize)>> {
    let mut best: Vec<Option<(Rel, usize)>> = vec![None; g.nodes];
    // Customer routes: up the provider chain from the origin.
    let mut up = vec![usize::MAX; g.nodes];
    up[origin] = 0;
    let mut q = VecDeque::from([origin]);
    while let Some(x) = q.pop_front() {
        for &(y, rel) in &adj[x] {
            // y is x's provider: y learns x's route from a customer.
            if rel == Rel::Provider && up[y] == usize::MAX {
                up[y] = up[x] + 1;
                q.push_back(y);
            }
        }
    }
    for x in 0..g.nodes {
        if x != origin && up[x] != usize::MAX {
            best[x] = Some((Rel::Customer, up[x]));
        }
    }
    // Peer routes: one hop across from a node with a customer route (or
    // the origin), for nodes without a customer route.
    for x in 0..g.nodes {
        if x == origin || best[x].is_some() {
            continue;
        }
        let across = adj[x]
            .iter()
            .filter(|&&(y, rel)| rel == Rel::Peer && up[y] != usize::MAX)
            .map(|&(y, _)| up[y] + 1)
            .min();
        if let Some(len) = across {
            best[x] = Some((Rel::Peer, len));
        }
    }
    // Provider routes: down from whoever has a route, shortest first.
    let mut len: Vec<usize> = (0..g.nodes)
        .map(|x| match (x == origin, best[x]) {
            (true, _) => 0,
            (_, Some((_, l))) => l,
            _ => usize::MAX,
        })
        .collect();
    let mut order: Vec<usize> = (0..g.nodes).filter(|&x| len[x] != usize::MAX).collect();
    order.sort_by_key(|&x| len[x]);
    let mut q: VecDeque<usize> = order.into();
    while let Some(p) = q.pop_front() {
        for &(c, rel) in &adj[p] {
            // c is p's customer: c learns p's best route from a provider.
            if rel == Rel::Customer && c != origin {
                let fixed = matches!(best[c], Some((Rel::Customer | Rel::Peer, _)));
                if !fixed && len[p] + 1 < len[c] {
                    len[c] = len[p] + 1;
                    best[c] = Some((Rel::Provider, len[c]));
                    q.push_back(c);
                }
            }
        }
    }
    best
}

/// Every node's best route for the origin's prefix has the class and
/// length of the stable solution (the last tie-break, the earliest
/// announcement, depends on timing, so which of several equal routes won
/// is not compared).
pub fn check(
    world: &World,
    g: &Graph,
    origin: usize,
    prefix: &trunkline_core::Prefix,
) -> Result<(), Violation> {
    check_on(world, g, &g.adjacency(), origin, prefix)
}

/// The same on `g`'s adjacency, made once for many origins.
pub fn check_on(
    world: &World,
    g: &Graph,
    adj: &[Vec<(usize, Rel)>],
    origin: usize,
    prefix: &trunkline_core::Prefix,
) -> Result<(), Violation> {
    let want = solve_on(g, adj, origin);
    for (x, w) in want.iter().enumerate() {
        if x == origin {
            continue;
        }
        let got = world.nodes[x]
            .table
            .get(prefix)
            .and_then(|s| s.iter().next())
            .map(|r| (r.attrs.local_pref, r.attrs.path.len()));
        let w = w.map(|(rel, len)| (rel.local_pref(), len));
        if got != w {
            return Err(format!(
                "n{x} ({}): best route (local pref, path length) {got:?}, the stable solution {w:?}",
                g.tier(x)
            ));
        }
    }
    Ok(())
}
