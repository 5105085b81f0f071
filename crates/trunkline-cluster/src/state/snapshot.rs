//! The state machine as one snapshot: its bytes, and the state again
//! from them (older versions too).

use std::collections::BTreeMap;
use std::sync::Arc;

use trunkline_core::table::AttrsInterner;
use trunkline_core::{Route, RouteTable};

use super::{AuthorityState, Dedupe, StateMachine};
use crate::codec::{DecodeError, Reader, Writer};
use crate::command::{ReadTables, Tables, write_prefix};
use crate::invites::Invites;
use crate::peers::Peers;
use crate::tokens::Tokens;

const SNAPSHOT_MAGIC: &[u8; 8] = b"TRKSNAP7";
/// Snapshots from before invites.
const SNAPSHOT_MAGIC_V6: &[u8; 8] = b"TRKSNAP6";
/// Snapshots from before number authority.
const SNAPSHOT_MAGIC_V5: &[u8; 8] = b"TRKSNAP5";
/// Snapshots from before API tokens.
const SNAPSHOT_MAGIC_V4: &[u8; 8] = b"TRKSNAP4";
/// Snapshots from before removed members, `local_from` and the attributes
/// of refused routes were kept still restore.
const SNAPSHOT_MAGIC_V3: &[u8; 8] = b"TRKSNAP3";
/// Snapshots from before peering (no peers section) still restore.
const SNAPSHOT_MAGIC_V2: &[u8; 8] = b"TRKSNAP2";

impl StateMachine {
    /// Serializes the whole state (as of `applied_index`).
    pub fn snapshot(&self) -> Vec<u8> {
        let mut tables = Tables::default();
        self.table.walk_all(&mut |px, set| {
            tables.plan(&self.plans, px.plan);
            for r in set.iter() {
                tables.attrs(&r.attrs);
            }
            true
        });
        for list in self.peers.rejected.values() {
            for px in list.keys() {
                tables.plan(&self.plans, px.plan);
            }
        }
        for a in self.peers.rejected_attrs() {
            tables.attrs(a);
        }
        for px in self.tokens.prefixes() {
            tables.plan(&self.plans, px.plan);
        }
        let mut w = Writer::default();
        w.buf.extend_from_slice(SNAPSHOT_MAGIC);
        w.varint(self.applied_index);
        w.varint(self.applied_term);
        w.varint(self.members.len() as u64);
        for (id, addr) in &self.members {
            w.varint(*id);
            w.str(addr);
        }
        w.varint(self.removed.len() as u64);
        for (id, index) in &self.removed {
            w.varint(*id);
            w.varint(*index);
        }
        w.varint(self.dedupe.order.len() as u64);
        for id in &self.dedupe.order {
            let (index, changed) = self.dedupe.seen[id];
            w.str(id);
            w.varint(index);
            w.varint(changed);
        }
        tables.write(&mut w);
        let mut peers = Writer::default();
        self.peers.write(
            &mut peers,
            |w, px| write_prefix(w, tables.plan_index(px.plan), px),
            |a| tables.attrs_index(a),
        );
        w.buf.extend_from_slice(&peers.buf);
        w.varint(self.table.route_count() as u64);
        self.table.walk_all(&mut |px, set| {
            for r in set.iter() {
                let pi = tables.plan(&self.plans, px.plan);
                write_prefix(&mut w, pi, px);
                w.varint(tables.attrs(&r.attrs));
                w.varint(r.installed_at);
                w.u8(u8::from(r.stale));
            }
            true
        });
        self.tokens.write(&mut w, &mut |w, px| {
            write_prefix(w, tables.plan_index(px.plan), px)
        });
        let (now, statements) = self.authority.parts();
        w.varint(now);
        w.varint(statements.len() as u64);
        for s in statements {
            w.bytes(s);
        }
        self.invites.write(&mut w);
        w.buf
    }

    /// Replaces the whole state with a snapshot's, and publishes it.
    pub fn restore(&mut self, data: &[u8]) -> Result<(), DecodeError> {
        let mut r = Reader::new(data);
        let magic = data.get(..8).ok_or(DecodeError::Truncated)?;
        if ![
            SNAPSHOT_MAGIC,
            SNAPSHOT_MAGIC_V6,
            SNAPSHOT_MAGIC_V5,
            SNAPSHOT_MAGIC_V4,
            SNAPSHOT_MAGIC_V3,
            SNAPSHOT_MAGIC_V2,
        ]
        .iter()
        .any(|m| magic == *m)
        {
            return Err(DecodeError::Invalid("not a trunkline snapshot".into()));
        }
        for _ in 0..8 {
            r.u8()?;
        }
        let applied_index = r.varint()?;
        let applied_term = r.varint()?;
        let mut members = BTreeMap::new();
        for _ in 0..r.len(2)? {
            let id = r.varint()?;
            members.insert(id, r.str()?.to_owned());
        }
        let v7 = magic == SNAPSHOT_MAGIC;
        let v6 = v7 || magic == SNAPSHOT_MAGIC_V6;
        let v5 = v6 || magic == SNAPSHOT_MAGIC_V5;
        let v4 = v5 || magic == SNAPSHOT_MAGIC_V4;
        let mut removed = BTreeMap::new();
        if v4 {
            for _ in 0..r.len(2)? {
                let id = r.varint()?;
                removed.insert(id, r.varint()?);
            }
        }
        let mut dedupe = Dedupe::default();
        for _ in 0..r.len(3)? {
            let id = r.str()?.to_owned();
            dedupe.insert(id, r.varint()?, r.varint()?);
        }
        let mut interner = AttrsInterner::default();
        let t = ReadTables::read(&mut r, &self.plans, &mut interner, v4)?;
        let peers = if magic == SNAPSHOT_MAGIC_V2 {
            Peers::default()
        } else {
            let mut attrs = |r: &mut Reader<'_>| t.opt_attrs(r);
            Peers::read(
                &mut r,
                |r| t.prefix(r, &self.plans),
                v4.then_some(&mut attrs as &mut crate::peers::ReadAttrs<'_>),
            )?
        };
        let mut table = RouteTable::new();
        for _ in 0..r.len(4)? {
            let px = t.prefix(&mut r, &self.plans)?;
            let attrs = t.attrs(&mut r)?;
            let installed_at = r.varint()?;
            let stale = r.u8()? != 0;
            table.upsert(
                &px,
                Route {
                    attrs,
                    installed_at,
                    stale,
                },
            );
        }
        let tokens = if v5 {
            Tokens::read(&mut r, &mut |r| t.prefix(r, &self.plans))?
        } else {
            Tokens::default()
        };
        let (now, statements) = if v6 {
            let now = r.varint()?;
            let n = r.len(8)?;
            let statements = (0..n)
                .map(|_| r.bytes().map(<[u8]>::to_vec))
                .collect::<Result<Vec<_>, _>>()?;
            (now, statements)
        } else {
            (0, Vec::new())
        };
        let invites = if v7 {
            Invites::read(&mut r)?
        } else {
            Invites::default()
        };
        r.finish()?;
        self.by_peer = super::ByPeer::of(&table);
        self.table = table;
        self.interner = interner;
        self.dedupe = dedupe;
        self.members = members;
        self.removed = removed;
        self.peers = Arc::new(peers);
        self.tokens = Arc::new(tokens);
        self.invites = Arc::new(invites);
        let mut authority = AuthorityState::new(self.authority.config.clone());
        authority.restore(now, &statements);
        self.authority = Arc::new(authority);
        self.changed.clear();
        self.resync = true;
        self.authority_grew = true;
        self.applied_index = applied_index;
        self.applied_term = applied_term;
        self.publish();
        Ok(())
    }
}
