//! A session's side of the authority exchange: what goes to the peer (the
//! snapshot after Established, then deltas as the federation's statements
//! grow) and what comes from it (verified here, kept by the state machine
//! only from known signers).

use std::collections::HashSet;

use trunkline_authority::{Signed, StatementId};
use trunkline_cluster::View;
use trunkline_peering::message::{Authority, Message};

use super::convert::Msg;

/// Statements per snapshot or delta message (each at most 8 KiB).
const PER_MESSAGE: usize = 256;

/// What the peer has been sent, and what it sent.
#[derive(Debug, Default)]
pub(super) struct Exchange {
    sent: HashSet<StatementId>,
    /// Statements the peer sent that verified, and that did not.
    pub received: u64,
    pub refused: u64,
}

impl Exchange {
    /// The snapshot of everything from known signers, then its end.
    pub fn snapshot(&mut self, view: &View) -> Vec<Msg> {
        let all = view.authority.for_peers();
        let count = u32::try_from(all.len()).unwrap_or(u32::MAX);
        let mut out: Vec<Msg> = self
            .take(all)
            .into_iter()
            .map(|chunk| Message::Authority(Authority::Snapshot(chunk)))
            .collect();
        out.push(Message::Authority(Authority::End(count)));
        out
    }

    /// Statements the peer has not been sent yet.
    pub fn delta(&mut self, view: &View) -> Vec<Msg> {
        let new = view
            .authority
            .for_peers()
            .into_iter()
            .filter(|s| !self.sent.contains(&s.id))
            .collect();
        self.take(new)
            .into_iter()
            .map(|chunk| Message::Authority(Authority::Delta(chunk)))
            .collect()
    }

    fn take(&mut self, statements: Vec<&Signed>) -> Vec<Vec<Vec<u8>>> {
        self.sent.extend(statements.iter().map(|s| s.id));
        statements
            .chunks(PER_MESSAGE)
            .map(|c| c.iter().map(|s| s.bytes.clone()).collect())
            .collect()
    }

    /// Verifies what the peer sent: the statements to keep (the state
    /// machine drops strangers'); forged or broken ones are counted and
    /// dropped here.
    pub fn receive(&mut self, statements: Vec<Vec<u8>>, peer: &str) -> Vec<Vec<u8>> {
        let mut keep = Vec::with_capacity(statements.len());
        for bytes in statements {
            match Signed::verify(&bytes) {
                Ok(s) => {
                    // Sending it back would only be dropped as known.
                    self.sent.insert(s.id);
                    self.received += 1;
                    keep.push(bytes);
                }
                Err(e) => {
                    self.refused += 1;
                    tracing::info!(peer, error = %e, "refused an authority statement");
                }
            }
        }
        keep
    }
}
