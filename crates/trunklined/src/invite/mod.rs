//! What an exchange needs to let members join by invitation: its CA (to
//! sign each member's certificate from the member's own signing request),
//! the pin of that CA (in every invite, so the member can tell it reached
//! this exchange), its identity as peers name it (from its `[peering.tls]`
//! certificate), and optionally a key that signs members' authorisations.
//! The gRPC service that uses them is `api/invites.rs`.

pub mod config;

use std::path::Path;

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use prost::Message as _;
use rcgen::{
    CertificateSigningRequestParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use trunkline_authority::{Authorisation, Entry, Signed, Statement};
use trunkline_core::{Plans, Prefix};
use trunkline_proto::v1 as pb;

use self::config::InvitesSection;
use crate::tls::Identity;

/// How an invite line starts; the rest is an `InviteTicket`, unpadded
/// URL-safe base64.
pub const TICKET_PREFIX: &str = "trunkline-invite-1.";

/// `[invites]`, read and checked at start.
#[derive(Debug)]
pub struct Settings {
    pub ca_pem: String,
    ca_key_pem: String,
    /// SHA-256 of the CA certificate (DER).
    pub ca_sha256: [u8; 32],
    /// This exchange as its peers name it.
    pub exchange_name: String,
    pub addresses: Vec<String>,
    pub cert_days: u32,
    pub authority_key: Option<SigningKey>,
    pub authority_days: u32,
}

fn read(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("[invites] {what} {}: {e}", path.display()))
}

impl Settings {
    /// `peering_cert`: the `[peering.tls]` certificate, whose identity is
    /// the name members give this exchange. `api_listen`: the default
    /// address.
    pub fn load(
        s: &InvitesSection,
        peering_cert: Option<&Path>,
        api_listen: std::net::SocketAddr,
    ) -> Result<Settings, String> {
        let ca_pem = read(&s.ca_cert, "ca_cert")?;
        let ca_key_pem = read(&s.ca_key, "ca_key")?;
        let chain = crate::tls::load_chain(&s.ca_cert).map_err(|e| format!("[invites] {e}"))?;
        let ca_der = chain.first().expect("load_chain returns one at least");
        // The pair must work before the first join needs it.
        issuer(&ca_pem, &ca_key_pem)
            .map_err(|e| format!("[invites] ca_cert and ca_key do not make a CA: {e}"))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, ca_der.as_ref());
        let ca_sha256 = digest.as_ref().try_into().expect("32 bytes");
        let peering_cert = peering_cert
            .ok_or("[invites] needs [peering.tls]: members prove who they are with certificates")?;
        let chain = crate::tls::load_chain(peering_cert).map_err(|e| e.to_string())?;
        let leaf = chain
            .first()
            .ok_or("[peering.tls] cert holds no certificate")?;
        let exchange_name = match Identity::of(leaf)? {
            Identity::Peer { name, .. } => name,
            other => {
                return Err(format!(
                    "[peering.tls] cert is {other}, not a peer certificate (trunkline:peer:<itad>:<name>)"
                ));
            }
        };
        let addresses = if s.addresses.is_empty() {
            if api_listen.ip().is_unspecified() {
                return Err(format!(
                    "[invites] addresses: [api] listens on {api_listen}, which members cannot \
                     dial; list the addresses they can"
                ));
            }
            vec![format!("https://{api_listen}")]
        } else {
            s.addresses.clone()
        };
        if let Some(a) = addresses.iter().find(|a| !a.starts_with("https://")) {
            return Err(format!(
                "[invites] addresses: {a:?}: members join over TLS (https://)"
            ));
        }
        let authority_key = match &s.authority_key {
            Some(p) => {
                let text = read(p, "authority_key")?;
                let seed =
                    trunkline_authority::envelope::unhex::<32>(text.trim()).ok_or_else(|| {
                        format!(
                            "[invites] authority_key {}: not a trunkline authority key",
                            p.display()
                        )
                    })?;
                Some(SigningKey::from_bytes(&seed))
            }
            None => None,
        };
        Ok(Settings {
            ca_pem,
            ca_key_pem,
            ca_sha256,
            exchange_name,
            addresses,
            cert_days: s.cert_days,
            authority_key,
            authority_days: s.authority_days,
        })
    }

    /// The member's certificate, from its signing request: its key, and
    /// the identity this exchange gives it. Whatever else the request
    /// asks for (names, addresses, usages) is not signed.
    pub fn sign_member(&self, csr_pem: &str, itad: u32, member: &str) -> Result<String, String> {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| format!("the certificate signing request: {e}"))?;
        let identity = format!("trunkline:peer:{itad}:{member}");
        let p = &mut csr.params;
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, &identity);
        p.subject_alt_names = vec![SanType::URI(
            identity.as_str().try_into().map_err(|e| format!("{e}"))?,
        )];
        p.is_ca = rcgen::IsCa::NoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.custom_extensions = Vec::new();
        p.use_authority_key_identifier_extension = true;
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::hours(1);
        p.not_after = now + time::Duration::days(i64::from(self.cert_days));
        p.serial_number = None;
        let issuer = issuer(&self.ca_pem, &self.ca_key_pem).map_err(|e| e.to_string())?;
        let cert = csr.signed_by(&issuer).map_err(|e| e.to_string())?;
        Ok(cert.pem())
    }

    /// Authorisations for the member's blocks, one per plan, signed with
    /// the authority key; none without one.
    pub fn authorise(
        &self,
        plans: &Plans,
        itad: u32,
        blocks: &[Prefix],
        now: u64,
    ) -> Result<Vec<Signed>, String> {
        let Some(key) = &self.authority_key else {
            return Ok(Vec::new());
        };
        let mut by_plan: std::collections::BTreeMap<&str, Vec<Entry>> = Default::default();
        for b in blocks {
            let plan = plans.name(b.plan);
            let max_len = plans.get(b.plan).map_or(15, |p| p.max_digits);
            by_plan.entry(plan).or_default().push(Entry {
                prefix: b.digits,
                max_len,
            });
        }
        let days = u64::from(self.authority_days) * 86_400;
        by_plan
            .into_iter()
            .map(|(plan, mut entries)| {
                entries.sort_by_key(|e| e.prefix);
                entries.dedup_by(|a, b| a.prefix == b.prefix);
                let s = Statement::Authorisation(Authorisation {
                    serial: now,
                    plan: plan.to_owned(),
                    origin: itad,
                    entries,
                    not_before: now.saturating_sub(300),
                    not_after: now + days,
                });
                Signed::sign(s, key)
            })
            .collect()
    }
}

fn issuer(ca_pem: &str, key_pem: &str) -> Result<Issuer<'static, KeyPair>, rcgen::Error> {
    let key = KeyPair::from_pem(key_pem)?;
    Issuer::from_ca_cert_pem(ca_pem, key)
}

/// The invite line for a ticket.
pub fn encode(ticket: &pb::InviteTicket) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ticket.encode_to_vec());
    format!("{TICKET_PREFIX}{b64}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_one_line_of_url_safe_text() {
        let t = pb::InviteTicket {
            addresses: vec!["https://10.0.0.1:50051".into()],
            ca_sha256: vec![0xfb; 32],
            member: "alice".into(),
            itad: 4_200_000_101,
            allowed: vec!["+1555123".into()],
            id: "0123456789abcdef".into(),
            secret: "s".repeat(64),
            expires_at: 1_800_000_000,
            ..Default::default()
        };
        let line = encode(&t);
        let body = line.strip_prefix(TICKET_PREFIX).unwrap();
        assert!(
            body.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .unwrap();
        assert_eq!(pb::InviteTicket::decode(bytes.as_slice()).unwrap(), t);
    }
}
