//! `trunkline token`: API tokens with a role, prefix scope and lifetime.
//! Creating one prints it once; the node keeps only a hash.

use clap::Subcommand;
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::tokens_client::TokensClient;

use crate::client::Conn;
use crate::{Failure, Result, done, emit};

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token; it is printed once (store it, e.g. in a file for
    /// --token-file, mode 0600).
    Create {
        /// read, write or admin.
        #[arg(long)]
        role: String,
        /// For a write token: a prefix, block or range it may change
        /// routes under; repeat for several. None: anywhere.
        #[arg(long = "prefix")]
        prefixes: Vec<String>,
        /// Lifetime: 90s, 15m, 12h, 30d, or `never`.
        #[arg(long, default_value = "never")]
        ttl: String,
        /// What it is for (shown in lists).
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Every token: id, role, scope, expiry (never the secret).
    List,
    /// Revoke a token by id; every node refuses it from then on.
    Revoke { id: String },
}

/// Seconds in `90s`, `15m`, `12h`, `30d`; 0 for `never`.
pub(crate) fn ttl_secs(s: &str) -> Result<u64> {
    if s == "never" {
        return Ok(0);
    }
    let bad = || {
        Failure::input(format!(
            "--ttl {s:?}: a number with s, m, h or d (e.g. 30d), or never"
        ))
    };
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u64 = n.parse().map_err(|_| bad())?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    if n == 0 {
        return Err(bad());
    }
    n.checked_mul(mult).ok_or_else(bad)
}

fn role(s: &str) -> Result<pb::Role> {
    match s {
        "read" => Ok(pb::Role::Read),
        "write" => Ok(pb::Role::Write),
        "admin" => Ok(pb::Role::Admin),
        _ => Err(Failure::input("--role: read, write or admin")),
    }
}

fn role_name(r: i32) -> &'static str {
    match pb::Role::try_from(r) {
        Ok(pb::Role::Read) => "read",
        Ok(pb::Role::Write) => "write",
        Ok(pb::Role::Admin) => "admin",
        _ => "?",
    }
}

fn info_json(t: &pb::TokenInfo) -> serde_json::Value {
    serde_json::json!({
        "id": t.id,
        "name": t.name,
        "role": role_name(t.role),
        "prefixes": t.prefixes,
        "created_at": t.created_at,
        "expires_at": t.expires_at,
    })
}

pub async fn run(ch: Conn, cmd: TokenCmd, json: bool) -> Result<()> {
    let mut client = TokensClient::new(ch);
    match cmd {
        TokenCmd::Create {
            role: r,
            prefixes,
            ttl,
            name,
        } => {
            let req = pb::CreateTokenRequest {
                role: role(&r)?.into(),
                prefixes,
                ttl_secs: ttl_secs(&ttl)?,
                name,
            };
            let resp = client.create_token(req).await?.into_inner();
            let info = resp.info.unwrap_or_default();
            let mut j = info_json(&info);
            j["token"] = resp.token.clone().into();
            done(
                json,
                j,
                format_args!(
                    "{}\n(token {}, role {}; shown once: keep it secret)",
                    resp.token,
                    info.id,
                    role_name(info.role)
                ),
            );
        }
        TokenCmd::List => {
            let tokens = client
                .list_tokens(pb::ListTokensRequest {})
                .await?
                .into_inner()
                .tokens;
            if json {
                crate::output::print_json(&tokens.iter().map(info_json).collect::<Vec<_>>().into());
                return Ok(());
            }
            if tokens.is_empty() {
                emit(format_args!("no tokens"));
            }
            for t in &tokens {
                let scope = if t.prefixes.is_empty() {
                    String::new()
                } else {
                    format!(" under {}", t.prefixes.join(", "))
                };
                let expires = if t.expires_at == 0 {
                    "never expires".to_owned()
                } else {
                    format!("expires at {} (unix)", t.expires_at)
                };
                emit(format_args!(
                    "{}  {}{}  {}  {}",
                    t.id,
                    role_name(t.role),
                    scope,
                    expires,
                    t.name
                ));
            }
        }
        TokenCmd::Revoke { id } => {
            let r = client
                .revoke_token(pb::RevokeTokenRequest { id: id.clone() })
                .await?
                .into_inner();
            done(
                json,
                serde_json::json!({"revoked": id, "log_index": r.log_index}),
                format_args!("token {id} revoked (log index {})", r.log_index),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ttls_read_as_written() {
        assert_eq!(super::ttl_secs("30d").unwrap(), 30 * 86_400);
        assert_eq!(super::ttl_secs("90s").unwrap(), 90);
        assert_eq!(super::ttl_secs("never").unwrap(), 0);
        for bad in ["", "0d", "5", "5y", "d", "-1h"] {
            assert!(super::ttl_secs(bad).is_err(), "{bad}");
        }
    }
}
