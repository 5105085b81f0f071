//! `trunkline.v1.Authority`: statements published into the replicated
//! state (verified here, and again at apply), listed with whether they
//! count, and origin validation asked for a prefix and origin.

use tonic::{Request, Response, Status};
use trunkline_authority::envelope::hex;
use trunkline_authority::{Kind, Signed, Validation};
use trunkline_cluster::{Command, Outcome};
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::authority_server::Authority;

use super::errors::write_error;
use super::routes::Api;

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Delegation => "delegation",
        Kind::Authorisation => "authorisation",
        Kind::Revocations => "revocations",
    }
}

#[tonic::async_trait]
impl Authority for Api {
    async fn publish(
        &self,
        req: Request<pb::PublishRequest>,
    ) -> Result<Response<pb::PublishResponse>, Status> {
        let bytes = req.into_inner().statement;
        let signed = Signed::verify(&bytes)
            .map_err(|e| Status::invalid_argument(format!("statement: {e}")))?;
        let c = self
            .store
            .write(
                String::new(),
                Command::AuthorityPublish { statement: bytes },
            )
            .await
            .map_err(write_error)?;
        if let Outcome::Refused(why) | Outcome::Rejected(why) = c.outcome {
            return Err(Status::invalid_argument(why));
        }
        let view = self.store.view().load_full();
        let status = view
            .authority
            .effective()
            .status
            .get(&signed.id)
            .map_or("unknown".into(), |s| s.to_string());
        tracing::info!(statement = %hex(&signed.id), %status, "authority statement published");
        Ok(Response::new(pb::PublishResponse {
            id: hex(&signed.id),
            log_index: c.index,
            status,
        }))
    }

    async fn list_statements(
        &self,
        _req: Request<pb::ListStatementsRequest>,
    ) -> Result<Response<pb::ListStatementsResponse>, Status> {
        let view = self.store.view().load_full();
        let a = &view.authority;
        let effective = a.effective();
        let statements = a
            .statements()
            .map(|s| {
                let (not_before, not_after) = s.statement.window();
                pb::StatementInfo {
                    id: hex(&s.id),
                    kind: kind_name(s.statement.kind()).into(),
                    signer: hex(&s.signer),
                    summary: s.statement.summary(),
                    status: effective
                        .status
                        .get(&s.id)
                        .map_or("unknown".into(), |st| st.to_string()),
                    not_before,
                    not_after,
                }
            })
            .collect();
        let anchors = a
            .config
            .anchors
            .iter()
            .map(|x| format!("{} ({}): {}", x.name, x.plan, hex(&x.key)))
            .collect();
        Ok(Response::new(pb::ListStatementsResponse {
            statements,
            now: a.now(),
            anchors,
        }))
    }

    async fn check(
        &self,
        req: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        let req = req.into_inner();
        let plans = self.store.plans();
        let prefix = plans
            .parse_prefix(&req.prefix)
            .map_err(|e| Status::invalid_argument(format!("prefix: {e}")))?;
        let view = self.store.view().load_full();
        let a = &view.authority;
        let index = &a.effective().index;
        let plan = plans.name(prefix.plan);
        let covering: Vec<pb::Covering> = index
            .covering(plan, &prefix.digits)
            .map(|(p, e)| pb::Covering {
                prefix: trunkline_authority::text::prefix_text(plan, &p),
                origin: e.origin,
                max_len: e.max_len.into(),
                id: hex(&e.id),
            })
            .collect();
        let v = index.validate(plan, &prefix.digits, req.origin);
        let reason = match &v {
            Validation::NotFound => "no authorisation that counts covers it".to_owned(),
            Validation::Valid { by } => format!("authorised by {}", hex(by)),
            Validation::Invalid { why, .. } => match why {
                trunkline_authority::Mismatch::Origin => {
                    format!("covered, but no authorisation names ITAD {}", req.origin)
                }
                trunkline_authority::Mismatch::Length => format!(
                    "ITAD {} is authorised here only for shorter prefixes",
                    req.origin
                ),
            },
        };
        Ok(Response::new(pb::CheckResponse {
            state: v.name().into(),
            reason,
            covering,
            now: a.now(),
        }))
    }
}
