//! API credentials in the replicated state: each token's public id, the
//! hash of its secret (never the secret), its role, the prefixes a write
//! token is scoped to, and its expiry. Every node honours the same set,
//! and a revocation reaches every node with the log.
//!
//! Time is an input here as everywhere in this crate: expiry is a unix
//! second the daemon compares with its clock.

use std::collections::BTreeMap;

use trunkline_core::Prefix;

use crate::codec::{DecodeError, Reader, Writer};

/// What a credential may do; each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Lookups, lists, explain, status.
    Read,
    /// Announce and withdraw, inside the credential's prefixes.
    Write,
    /// Neighbors, cluster membership, tokens.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        match name {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    fn code(self) -> u8 {
        match self {
            Role::Read => 0,
            Role::Write => 1,
            Role::Admin => 2,
        }
    }

    fn from_code(c: u8) -> Result<Role, DecodeError> {
        match c {
            0 => Ok(Role::Read),
            1 => Ok(Role::Write),
            2 => Ok(Role::Admin),
            tag => Err(DecodeError::Tag {
                what: "role",
                tag: tag.into(),
            }),
        }
    }
}

/// One token, as replicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What it is for, shown in `token list`.
    pub name: String,
    /// SHA-256 of the secret part.
    pub hash: [u8; 32],
    pub role: Role,
    /// A write token may change routes only inside these; empty: anywhere.
    pub prefixes: Vec<Prefix>,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds; 0: never.
    pub expires_at: u64,
}

impl Token {
    pub fn expired(&self, now_unix: u64) -> bool {
        self.expires_at != 0 && now_unix >= self.expires_at
    }

    /// Whether a write to `p` is inside this token's scope.
    pub fn covers(&self, p: &Prefix) -> bool {
        self.prefixes.is_empty()
            || self
                .prefixes
                .iter()
                .any(|s| s.plan == p.plan && p.digits.starts_with(&s.digits))
    }
}

/// Every token, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    pub by_id: BTreeMap<String, Token>,
}

/// How a token's prefixes are written and read: through the caller's
/// plan table, as routes are.
pub type WritePrefix<'a> = dyn FnMut(&mut Writer, &Prefix) + 'a;
pub type ReadPrefix<'a> = dyn FnMut(&mut Reader<'_>) -> Result<Prefix, DecodeError> + 'a;

pub fn write_token(w: &mut Writer, t: &Token, prefix: &mut WritePrefix<'_>) {
    w.str(&t.name);
    w.bytes(&t.hash);
    w.u8(t.role.code());
    w.varint(t.prefixes.len() as u64);
    for p in &t.prefixes {
        prefix(w, p);
    }
    w.varint(t.created_at);
    w.varint(t.expires_at);
}

pub fn read_token(r: &mut Reader<'_>, prefix: &mut ReadPrefix<'_>) -> Result<Token, DecodeError> {
    let name = r.str()?.to_owned();
    let hash = r
        .bytes()?
        .try_into()
        .map_err(|_| DecodeError::Invalid("a token hash is 32 bytes".into()))?;
    let role = Role::from_code(r.u8()?)?;
    let n = r.len(2)?;
    let prefixes = (0..n).map(|_| prefix(r)).collect::<Result<_, _>>()?;
    Ok(Token {
        name,
        hash,
        role,
        prefixes,
        created_at: r.varint()?,
        expires_at: r.varint()?,
    })
}

impl Tokens {
    pub fn write(&self, w: &mut Writer, prefix: &mut WritePrefix<'_>) {
        w.varint(self.by_id.len() as u64);
        for (id, t) in &self.by_id {
            w.str(id);
            write_token(w, t, prefix);
        }
    }

    pub fn read(r: &mut Reader<'_>, prefix: &mut ReadPrefix<'_>) -> Result<Tokens, DecodeError> {
        let mut by_id = BTreeMap::new();
        for _ in 0..r.len(40)? {
            let id = r.str()?.to_owned();
            by_id.insert(id, read_token(r, prefix)?);
        }
        Ok(Tokens { by_id })
    }

    /// Every prefix any token is scoped to (for the plan table).
    pub fn prefixes(&self) -> impl Iterator<Item = &Prefix> {
        self.by_id.values().flat_map(|t| &t.prefixes)
    }
}
