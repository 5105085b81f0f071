//! Statements as people read them (CLI, API, logs).

use trunkline_core::Digits;

use crate::envelope::{hex, key_id};
use crate::object::Statement;

/// `+1555123` in E.164, `plan:digits` in a private plan.
pub fn prefix_text(plan: &str, d: &Digits) -> String {
    if plan == "e164" {
        format!("+{d}")
    } else {
        format!("{plan}:{d}")
    }
}

impl Statement {
    /// One line saying what it grants or revokes.
    pub fn summary(&self) -> String {
        match self {
            Statement::Delegation(d) => format!(
                "delegation of {} to key {}{}{}",
                d.blocks
                    .iter()
                    .map(|b| prefix_text(&d.plan, b))
                    .collect::<Vec<_>>()
                    .join(", "),
                &hex(&key_id(&d.subject))[..16],
                if d.name.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", d.name)
                },
                if d.may_delegate {
                    ", which may delegate on"
                } else {
                    ""
                }
            ),
            Statement::Authorisation(a) => format!(
                "authorisation for ITAD {} to originate {}",
                a.origin,
                a.entries
                    .iter()
                    .map(|e| format!(
                        "{} (up to {} digits)",
                        prefix_text(&a.plan, &e.prefix),
                        e.max_len
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Statement::Revocations(r) => {
                format!("revocation list {} ({} revoked)", r.number, r.revoked.len())
            }
        }
    }

    /// Its validity window (for a revocation list: published, next due).
    pub fn window(&self) -> (u64, u64) {
        match self {
            Statement::Delegation(d) => (d.not_before, d.not_after),
            Statement::Authorisation(a) => (a.not_before, a.not_after),
            Statement::Revocations(r) => (r.this_update, r.next_update),
        }
    }
}
