//! The three statements an authority signs, and their canonical payloads.
//!
//! - A [`Delegation`]: its signer gives the subject key number blocks in
//!   one plan, for a validity window, and says whether it may delegate on.
//! - An [`Authorisation`]: its signer lets one origin ITAD announce
//!   prefixes it holds, each up to a maximum length.
//! - [`Revocations`]: its signer's numbered list of statements it
//!   withdrew, with the time of the next list.
//!
//! Times are unix seconds, judged against replicated time by the caller.

use trunkline_core::Digits;

use crate::codec::{DecodeError, Reader, Writer, invalid};

/// SHA-256 of a public key.
pub type KeyId = [u8; 32];
/// SHA-256 of a signed statement (its kind, payload and signer).
pub type StatementId = [u8; 32];

/// Most blocks, entries or revoked ids in one statement.
pub const MAX_ITEMS: usize = 1024;
/// Longest name.
pub const MAX_NAME: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// The issuer's number for it (distinguishes reissues).
    pub serial: u64,
    /// The public key receiving the blocks.
    pub subject: [u8; 32],
    /// Who the subject is, for people.
    pub name: String,
    pub plan: String,
    /// Sorted, none a prefix of another.
    pub blocks: Vec<Digits>,
    pub may_delegate: bool,
    pub not_before: u64,
    pub not_after: u64,
}

/// One authorised prefix: announced by the origin up to `max_len` digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub prefix: Digits,
    pub max_len: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorisation {
    pub serial: u64,
    pub plan: String,
    /// The ITAD that may originate these; 0: nobody may (as AS 0).
    pub origin: u32,
    /// Sorted by prefix, one entry per prefix.
    pub entries: Vec<Entry>,
    pub not_before: u64,
    pub not_after: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocations {
    /// Grows with each list; the highest number is the signer's current list.
    pub number: u64,
    pub this_update: u64,
    /// After this (plus the reader's grace), the signer is stale and none
    /// of its statements count: stale data fails closed.
    pub next_update: u64,
    /// Sorted, unique.
    pub revoked: Vec<StatementId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    Delegation(Delegation),
    Authorisation(Authorisation),
    Revocations(Revocations),
}

/// The statement kinds, as named in the signature's payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Delegation,
    Authorisation,
    Revocations,
}

impl Kind {
    pub fn payload_type(self) -> &'static str {
        match self {
            Kind::Delegation => "trunkline.dev/delegation/v1",
            Kind::Authorisation => "trunkline.dev/authorisation/v1",
            Kind::Revocations => "trunkline.dev/revocations/v1",
        }
    }
    pub(crate) fn code(self) -> u8 {
        match self {
            Kind::Delegation => 1,
            Kind::Authorisation => 2,
            Kind::Revocations => 3,
        }
    }
    pub(crate) fn from_code(c: u8) -> Result<Kind, DecodeError> {
        match c {
            1 => Ok(Kind::Delegation),
            2 => Ok(Kind::Authorisation),
            3 => Ok(Kind::Revocations),
            _ => Err(invalid(format!("unknown statement kind {c}"))),
        }
    }
}

/// Plan names as the config writes them.
pub fn check_plan(plan: &str) -> Result<(), String> {
    let ok = !plan.is_empty()
        && plan.len() <= 32
        && plan
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("plan {plan:?}: 1-32 of a-z 0-9 -"))
    }
}

/// The rules a statement's fields keep; a decoded statement is checked by
/// them too, so nothing that breaks one is ever accepted.
fn check(s: &Statement) -> Result<(), String> {
    let window = |nb: u64, na: u64| {
        if nb < na {
            Ok(())
        } else {
            Err("not_before must be before not_after".to_owned())
        }
    };
    match s {
        Statement::Delegation(d) => {
            check_plan(&d.plan)?;
            if d.name.len() > MAX_NAME {
                return Err(format!("name: at most {MAX_NAME} bytes"));
            }
            if d.blocks.is_empty() || d.blocks.len() > MAX_ITEMS {
                return Err(format!("1 to {MAX_ITEMS} blocks"));
            }
            for w in d.blocks.windows(2) {
                if w[0] >= w[1] || w[1].starts_with(&w[0]) {
                    return Err(format!(
                        "blocks must be sorted and disjoint ({} then {})",
                        w[0], w[1]
                    ));
                }
            }
            window(d.not_before, d.not_after)
        }
        Statement::Authorisation(a) => {
            check_plan(&a.plan)?;
            if a.entries.is_empty() || a.entries.len() > MAX_ITEMS {
                return Err(format!("1 to {MAX_ITEMS} prefixes"));
            }
            for e in &a.entries {
                if usize::from(e.max_len) < e.prefix.len()
                    || usize::from(e.max_len) > trunkline_core::plan::MAX_DIGITS
                {
                    return Err(format!(
                        "{}: max length {} is shorter than the prefix or over {}",
                        e.prefix,
                        e.max_len,
                        trunkline_core::plan::MAX_DIGITS
                    ));
                }
            }
            for w in a.entries.windows(2) {
                if w[0].prefix >= w[1].prefix {
                    return Err(format!(
                        "prefixes must be sorted and unique ({} then {})",
                        w[0].prefix, w[1].prefix
                    ));
                }
            }
            window(a.not_before, a.not_after)
        }
        Statement::Revocations(r) => {
            if r.revoked.len() > MAX_ITEMS {
                return Err(format!("at most {MAX_ITEMS} revoked statements"));
            }
            if r.revoked.windows(2).any(|w| w[0] >= w[1]) {
                return Err("revoked ids must be sorted and unique".into());
            }
            if r.this_update >= r.next_update {
                return Err("this_update must be before next_update".into());
            }
            Ok(())
        }
    }
}

impl Statement {
    pub fn kind(&self) -> Kind {
        match self {
            Statement::Delegation(_) => Kind::Delegation,
            Statement::Authorisation(_) => Kind::Authorisation,
            Statement::Revocations(_) => Kind::Revocations,
        }
    }

    /// The canonical payload; Err if a field breaks the rules.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        check(self)?;
        let mut w = Writer::default();
        match self {
            Statement::Delegation(d) => {
                w.u64(d.serial);
                w.bytes(&d.subject);
                w.str(&d.name);
                w.str(&d.plan);
                w.u16(d.blocks.len() as u16);
                for b in &d.blocks {
                    w.digits(b);
                }
                w.u8(u8::from(d.may_delegate));
                w.u64(d.not_before);
                w.u64(d.not_after);
            }
            Statement::Authorisation(a) => {
                w.u64(a.serial);
                w.str(&a.plan);
                w.u32(a.origin);
                w.u16(a.entries.len() as u16);
                for e in &a.entries {
                    w.digits(&e.prefix);
                    w.u8(e.max_len);
                }
                w.u64(a.not_before);
                w.u64(a.not_after);
            }
            Statement::Revocations(r) => {
                w.u64(r.number);
                w.u64(r.this_update);
                w.u64(r.next_update);
                w.u16(r.revoked.len() as u16);
                for id in &r.revoked {
                    w.bytes(id);
                }
            }
        }
        Ok(w.buf)
    }

    /// Decodes a payload of `kind`, refusing any that is not canonical.
    pub fn decode(kind: Kind, payload: &[u8]) -> Result<Statement, DecodeError> {
        let mut r = Reader::new(payload);
        let s = match kind {
            Kind::Delegation => {
                let serial = r.u64()?;
                let subject = r.array()?;
                let name = r.str()?.to_owned();
                let plan = r.str()?.to_owned();
                let n = r.count(MAX_ITEMS)?;
                let blocks = (0..n).map(|_| r.digits()).collect::<Result<_, _>>()?;
                Statement::Delegation(Delegation {
                    serial,
                    subject,
                    name,
                    plan,
                    blocks,
                    may_delegate: r.bool()?,
                    not_before: r.u64()?,
                    not_after: r.u64()?,
                })
            }
            Kind::Authorisation => {
                let serial = r.u64()?;
                let plan = r.str()?.to_owned();
                let origin = r.u32()?;
                let n = r.count(MAX_ITEMS)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push(Entry {
                        prefix: r.digits()?,
                        max_len: r.u8()?,
                    });
                }
                Statement::Authorisation(Authorisation {
                    serial,
                    plan,
                    origin,
                    entries,
                    not_before: r.u64()?,
                    not_after: r.u64()?,
                })
            }
            Kind::Revocations => {
                let number = r.u64()?;
                let this_update = r.u64()?;
                let next_update = r.u64()?;
                let n = r.count(MAX_ITEMS)?;
                let revoked = (0..n).map(|_| r.array()).collect::<Result<_, _>>()?;
                Statement::Revocations(Revocations {
                    number,
                    this_update,
                    next_update,
                    revoked,
                })
            }
        };
        r.finish()?;
        check(&s).map_err(invalid)?;
        Ok(s)
    }
}
