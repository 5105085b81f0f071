//! `trunkline.v1.Tokens`: API tokens, created, listed and revoked through
//! the log, so every node honours the same set. The secret is shown once,
//! in the answer to its creation; the log holds only its hash.

use tonic::{Request, Response, Status};
use trunkline_cluster::Command;
use trunkline_cluster::Outcome;
use trunkline_cluster::tokens::{Role, Token};
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::tokens_server::Tokens;

use super::errors::write_error;
use super::routes::Api;

fn role_from(r: i32) -> Result<Role, Status> {
    match pb::Role::try_from(r) {
        Ok(pb::Role::Read) => Ok(Role::Read),
        Ok(pb::Role::Write) => Ok(Role::Write),
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        _ => Err(Status::invalid_argument("role: read, write or admin")),
    }
}

fn role_to(r: Role) -> pb::Role {
    match r {
        Role::Read => pb::Role::Read,
        Role::Write => pb::Role::Write,
        Role::Admin => pb::Role::Admin,
    }
}

impl Api {
    fn info(&self, id: &str, t: &Token) -> pb::TokenInfo {
        let plans = self.store.plans();
        pb::TokenInfo {
            id: id.to_owned(),
            name: t.name.clone(),
            role: role_to(t.role).into(),
            prefixes: t.prefixes.iter().map(|p| plans.prefix_str(p)).collect(),
            created_at: t.created_at,
            expires_at: t.expires_at,
        }
    }
}

#[tonic::async_trait]
impl Tokens for Api {
    async fn create_token(
        &self,
        req: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        let req = req.into_inner();
        let role = role_from(req.role)?;
        if role != Role::Write && !req.prefixes.is_empty() {
            return Err(Status::invalid_argument(
                "prefixes: only a write token is scoped to prefixes",
            ));
        }
        if req.name.len() > 256 {
            return Err(Status::invalid_argument("name: at most 256 bytes"));
        }
        let plans = self.store.plans();
        let mut prefixes = Vec::new();
        for (i, p) in req.prefixes.iter().enumerate() {
            let block = plans
                .parse_block(p)
                .map_err(|e| Status::invalid_argument(format!("prefixes[{i}]: {e}")))?;
            prefixes.extend(block.prefixes());
        }
        let now = crate::auth::now_unix();
        let (id, secret, token) = crate::auth::new_token();
        let record = Token {
            name: req.name,
            hash: crate::auth::hash(&secret),
            role,
            prefixes,
            created_at: now,
            expires_at: if req.ttl_secs == 0 {
                0
            } else {
                now.saturating_add(req.ttl_secs)
            },
        };
        let info = self.info(&id, &record);
        let c = self
            .store
            .write(String::new(), Command::TokenCreate { id, token: record })
            .await
            .map_err(write_error)?;
        if let Outcome::Refused(why) | Outcome::Rejected(why) = c.outcome {
            return Err(Status::aborted(why));
        }
        tracing::info!(token = %info.id, role = role.name(), "API token created");
        Ok(Response::new(pb::CreateTokenResponse {
            info: Some(info),
            token,
            log_index: c.index,
        }))
    }

    async fn list_tokens(
        &self,
        _req: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        let view = self.store.view().load_full();
        let tokens = view
            .tokens
            .by_id
            .iter()
            .map(|(id, t)| self.info(id, t))
            .collect();
        Ok(Response::new(pb::ListTokensResponse { tokens }))
    }

    async fn revoke_token(
        &self,
        req: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        let id = req.into_inner().id;
        let c = self
            .store
            .write(String::new(), Command::TokenRevoke { id: id.clone() })
            .await
            .map_err(write_error)?;
        match c.outcome {
            Outcome::Refused(why) => Err(Status::not_found(why)),
            Outcome::Rejected(why) => Err(Status::internal(why)),
            _ => {
                tracing::info!(token = %id, "API token revoked");
                Ok(Response::new(pb::RevokeTokenResponse {
                    log_index: c.index,
                }))
            }
        }
    }
}
