//! Replicated commands and their encoding in log entries.
//!
//! One log entry carries a batch of proposals. Plan names and route
//! attributes are written once per entry in tables and referred to by
//! index, so a bulk load of a million blocks to one trunk stays small.

use std::collections::HashMap;
use std::sync::Arc;

use trunkline_core::table::AttrsInterner;
use trunkline_core::{
    Attrs, Digits, LargeCommunity, NextHop, PlanId, Plans, Prefix, Source, Validation,
};

use crate::codec::{DecodeError, Reader, Writer};

/// Version 2 added `Attrs::local_from` and the attributes of refused
/// routes; entries of version 1 (older logs) still decode.
const BATCH_VERSION: u8 = 2;
const BATCH_VERSION_1: u8 = 1;

/// A route a peer sent that was not accepted: why, and what was sent
/// (absent in entries written before version 2).
pub type Refused = (Prefix, String, Option<Arc<Attrs>>);

/// A change to the replicated state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Install routes; each replaces the route of the same source for its prefix.
    Announce(Vec<(Prefix, Arc<Attrs>)>),
    /// Remove `source`'s routes for these prefixes.
    Withdraw {
        source: Source,
        prefixes: Vec<Prefix>,
    },
    /// Make `source`'s routes exactly this set (used for config routes).
    Replace {
        source: Source,
        routes: Vec<(Prefix, Arc<Attrs>)>,
    },
    /// Add or replace a peer's configuration (its `[[peer]]` TOML table).
    PeerSet {
        name: String,
        config: String,
        origin: crate::peers::PeerOrigin,
        /// The peer's ITAD, from its config: no two peers may share one.
        /// 0 in entries of version 1, which did not carry it.
        itad: u32,
    },
    /// Remove a peer, its session and every route it sent.
    PeerDelete { name: String },
    /// A session with `peer` reached Established on `node`. Its epoch is
    /// the log index of this command; the routes of earlier sessions are
    /// marked stale until refreshed or swept.
    SessionUp {
        peer: String,
        node: u64,
        /// This cluster dialled the session (for collision resolution).
        outbound: bool,
    },
    /// The session of `epoch` ended. Graceful: keep its routes, stale;
    /// otherwise remove them.
    SessionDown {
        peer: String,
        epoch: u64,
        graceful: bool,
    },
    /// Routes the session of `epoch` received: accepted ones to install,
    /// withdrawn prefixes, and refused ones with the reason.
    PeerRoutes {
        peer: String,
        epoch: u64,
        announce: Vec<(Prefix, Arc<Attrs>)>,
        withdraw: Vec<Prefix>,
        rejected: Vec<Refused>,
    },
    /// The peer finished sending `plan`: its routes still stale there go.
    EndOfRib {
        peer: String,
        epoch: u64,
        plan: PlanId,
    },
    /// The peer's restart time ran out: every stale route of it goes.
    SweepStale { peer: String },
    /// Add an API token (its secret's hash); a taken id is refused.
    TokenCreate {
        id: String,
        token: crate::tokens::Token,
    },
    /// Remove an API token; an unknown id is refused.
    TokenRevoke { id: String },
    /// Keep a signed authority statement (its exact bytes); one that does
    /// not verify is refused.
    AuthorityPublish { statement: Vec<u8> },
    /// Replicated time, proposed by the leader: validity windows are
    /// judged against it, so they flip at the same log position on every
    /// node. Never moves back.
    Tick { unix_secs: u64 },
    /// Statements a peer sent (each its exact bytes): those that verify,
    /// are new, and come from signers the federation knows are kept
    /// (see `trunkline_authority::exchange`); the rest are dropped.
    AuthorityLearn { statements: Vec<Vec<u8>> },
    /// Keep an invite; a taken id, or an ITAD another neighbor has, is
    /// refused.
    InviteCreate {
        id: String,
        invite: crate::invites::Invite,
    },
    /// Remove an invite; an unknown id is refused.
    InviteRevoke { id: String },
    /// Redeem an invite whose secret hashes to `hash`, and configure its
    /// member with `config` (its `[[peer]]` table): both or neither. An
    /// unknown or used-up invite, or a wrong secret, is refused.
    InviteRedeem {
        id: String,
        hash: [u8; 32],
        config: String,
    },
}

/// Who proposed a command, so the proposing node can answer its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Origin {
    pub node: u64,
    pub token: u64,
}

/// One client request in a log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub origin: Origin,
    /// Empty, or an id that makes a retried request apply once.
    pub request_id: String,
    pub command: Command,
}

/// Tables of plan names and attributes shared by the items of one encoding.
#[derive(Debug, Default)]
pub(crate) struct Tables<'a> {
    plans: HashMap<PlanId, u64>,
    plan_names: Vec<&'a str>,
    attrs: HashMap<*const Attrs, u64>,
    attrs_list: Vec<Arc<Attrs>>,
}

impl<'a> Tables<'a> {
    pub(crate) fn plan(&mut self, plans: &'a Plans, id: PlanId) -> u64 {
        *self.plans.entry(id).or_insert_with(|| {
            self.plan_names.push(plans.name(id));
            self.plan_names.len() as u64 - 1
        })
    }

    /// The index of a plan already in the table.
    pub(crate) fn plan_index(&self, id: PlanId) -> u64 {
        self.plans[&id]
    }

    pub(crate) fn attrs(&mut self, a: &Arc<Attrs>) -> u64 {
        *self.attrs.entry(Arc::as_ptr(a)).or_insert_with(|| {
            self.attrs_list.push(a.clone());
            self.attrs_list.len() as u64 - 1
        })
    }

    /// The index of attributes already in the table.
    pub(crate) fn attrs_index(&self, a: &Arc<Attrs>) -> u64 {
        self.attrs[&Arc::as_ptr(a)]
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.varint(self.plan_names.len() as u64);
        for n in &self.plan_names {
            w.str(n);
        }
        w.varint(self.attrs_list.len() as u64);
        for a in &self.attrs_list {
            write_attrs(w, a);
        }
    }
}

/// Decoded tables: plan ids and interned attributes by index.
#[derive(Debug)]
pub(crate) struct ReadTables {
    plans: Vec<PlanId>,
    attrs: Vec<Arc<Attrs>>,
}

impl ReadTables {
    /// `with_local_from`: the attributes carry `local_from` (batch
    /// version 2, snapshot version 4 and later).
    pub(crate) fn read(
        r: &mut Reader<'_>,
        plans: &Plans,
        interner: &mut AttrsInterner,
        with_local_from: bool,
    ) -> Result<ReadTables, DecodeError> {
        let n = r.len(1)?;
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let name = r.str()?;
            ids.push(
                plans
                    .by_name(name)
                    .ok_or_else(|| DecodeError::Invalid(format!("unknown number plan {name:?}")))?,
            );
        }
        let n = r.len(4)?;
        let mut attrs = Vec::with_capacity(n);
        for _ in 0..n {
            attrs.push(interner.intern(read_attrs(r, with_local_from)?));
        }
        Ok(ReadTables { plans: ids, attrs })
    }

    pub(crate) fn prefix(&self, r: &mut Reader<'_>, plans: &Plans) -> Result<Prefix, DecodeError> {
        let plan = self.plan(r)?;
        let raw = r.bytes()?;
        let max = plans.get(plan).map_or(0, |p| p.max_digits as usize);
        let digits = std::str::from_utf8(raw)
            .ok()
            .filter(|_| raw.len() <= max)
            .and_then(Digits::from_ascii)
            .ok_or(DecodeError::Invalid("bad prefix digits".into()))?;
        Ok(Prefix { plan, digits })
    }

    pub(crate) fn plan(&self, r: &mut Reader<'_>) -> Result<PlanId, DecodeError> {
        self.plans
            .get(r.varint()? as usize)
            .copied()
            .ok_or(DecodeError::Invalid("plan index out of range".into()))
    }

    pub(crate) fn attrs(&self, r: &mut Reader<'_>) -> Result<Arc<Attrs>, DecodeError> {
        self.attrs
            .get(r.varint()? as usize)
            .cloned()
            .ok_or(DecodeError::Invalid("attrs index out of range".into()))
    }

    /// Attributes that may be absent: 0, or an index plus one.
    pub(crate) fn opt_attrs(&self, r: &mut Reader<'_>) -> Result<Option<Arc<Attrs>>, DecodeError> {
        match r.varint()? {
            0 => Ok(None),
            i => self
                .attrs
                .get(i as usize - 1)
                .cloned()
                .map(Some)
                .ok_or(DecodeError::Invalid("attrs index out of range".into())),
        }
    }
}

pub(crate) fn write_prefix(w: &mut Writer, plan_index: u64, p: &Prefix) {
    w.varint(plan_index);
    w.varint(p.digits.len() as u64);
    w.buf.extend(p.digits.as_slice().iter().map(|d| b'0' + d));
}

fn write_source(w: &mut Writer, s: &Source) {
    match s {
        Source::Api => w.u8(0),
        Source::Config { node } => {
            w.u8(1);
            w.varint(*node);
        }
        Source::Peer { itad, name } => {
            w.u8(2);
            w.varint(u64::from(*itad));
            w.str(name);
        }
    }
}

fn read_source(r: &mut Reader<'_>) -> Result<Source, DecodeError> {
    Ok(match r.u8()? {
        0 => Source::Api,
        1 => Source::Config { node: r.varint()? },
        2 => Source::Peer {
            itad: r.u32()?,
            name: r.str()?.into(),
        },
        tag => {
            return Err(DecodeError::Tag {
                what: "source",
                tag: tag.into(),
            });
        }
    })
}

fn write_attrs(w: &mut Writer, a: &Attrs) {
    write_source(w, &a.source);
    w.varint(a.next_hops.len() as u64);
    for h in &a.next_hops {
        w.str(&h.uri);
        w.varint(h.priority.into());
        w.varint(h.weight.into());
    }
    w.varint(a.path.len() as u64);
    for i in &a.path {
        w.varint((*i).into());
    }
    w.varint(a.local_pref.into());
    w.varint(a.med.into());
    w.varint(a.communities.len() as u64);
    for c in &a.communities {
        w.varint(c.0.into());
        w.varint(c.1.into());
        w.varint(c.2.into());
    }
    // The high bit: reject not-found (absent before it existed).
    w.u8(match a.validation {
        Validation::NotFound => 0,
        Validation::Valid => 1,
        Validation::Invalid => 2,
    } | if a.reject_not_found { 0x80 } else { 0 });
    w.varint(a.local_from.map_or(0, |n| u64::from(n) + 1));
}

fn read_attrs(r: &mut Reader<'_>, with_local_from: bool) -> Result<Attrs, DecodeError> {
    let source = read_source(r)?;
    let n = r.len(3)?;
    let mut next_hops = Vec::with_capacity(n);
    for _ in 0..n {
        let uri = r.str()?;
        let (priority, weight) = (r.u32()?, r.u32()?);
        next_hops.push(
            NextHop::new(uri, priority, weight).map_err(|e| DecodeError::Invalid(e.to_string()))?,
        );
    }
    let n = r.len(1)?;
    let path = (0..n).map(|_| r.u32()).collect::<Result<_, _>>()?;
    let (local_pref, med) = (r.u32()?, r.u32()?);
    let n = r.len(3)?;
    let communities = (0..n)
        .map(|_| Ok(LargeCommunity(r.u32()?, r.u32()?, r.u32()?)))
        .collect::<Result<_, DecodeError>>()?;
    let byte = r.u8()?;
    let reject_not_found = byte & 0x80 != 0;
    let validation = match byte & 0x7f {
        0 => Validation::NotFound,
        1 => Validation::Valid,
        2 => Validation::Invalid,
        tag => {
            return Err(DecodeError::Tag {
                what: "validation",
                tag: tag.into(),
            });
        }
    };
    let local_from = match with_local_from {
        false => None,
        true => match r.varint()? {
            0 => None,
            n => Some(
                u8::try_from(n - 1)
                    .ok()
                    .filter(|&n| usize::from(n) <= trunkline_core::plan::MAX_DIGITS)
                    .ok_or(DecodeError::Invalid("local_from out of range".into()))?,
            ),
        },
    };
    Ok(Attrs {
        source,
        next_hops,
        path,
        local_pref,
        med,
        communities,
        validation,
        reject_not_found,
        local_from,
    })
}

/// Encodes a batch of proposals as the data of one log entry.
pub fn encode_batch(batch: &[Proposal], plans: &Plans) -> Vec<u8> {
    let mut tables = Tables::default();
    let mut body = Writer::default();
    body.varint(batch.len() as u64);
    for p in batch {
        body.varint(p.origin.node);
        body.varint(p.origin.token);
        body.str(&p.request_id);
        match &p.command {
            Command::Announce(routes) => {
                body.u8(0);
                write_routes(&mut body, &mut tables, plans, routes);
            }
            Command::Withdraw { source, prefixes } => {
                body.u8(1);
                write_source(&mut body, source);
                body.varint(prefixes.len() as u64);
                for px in prefixes {
                    let i = tables.plan(plans, px.plan);
                    write_prefix(&mut body, i, px);
                }
            }
            Command::Replace { source, routes } => {
                body.u8(2);
                write_source(&mut body, source);
                write_routes(&mut body, &mut tables, plans, routes);
            }
            Command::PeerSet {
                name,
                config,
                origin,
                itad,
            } => {
                body.u8(3);
                body.str(name);
                body.str(config);
                body.varint(origin.code());
                body.varint((*itad).into());
            }
            Command::PeerDelete { name } => {
                body.u8(4);
                body.str(name);
            }
            Command::SessionUp {
                peer,
                node,
                outbound,
            } => {
                body.u8(5);
                body.str(peer);
                body.varint(*node);
                body.u8(u8::from(*outbound));
            }
            Command::SessionDown {
                peer,
                epoch,
                graceful,
            } => {
                body.u8(6);
                body.str(peer);
                body.varint(*epoch);
                body.u8(u8::from(*graceful));
            }
            Command::PeerRoutes {
                peer,
                epoch,
                announce,
                withdraw,
                rejected,
            } => {
                body.u8(7);
                body.str(peer);
                body.varint(*epoch);
                write_routes(&mut body, &mut tables, plans, announce);
                body.varint(withdraw.len() as u64);
                for px in withdraw {
                    let i = tables.plan(plans, px.plan);
                    write_prefix(&mut body, i, px);
                }
                body.varint(rejected.len() as u64);
                for (px, why, attrs) in rejected {
                    let i = tables.plan(plans, px.plan);
                    write_prefix(&mut body, i, px);
                    body.str(why);
                    body.varint(attrs.as_ref().map_or(0, |a| tables.attrs(a) + 1));
                }
            }
            Command::EndOfRib { peer, epoch, plan } => {
                body.u8(8);
                body.str(peer);
                body.varint(*epoch);
                body.varint(tables.plan(plans, *plan));
            }
            Command::SweepStale { peer } => {
                body.u8(9);
                body.str(peer);
            }
            Command::TokenCreate { id, token } => {
                body.u8(10);
                body.str(id);
                crate::tokens::write_token(&mut body, token, &mut |w, px| {
                    let i = tables.plan(plans, px.plan);
                    write_prefix(w, i, px);
                });
            }
            Command::TokenRevoke { id } => {
                body.u8(11);
                body.str(id);
            }
            Command::AuthorityPublish { statement } => {
                body.u8(12);
                body.bytes(statement);
            }
            Command::Tick { unix_secs } => {
                body.u8(13);
                body.varint(*unix_secs);
            }
            Command::AuthorityLearn { statements } => {
                body.u8(14);
                body.varint(statements.len() as u64);
                for s in statements {
                    body.bytes(s);
                }
            }
            Command::InviteCreate { id, invite } => {
                body.u8(15);
                body.str(id);
                crate::invites::write_invite(&mut body, invite);
            }
            Command::InviteRevoke { id } => {
                body.u8(16);
                body.str(id);
            }
            Command::InviteRedeem { id, hash, config } => {
                body.u8(17);
                body.str(id);
                body.bytes(hash);
                body.str(config);
            }
        }
    }
    let mut w = Writer::default();
    w.u8(BATCH_VERSION);
    tables.write(&mut w);
    w.buf.extend_from_slice(&body.buf);
    w.buf
}

fn write_routes<'a>(
    w: &mut Writer,
    tables: &mut Tables<'a>,
    plans: &'a Plans,
    routes: &[(Prefix, Arc<Attrs>)],
) {
    w.varint(routes.len() as u64);
    for (px, a) in routes {
        let i = tables.plan(plans, px.plan);
        write_prefix(w, i, px);
        w.varint(tables.attrs(a));
    }
}

fn read_routes(
    r: &mut Reader<'_>,
    t: &ReadTables,
    plans: &Plans,
) -> Result<Vec<(Prefix, Arc<Attrs>)>, DecodeError> {
    let n = r.len(3)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let px = t.prefix(r, plans)?;
        out.push((px, t.attrs(r)?));
    }
    Ok(out)
}

/// Decodes the data of a log entry.
pub fn decode_batch(
    data: &[u8],
    plans: &Plans,
    interner: &mut AttrsInterner,
) -> Result<Vec<Proposal>, DecodeError> {
    let mut r = Reader::new(data);
    let v = r.u8()?;
    if v != BATCH_VERSION && v != BATCH_VERSION_1 {
        return Err(DecodeError::Version(v.into()));
    }
    let v2 = v == BATCH_VERSION;
    let t = ReadTables::read(&mut r, plans, interner, v2)?;
    let n = r.len(4)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let origin = Origin {
            node: r.varint()?,
            token: r.varint()?,
        };
        let request_id = r.str()?.to_owned();
        let command = match r.u8()? {
            0 => Command::Announce(read_routes(&mut r, &t, plans)?),
            1 => {
                let source = read_source(&mut r)?;
                let k = r.len(2)?;
                let prefixes = (0..k)
                    .map(|_| t.prefix(&mut r, plans))
                    .collect::<Result<_, _>>()?;
                Command::Withdraw { source, prefixes }
            }
            2 => {
                let source = read_source(&mut r)?;
                Command::Replace {
                    source,
                    routes: read_routes(&mut r, &t, plans)?,
                }
            }
            3 => Command::PeerSet {
                name: r.str()?.to_owned(),
                config: r.str()?.to_owned(),
                origin: crate::peers::PeerOrigin::from_code(r.varint()?),
                itad: if v2 { r.u32()? } else { 0 },
            },
            4 => Command::PeerDelete {
                name: r.str()?.to_owned(),
            },
            5 => Command::SessionUp {
                peer: r.str()?.to_owned(),
                node: r.varint()?,
                outbound: r.u8()? != 0,
            },
            6 => Command::SessionDown {
                peer: r.str()?.to_owned(),
                epoch: r.varint()?,
                graceful: r.u8()? != 0,
            },
            7 => {
                let peer = r.str()?.to_owned();
                let epoch = r.varint()?;
                let announce = read_routes(&mut r, &t, plans)?;
                let k = r.len(2)?;
                let withdraw = (0..k)
                    .map(|_| t.prefix(&mut r, plans))
                    .collect::<Result<_, _>>()?;
                let k = r.len(3)?;
                let mut rejected = Vec::with_capacity(k);
                for _ in 0..k {
                    let px = t.prefix(&mut r, plans)?;
                    let why = r.str()?.to_owned();
                    let attrs = if v2 { t.opt_attrs(&mut r)? } else { None };
                    rejected.push((px, why, attrs));
                }
                Command::PeerRoutes {
                    peer,
                    epoch,
                    announce,
                    withdraw,
                    rejected,
                }
            }
            8 => Command::EndOfRib {
                peer: r.str()?.to_owned(),
                epoch: r.varint()?,
                plan: t.plan(&mut r)?,
            },
            9 => Command::SweepStale {
                peer: r.str()?.to_owned(),
            },
            10 => Command::TokenCreate {
                id: r.str()?.to_owned(),
                token: crate::tokens::read_token(&mut r, &mut |r| t.prefix(r, plans))?,
            },
            11 => Command::TokenRevoke {
                id: r.str()?.to_owned(),
            },
            12 => Command::AuthorityPublish {
                statement: r.bytes()?.to_vec(),
            },
            13 => Command::Tick {
                unix_secs: r.varint()?,
            },
            14 => {
                let n = r.len(3)?;
                let mut statements = Vec::with_capacity(n);
                for _ in 0..n {
                    statements.push(r.bytes()?.to_vec());
                }
                Command::AuthorityLearn { statements }
            }
            15 => Command::InviteCreate {
                id: r.str()?.to_owned(),
                invite: crate::invites::read_invite(&mut r)?,
            },
            16 => Command::InviteRevoke {
                id: r.str()?.to_owned(),
            },
            17 => Command::InviteRedeem {
                id: r.str()?.to_owned(),
                hash: r
                    .bytes()?
                    .try_into()
                    .map_err(|_| DecodeError::Invalid("an invite hash is 32 bytes".into()))?,
                config: r.str()?.to_owned(),
            },
            tag => {
                return Err(DecodeError::Tag {
                    what: "command",
                    tag: tag.into(),
                });
            }
        };
        out.push(Proposal {
            origin,
            request_id,
            command,
        });
    }
    r.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests;
