//! `trunkline pki`: a private CA and the certificates of nodes, peers and
//! clients, checked with OpenSSL (Debian's `openssl`, installed by the
//! test script): they verify against the CA and carry the identity URI.

use std::process::Command;

use crate::harness::cli;

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed (scripts/test installs it)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn a_private_ca_issues_identities_openssl_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).display().to_string();
    cli(&["pki", "init", "--dir", &p("ca"), "--name", "Club CA"]).ok();
    cli(&[
        "pki",
        "issue",
        "node",
        "--id",
        "3",
        "--dir",
        &p("ca"),
        "--out",
        &p("n3"),
        "--host",
        "127.0.0.1",
        "--host",
        "node3.club.example",
    ])
    .ok();
    cli(&[
        "pki",
        "issue",
        "peer",
        "--itad",
        "4200000101",
        "--name",
        "alice",
        "--dir",
        &p("ca"),
        "--out",
        &p("alice"),
    ])
    .ok();
    let j = cli(&[
        "--json",
        "pki",
        "issue",
        "client",
        "--role",
        "write",
        "--name",
        "ops",
        "--dir",
        &p("ca"),
        "--out",
        &p("ops"),
    ])
    .json();
    assert_eq!(j["identity"], "trunkline:client:write:ops");

    for (cert, uri, eku) in [
        (
            "n3",
            "URI:trunkline:node:3",
            "TLS Web Server Authentication",
        ),
        (
            "alice",
            "URI:trunkline:peer:4200000101:alice",
            "TLS Web Client Authentication",
        ),
        (
            "ops",
            "URI:trunkline:client:write:ops",
            "TLS Web Client Authentication",
        ),
    ] {
        let (ok, text) = openssl(&[
            "verify",
            "-CAfile",
            &p("ca/ca.crt"),
            &p(&format!("{cert}.crt")),
        ]);
        assert!(ok, "{cert}: {text}");
        let (ok, text) = openssl(&[
            "x509",
            "-in",
            &p(&format!("{cert}.crt")),
            "-noout",
            "-ext",
            "subjectAltName,extendedKeyUsage",
        ]);
        assert!(
            ok && text.contains(uri) && text.contains(eku),
            "{cert}: {text}"
        );
        // The key matches the certificate, and only its owner can read it.
        let (ok, text) = openssl(&["pkey", "-in", &p(&format!("{cert}.key")), "-noout"]);
        assert!(ok, "{cert}.key: {text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(p(&format!("{cert}.key")))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{cert}.key");
        }
    }
    let (_, text) = openssl(&[
        "x509",
        "-in",
        &p("n3.crt"),
        "-noout",
        "-ext",
        "subjectAltName",
    ]);
    assert!(
        text.contains("IP Address:127.0.0.1") && text.contains("DNS:node3.club.example"),
        "{text}"
    );

    // A CA is never overwritten, and a certificate from another CA does
    // not verify against this one.
    let again = cli(&["pki", "init", "--dir", &p("ca")]);
    assert_eq!(again.code, 2, "{again:?}");
    assert!(again.stderr.contains("not replacing"), "{}", again.stderr);
    cli(&["pki", "init", "--dir", &p("other")]).ok();
    let (ok, _) = openssl(&["verify", "-CAfile", &p("other/ca.crt"), &p("n3.crt")]);
    assert!(
        !ok,
        "a certificate verified against a CA that did not sign it"
    );

    // Bad input says what is wrong.
    let bad = cli(&[
        "pki",
        "issue",
        "client",
        "--role",
        "root",
        "--name",
        "x",
        "--dir",
        &p("ca"),
        "--out",
        &p("x"),
    ]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("read, write or admin"),
        "{}",
        bad.stderr
    );
    let bad = cli(&[
        "pki",
        "issue",
        "node",
        "--id",
        "1",
        "--dir",
        &p("nowhere"),
        "--out",
        &p("y"),
    ]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("pki init"), "{}", bad.stderr);
}
