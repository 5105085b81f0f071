//! Part of the harness: a throwaway CA per test, made with the real
//! `trunkline pki`, and the TOML that points a node at its certificates.

use std::path::{Path, PathBuf};

use crate::harness::cli;

#[derive(Debug)]
pub struct TestCa {
    pub dir: tempfile::TempDir,
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        cli(&[
            "pki",
            "init",
            "--dir",
            &dir.path().join("ca").display().to_string(),
        ])
        .ok();
        TestCa { dir }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca").join("ca.crt")
    }

    /// The CA's key.
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("ca").join("ca.key")
    }

    /// Issues a certificate (`kind`: node, peer or client, with its own
    /// arguments); returns the path without extension.
    pub fn issue(&self, kind: &str, args: &[&str], out: &str) -> PathBuf {
        let out = self.dir.path().join(out);
        let ca = self.dir.path().join("ca");
        let mut full = vec!["pki", "issue", kind];
        full.extend(args);
        let (ca, o) = (ca.display().to_string(), out.display().to_string());
        full.extend(["--dir", &ca, "--out", &o, "--host", "127.0.0.1"]);
        cli(&full).ok();
        out
    }

    pub fn node(&self, id: u64) -> PathBuf {
        let name = format!("node{id}");
        if !self.dir.path().join(format!("{name}.crt")).exists() {
            self.issue("node", &["--id", &id.to_string()], &name);
        }
        self.dir.path().join(name)
    }

    pub fn peer(&self, itad: u32, name: &str) -> PathBuf {
        let out = format!("peer-{itad}-{name}");
        self.issue("peer", &["--itad", &itad.to_string(), "--name", name], &out)
    }

    /// A TOML table naming `base`.crt and `base`.key and this CA.
    pub fn table(&self, table: &str, base: &Path) -> String {
        format!(
            "[{table}]\ncert = \"{b}.crt\"\nkey = \"{b}.key\"\nca = \"{}\"\n",
            self.ca().display(),
            b = base.display()
        )
    }

    /// `[cluster.tls]` for node `id`.
    pub fn cluster_tls(&self, id: u64) -> String {
        self.table("cluster.tls", &self.node(id))
    }
}
