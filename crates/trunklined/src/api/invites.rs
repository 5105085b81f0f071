//! `trunkline.v1.Invites`: an exchange's operator makes an invite (one
//! line); the member's `trunkline join` redeems it here. A redemption is
//! one replicated command that uses the invite up and configures the
//! member, so a single-use invite works once, whichever nodes are asked.
//! The member's certificate is signed from its own signing request: its
//! key never leaves it. Errors say which side failed: the invite (unknown,
//! revoked, expired, used, a wrong secret) or this exchange.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use trunkline_cluster::invites::Invite;
use trunkline_cluster::{Command, Outcome, View};
use trunkline_core::Prefix;
use trunkline_core::route::PRIVATE_ITADS;
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::invites_server::Invites;

use super::errors::write_error;
use crate::auth::{hash, now_unix, random_hex};
use crate::invite::Settings;
use crate::peering::config::PeerSection;
use crate::store::StoreHandle;

const DEFAULT_TTL_SECS: u64 = 86_400;

#[derive(Debug, Clone)]
pub struct InvitesApi {
    pub store: StoreHandle,
    /// `[invites]`, when this node takes joins.
    pub settings: Option<Arc<Settings>>,
    /// This cluster's ITAD.
    pub itad: u32,
    /// `[[anchor]]`, for members to validate with.
    pub anchors: Vec<pb::Anchor>,
}

fn info(id: &str, i: &Invite) -> pb::InviteInfo {
    pb::InviteInfo {
        id: id.to_owned(),
        member: i.member.clone(),
        itad: i.itad,
        allowed: i.allowed.clone(),
        created_at: i.created_at,
        expires_at: i.expires_at,
        uses_left: i.uses_left,
        used: i.used,
    }
}

/// A neighbor name as `[[peer]]` takes it.
fn check_member(name: &str) -> Result<(), Status> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && (name.chars()).all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Status::invalid_argument(
            "member: 1-64 characters of A-Z a-z 0-9 - _ .",
        ))
    }
}

impl InvitesApi {
    fn settings(&self) -> Result<&Settings, Status> {
        self.settings.as_deref().ok_or_else(|| {
            Status::failed_precondition(
                "this exchange node takes no invites: its config has no [invites] section (the \
                 CA that signs members' certificates)",
            )
        })
    }

    /// The member's `[[peer]]` table, as `neighbor add` would take it.
    fn member_config(&self, i: &Invite) -> Result<String, Status> {
        let allowed: Vec<String> = i.allowed.iter().map(|a| format!("{a:?}")).collect();
        let text = format!(
            "name = {:?}\nitad = {}\nrole = \"member\"\nallowed = [{}]\nroute_server = true\n",
            i.member,
            i.itad,
            allowed.join(", ")
        );
        let section = PeerSection::from_toml(&text).map_err(|e| Status::internal(e.to_string()))?;
        section
            .resolve(self.store.plans(), self.itad)
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(section.to_toml())
    }

    /// The lowest private ITAD no neighbor, invite or this cluster has.
    fn free_itad(&self, view: &View) -> Result<u32, Status> {
        let taken = |n: u32| {
            n == self.itad
                || view.peers.configs.values().any(|e| e.itad == n)
                || view.invites.by_id.values().any(|i| i.itad == n)
        };
        PRIVATE_ITADS
            .clone()
            .find(|n| !taken(*n))
            .ok_or_else(|| Status::resource_exhausted("no private ITAD is free"))
    }
}

#[tonic::async_trait]
impl Invites for InvitesApi {
    async fn create_invite(
        &self,
        req: Request<pb::CreateInviteRequest>,
    ) -> Result<Response<pb::CreateInviteResponse>, Status> {
        let req = req.into_inner();
        let settings = self.settings()?;
        check_member(&req.member)?;
        let view = self.store.view().load_full();
        if view.peers.configs.contains_key(&req.member) {
            return Err(Status::already_exists(format!(
                "a neighbor named {:?} exists already (`trunkline neighbor del` it first, or \
                 invite the member under another name)",
                req.member
            )));
        }
        if req.allowed.is_empty() {
            return Err(Status::invalid_argument(
                "allowed: the blocks the member may announce (at least one)",
            ));
        }
        let plans = self.store.plans();
        let mut allowed = Vec::new();
        for (i, a) in req.allowed.iter().enumerate() {
            let block = (plans.parse_block(a))
                .map_err(|e| Status::invalid_argument(format!("allowed[{i}] {a:?}: {e}")))?;
            allowed.extend(block.prefixes().iter().map(|p| plans.prefix_str(p)));
        }
        let itad = match req.itad {
            0 => self.free_itad(&view)?,
            n if n == self.itad => {
                return Err(Status::invalid_argument(format!(
                    "itad: {n} is this exchange's own"
                )));
            }
            n => n,
        };
        let now = now_unix();
        let ttl = if req.ttl_secs == 0 {
            DEFAULT_TTL_SECS
        } else {
            req.ttl_secs
        };
        let (id, secret) = (random_hex(8), random_hex(32));
        let invite = Invite {
            member: req.member.clone(),
            itad,
            allowed: allowed.clone(),
            hash: hash(&secret),
            created_at: now,
            expires_at: now.saturating_add(ttl),
            uses_left: req.uses.max(1),
            used: 0,
        };
        let expires_at = invite.expires_at;
        let command = Command::InviteCreate {
            id: id.clone(),
            invite,
        };
        let c = (self.store.write(req.request_id, command).await).map_err(write_error)?;
        if let Outcome::Refused(why) = c.outcome {
            return Err(Status::invalid_argument(why));
        }
        let ticket = pb::InviteTicket {
            addresses: settings.addresses.clone(),
            ca_sha256: settings.ca_sha256.to_vec(),
            exchange_name: settings.exchange_name.clone(),
            exchange_itad: self.itad,
            member: req.member,
            itad,
            allowed,
            id: id.clone(),
            secret,
            expires_at,
        };
        Ok(Response::new(pb::CreateInviteResponse {
            invite: crate::invite::encode(&ticket),
            id,
            itad,
            expires_at,
        }))
    }

    async fn list_invites(
        &self,
        _: Request<pb::ListInvitesRequest>,
    ) -> Result<Response<pb::ListInvitesResponse>, Status> {
        let view = self.store.view().load_full();
        let invites = (view.invites.by_id.iter())
            .map(|(id, i)| info(id, i))
            .collect();
        Ok(Response::new(pb::ListInvitesResponse { invites }))
    }

    async fn revoke_invite(
        &self,
        req: Request<pb::RevokeInviteRequest>,
    ) -> Result<Response<pb::RevokeInviteResponse>, Status> {
        let id = req.into_inner().id;
        let c = (self
            .store
            .write(String::new(), Command::InviteRevoke { id })
            .await)
            .map_err(write_error)?;
        if let Outcome::Refused(why) = c.outcome {
            return Err(Status::not_found(why));
        }
        Ok(Response::new(pb::RevokeInviteResponse {
            log_index: c.index,
        }))
    }

    async fn discover(
        &self,
        _: Request<pb::DiscoverRequest>,
    ) -> Result<Response<pb::DiscoverResponse>, Status> {
        Ok(Response::new(pb::DiscoverResponse {
            ca_certificate: self.settings()?.ca_pem.clone(),
        }))
    }

    async fn join(
        &self,
        req: Request<pb::JoinRequest>,
    ) -> Result<Response<pb::JoinResponse>, Status> {
        let req = req.into_inner();
        let settings = self.settings()?;
        let view = self.store.view().load_full();
        let id = &req.id;
        let Some(invite) = view.invites.by_id.get(id).cloned() else {
            return Err(Status::not_found(format!(
                "invite {id} is unknown to this exchange, or was revoked"
            )));
        };
        let h = hash(&req.secret);
        if h != invite.hash {
            return Err(Status::permission_denied(format!(
                "invite {id}: the secret does not match (a forged or damaged invite)"
            )));
        }
        let now = now_unix();
        if invite.expired(now) {
            return Err(Status::failed_precondition(format!(
                "invite {id} expired {} s ago (at unix time {}, by this exchange's clock): ask \
                 for a new one",
                now - invite.expires_at,
                invite.expires_at
            )));
        }
        if invite.uses_left == 0 {
            return Err(Status::failed_precondition(format!(
                "invite {id} was used already: ask for a new one"
            )));
        }
        let certificate = (settings.sign_member(&req.csr, invite.itad, &invite.member))
            .map_err(Status::invalid_argument)?;
        // Used up and the member configured, in one command: a second
        // redemption racing this one is refused at apply.
        let config = self.member_config(&invite)?;
        let command = Command::InviteRedeem {
            id: id.clone(),
            hash: h,
            config,
        };
        let c = (self.store.write(String::new(), command).await).map_err(write_error)?;
        if let Outcome::Refused(why) = c.outcome {
            return Err(Status::failed_precondition(why));
        }
        let plans = self.store.plans();
        let blocks = (invite.allowed.iter())
            .map(|a| plans.parse_prefix(a))
            .collect::<Result<Vec<Prefix>, _>>()
            .map_err(|e| Status::internal(e.to_string()))?;
        let mut pending = Vec::new();
        let mut authorisations = Vec::new();
        match settings.authorise(plans, invite.itad, &blocks, now) {
            Ok(signed) if signed.is_empty() => pending.push(
                "no authorisation: this exchange signs none ([invites] authority_key is not set), \
                 so the member's routes validate as not-found"
                    .to_owned(),
            ),
            Ok(signed) => {
                for s in signed {
                    let publish = Command::AuthorityPublish {
                        statement: s.bytes.clone(),
                    };
                    match self.store.write(String::new(), publish).await {
                        Ok(c) if !matches!(c.outcome, Outcome::Refused(_)) => {
                            authorisations.push(s.bytes);
                        }
                        Ok(c) => {
                            pending.push(format!("the authorisation was refused: {:?}", c.outcome))
                        }
                        Err(e) => pending.push(format!("the authorisation was not published: {e}")),
                    }
                }
            }
            Err(e) => pending.push(format!("no authorisation: {e}")),
        }
        tracing::info!(
            invite = %id,
            member = %invite.member,
            itad = invite.itad,
            "a member joined by invitation"
        );
        Ok(Response::new(pb::JoinResponse {
            certificate,
            ca_certificate: settings.ca_pem.clone(),
            member: invite.member,
            itad: invite.itad,
            allowed: invite.allowed,
            exchange_name: settings.exchange_name.clone(),
            exchange_itad: self.itad,
            addresses: settings.addresses.clone(),
            authorisations,
            anchors: self.anchors.clone(),
            pending,
            log_index: c.index,
        }))
    }
}
