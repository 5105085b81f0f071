//! The PEM files a channel is configured with, read and checked.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// The certificate, key and CA files of one channel.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// This node's certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA the other side's certificate must be signed by. For the
    /// API: optional, and when given, clients may present certificates
    /// as identities. For peering and node to node: required.
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

/// A file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {why}")]
    File { path: PathBuf, why: String },
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
    #[error("{0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn file_error(path: &Path, why: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        why: why.to_string(),
    }
}

/// The process's one crypto provider: ring (no OpenSSL).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "no PEM certificate in it"));
    }
    Ok(certs)
}

pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_error(path, e))
}

pub fn load_roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in load_chain(path)? {
        roots.add(c).map_err(|e| file_error(path, e))?;
    }
    Ok(Arc::new(roots))
}

/// The files one side of a channel presents and trusts, read now.
#[derive(Debug)]
pub struct Loaded {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub roots: Option<Arc<RootCertStore>>,
}

impl TlsSection {
    pub fn load(&self) -> Result<Loaded, TlsError> {
        let chain = load_chain(&self.cert)?;
        let key = load_key(&self.key)?;
        let roots = self.ca.as_deref().map(load_roots).transpose()?;
        Ok(Loaded { chain, key, roots })
    }

    /// When any of its files last changed, to notice rotation.
    pub fn stamp(&self) -> Vec<Option<std::time::SystemTime>> {
        [Some(&self.cert), Some(&self.key), self.ca.as_ref()]
            .into_iter()
            .flatten()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }
}

impl TlsSection {
    /// The CA that checks the other side, which this channel requires.
    pub fn required_ca(&self) -> Result<&Path, TlsError> {
        self.ca.as_deref().ok_or_else(|| {
            file_error(
                &self.cert,
                "a CA file (ca = ...) is needed to check the other side",
            )
        })
    }
}

/// What a channel builds from its files, built again when they change:
/// connections made after a reload get the new one, those already up
/// keep theirs. A build that fails keeps the old one.
#[derive(Debug)]
pub struct Watched<T> {
    section: TlsSection,
    current: ArcSwap<T>,
    stamp: Mutex<Vec<Option<std::time::SystemTime>>>,
}

impl<T> Watched<T> {
    pub fn new(
        section: TlsSection,
        build: impl Fn(&TlsSection) -> Result<Arc<T>, TlsError>,
    ) -> Result<Watched<T>, TlsError> {
        let stamp = section.stamp();
        let current = ArcSwap::new(build(&section)?);
        Ok(Watched {
            section,
            current,
            stamp: Mutex::new(stamp),
        })
    }

    pub fn load(&self) -> Arc<T> {
        self.current.load_full()
    }

    /// Builds again if a file changed since the last build (or `force`);
    /// Ok(true) when new connections now get new files.
    pub fn reload(
        &self,
        force: bool,
        build: impl Fn(&TlsSection) -> Result<Arc<T>, TlsError>,
    ) -> Result<bool, TlsError> {
        let now = self.section.stamp();
        if !force && *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) == now {
            return Ok(false);
        }
        self.current.store(build(&self.section)?);
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = now;
        Ok(true)
    }

    pub fn files(&self) -> &TlsSection {
        &self.section
    }
}
