//! What the CLI gives a shell and a terminal: completion scripts that the
//! shell loads, man pages that `man` renders, and colour only where it
//! belongs.

use std::process::Command;

use crate::harness::{Node, bin, cli, free_port};

#[test]
fn completions_load_in_bash_and_every_man_page_renders() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("trunkline.bash");
    std::fs::write(&script, cli(&["completions", "bash"]).ok()).unwrap();
    let loaded = Command::new("bash")
        .args(["-c", "source \"$0\" && complete -p trunkline"])
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        loaded.status.success() && String::from_utf8_lossy(&loaded.stdout).contains("trunkline"),
        "{loaded:?}"
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let s = cli(&["completions", shell]);
        assert!(s.ok().contains("neighbor"), "{shell}: {s:?}");
    }
    let bad = cli(&["completions", "tcsh"]);
    assert_eq!(bad.code, 2, "{bad:?}");

    let pages = dir.path().join("man");
    cli(&["man", "--out", pages.to_str().unwrap()]).ok();
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for page in [
        "trunkline.1",
        "trunkline-announce.1",
        "trunkline-neighbor-list.1",
    ] {
        assert!(names.iter().any(|n| n == page), "{page} in {names:?}");
    }
    for name in &names {
        let shown = Command::new("man")
            .arg("-l")
            .arg(pages.join(name))
            .env("MANWIDTH", "100")
            .output()
            .expect("man is installed (scripts/test installs man-db)");
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(
            shown.status.success() && text.contains("trunkline"),
            "{name}: {shown:?}"
        );
        if name == "trunkline-announce.1" {
            assert!(text.contains("--via"), "{text}");
        }
    }
}

/// `neighbor list` colours session states on a terminal (forced here
/// with CLICOLOR_FORCE, as the test's stdout is a pipe); never with
/// NO_COLOR, and never into a pipe by default.
#[test]
fn colour_only_when_asked_for_and_never_with_no_color() {
    let node = Node::start_with(
        &format!(
            "[[peer]]\nname = \"bob\"\nitad = 65002\naddresses = [\"http://127.0.0.1:{}\"]\n",
            free_port()
        ),
        "",
    );
    let list = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(bin("trunkline"));
        cmd.args(["--server", &node.server()]);
        if node.admin_token_file().exists() {
            cmd.arg("--token-file").arg(node.admin_token_file());
        }
        let out = cmd
            .args(["neighbor", "list"])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let plain = list(&[]);
    assert!(
        plain.contains("bob") && !plain.contains('\x1b'),
        "{plain:?}"
    );
    let coloured = list(&[("CLICOLOR_FORCE", "1")]);
    assert!(coloured.contains("\x1b[3"), "{coloured:?}");
    // Columns still line up: the codes take no width.
    let strip = |s: &str| {
        let mut out = String::new();
        let mut it = s.chars();
        while let Some(c) = it.next() {
            if c == '\x1b' {
                it.by_ref().find(char::is_ascii_alphabetic);
            } else {
                out.push(c);
            }
        }
        out
    };
    assert_eq!(strip(&coloured), plain);
    let no_color = list(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert_eq!(no_color, plain);
}
