//! Reaching the exchange an invite names, and knowing it is that one: the
//! invite pins the exchange's CA (a SHA-256 of its certificate), as
//! kubeadm's discovery token CA hash does. The CA is fetched over a TLS
//! connection that checks nothing yet (`Invites.Discover`: nothing secret
//! goes over it), compared with the pin, and only then used as the one
//! root the real connection, which carries the secret, is checked with.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::invites_client::InvitesClient;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts any server certificate, checking only that the server holds
/// its key: for fetching what is then checked against the pin.
#[derive(Debug)]
struct NotYet(Arc<CryptoProvider>);

impl ServerCertVerifier for NotYet {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `https://host:port` → (`host`, `host:port`).
fn split(address: &str) -> Result<(String, String), String> {
    let rest = address
        .strip_prefix("https://")
        .ok_or_else(|| format!("{address:?} is not an https:// address"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => authority,
    };
    Ok((host.to_owned(), authority.to_owned()))
}

/// The CA certificate (PEM) the exchange at `address` says it signs with,
/// over a connection that checks nothing: compare it with the pin.
pub async fn discover(address: &str) -> Result<String, String> {
    let (host, authority) = split(address)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NotYet(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(host.clone()).map_err(|e| format!("{host:?}: {e}"))?;
    let target = authority.clone();
    let channel = Endpoint::from_shared(format!("http://{authority}"))
        .map_err(|e| e.to_string())?
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .connect_with_connector(tower::service_fn(move |_| {
            let (connector, name, target) = (connector.clone(), name.clone(), target.clone());
            async move {
                let tcp = tokio::net::TcpStream::connect(&target).await?;
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
        .map_err(|e| crate::source_chain(&e))?;
    let r = InvitesClient::new(channel)
        .discover(pb::DiscoverRequest {})
        .await
        .map_err(|s| s.message().to_owned())?;
    Ok(r.into_inner().ca_certificate)
}

/// SHA-256 of the first certificate in `pem` (its DER).
pub fn fingerprint(pem: &str) -> Result<[u8; 32], String> {
    let der = CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or("no certificate in it")?
        .map_err(|e| e.to_string())?;
    let d = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
    Ok(d.as_ref().try_into().expect("32 bytes"))
}

/// A connection to `address` that trusts only `ca_pem`.
pub async fn connect(address: &str, ca_pem: &str) -> Result<Channel, String> {
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem));
    Endpoint::from_shared(address.to_owned())
        .map_err(|e| e.to_string())?
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .tls_config(tls)
        .map_err(|e| crate::source_chain(&e))?
        .connect()
        .await
        .map_err(|e| crate::source_chain(&e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_split_into_host_and_authority() {
        let s = |a: &str| super::split(a).unwrap();
        assert_eq!(
            s("https://10.0.0.1:50051"),
            ("10.0.0.1".into(), "10.0.0.1:50051".into())
        );
        assert_eq!(
            s("https://ex.example:443/"),
            ("ex.example".into(), "ex.example:443".into())
        );
        assert_eq!(
            s("https://[::1]:50051"),
            ("::1".into(), "[::1]:50051".into())
        );
        assert!(super::split("http://10.0.0.1:50051").is_err());
    }
}
