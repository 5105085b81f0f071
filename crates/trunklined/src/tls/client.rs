//! The dialling side: endpoints that present this node's certificate and
//! accept the other side only if its certificate is signed by the
//! channel's CA and names the node or peer being dialled. Host names play
//! no part: a member's or peer's address may be an IP, a tunnel, a NAT.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tonic::transport::{ClientTlsConfig, Endpoint};

use super::files::{TlsError, TlsSection, Watched, load_roots, provider};
use super::identity::Identity;

/// What a dialler presents and trusts, read from its files.
#[derive(Debug)]
struct Parts {
    identity: tonic::transport::Identity,
    roots: Arc<RootCertStore>,
}

/// The client half of a channel's TLS, reloadable like the server's.
#[derive(Debug)]
pub struct Dialer {
    /// The server name dialled, which tells the public port a peer from a
    /// client (see [`super::server::PEERING_SNI`]).
    sni: &'static str,
    parts: Watched<Parts>,
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        path: path.to_owned(),
        why: e.to_string(),
    })
}

fn parts(section: &TlsSection) -> Result<Arc<Parts>, TlsError> {
    // Parse now, so a broken file fails here rather than at a dial.
    super::files::load_chain(&section.cert)?;
    super::files::load_key(&section.key)?;
    let ca = section.required_ca()?;
    Ok(Arc::new(Parts {
        identity: tonic::transport::Identity::from_pem(read(&section.cert)?, read(&section.key)?),
        roots: load_roots(ca)?,
    }))
}

impl Dialer {
    pub fn new(section: TlsSection, sni: &'static str) -> Result<Dialer, TlsError> {
        Ok(Dialer {
            sni,
            parts: Watched::new(section, parts)?,
        })
    }

    /// See [`Watched::reload`].
    pub fn reload(&self, force: bool) -> Result<bool, TlsError> {
        self.parts.reload(force, parts)
    }

    pub fn files(&self) -> &TlsSection {
        self.parts.files()
    }

    /// `endpoint` (an `https://` address), presenting this node's
    /// certificate and accepting only `expect`.
    pub fn secure(
        &self,
        endpoint: Endpoint,
        expect: Identity,
    ) -> Result<Endpoint, tonic::transport::Error> {
        let parts = self.parts.load();
        let config = ClientTlsConfig::new()
            .identity(parts.identity.clone())
            .domain_name(self.sni);
        endpoint.tls_config_with_verifier(
            config,
            Arc::new(Expect {
                roots: parts.roots.clone(),
                expect,
                provider: provider(),
            }),
        )
    }
}

/// Accepts a server certificate signed by `roots` whose identity is
/// `expect`.
#[derive(Debug)]
struct Expect {
    roots: Arc<RootCertStore>,
    expect: Identity,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Expect {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        let found = Identity::of(end_entity).map_err(rustls::Error::General)?;
        if found != self.expect {
            return Err(rustls::Error::General(format!(
                "the certificate is {found}, not {}",
                self.expect
            )));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
