//! Number authority in the replicated state: the signed statements the
//! cluster was given, replicated time (the leader's `Tick`s), and the
//! trust anchors from config. Validity is judged against replicated time,
//! so a statement expires at the same log position on every node; no
//! clock is read here.

use std::collections::BTreeSet;
use std::sync::Arc;

use trunkline_authority::{Anchor, Authority, Effective, Signed, StatementId};
use trunkline_core::{Attrs, Digits, Plans, Prefix, Source, Validation};

/// What the state machine needs from config to judge routes.
#[derive(Debug, Clone, Default)]
pub struct AuthorityConfig {
    pub anchors: Vec<Anchor>,
    /// How long past a revocation list's next update its signer counts.
    pub grace_secs: u64,
    /// This cluster's ITAD: the origin of its own routes.
    pub itad: u32,
}

#[derive(Debug, Clone)]
pub struct AuthorityState {
    pub config: AuthorityConfig,
    statements: Authority,
    /// Unix seconds, as the last applied `Tick` said.
    now: u64,
    effective: Arc<Effective>,
}

impl Default for AuthorityState {
    fn default() -> AuthorityState {
        AuthorityState::new(AuthorityConfig::default())
    }
}

impl AuthorityState {
    pub fn new(config: AuthorityConfig) -> AuthorityState {
        let statements = Authority::new(config.anchors.clone(), config.grace_secs);
        AuthorityState {
            config,
            statements,
            now: 0,
            effective: Arc::default(),
        }
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn effective(&self) -> &Arc<Effective> {
        &self.effective
    }

    pub fn statements(&self) -> impl Iterator<Item = &Signed> {
        self.statements.statements()
    }

    /// Verifies and keeps a statement (verification is deterministic, so
    /// every node decides alike).
    pub fn publish(&mut self, bytes: &[u8]) -> Result<StatementId, String> {
        self.statements.insert(bytes).map_err(|e| e.to_string())
    }

    /// Replicated time moves forward only.
    pub fn tick(&mut self, unix_secs: u64) -> bool {
        let moved = unix_secs > self.now;
        self.now = self.now.max(unix_secs);
        moved
    }

    /// Judges every statement again at the current time; returns the
    /// authorised prefixes whose entries changed (the roots of the
    /// subtrees whose routes must be validated again).
    pub fn recompute(&mut self) -> Vec<(String, Digits)> {
        let new = Arc::new(self.statements.effective(self.now));
        let changed = self.effective.index.differences(&new.index);
        self.effective = new;
        changed
    }

    /// The state of a route to `prefix` with `attrs`: its origin is the
    /// last ITAD of its path, or this cluster's for its own routes.
    pub fn validate(&self, plans: &Plans, prefix: &Prefix, attrs: &Attrs) -> Validation {
        let origin = match (&attrs.source, attrs.path.last()) {
            (_, Some(&last)) => last,
            (Source::Api | Source::Config { .. }, None) => self.config.itad,
            (Source::Peer { itad, .. }, None) => *itad,
        };
        match self
            .effective
            .index
            .validate(plans.name(prefix.plan), &prefix.digits, origin)
        {
            trunkline_authority::Validation::NotFound => Validation::NotFound,
            trunkline_authority::Validation::Valid { .. } => Validation::Valid,
            trunkline_authority::Validation::Invalid { .. } => Validation::Invalid,
        }
    }

    /// For snapshots: the time and every statement's bytes.
    pub fn parts(&self) -> (u64, Vec<&[u8]>) {
        (
            self.now,
            self.statements
                .statements()
                .map(|s| s.bytes.as_slice())
                .collect(),
        )
    }

    /// From a snapshot's parts; statements that no longer verify are
    /// dropped, as they would be refused now.
    pub fn restore(&mut self, now: u64, statements: &[Vec<u8>]) {
        self.statements = Authority::new(self.config.anchors.clone(), self.config.grace_secs);
        for s in statements {
            let _ = self.statements.insert(s);
        }
        self.now = now;
        self.effective = Arc::new(self.statements.effective(now));
    }

    /// Ids of the statements that count now.
    pub fn effective_ids(&self) -> BTreeSet<StatementId> {
        self.effective
            .status
            .iter()
            .filter(|(_, s)| **s == trunkline_authority::Status::Effective)
            .map(|(id, _)| *id)
            .collect()
    }
}
