//! Peering between real nodes: two PBXes, an exchange with members,
//! federated exchanges, policy at the edges, and a session surviving the
//! death of the node that held it.

use std::time::Duration;

use crate::harness::{Cluster, Node, free_port, http_get, wait_until};

const ALICE: u32 = 4_200_000_101;
const BOB: u32 = 4_200_000_202;
const CAROL: u32 = 4_200_000_303;
const DAVE: u32 = 4_200_000_404;
const EXCHANGE: u32 = 4_200_000_900;

const WAIT: Duration = Duration::from_secs(20);

fn route(prefix: &str, via: &str) -> String {
    format!("[[route]]\nprefix = \"{prefix}\"\nvia = [\"{via}\"]\n")
}

/// A `[[peer]]` table accepting and sending everything; `extra` adds lines to it.
fn peer(name: &str, itad: u32, dial: &[u16], extra: &str) -> String {
    let addrs: Vec<String> = dial
        .iter()
        .map(|p| format!("\"http://127.0.0.1:{p}\""))
        .collect();
    format!(
        "[[peer]]\nname = \"{name}\"\nitad = {itad}\naddresses = [{}]\n{extra}\n[[peer.import]]\naction = \"accept\"\n[[peer.export]]\naction = \"accept\"\n",
        addrs.join(", ")
    )
}

/// The first next hop a node gives for `number`, if any.
fn first_hop(node: &Node, number: &str) -> Option<String> {
    let out = node.cli(&["lookup", number, "--json"]);
    (out.code == 0).then(|| {
        out.json()["next_hops"][0]["uri"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    })
}

fn wait_hop(node: &Node, number: &str, want: Option<&str>) {
    wait_until(&format!("{number} -> {want:?}"), WAIT, || {
        first_hop(node, number).as_deref() == want
    });
}

/// The path of the best route for `number`.
fn best_path(node: &Node, number: &str) -> Vec<u64> {
    let j = node.cli(&["lookup", number, "--json"]).json();
    j["routes"][0]["path"]
        .as_array()
        .map(|p| p.iter().filter_map(|x| x.as_u64()).collect())
        .unwrap_or_default()
}

/// `neighbor add NAME --itad ITAD --role member --allowed BLOCK ...` on `node`.
pub(crate) fn add_member(node: &Node, name: &str, itad: u32, block: &str, extra: &[&str]) {
    let itad = itad.to_string();
    let mut args = vec![
        "neighbor",
        "add",
        name,
        "--itad",
        &itad,
        "--role",
        "member",
        "--allowed",
        block,
    ];
    args.extend_from_slice(extra);
    node.cli(&args).ok();
}

/// `neighbor show NAME --json` on `node`.
fn neighbor(node: &Node, name: &str) -> serde_json::Value {
    node.cli(&["neighbor", "show", name, "--json"]).json()
}

/// Index (in the cluster) of the node holding the session with `name`.
fn holder(c: &Cluster, name: &str) -> usize {
    let id = neighbor(&c.nodes[0], name)["session_node"]
        .as_u64()
        .unwrap();
    c.nodes.iter().position(|n| n.spec.id == id).unwrap()
}

#[test]
fn two_pbxes_peer_and_learn_each_others_blocks() {
    let (pa, pb) = (free_port(), free_port());
    let a = Node::start_as(
        ALICE,
        pa,
        &format!(
            "{}{}",
            route("+1555123XXXX", "sip:{e164}@alice.example"),
            peer("bob", BOB, &[pb], "")
        ),
    );
    let b = Node::start_as(
        BOB,
        pb,
        &format!(
            "{}{}",
            route("+4930", "sip:{e164}@bob.example"),
            peer("alice", ALICE, &[], "")
        ),
    );
    wait_hop(&a, "+493012345", Some("sip:+493012345@bob.example"));
    wait_hop(&b, "+15551234567", Some("sip:+15551234567@alice.example"));
    assert_eq!(best_path(&b, "+15551234567"), [u64::from(ALICE)]);

    let list = a.cli(&["neighbor", "list", "--json"]).json();
    assert_eq!(list[0]["name"], "bob");
    assert_eq!(list[0]["state"], "established");
    assert_eq!(list[0]["dialing"], true);
    let show = neighbor(&b, "alice");
    assert_eq!(show["state"], "established");
    assert_eq!(show["accepted"], 1);
    assert_eq!(show["hold_time_secs"], 90);

    // Announce and withdraw at run time: the other side follows.
    a.cli(&["announce", "+1555999", "--via", "sip:new@alice.example"])
        .ok();
    wait_hop(&b, "+15559990000", Some("sip:new@alice.example"));
    a.cli(&["withdraw", "+1555999"]).ok();
    wait_hop(&b, "+15559990000", None);

    let adv = a
        .cli(&["routes", "--peer", "bob", "--advertised", "--json"])
        .json();
    assert_eq!(adv.as_array().unwrap().len(), 1);
    assert_eq!(adv[0]["path"][0], u64::from(ALICE));
}

#[test]
fn a_restarted_peer_keeps_its_routes_through_the_gap() {
    let (pa, pb) = (free_port(), free_port());
    let a = Node::start_as(ALICE, pa, &peer("bob", BOB, &[pb], ""));
    let mut b = Node::start_as(
        BOB,
        pb,
        &format!(
            "{}{}",
            route("+4930", "sip:{e164}@bob.example"),
            peer("alice", ALICE, &[], "")
        ),
    );
    wait_hop(&a, "+493012345", Some("sip:+493012345@bob.example"));
    // kill -9: the stream just drops, so graceful restart keeps the route.
    b.kill9();
    wait_until("the route to go stale", WAIT, || {
        let n = neighbor(&a, "bob");
        n["stale"] == 1
    });
    assert_eq!(
        first_hop(&a, "+493012345").as_deref(),
        Some("sip:+493012345@bob.example"),
        "lookups keep working while bob restarts"
    );
    b.restart();
    wait_until("fresh routes after bob's End-of-RIB", WAIT, || {
        let n = neighbor(&a, "bob");
        n["state"] == "established" && n["stale"] == 0 && n["accepted"] == 1
    });
}

/// A route kept through a peer's graceful restart loses to a fresh one,
/// even of lower preference; one that stays best goes on to further peers
/// marked stale (`0:65535:6`, as BGP's LLGR_STALE), so they prefer fresh
/// routes too. Found by `trunkline-sim run federation`: a failed link held
/// traffic on the dead path for the whole restart time.
#[test]
fn stale_routes_lose_to_fresh_ones_and_travel_marked() {
    let (pa, pb, pc, pd) = (free_port(), free_port(), free_port(), free_port());
    let a = Node::start_as(
        ALICE,
        pa,
        &format!(
            "{}{}{}",
            peer("bob", BOB, &[pb], ""),
            peer("carol", CAROL, &[pc], "local_pref = 50"),
            peer("dave", DAVE, &[pd], "")
        ),
    );
    let announcer = |itad, port, host: &str| {
        let via = format!("sip:{{e164}}@{host}");
        Node::start_as(
            itad,
            port,
            &format!("{}{}", route("+4930", &via), peer("alice", ALICE, &[], "")),
        )
    };
    let mut b = announcer(BOB, pb, "bob.example");
    let mut c = announcer(CAROL, pc, "carol.example");
    let d = Node::start_as(DAVE, pd, &peer("alice", ALICE, &[], ""));
    let (bob, carol) = (
        Some("sip:+493012345@bob.example"),
        Some("sip:+493012345@carol.example"),
    );
    wait_hop(&a, "+493012345", bob);
    wait_until("carol's route as an alternative", WAIT, || {
        let j = a.cli(&["explain", "+493012345", "--json"]).json();
        j["candidates"].as_array().is_some_and(|c| c.len() == 2)
    });
    wait_hop(&d, "+493012345", bob);
    let marked = |n: &Node| {
        let j = n.cli(&["lookup", "+493012345", "--json"]).json();
        j["routes"][0]["communities"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c == "0:65535:6"))
    };
    assert!(!marked(&d));

    b.kill9();
    wait_hop(&a, "+493012345", carol);
    let j = a.cli(&["explain", "+493012345", "--json"]).json();
    assert_eq!(j["candidates"][1]["lost_at"], "stale", "{j}");
    wait_hop(&d, "+493012345", carol);
    assert!(!marked(&d), "carol's route is fresh");

    // With both stale, bob's (preferred) is best again, and goes on marked.
    c.kill9();
    wait_hop(&a, "+493012345", bob);
    wait_until("dave to get bob's route marked stale", WAIT, || {
        first_hop(&d, "+493012345").as_deref() == bob && marked(&d)
    });
    drop((b, c));
}

#[test]
fn an_exchange_reannounces_members_and_refuses_what_they_do_not_hold() {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let ex = Cluster::start_as(3, EXCHANGE, "");
    let ex_ports: Vec<u16> = ex.nodes.iter().map(|n| n.spec.grpc).collect();
    let members = [
        ("alice", ALICE, "+1555123"),
        ("bob", BOB, "+4930"),
        ("carol", CAROL, "+4420"),
    ];
    for (name, itad, block) in members {
        add_member(
            &ex.nodes[0],
            name,
            itad,
            block,
            &[
                "--route-server",
                "--max-prefixes",
                "3",
                "--max-prefixes-action",
                "refuse",
            ],
        );
    }
    // Members dial the exchange (any of its nodes will do); the exchange
    // is a route server, so its routes start with the origin's ITAD.
    let pbx: Vec<Node> = members
        .iter()
        .zip(&ports)
        .map(|((name, itad, block), port)| {
            let mut extra = route(block, &format!("sip:{{e164}}@{name}.example"));
            extra.push_str(&peer("exchange", EXCHANGE, &ex_ports, "transparent = true"));
            Node::start_as(*itad, *port, &extra)
        })
        .collect();
    wait_hop(&pbx[0], "+493011", Some("sip:+493011@bob.example"));
    wait_hop(&pbx[0], "+442011", Some("sip:+442011@carol.example"));
    wait_hop(
        &pbx[1],
        "+15551234567",
        Some("sip:+15551234567@alice.example"),
    );
    wait_hop(
        &pbx[2],
        "+15551234567",
        Some("sip:+15551234567@alice.example"),
    );
    assert_eq!(best_path(&pbx[1], "+15551234567"), [u64::from(ALICE)]);
    // Every exchange node holds the members' routes.
    for n in &ex.nodes {
        wait_hop(n, "+442011", Some("sip:+442011@carol.example"));
    }

    // Alice announces a block she does not hold, and more than her limit.
    for p in ["+4930555", "+15551231", "+15551232", "+15551233"] {
        pbx[0]
            .cli(&["announce", p, "--via", "sip:x@alice.example"])
            .ok();
    }
    wait_until("alice's refused routes", WAIT, || {
        let r = ex.nodes[1]
            .cli(&["routes", "--peer", "alice", "--received", "--json"])
            .json();
        r.as_array().is_some_and(|a| a.len() == 5)
    });
    let received = ex.nodes[1]
        .cli(&["routes", "--peer", "alice", "--received"])
        .ok()
        .to_owned();
    assert!(
        received.contains("+4930555") && received.contains("not inside the blocks"),
        "{received}"
    );
    assert!(
        received.contains("over the limit of 3 prefixes"),
        "{received}"
    );
    // Bob's block is still bob's on the other members.
    assert_eq!(
        first_hop(&pbx[2], "+49305551").as_deref(),
        Some("sip:+49305551@bob.example")
    );
}

#[test]
fn federated_exchanges_in_a_triangle_do_not_loop_and_converge_on_withdrawal() {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let itads = [ALICE, BOB, CAROL];
    let names = ["a", "b", "c"];
    let nodes: Vec<Node> = (0..3)
        .map(|i| {
            let mut extra = String::new();
            for j in 0..3 {
                if i != j {
                    // Each pair has one dialling side.
                    let dial: &[u16] = if i < j { &ports[j..=j] } else { &[] };
                    extra.push_str(&peer(names[j], itads[j], dial, ""));
                }
            }
            Node::start_as(itads[i], ports[i], &extra)
        })
        .collect();
    nodes[0]
        .cli(&["announce", "+1555", "--via", "sip:{e164}@a.example"])
        .ok();
    for n in &nodes[1..] {
        wait_hop(n, "+15550000", Some("sip:+15550000@a.example"));
    }
    // The direct path wins; the path through the third exchange is an
    // alternate; a's own route never comes back to it.
    for (i, n) in nodes.iter().enumerate().skip(1) {
        assert_eq!(best_path(n, "+15550000"), [u64::from(ALICE)], "node {i}");
    }
    let at_a = nodes[0]
        .cli(&["routes", "+1555", "--exact", "--json"])
        .json();
    assert_eq!(at_a.as_array().unwrap().len(), 1, "{at_a}");
    wait_until("b's alternate through c", WAIT, || {
        let r = nodes[1]
            .cli(&["routes", "+1555", "--exact", "--json"])
            .json();
        r.as_array().is_some_and(|a| {
            a.iter()
                .any(|r| r["path"] == serde_json::json!([CAROL, ALICE]))
        })
    });
    nodes[0].cli(&["withdraw", "+1555"]).ok();
    for n in &nodes {
        wait_until("the withdrawal everywhere", WAIT, || {
            n.cli(&["routes", "--json"])
                .json()
                .as_array()
                .is_some_and(|a| a.is_empty())
        });
    }
}

#[test]
fn a_peer_from_an_unlisted_network_is_refused_before_open() {
    let (pa, pb) = (free_port(), free_port());
    let a = Node::start_as(
        ALICE,
        pa,
        &peer("bob", BOB, &[], "sources = [\"192.0.2.0/24\"]"),
    );
    let _b = Node::start_as(BOB, pb, &peer("alice", ALICE, &[pa], ""));
    wait_until("a refused stream", WAIT, || {
        http_get(a.spec.http, "/metrics").is_ok_and(|(_, body)| {
            body.contains("trunkline_peering_refused_total{reason=\"source\"}")
        })
    });
    let n = neighbor(&a, "bob");
    assert_eq!(n["state"], "idle");
}

#[test]
fn a_peer_over_its_limit_is_closed_with_a_notification() {
    let (pa, pb) = (free_port(), free_port());
    let a = Node::start_as(ALICE, pa, &peer("bob", BOB, &[pb], "max_prefixes = 1"));
    let b = Node::start_as(
        BOB,
        pb,
        &format!(
            "{}{}{}",
            route("+4930", "sip:x@bob.example"),
            route("+4940", "sip:x@bob.example"),
            peer("alice", ALICE, &[], "")
        ),
    );
    wait_until("bob's session closed for max prefixes", WAIT, || {
        let n = neighbor(&b, "alice");
        n["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("max-prefixes"))
    });
    let n = neighbor(&a, "bob");
    assert_ne!(n["accepted"], 2);
}

#[test]
fn killing_the_node_holding_a_session_moves_it_and_keeps_the_routes() {
    let pbx_port = free_port();
    let mut ex = Cluster::start_as(3, EXCHANGE, "");
    let pbx = Node::start_as(
        ALICE,
        pbx_port,
        &format!(
            "{}{}",
            route("+1555123", "sip:{e164}@alice.example"),
            peer("exchange", EXCHANGE, &[], "transparent = true")
        ),
    );
    let address = format!("http://127.0.0.1:{pbx_port}");
    add_member(
        &ex.nodes[0],
        "alice",
        ALICE,
        "+1555123",
        &["--address", &address],
    );
    for n in &ex.nodes {
        wait_hop(n, "+15551234567", Some("sip:+15551234567@alice.example"));
    }
    let h = holder(&ex, "alice");
    let holder_id = ex.nodes[h].spec.id;
    ex.nodes[h].kill9();
    // Through the gap, lookups on the others never go empty.
    let survivors: Vec<usize> = (0..3).filter(|i| *i != h).collect();
    wait_until(
        "the session to move to another node",
        Duration::from_secs(30),
        || {
            for &i in &survivors {
                assert_eq!(
                    first_hop(&ex.nodes[i], "+15551234567").as_deref(),
                    Some("sip:+15551234567@alice.example"),
                    "the route stays while the session moves"
                );
            }
            let n = neighbor(&ex.nodes[survivors[0]], "alice");
            n["state"] == "established" && n["session_node"] != holder_id && n["stale"] == 0
        },
    );
    let _ = pbx;
}

#[test]
fn two_exchanges_federate_and_their_members_reach_each_other() {
    let (pa, pb, py) = (free_port(), free_port(), free_port());
    let x = Cluster::start_as(3, EXCHANGE, "");
    let x_ports: Vec<u16> = x.nodes.iter().map(|n| n.spec.grpc).collect();
    const Y: u32 = 4_200_000_901;
    // Y: one node, its member bob, and exchange X as a peer (X dials).
    let y = Node::start_as(
        Y,
        py,
        &format!(
            "[[peer]]\nname = \"bob\"\nitad = {BOB}\nrole = \"member\"\nallowed = [\"+4930\"]\nroute_server = true\n{}",
            peer("x", EXCHANGE, &[], "")
        ),
    );
    let member = |itad: u32, port: u16, block: &str, name: &str, dial: &[u16]| {
        let mut extra = route(block, &format!("sip:{{e164}}@{name}.example"));
        extra.push_str(&peer("exchange", itad, dial, "transparent = true"));
        Node::start_as(if name == "alice" { ALICE } else { BOB }, port, &extra)
    };
    let alice = member(EXCHANGE, pa, "+1555123", "alice", &x_ports);
    let bob = member(Y, pb, "+4930", "bob", &[py]);
    let x0 = &x.nodes[0];
    add_member(x0, "alice", ALICE, "+1555123", &["--route-server"]);
    x0.cli(&[
        "neighbor",
        "add",
        "y",
        "--itad",
        &Y.to_string(),
        "--address",
        &format!("http://127.0.0.1:{py}"),
        "--import-all",
        "--export-all",
    ])
    .ok();
    wait_hop(&bob, "+15551234567", Some("sip:+15551234567@alice.example"));
    wait_hop(&alice, "+493012", Some("sip:+493012@bob.example"));
    // Each exchange passes its member's route on, prepending itself
    // towards the other exchange but not towards its own members.
    assert_eq!(
        best_path(&bob, "+15551234567"),
        [u64::from(EXCHANGE), u64::from(ALICE)]
    );
    assert_eq!(best_path(&alice, "+493012"), [u64::from(Y), u64::from(BOB)]);
    for n in &x.nodes {
        assert_eq!(best_path(n, "+493012"), [u64::from(Y), u64::from(BOB)]);
    }
    let _ = y;
}

#[test]
fn both_sides_dialling_settle_on_one_session() {
    let (pa, pb) = (free_port(), free_port());
    let a = Node::start_as(ALICE, pa, &peer("bob", BOB, &[pb], ""));
    let b = Node::start_as(
        BOB,
        pb,
        &format!(
            "{}{}",
            route("+4930", "sip:x@bob.example"),
            peer("alice", ALICE, &[pa], "")
        ),
    );
    wait_hop(&a, "+493012", Some("sip:x@bob.example"));
    let epoch = |n: &Node, peer: &str| {
        let j = neighbor(n, peer);
        (
            j["state"].as_str().unwrap_or_default().to_owned(),
            j["epoch"].as_u64(),
        )
    };
    let before = (epoch(&a, "bob"), epoch(&b, "alice"));
    std::thread::sleep(Duration::from_secs(3));
    let after = (epoch(&a, "bob"), epoch(&b, "alice"));
    assert_eq!(before, after, "the session flapped");
    assert_eq!(after.0.0, "established");
    assert_eq!(after.1.0, "established");
    // An operator reset brings it back; a refresh keeps it.
    a.cli(&["neighbor", "refresh", "bob"]).ok();
    a.cli(&["neighbor", "reset", "bob"]).ok();
    wait_until("the session back after a reset", WAIT, || {
        let (state, e) = epoch(&a, "bob");
        state == "established" && e != (before.0).1
    });
    wait_hop(&a, "+493012", Some("sip:x@bob.example"));
}

#[test]
fn routes_of_a_peer_gone_with_its_node_are_swept_after_the_restart_time() {
    let settings = "[peering]\nrestart_secs = 2\n";
    let mut ex = Cluster::start_as(3, EXCHANGE, settings);
    let ex_ports: Vec<u16> = ex.nodes.iter().map(|n| n.spec.grpc).collect();
    let mut pbx = Node::start_as(
        ALICE,
        free_port(),
        &format!(
            "{settings}{}{}",
            route("+1555123", "sip:{e164}@alice.example"),
            peer("exchange", EXCHANGE, &ex_ports, "transparent = true")
        ),
    );
    add_member(&ex.nodes[0], "alice", ALICE, "+1555123", &[]);
    for n in &ex.nodes {
        wait_hop(n, "+15551234567", Some("sip:+15551234567@alice.example"));
    }
    let h = holder(&ex, "alice");
    // The PBX and the node holding its session die together: nobody is
    // left to close the session, so the leader does, then sweeps.
    pbx.kill9();
    ex.nodes[h].kill9();
    let survivor = &ex.nodes[(h + 1) % 3];
    wait_hop(survivor, "+15551234567", None);
}
