//! Invitations to join an exchange as a member, in the replicated state:
//! who the member will be (name, ITAD, the blocks it may announce), the
//! hash of the invite's secret (never the secret), its expiry and how many
//! times it may still be redeemed. Redeeming one and configuring the
//! member happen in one command, so two nodes redeeming a single-use
//! invite at once cannot both succeed.
//!
//! Time is an input: expiry is a unix second the daemon compares with its
//! clock before it proposes a redemption, as with tokens.

use std::collections::BTreeMap;

use crate::codec::{DecodeError, Reader, Writer};
use crate::peers::Peers;

/// One invite, as replicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// The member's name: its `[[peer]]` name here, and the name in its
    /// certificate.
    pub member: String,
    pub itad: u32,
    /// The blocks it may announce, canonical prefixes (`+1555123`).
    pub allowed: Vec<String>,
    /// SHA-256 of the secret.
    pub hash: [u8; 32],
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub expires_at: u64,
    pub uses_left: u32,
    /// Times it was redeemed.
    pub used: u32,
}

impl Invite {
    pub fn expired(&self, now_unix: u64) -> bool {
        now_unix >= self.expires_at
    }
}

/// Every invite, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invites {
    pub by_id: BTreeMap<String, Invite>,
}

pub fn write_invite(w: &mut Writer, i: &Invite) {
    w.str(&i.member);
    w.varint(i.itad.into());
    w.varint(i.allowed.len() as u64);
    for a in &i.allowed {
        w.str(a);
    }
    w.bytes(&i.hash);
    w.varint(i.created_at);
    w.varint(i.expires_at);
    w.varint(i.uses_left.into());
    w.varint(i.used.into());
}

pub fn read_invite(r: &mut Reader<'_>) -> Result<Invite, DecodeError> {
    let member = r.str()?.to_owned();
    let itad = r.u32()?;
    let n = r.len(1)?;
    let allowed = (0..n)
        .map(|_| r.str().map(str::to_owned))
        .collect::<Result<_, _>>()?;
    let hash = r
        .bytes()?
        .try_into()
        .map_err(|_| DecodeError::Invalid("an invite hash is 32 bytes".into()))?;
    Ok(Invite {
        member,
        itad,
        allowed,
        hash,
        created_at: r.varint()?,
        expires_at: r.varint()?,
        uses_left: r.u32()?,
        used: r.u32()?,
    })
}

impl Invites {
    pub fn write(&self, w: &mut Writer) {
        w.varint(self.by_id.len() as u64);
        for (id, i) in &self.by_id {
            w.str(id);
            write_invite(w, i);
        }
    }

    /// Why `id` cannot be redeemed with the secret hashing to `hash`, if
    /// it cannot.
    pub fn check_redeem(&self, id: &str, hash: &[u8; 32], peers: &Peers) -> Result<(), String> {
        match self.by_id.get(id) {
            None => Err(format!("invite {id} is unknown or was revoked")),
            Some(i) if i.hash != *hash => Err(format!("invite {id}: the secret does not match")),
            Some(i) if i.uses_left == 0 => Err(format!(
                "invite {id} was used already ({} time{})",
                i.used,
                if i.used == 1 { "" } else { "s" }
            )),
            Some(i) => peers.check_itad(&i.member, i.itad),
        }
    }

    /// Uses `id` once: its member's name and ITAD.
    pub fn redeem(&mut self, id: &str) -> Option<(String, u32)> {
        let i = self.by_id.get_mut(id)?;
        i.uses_left -= 1;
        i.used += 1;
        Some((i.member.clone(), i.itad))
    }

    pub fn read(r: &mut Reader<'_>) -> Result<Invites, DecodeError> {
        let mut by_id = BTreeMap::new();
        for _ in 0..r.len(40)? {
            let id = r.str()?.to_owned();
            by_id.insert(id, read_invite(r)?);
        }
        Ok(Invites { by_id })
    }
}
