//! The replicated part of peering: each peer's configuration, which node
//! holds its session and in which epoch, and the routes it sent that were
//! not accepted (with why). Session I/O, timers and policy evaluation live
//! in the daemon; here is only what every node must agree on.
//!
//! Epochs fence sessions: a session's epoch is the log index of the
//! `SessionUp` that registered it, and route changes carrying any other
//! epoch are ignored. A node that lost its session (or a partition that
//! left it behind) therefore cannot change the table on its behalf.

use std::collections::BTreeMap;
use std::sync::Arc;

use trunkline_core::{Attrs, Prefix};

use crate::codec::{DecodeError, Reader, Writer};

/// Rejected routes remembered per peer (for `routes --received`); beyond
/// this only the newest are kept.
pub const REJECTED_PER_PEER: usize = 10_000;

/// Where a peer's configuration comes from: the API, or one node's config
/// file (which only that file can change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerOrigin {
    Api,
    Config { node: u64 },
}

impl PeerOrigin {
    /// On the wire and on disk: 0 for the API, else the node id (>= 1).
    pub(crate) fn code(self) -> u64 {
        match self {
            PeerOrigin::Api => 0,
            PeerOrigin::Config { node } => node,
        }
    }

    pub(crate) fn from_code(code: u64) -> PeerOrigin {
        match code {
            0 => PeerOrigin::Api,
            node => PeerOrigin::Config { node },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEntry {
    /// The peer's `[[peer]]` table, as TOML text; the daemon parses it.
    pub config: String,
    pub origin: PeerOrigin,
    /// The ITAD its config names (0 where an older entry or snapshot did
    /// not record it).
    pub itad: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionMark {
    /// Log index of the `SessionUp` that started it.
    pub epoch: u64,
    /// The node holding the session.
    pub node: u64,
    /// This cluster dialled it.
    pub outbound: bool,
    pub up: bool,
}

/// Reads an optional attribute-table reference.
pub(crate) type ReadAttrs<'a> =
    dyn FnMut(&mut Reader<'_>) -> Result<Option<Arc<Attrs>>, DecodeError> + 'a;

/// A route a peer sent that was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub why: String,
    /// What the peer sent (next hops, path, ...), where the log recorded it.
    pub attrs: Option<Arc<Attrs>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peers {
    pub configs: BTreeMap<String, PeerEntry>,
    pub sessions: BTreeMap<String, SessionMark>,
    /// Per peer: prefix → why its route was not accepted.
    pub rejected: BTreeMap<String, BTreeMap<Prefix, Rejection>>,
}

impl Peers {
    /// Another peer than `name` that has `itad`.
    pub fn itad_taken(&self, name: &str, itad: u32) -> Option<&str> {
        (itad != 0)
            .then(|| {
                self.configs
                    .iter()
                    .find(|(n, e)| n.as_str() != name && e.itad == itad)
                    .map(|(n, _)| n.as_str())
            })
            .flatten()
    }

    /// That `name` may have `itad`: no other peer has it.
    pub fn check_itad(&self, name: &str, itad: u32) -> Result<(), String> {
        match self.itad_taken(name, itad) {
            Some(other) => Err(format!("neighbor {other:?} already has ITAD {itad}")),
            None => Ok(()),
        }
    }

    /// The epoch route changes for `peer` must carry now, if its session is up.
    pub fn current_epoch(&self, peer: &str) -> Option<u64> {
        self.sessions.get(peer).filter(|s| s.up).map(|s| s.epoch)
    }

    pub(crate) fn reject(&mut self, peer: &str, prefix: Prefix, rejection: Rejection) {
        let list = self.rejected.entry(peer.to_owned()).or_default();
        list.insert(prefix, rejection);
        while list.len() > REJECTED_PER_PEER {
            list.pop_first();
        }
    }

    /// Every attribute set a refused route holds, for the encoder's tables.
    pub(crate) fn rejected_attrs(&self) -> impl Iterator<Item = &Arc<Attrs>> {
        self.rejected
            .values()
            .flat_map(|l| l.values())
            .filter_map(|r| r.attrs.as_ref())
    }

    /// `attrs` gives an attribute set's table index. Writes the newest
    /// format (snapshot version 4).
    pub(crate) fn write(
        &self,
        w: &mut Writer,
        mut prefix: impl FnMut(&mut Writer, &Prefix),
        mut attrs: impl FnMut(&Arc<Attrs>) -> u64,
    ) {
        w.varint(self.configs.len() as u64);
        for (name, e) in &self.configs {
            w.str(name);
            w.str(&e.config);
            w.varint(e.origin.code());
            w.varint(e.itad.into());
        }
        w.varint(self.sessions.len() as u64);
        for (name, s) in &self.sessions {
            w.str(name);
            w.varint(s.epoch);
            w.varint(s.node);
            w.u8(u8::from(s.outbound));
            w.u8(u8::from(s.up));
        }
        w.varint(self.rejected.len() as u64);
        for (name, list) in &self.rejected {
            w.str(name);
            w.varint(list.len() as u64);
            for (px, r) in list {
                prefix(w, px);
                w.str(&r.why);
                w.varint(r.attrs.as_ref().map_or(0, |a| attrs(a) + 1));
            }
        }
    }

    /// `attrs` reads an optional attribute index; `None` for snapshots
    /// written before refused routes kept their attributes.
    pub(crate) fn read(
        r: &mut Reader<'_>,
        mut prefix: impl FnMut(&mut Reader<'_>) -> Result<Prefix, DecodeError>,
        mut attrs: Option<&mut ReadAttrs<'_>>,
    ) -> Result<Peers, DecodeError> {
        let mut p = Peers::default();
        for _ in 0..r.len(3)? {
            let name = r.str()?.to_owned();
            let config = r.str()?.to_owned();
            let origin = PeerOrigin::from_code(r.varint()?);
            let itad = if attrs.is_some() { r.u32()? } else { 0 };
            p.configs.insert(
                name,
                PeerEntry {
                    config,
                    origin,
                    itad,
                },
            );
        }
        for _ in 0..r.len(4)? {
            let name = r.str()?.to_owned();
            let (epoch, node) = (r.varint()?, r.varint()?);
            let outbound = r.u8()? != 0;
            let up = r.u8()? != 0;
            let mark = SessionMark {
                epoch,
                node,
                outbound,
                up,
            };
            p.sessions.insert(name, mark);
        }
        for _ in 0..r.len(2)? {
            let name = r.str()?.to_owned();
            let mut list = BTreeMap::new();
            for _ in 0..r.len(3)? {
                let px = prefix(r)?;
                let why = r.str()?.to_owned();
                let attrs = match attrs.as_mut() {
                    Some(f) => f(r)?,
                    None => None,
                };
                list.insert(px, Rejection { why, attrs });
            }
            p.rejected.insert(name, list);
        }
        Ok(p)
    }
}
