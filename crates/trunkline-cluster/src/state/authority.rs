//! Number authority in the replicated state: the signed statements the
//! cluster was given, replicated time (the leader's `Tick`s), and the
//! trust anchors from config. Validity is judged against replicated time,
//! so a statement expires at the same log position on every node; no
//! clock is read here.

use std::collections::HashMap;
use std::sync::Arc;

use trunkline_authority::{Anchor, Authority, Effective, Signed, StatementId};
use trunkline_core::table::AttrsInterner;
use trunkline_core::{Attrs, Digits, PlanId, Plans, Prefix, Route, RouteTable, Source, Validation};

/// `attrs` with `validation`: the same attributes when it already has it.
pub(super) fn with_validation(
    interner: &mut AttrsInterner,
    attrs: &Arc<Attrs>,
    validation: Validation,
) -> Arc<Attrs> {
    if attrs.validation == validation {
        attrs.clone()
    } else {
        interner.intern(Attrs {
            validation,
            ..(**attrs).clone()
        })
    }
}

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

    pub fn contains(&self, id: &StatementId) -> bool {
        self.statements.get(id).is_some()
    }

    /// Of statements a peer sent (verified), those from known signers,
    /// and the strangers'.
    pub fn learnable(&self, incoming: Vec<Signed>) -> (Vec<Signed>, Vec<Signed>) {
        self.statements.learnable(incoming)
    }

    /// What to send peers, in an order they can check one by one.
    pub fn for_peers(&self) -> Vec<&Signed> {
        self.statements.for_peers()
    }

    /// Keeps a statement its caller verified (verification is
    /// deterministic, so every node decides alike).
    pub fn keep(&mut self, signed: Signed) -> StatementId {
        self.statements.keep(signed)
    }

    /// Replicated time moves forward only. True when it reached a time at
    /// which some statement's standing may change, so the statements
    /// must be judged again; most ticks change nothing and cost nothing.
    pub fn tick(&mut self, unix_secs: u64) -> bool {
        self.now = self.now.max(unix_secs);
        self.now >= self.effective.next_change
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
        // Without authority (most nodes, for now) every route is not-found.
        if self.effective.index.is_empty() {
            return Validation::NotFound;
        }
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

    /// Sets the state of the routes under `roots` (from [`Self::recompute`])
    /// again; returns the prefixes whose routes changed.
    pub(super) fn revalidate(
        &self,
        roots: Vec<(String, Digits)>,
        plans: &Plans,
        table: &mut RouteTable,
        interner: &mut AttrsInterner,
    ) -> Vec<Prefix> {
        // Routes share attributes: each shared set is re-interned once.
        let mut again: HashMap<(*const Attrs, Validation), Arc<Attrs>> = HashMap::new();
        let mut retag = |interner: &mut AttrsInterner, r: &Route, validation| Route {
            attrs: again
                .entry((Arc::as_ptr(&r.attrs), validation))
                .or_insert_with(|| with_validation(interner, &r.attrs, validation))
                .clone(),
            ..r.clone()
        };
        // A change near a plan's root touches most of it: one pass over
        // the whole plan in place beats an upsert per prefix.
        let (broad, narrow): (Vec<_>, Vec<_>) = roots.into_iter().partition(|(_, d)| d.len() <= 2);
        let mut broad_plans: Vec<PlanId> =
            broad.iter().filter_map(|(p, _)| plans.by_name(p)).collect();
        broad_plans.sort_unstable();
        broad_plans.dedup();
        let mut changed = Vec::new();
        for plan in &broad_plans {
            changed.extend(table.revalue(*plan, &mut |px, set| {
                let states: Vec<Validation> = set
                    .iter()
                    .map(|r| self.validate(plans, px, &r.attrs))
                    .collect();
                if set
                    .iter()
                    .zip(&states)
                    .all(|(r, v)| r.attrs.validation == *v)
                {
                    return None;
                }
                let mut routes: Vec<Route> = set
                    .iter()
                    .zip(states)
                    .map(|(r, v)| retag(interner, r, v))
                    .collect();
                trunkline_core::select::rank(&mut routes);
                Some(routes.into())
            }));
        }
        let mut redo = Vec::new();
        for (plan, digits) in narrow {
            let Some(plan) = plans.by_name(&plan).filter(|p| !broad_plans.contains(p)) else {
                continue;
            };
            table.walk_longer(&Prefix { plan, digits }, &mut |px, set| {
                for r in set.iter() {
                    let v = self.validate(plans, px, &r.attrs);
                    if v != r.attrs.validation {
                        redo.push((*px, r.clone(), v));
                    }
                }
                true
            });
        }
        for (px, r, validation) in redo {
            let route = retag(interner, &r, validation);
            table.upsert(&px, route);
            changed.push(px);
        }
        changed
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
}
