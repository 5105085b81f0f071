//! `trunkline authority` on local files: keys, a delegation, an
//! authorisation and a revocation list, verified by `show`; a changed
//! byte is refused.

use crate::harness::cli;

#[test]
fn keys_and_statements_are_made_signed_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).display().to_string();
    let ta = cli(&["--json", "authority", "keygen", "--out", &p("ta")]).json();
    cli(&["authority", "keygen", "--out", &p("club")]).ok();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(p("ta.key")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(ta["public_key"].as_str().unwrap().len(), 64);
    cli(&[
        "authority",
        "delegate",
        "--key",
        &p("ta.key"),
        "--to",
        &p("club.pub"),
        "--block",
        "+1555",
        "--may-delegate",
        "--name",
        "Club",
        "--out",
        &p("club.tla"),
    ])
    .ok();
    let a = cli(&[
        "--json",
        "authority",
        "sign",
        "--key",
        &p("club.key"),
        "--origin",
        "4200000123",
        "--prefix",
        "+15551230000..+15551234999",
        "--days",
        "90",
        "--out",
        &p("a.tla"),
    ])
    .json();
    let shown = cli(&["--json", "authority", "show", &p("a.tla")]).json();
    assert_eq!(shown["id"], a["id"]);
    assert!(
        shown["statement"]
            .as_str()
            .unwrap()
            .contains("+15551234 (up to 8 digits)"),
        "{shown}"
    );
    let club = std::fs::read_to_string(p("club.pub")).unwrap();
    assert_eq!(shown["signer"].as_str().unwrap(), club.trim());
    let id = a["id"].as_str().unwrap();
    cli(&[
        "authority",
        "revoke",
        "--key",
        &p("club.key"),
        "--id",
        id,
        "--number",
        "1",
        "--days",
        "7",
        "--out",
        &p("rev.tla"),
    ])
    .ok();
    assert!(
        cli(&["authority", "show", &p("rev.tla")])
            .ok()
            .contains("1 revoked")
    );
    // Statements are never overwritten, and a changed byte is refused.
    let again = cli(&[
        "authority",
        "sign",
        "--key",
        &p("club.key"),
        "--origin",
        "1",
        "--prefix",
        "+1555",
        "--out",
        &p("a.tla"),
    ]);
    assert_eq!(again.code, 2, "{again:?}");
    let mut bytes = std::fs::read(p("a.tla")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(p("forged.tla"), bytes).unwrap();
    let forged = cli(&["authority", "show", &p("forged.tla")]);
    assert_eq!(forged.code, 2, "{forged:?}");
    assert!(forged.stderr.contains("signature"), "{}", forged.stderr);
}
