//! The Debian package: built by `scripts/deb` with cargo-deb (from the
//! binaries the suite built), installed with `dpkg -i`, its unit verified
//! where it was installed, and its daemon started from the installed files
//! as systemd would start it; then purged.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::http_get;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Purges the package and stops the daemon, however the test ends.
struct Installed(Option<Child>);

impl Drop for Installed {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("dpkg").args(["--purge", "trunkline"]).output();
    }
}

#[test]
fn the_debian_package_installs_and_its_daemon_runs_from_the_installed_files() {
    // Packages the debug binaries already built (building here would
    // replace them under the other tests' feet).
    run(Command::new(root().join("scripts/deb")).args(["--profile", "dev", "--no-build"]));
    let deb = root().join(format!(
        "target/debian/trunkline_{}-1_amd64.deb",
        env!("CARGO_PKG_VERSION")
    ));
    let info = run(Command::new("dpkg-deb").arg("--info").arg(&deb));
    assert!(
        info.contains("Package: trunkline") && info.contains("Depends: libc6"),
        "{info}"
    );

    let mut installed = Installed(None);
    run(Command::new("dpkg").arg("--install").arg(&deb));
    let status = run(Command::new("dpkg").args(["--status", "trunkline"]));
    assert!(status.contains("Status: install ok installed"), "{status}");
    for f in [
        "/usr/bin/trunklined",
        "/usr/bin/trunkline",
        "/etc/trunkline/trunkline.toml",
        "/usr/lib/systemd/system/trunklined.service",
        "/usr/share/bash-completion/completions/trunkline",
        "/usr/share/zsh/vendor-completions/_trunkline",
        "/usr/share/fish/vendor_completions.d/trunkline.fish",
        "/usr/share/doc/trunkline/examples/dns-port-53.conf",
        "/usr/share/doc/trunkline/examples/kamailio.cfg",
        "/usr/share/doc/trunkline/examples/asterisk/extensions.conf",
    ] {
        assert!(Path::new(f).exists(), "{f} is installed");
    }
    let conffiles = run(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", "trunkline"]));
    assert!(
        conffiles.contains("/etc/trunkline/trunkline.toml"),
        "{conffiles}"
    );
    let page = run(Command::new("man").args(["-w", "trunkline-lookup"]));
    assert!(
        page.starts_with("/usr/share/man/man1/trunkline-lookup.1"),
        "{page}"
    );
    // The unit where the package put it, naming the binary it installed.
    run(Command::new("systemd-analyze").args([
        "verify",
        "--man=no",
        "/usr/lib/systemd/system/trunklined.service",
    ]));
    run(Command::new("/usr/bin/trunklined").args(["check-config", "/etc/trunkline/trunkline.toml"]));

    // Started as the unit starts it: its config, its state directory.
    let state = tempfile::tempdir().unwrap();
    let log = state.path().join("log");
    installed.0 = Some(
        Command::new("/usr/bin/trunklined")
            .args(["--config", "/etc/trunkline/trunkline.toml"])
            .env("STATE_DIRECTORY", state.path())
            .current_dir(state.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !http_get(9180, "/readyz").is_ok_and(|(code, _)| code == 200) {
        let exited = installed.0.as_mut().unwrap().try_wait().unwrap();
        if exited.is_some() || std::time::Instant::now() > deadline {
            panic!(
                "the installed node is not ready ({exited:?}); its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let token = state.path().join("admin.token");
    assert!(token.exists(), "its credential is in the state directory");
    let tl = |args: &[&str]| {
        let mut c = Command::new("/usr/bin/trunkline");
        c.arg("--token-file").arg(&token).args(args);
        run(&mut c)
    };
    tl(&[
        "announce",
        "+1555123XXXX",
        "--via",
        "sip:{e164}@pbx.example",
    ]);
    let found = tl(&["lookup", "+15551234567"]);
    assert!(found.contains("sip:+15551234567@pbx.example"), "{found}");
}
