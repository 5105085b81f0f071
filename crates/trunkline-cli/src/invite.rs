//! `trunkline invite`: at an exchange, invites for new members (one line
//! each, for `trunkline join` on the member's machine), their list, and
//! revocation.

use clap::Subcommand;
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::invites_client::InvitesClient;

use crate::client::Conn;
use crate::{Failure, Result, done, emit};

#[derive(Debug, Subcommand)]
pub enum InviteCmd {
    /// An invite for a new member: one line to hand to it (it carries a
    /// secret: send it the way you would send a password).
    Create {
        /// The member's name (its neighbor name here).
        #[arg(long)]
        member: String,
        /// A prefix, block or range it may announce; repeat for several.
        #[arg(long, required = true)]
        allowed: Vec<String>,
        /// Its ITAD [default: the lowest private ITAD not taken].
        #[arg(long)]
        itad: Option<u32>,
        /// How long it may be redeemed: 90s, 15m, 12h, 30d.
        #[arg(long, default_value = "24h")]
        ttl: String,
        /// How many times it may be redeemed.
        #[arg(long, default_value_t = 1)]
        uses: u32,
    },
    /// Every invite: member, ITAD, blocks, expiry, uses (never the secret).
    List,
    /// Revoke an invite by id: it can no longer be redeemed.
    Revoke { id: String },
}

fn info_json(i: &pb::InviteInfo) -> serde_json::Value {
    serde_json::json!({
        "id": i.id, "member": i.member, "itad": i.itad, "allowed": i.allowed,
        "created_at": i.created_at, "expires_at": i.expires_at,
        "uses_left": i.uses_left, "used": i.used,
    })
}

pub async fn run(ch: Conn, cmd: InviteCmd, json: bool) -> Result<()> {
    let mut client = InvitesClient::new(ch);
    match cmd {
        InviteCmd::Create {
            member,
            allowed,
            itad,
            ttl,
            uses,
        } => {
            if uses == 0 {
                return Err(Failure::input("--uses: at least 1"));
            }
            let req = pb::CreateInviteRequest {
                member: member.clone(),
                allowed,
                itad: itad.unwrap_or(0),
                ttl_secs: crate::token::ttl_secs(&ttl)?,
                uses,
                request_id: String::new(),
            };
            let r = client.create_invite(req).await?.into_inner();
            if json {
                done(
                    json,
                    serde_json::json!({"invite": r.invite, "id": r.id, "member": member,
                        "itad": r.itad, "expires_at": r.expires_at}),
                    format_args!(""),
                );
            } else {
                // The line alone on stdout, for `$(trunkline invite create ...)`.
                emit(format_args!("{}", r.invite));
                eprintln!(
                    "invite {} for {member} (ITAD {}), valid until unix time {}; on the member's \
                     machine: trunkline join <this line>",
                    r.id, r.itad, r.expires_at
                );
            }
        }
        InviteCmd::List => {
            let invites = client
                .list_invites(pb::ListInvitesRequest {})
                .await?
                .into_inner()
                .invites;
            if json {
                crate::output::print_json(
                    &invites.iter().map(info_json).collect::<Vec<_>>().into(),
                );
                return Ok(());
            }
            if invites.is_empty() {
                emit(format_args!("no invites"));
            }
            for i in &invites {
                emit(format_args!(
                    "{}  {}  ITAD {}  {}  expires at {} (unix)  {} use(s) left, used {}",
                    i.id,
                    i.member,
                    i.itad,
                    i.allowed.join(","),
                    i.expires_at,
                    i.uses_left,
                    i.used
                ));
            }
        }
        InviteCmd::Revoke { id } => {
            let r = client
                .revoke_invite(pb::RevokeInviteRequest { id: id.clone() })
                .await?
                .into_inner();
            done(
                json,
                serde_json::json!({"revoked": id, "log_index": r.log_index}),
                format_args!("invite {id} revoked (log index {})", r.log_index),
            );
        }
    }
    Ok(())
}
