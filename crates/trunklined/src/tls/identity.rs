//! Who a certificate says its holder is: its one `trunkline:` URI.

use rustls_pki_types::CertificateDer;

/// Who a certificate says its holder is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// `trunkline:node:<id>`: a node of the cluster.
    Node(u64),
    /// `trunkline:peer:<itad>:<name>`: a peer or member.
    Peer { itad: u32, name: String },
    /// `trunkline:client:<role>:<name>`: an API client.
    Client { role: String, name: String },
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Node(id) => write!(f, "trunkline:node:{id}"),
            Identity::Peer { itad, name } => write!(f, "trunkline:peer:{itad}:{name}"),
            Identity::Client { role, name } => write!(f, "trunkline:client:{role}:{name}"),
        }
    }
}

impl Identity {
    fn parse(uri: &str) -> Option<Identity> {
        let rest = uri.strip_prefix("trunkline:")?;
        let mut parts = rest.splitn(3, ':');
        match (parts.next()?, parts.next(), parts.next()) {
            ("node", Some(id), None) => id.parse().ok().filter(|&i| i > 0).map(Identity::Node),
            ("peer", Some(itad), Some(name)) if !name.is_empty() => Some(Identity::Peer {
                itad: itad.parse().ok()?,
                name: name.to_owned(),
            }),
            ("client", Some(role), Some(name)) if !name.is_empty() => Some(Identity::Client {
                role: role.to_owned(),
                name: name.to_owned(),
            }),
            _ => None,
        }
    }

    /// The identity in a certificate: its one `trunkline:` URI SAN.
    pub fn of(cert: &CertificateDer<'_>) -> Result<Identity, String> {
        use x509_parser::extensions::GeneralName;
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
            .map_err(|e| format!("unreadable certificate: {e}"))?;
        let sans = parsed
            .subject_alternative_name()
            .map_err(|e| format!("unreadable subject alternative names: {e}"))?;
        let mut found = sans
            .into_iter()
            .flat_map(|s| &s.value.general_names)
            .filter_map(|n| match n {
                GeneralName::URI(u) if u.starts_with("trunkline:") => Some(*u),
                _ => None,
            });
        let subject = parsed.subject().to_string();
        match (found.next(), found.next()) {
            (Some(u), None) => {
                Identity::parse(u).ok_or_else(|| format!("{subject}: malformed identity {u:?}"))
            }
            (Some(_), Some(_)) => Err(format!("{subject}: more than one trunkline identity")),
            (None, _) => Err(format!(
                "{subject}: no trunkline identity (a trunkline:node:, trunkline:peer: or \
                 trunkline:client: URI; `trunkline pki issue` writes one)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Identity;

    #[test]
    fn identities_read_as_pki_writes_them() {
        let cases = [
            ("trunkline:node:3", Some(Identity::Node(3))),
            ("trunkline:node:0", None),
            ("trunkline:node:x", None),
            (
                "trunkline:peer:4200000001:alice",
                Some(Identity::Peer {
                    itad: 4200000001,
                    name: "alice".into(),
                }),
            ),
            ("trunkline:peer:4200000001:", None),
            ("trunkline:peer:-1:alice", None),
            (
                "trunkline:client:write:ops:bob",
                Some(Identity::Client {
                    role: "write".into(),
                    name: "ops:bob".into(),
                }),
            ),
            ("trunkline:router:1", None),
            ("https://example.org", None),
        ];
        for (uri, want) in cases {
            assert_eq!(Identity::parse(uri), want, "{uri}");
            if let Some(id) = want {
                assert_eq!(id.to_string(), uri);
            }
        }
    }
}
