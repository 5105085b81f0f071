//! Who peers with whom, and with which policy.

use std::sync::Arc;

use trunkline_core::{Attrs, Itad, NextHop, Source, Validation};
use trunkline_peering::policy::{Action, Filter, PeerPolicy, Role, Term};

use crate::world::World;

/// ITAD of node `i`.
pub fn itad(i: usize) -> Itad {
    100 + i as Itad
}

fn accept_all() -> Filter {
    Filter {
        terms: vec![Term {
            action: Some(Action::Accept),
            ..Term::default()
        }],
    }
}

/// A transit peer that accepts and sends everything (the path-vector rules
/// still hold: no loops, never back to where a route came from).
pub fn open_peer(node: usize) -> PeerPolicy {
    PeerPolicy {
        name: Arc::from(format!("n{node}")),
        itad: itad(node),
        role: Role::Peer,
        allowed: vec![],
        route_server: false,
        transparent: false,
        import: Some(accept_all()),
        export: Some(accept_all()),
        local_pref: trunkline_core::route::DEFAULT_LOCAL_PREF,
        max_prefixes: None,
        reject_not_found: false,
    }
}

/// A member `node`, as its exchange's route server sees it: only its
/// `allowed` blocks, with its own ITAD as the whole path; it is sent every
/// best route, unprepended.
pub fn member_of(node: usize, allowed: Vec<trunkline_core::Prefix>) -> PeerPolicy {
    PeerPolicy {
        role: Role::Member,
        allowed,
        route_server: true,
        import: None,
        export: None,
        ..open_peer(node)
    }
}

/// The route server of exchange node `x`, as a member sees it: it does
/// not put its own ITAD on the paths it passes on.
pub fn route_server_client(x: usize) -> PeerPolicy {
    PeerPolicy {
        transparent: true,
        ..open_peer(x)
    }
}

/// `n` nodes, each peering with every other (the lower index dials).
pub fn clique(world: &mut World, n: usize) {
    for i in 0..n {
        world.add_node(itad(i));
    }
    for a in 0..n {
        for b in a + 1..n {
            world.connect(a, b, open_peer(b), open_peer(a));
        }
    }
}

/// What node `i` announces for its own block.
pub fn own_route(i: usize) -> Attrs {
    Attrs {
        source: Source::Api,
        next_hops: vec![
            NextHop::new(&format!("sip:{{e164}}@n{i}.example"), 10, 100).expect("a URI"),
        ],
        path: vec![],
        local_pref: trunkline_core::route::DEFAULT_LOCAL_PREF,
        med: 0,
        communities: vec![],
        validation: Validation::NotFound,
        reject_not_found: false,
        local_from: None,
    }
}
