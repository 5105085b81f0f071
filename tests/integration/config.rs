//! Config files: validation, errors that name the field, config routes.

use crate::harness::{Node, bin};

fn check(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.toml");
    std::fs::write(&f, text).unwrap();
    let out = std::process::Command::new(bin("trunklined"))
        .arg("check-config")
        .arg(&f)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn check_config_accepts_good_files_and_names_bad_fields() {
    let (code, out, _) = check(
        "[node]\nid = 3\nitad = 4200000009\n[[route]]\nprefix = \"+1555123XXXX\"\nvia = [\"sip:a@b\"]\n",
    );
    assert_eq!(code, 0);
    assert!(out.contains("ok"), "{out}");
    let (code, _, err) = check("[node]\nid = 3\nitad = 4200000009\nport = 5\n");
    assert_eq!(code, 2);
    assert!(err.contains("unknown field `port`"), "{err}");
    let (code, _, err) = check(
        "[node]\nid = 3\nitad = 4200000009\n[[route]]\nprefix = \"+1ab\"\nvia = [\"sip:a@b\"]\n",
    );
    assert_eq!(code, 2);
    assert!(err.contains("route[0].prefix: letter 'a'"), "{err}");

    // Configs that would load and then misbehave: a level tracing would
    // read as a module name (logging nothing), a joining node with members
    // (waiting forever).
    let (code, _, err) = check("[node]\nid = 3\nitad = 4200000009\n[log]\nlevel = \"loud\"\n");
    assert_eq!(code, 2);
    assert!(err.contains("log.level: \"loud\" names no level"), "{err}");
    let (code, _, err) = check(
        "[node]\nid = 3\nitad = 4200000009\n[cluster]\njoin = true\nmembers = [{ id = 1, addr = \"http://10.0.0.1:50051\" }]\n",
    );
    assert_eq!(code, 2);
    assert!(err.contains("cluster.join:"), "{err}");
    // A peer that will exchange nothing is valid, with a warning.
    let (code, out, _) =
        check("[node]\nid = 3\nitad = 4200000009\n[[peer]]\nname = \"bob\"\nitad = 4200000202\n");
    assert_eq!(code, 0);
    assert!(
        out.contains("1 peer)") && out.contains("warning: peer bob: no import policy"),
        "{out}"
    );

    let missing = std::process::Command::new(bin("trunklined"))
        .args(["--config", "/nonexistent/trunkline.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn config_routes_are_originated_and_follow_the_file() {
    let routes = "[[route]]\nprefix = \"+1555123XXXX\"\nvia = [\"sip:{e164}@pbx\"]\n[[route]]\nprefix = \"+4930\"\nnext_hops = [{ uri = \"sip:b@x\", priority = 5 }]\n";
    let mut node = Node::start_with(routes, "");
    let j = node.cli(&["lookup", "+15551230001", "--json"]).json();
    assert_eq!(j["routes"][0]["source"], "config@1");
    assert_eq!(j["next_hops"][0]["uri"], "sip:+15551230001@pbx");
    // An API route for the same prefix competes with the config one.
    node.cli(&[
        "announce",
        "+4930",
        "--via",
        "sip:api@x",
        "--local-pref",
        "200",
    ])
    .ok();
    let j = node.cli(&["explain", "+493099", "--json"]).json();
    assert_eq!(j["candidates"][0]["route"]["source"], "api");
    assert_eq!(j["candidates"][1]["lost_at"], "local-pref");

    // Remove a route from the file and restart: it is withdrawn.
    node.terminate();
    node.spec.extra = "[[route]]\nprefix = \"+4930\"\nvia = [\"sip:b@x\"]\n".into();
    node.restart();
    assert_eq!(node.cli(&["lookup", "+15551230001"]).code, 3);
    let j = node.cli(&["routes", "+4930", "--exact", "--json"]).json();
    assert_eq!(j.as_array().unwrap().len(), 2, "{j}");
}

/// Every config file shipped under deploy/ passes check-config, so the
/// examples a newcomer copies are known to load.
#[test]
fn shipped_configs_are_valid() {
    fn tomls(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                tomls(&p, out);
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
    }
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let mut files = Vec::new();
    tomls(&deploy, &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("pbx/trunkline.toml")),
        "{files:?}"
    );
    for f in files {
        let out = std::process::Command::new(bin("trunklined"))
            .arg("check-config")
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
