use super::*;

fn err(text: &str) -> String {
    Config::from_toml(text).unwrap_err().to_string()
}

#[test]
fn the_embedded_default_is_valid() {
    let l = Config::from_toml(DEFAULT_CONFIG).unwrap();
    assert!(l.config.itad_is_private());
    assert_eq!(l.config.api.listen.to_string(), "127.0.0.1:50051");
    assert_eq!(l.config.http_listen().to_string(), "127.0.0.1:9180");
    assert_eq!(l.config.node.data_dir, PathBuf::from("./trunkline-data"));
    assert!(l.routes.is_empty());
}

#[test]
fn full_config() {
    let l = Config::from_toml(
        r#"
        [node]
        id = 2
        itad = 4200000001
        [[plan]]
        name = "npstn"
        max_digits = 7
        [[route]]
        prefix = "+1555123XXXX"
        via = ["sip:{e164}@pbx.example.org"]
        communities = ["4200000001:1:2"]
        [[route]]
        prefix = "npstn:5580000..npstn:5582999"
        next_hops = [{ uri = "iax2:club/{local}", priority = 5 }]
        local_pref = 200
        "#,
    )
    .unwrap();
    assert_eq!(l.routes.len(), 4);
    assert_eq!(l.plans.prefix_str(&l.routes[0].0), "+1555123");
    assert_eq!(l.routes[3].1.local_pref, 200);
    assert_eq!(l.routes[3].1.next_hops[0].weight, 100);
}

#[test]
fn errors_name_the_field() {
    assert!(
        err("[node]\nid = 1\nitad = 4200000000\nbogus = 1\n").contains("unknown field `bogus`")
    );
    assert!(err("[node]\nid = 1\n").contains("missing field `itad`"));
    assert!(err("[node]\nid = 0\nitad = 5\n").starts_with("node.id:"));
    assert!(err("[node]\nid = 1\nitad = 5\n[api]\nlisten = \"nowhere\"\n").contains("listen"));
    assert_eq!(
        err("[node]\nid = 1\nitad = 5\n[[route]]\nprefix = \"+1５\"\nvia = [\"sip:a@b\"]\n"),
        "route[0].prefix: '５' at position 3 is not an ASCII digit (only 0-9 are accepted)"
    );
    assert_eq!(
        err("[node]\nid = 1\nitad = 5\n[[route]]\nprefix = \"+1\"\nvia = [\"http://x\"]\n"),
        "route[0].via: next hop \"http://x\": scheme must be sip:, sips:, iax2: or tel:"
    );
    assert_eq!(
        err("[node]\nid = 1\nitad = 5\n[[route]]\nprefix = \"+1\"\n"),
        "route[0].next_hops: a route needs at least one next hop"
    );
    assert!(
        err("[node]\nid = 1\nitad = 5\n[[plan]]\nname = \"E164\"\nmax_digits = 3\n")
            .starts_with("plan:")
    );
    assert!(
        err("[node]\nid = 1\nitad = 5\n[raft]\nelection_ticks = 1\n")
            .starts_with("raft.election_ticks:")
    );
}

#[test]
fn cluster_members() {
    let base = "[node]\nid = 2\nitad = 4200000000\n";
    let l = Config::from_toml(&format!(
        "{base}[cluster]\nmembers = [{{ id = 1, addr = \"http://127.0.0.1:1\" }}, {{ id = 2, addr = \"http://127.0.0.1:2\" }}]\n"
    ))
    .unwrap();
    assert_eq!(l.config.initial_voters(), [1, 2]);
    let err = Config::from_toml(&format!(
        "{base}[cluster]\nmembers = [{{ id = 1, addr = \"http://a:1\" }}]\n"
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cluster.members: must include this node (id 2)"
    );
    let err = Config::from_toml(&format!(
        "{base}[cluster]\nmembers = [{{ id = 2, addr = \"10.0.0.1:5\" }}]\n"
    ))
    .unwrap_err();
    assert!(
        err.to_string().starts_with("cluster.members[0].addr:"),
        "{err}"
    );
    let l = Config::from_toml(&format!("{base}[cluster]\njoin = true\n")).unwrap();
    assert!(l.config.initial_voters().is_empty());
    assert_eq!(
        Config::from_toml(base).unwrap().config.initial_voters(),
        [2]
    );
}

/// Configs that would load and then misbehave are refused, naming the
/// field: a log level that is no level (tracing reads `loud` as a module
/// name and logs nothing), and a joining node that also lists members (it
/// would wait forever).
#[test]
fn configs_that_would_misbehave_are_refused() {
    let base = "[node]\nid = 2\nitad = 4200000000\n";
    let e = err(&format!("{base}[log]\nlevel = \"loud\"\n"));
    assert!(e.starts_with("log.level: \"loud\" names no level"), "{e}");
    let e = err(&format!("{base}[log]\nlevel = \"trunklined=loud\"\n"));
    assert!(e.starts_with("log.level:"), "{e}");
    for ok in ["info", "trunklined=debug,warn", "raft=trace,info", "OFF"] {
        Config::from_toml(&format!("{base}[log]\nlevel = \"{ok}\"\n")).unwrap();
    }
    let e = err(&format!(
        "{base}[cluster]\njoin = true\nmembers = [{{ id = 2, addr = \"http://127.0.0.1:2\" }}]\n"
    ));
    assert!(e.starts_with("cluster.join:"), "{e}");
}

/// A node's own address: its `members` entry, `advertise`, or its
/// `[cluster] listen` when that is a specific address; HTTP and the
/// node-to-node listener sit beside gRPC.
#[test]
fn own_address_and_http_listener() {
    let base = "[node]\nid = 1\nitad = 4200000000\n";
    let l = Config::from_toml(&format!("{base}[api]\nlisten = \"127.0.0.2:50051\"\n")).unwrap();
    assert_eq!(
        l.config.advertise().as_deref(),
        Some("http://127.0.0.2:50052")
    );
    assert_eq!(l.config.http_listen().to_string(), "127.0.0.2:9180");
    assert_eq!(l.config.cluster_listen().to_string(), "127.0.0.2:50052");
    // A members entry at the public API's port: the old layout, named.
    let e = err(&format!(
        "{base}[cluster]\nmembers = [{{ id = 1, addr = \"http://127.0.0.1:50051\" }}]\n"
    ));
    assert!(
        e.starts_with("cluster.members:") && e.contains("[cluster] listen"),
        "{e}"
    );
    let open = "[api]\nlisten = \"0.0.0.0:50051\"\ninsecure = true\n[cluster]\ninsecure = true\n";
    let l = Config::from_toml(&format!("{base}{open}")).unwrap();
    assert_eq!(l.config.advertise(), None);
    let l = Config::from_toml(&format!(
        "{base}{open}advertise = \"http://10.0.0.1:50051\"\n"
    ))
    .unwrap();
    assert_eq!(
        l.config.advertise().as_deref(),
        Some("http://10.0.0.1:50051")
    );
    let e = err(&format!(
        "{base}[cluster]\nadvertise = \"http://10.0.0.9:1\"\nmembers = [{{ id = 1, addr = \"http://10.0.0.1:1\" }}]\n"
    ));
    assert!(e.starts_with("cluster.advertise:"), "{e}");
}

/// The embedded default stays plaintext on loopback; anywhere else,
/// plaintext must be asked for in words, and a secured channel must have
/// what it needs.
#[test]
fn plaintext_off_loopback_is_asked_for_in_words() {
    let base = "[node]\nid = 1\nitad = 4200000000\n";
    let e = err(&format!("{base}[api]\nlisten = \"0.0.0.0:50051\"\n"));
    assert!(
        e.starts_with("api.tls:") && e.contains("insecure = true"),
        "{e}"
    );
    let e = err(&format!(
        "{base}[api]\nlisten = \"0.0.0.0:50051\"\ninsecure = true\n"
    ));
    assert!(
        e.starts_with("cluster.tls:") && e.contains("insecure = true"),
        "{e}"
    );
    let e = err(&format!("{base}[cluster]\nlisten = \"10.0.0.1:50052\"\n"));
    assert!(e.starts_with("cluster.tls:"), "{e}");
    let tls = "cert = \"n.crt\"\nkey = \"n.key\"\n";
    let e = err(&format!("{base}[cluster.tls]\n{tls}"));
    assert!(e.starts_with("cluster.tls.ca:"), "{e}");
    let e = err(&format!(
        "{base}[cluster]\nmembers = [{{ id = 1, addr = \"http://127.0.0.1:2\" }}]\n[cluster.tls]\n{tls}ca = \"ca.crt\"\n"
    ));
    assert!(
        e.starts_with("cluster.members[0].addr:") && e.contains("https://"),
        "{e}"
    );
    let e = err(&format!(
        "{base}[api]\nlisten = \"10.0.0.1:50051\"\ninsecure = true\n[cluster]\nlisten = \"127.0.0.1:50052\"\n[peering.tls]\n{tls}ca = \"ca.crt\"\n"
    ));
    assert!(
        e.starts_with("peering.tls:") && e.contains("[api.tls]"),
        "{e}"
    );
    // On loopback, a node that only dials its peers (a member PBX node)
    // needs no [api.tls]: a stream arriving in plaintext is refused.
    Config::from_toml(&format!("{base}[peering.tls]\n{tls}ca = \"ca.crt\"\n")).unwrap();
    let e = err(&format!(
        "{base}[invites]\nca_cert = \"c\"\nca_key = \"k\"\n"
    ));
    assert!(e.starts_with("invites:") && e.contains("[api.tls]"), "{e}");
    let l = Config::from_toml(&format!(
        "{base}[api]\nlisten = \"0.0.0.0:50051\"\n[api.tls]\n{tls}[cluster.tls]\n{tls}ca = \"ca.crt\"\n"
    ))
    .unwrap();
    assert_eq!(l.config.advertise(), None);
    let l = Config::from_toml(&format!(
        "{base}[api]\nlisten = \"10.0.0.1:50051\"\n[api.tls]\n{tls}[cluster.tls]\n{tls}ca = \"ca.crt\"\n"
    ))
    .unwrap();
    assert_eq!(
        l.config.advertise().as_deref(),
        Some("https://10.0.0.1:50052")
    );
}
