//! The statements a federation holds, and which of them count at a
//! given time: each delegation must chain to a trust anchor, stay inside
//! what its issuer holds (blocks and validity window) and within the
//! anchor's depth; each authorisation must stay inside what its signer
//! holds; nothing revoked, expired, not yet valid, or from a signer whose
//! revocation list is overdue counts. What counts goes into the index
//! that origin validation reads.
//!
//! `now` is always an input (replicated time in the daemon), so every node
//! that holds the same statements and the same time decides alike.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use trunkline_core::Digits;

use crate::envelope::{EnvelopeError, Signed, key_id};
use crate::object::{KeyId, Statement, StatementId};
use crate::validate::{Index, IndexEntry};

/// A federation's root of authority over one plan, from config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub plan: String,
    pub name: String,
    /// Ed25519 public key.
    pub key: [u8; 32],
    /// Delegation levels below the anchor (a club under a federation is
    /// 1, a member under the club 2).
    pub max_depth: u8,
}

/// Why a statement counts or does not, at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Effective,
    /// Its signer is no anchor and holds nothing through a delegation
    /// that counts.
    UnknownSigner,
    NotYetValid,
    Expired,
    Revoked,
    /// Its signer's revocation list is overdue: nothing it signed counts.
    StaleSigner,
    /// A newer revocation list of the same signer replaces it.
    Superseded,
    /// It claims more than its signer holds: the reason.
    Exceeds(String),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Effective => f.write_str("effective"),
            Status::UnknownSigner => f.write_str("signed by a key that holds nothing here"),
            Status::NotYetValid => f.write_str("not valid yet"),
            Status::Expired => f.write_str("expired"),
            Status::Revoked => f.write_str("revoked by its signer"),
            Status::StaleSigner => f.write_str("its signer's revocation list is overdue"),
            Status::Superseded => f.write_str("replaced by a newer list"),
            Status::Exceeds(why) => write!(f, "exceeds its signer's authority: {why}"),
        }
    }
}

/// What a key holds through one anchor or delegation.
#[derive(Debug, Clone)]
struct Grant {
    plan: String,
    blocks: Vec<Digits>,
    may_delegate: bool,
    depth: u8,
    max_depth: u8,
    not_before: u64,
    not_after: u64,
}

impl Grant {
    fn covers(&self, d: &Digits) -> bool {
        self.blocks.iter().any(|b| d.starts_with(b))
    }
}

/// The federation's statements, verified, by id.
#[derive(Debug, Clone, Default)]
pub struct Authority {
    anchors: Vec<Anchor>,
    statements: BTreeMap<StatementId, Signed>,
    /// How long past a revocation list's next update its signer still counts.
    pub grace_secs: u64,
}

/// The statements that count at one time, and the index over them.
#[derive(Debug, Clone, Default)]
pub struct Effective {
    pub status: BTreeMap<StatementId, Status>,
    pub index: Index,
    /// The first time after the one judged at which a window opens or
    /// closes or a signer turns stale: until then the judgement holds
    /// (`u64::MAX`: forever).
    pub next_change: u64,
}

impl Authority {
    pub fn new(anchors: Vec<Anchor>, grace_secs: u64) -> Authority {
        Authority {
            anchors,
            statements: BTreeMap::new(),
            grace_secs,
        }
    }

    pub fn anchors(&self) -> &[Anchor] {
        &self.anchors
    }

    /// Verifies and keeps an envelope; its id. A second copy is a no-op.
    pub fn insert(&mut self, bytes: &[u8]) -> Result<StatementId, EnvelopeError> {
        Ok(self.keep(Signed::verify(bytes)?))
    }

    /// Keeps a statement already verified.
    pub fn keep(&mut self, s: Signed) -> StatementId {
        let id = s.id;
        self.statements.insert(id, s);
        id
    }

    pub fn remove(&mut self, id: &StatementId) -> Option<Signed> {
        self.statements.remove(id)
    }

    pub fn statements(&self) -> impl Iterator<Item = &Signed> {
        self.statements.values()
    }

    pub fn get(&self, id: &StatementId) -> Option<&Signed> {
        self.statements.get(id)
    }

    /// What counts at `now`.
    pub fn effective(&self, now: u64) -> Effective {
        let mut status = BTreeMap::new();
        // Each signer's current revocation list: the highest number
        // published at or before now.
        let mut lists: HashMap<KeyId, (&Signed, u64, u64)> = HashMap::new();
        for s in self.statements.values() {
            if let Statement::Revocations(r) = &s.statement
                && r.this_update <= now
            {
                let e = lists
                    .entry(s.signer_id())
                    .or_insert((s, r.number, r.next_update));
                if r.number > e.1 {
                    *e = (s, r.number, r.next_update);
                }
            }
        }
        let revoked: HashMap<KeyId, BTreeSet<StatementId>> = lists
            .iter()
            .map(|(k, (s, _, _))| match &s.statement {
                Statement::Revocations(r) => (*k, r.revoked.iter().copied().collect()),
                _ => unreachable!("only revocation lists are in `lists`"),
            })
            .collect();
        let stale = |k: &KeyId| {
            lists
                .get(k)
                .is_some_and(|(_, _, next)| now > next.saturating_add(self.grace_secs))
        };
        let mut grants: HashMap<KeyId, Vec<Grant>> = HashMap::new();
        for a in &self.anchors {
            grants.entry(key_id(&a.key)).or_default().push(Grant {
                plan: a.plan.clone(),
                blocks: vec![Digits::from_values(&[]).expect("no digits")],
                may_delegate: true,
                depth: 0,
                max_depth: a.max_depth,
                not_before: 0,
                not_after: u64::MAX,
            });
        }
        // A statement's fate, given the grants known so far.
        let judge =
            |s: &Signed, grants: &HashMap<KeyId, Vec<Grant>>| -> Result<Option<Grant>, Status> {
                let signer = s.signer_id();
                let (plan, nb, na) = match &s.statement {
                    Statement::Delegation(d) => (&d.plan, d.not_before, d.not_after),
                    Statement::Authorisation(a) => (&a.plan, a.not_before, a.not_after),
                    Statement::Revocations(_) => unreachable!("judged apart"),
                };
                let mine: Vec<&Grant> = grants
                    .get(&signer)
                    .into_iter()
                    .flatten()
                    .filter(|g| &g.plan == plan)
                    .collect();
                if mine.is_empty() {
                    return Err(Status::UnknownSigner);
                }
                if stale(&signer) {
                    return Err(Status::StaleSigner);
                }
                if revoked.get(&signer).is_some_and(|r| r.contains(&s.id)) {
                    return Err(Status::Revoked);
                }
                if now < nb {
                    return Err(Status::NotYetValid);
                }
                if now >= na {
                    return Err(Status::Expired);
                }
                let mut why = String::new();
                for g in mine {
                    let fits = match &s.statement {
                        Statement::Delegation(d) => {
                            if !g.may_delegate {
                                why = "its signer may not delegate".into();
                                continue;
                            }
                            if g.depth >= g.max_depth {
                                why = format!("deeper than the anchor allows ({})", g.max_depth);
                                continue;
                            }
                            d.blocks
                                .iter()
                                .find(|b| !g.covers(b))
                                .map(|b| format!("block {b}"))
                        }
                        Statement::Authorisation(a) => a
                            .entries
                            .iter()
                            .find(|e| !g.covers(&e.prefix))
                            .map(|e| format!("prefix {}", e.prefix)),
                        Statement::Revocations(_) => unreachable!(),
                    };
                    if let Some(outside) = fits {
                        why = format!("{outside} is outside what its signer holds");
                        continue;
                    }
                    if nb < g.not_before || na > g.not_after {
                        why = "its validity is not inside its signer's".into();
                        continue;
                    }
                    return Ok(match &s.statement {
                        Statement::Delegation(d) => Some(Grant {
                            plan: d.plan.clone(),
                            blocks: d.blocks.clone(),
                            may_delegate: d.may_delegate,
                            depth: g.depth + 1,
                            max_depth: g.max_depth,
                            not_before: nb,
                            not_after: na,
                        }),
                        _ => None,
                    });
                }
                Err(Status::Exceeds(why))
            };
        // Delegations, level by level until nothing new counts: a chain is
        // at most as long as the number of delegations.
        let delegations: Vec<&Signed> = self
            .statements
            .values()
            .filter(|s| matches!(s.statement, Statement::Delegation(_)))
            .collect();
        let mut counted: BTreeSet<StatementId> = BTreeSet::new();
        loop {
            let mut new = Vec::new();
            for s in &delegations {
                if counted.contains(&s.id) {
                    continue;
                }
                if let Ok(Some(g)) = judge(s, &grants)
                    && let Statement::Delegation(d) = &s.statement
                {
                    new.push((s.id, key_id(&d.subject), g));
                }
            }
            if new.is_empty() {
                break;
            }
            for (id, subject, g) in new {
                counted.insert(id);
                grants.entry(subject).or_default().push(g);
            }
        }
        let mut index = Index::default();
        // Every time at which some statement's standing can flip.
        let mut next_change = u64::MAX;
        let mut at = |t: u64| {
            if t > now {
                next_change = next_change.min(t);
            }
        };
        for s in self.statements.values() {
            let (nb, na) = s.statement.window();
            at(nb);
            at(na);
            if let Statement::Revocations(r) = &s.statement {
                // Stale once now > next_update + grace.
                at(r.next_update
                    .saturating_add(self.grace_secs)
                    .saturating_add(1));
            }
        }
        for s in self.statements.values() {
            let st = match &s.statement {
                Statement::Delegation(_) if counted.contains(&s.id) => Status::Effective,
                Statement::Delegation(_) => judge(s, &grants).err().unwrap_or(Status::Effective),
                Statement::Authorisation(a) => match judge(s, &grants) {
                    Ok(_) => {
                        for e in &a.entries {
                            index.add(
                                &a.plan,
                                e.prefix,
                                IndexEntry {
                                    origin: a.origin,
                                    max_len: e.max_len,
                                    id: s.id,
                                },
                            );
                        }
                        Status::Effective
                    }
                    Err(st) => st,
                },
                Statement::Revocations(r) => {
                    let signer = s.signer_id();
                    if !grants.contains_key(&signer) {
                        Status::UnknownSigner
                    } else if r.this_update > now {
                        Status::NotYetValid
                    } else if lists.get(&signer).is_some_and(|(cur, _, _)| cur.id != s.id) {
                        Status::Superseded
                    } else if stale(&signer) {
                        Status::StaleSigner
                    } else {
                        Status::Effective
                    }
                }
            };
            status.insert(s.id, st);
        }
        Effective {
            status,
            index,
            next_change,
        }
    }
}
