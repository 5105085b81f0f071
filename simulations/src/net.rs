//! The network between ITADs: one link per peering, carrying a session's
//! stream. Sessions run over gRPC on TCP, so a stream is reliable and in
//! order: loss shows as a retransmission delay, duplicates never reach the
//! session, and a cut breaks the stream (both ends see it close; what was
//! in flight is lost with it).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::sim::Millis;

/// How one link behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkModel {
    pub latency_ms: Millis,
    /// Added to each message, uniform in 0..=jitter.
    pub jitter_ms: Millis,
    /// Chance that a segment is lost and resent once more, each after a
    /// retransmission timeout.
    pub loss: f64,
    pub rto_ms: Millis,
}

impl Default for LinkModel {
    fn default() -> LinkModel {
        LinkModel {
            latency_ms: 10,
            jitter_ms: 2,
            loss: 0.0,
            rto_ms: 200,
        }
    }
}

/// A link between nodes `a` and `b`.
#[derive(Debug, Clone)]
pub struct Link {
    pub a: usize,
    pub b: usize,
    pub model: LinkModel,
    pub up: bool,
    /// Bumped by each cut: what was sent before it is never delivered.
    pub generation: u64,
    /// The last delivery time each way (a -> b, b -> a), for FIFO order.
    last: [Millis; 2],
    /// Its own seeded stream: what other links carry does not shift it.
    rng: ChaCha8Rng,
    /// In a split run, a stream of its own for `b -> a`: each direction
    /// is drawn by the part that runs its sender (see `world::split`).
    back: Option<ChaCha8Rng>,
}

impl Link {
    pub fn new(a: usize, b: usize, model: LinkModel, rng: ChaCha8Rng) -> Link {
        Link {
            a,
            b,
            model,
            up: true,
            generation: 0,
            last: [0; 2],
            rng,
            back: None,
        }
    }

    /// Draws `b -> a` from `back` rather than the link's one stream.
    pub fn apart(mut self, back: ChaCha8Rng) -> Link {
        self.back = Some(back);
        self
    }

    /// Takes the `b -> a` direction's state from `other`, a copy of this
    /// link that a split run's other part carried on.
    pub fn join_back(&mut self, other: Link) {
        assert!(
            (self.generation, self.up) == (other.generation, other.up),
            "the two ends of link {}-{} saw different streams",
            self.a,
            self.b
        );
        self.back = other.back;
        self.last[1] = other.last[1];
    }

    /// The far end seen from `from`.
    pub fn other(&self, from: usize) -> usize {
        if from == self.a { self.b } else { self.a }
    }

    /// When a message sent now from `from` arrives: after the latency,
    /// jitter and any retransmissions, and never before the one before it.
    pub fn delivery(&mut self, from: usize, now: Millis) -> Millis {
        let m = self.model;
        let dir = usize::from(from != self.a);
        let rng = match &mut self.back {
            Some(back) if dir == 1 => back,
            _ => &mut self.rng,
        };
        let mut t = now + m.latency_ms;
        if m.jitter_ms > 0 {
            t += rng.random_range(0..=m.jitter_ms);
        }
        while m.loss > 0.0 && rng.random_bool(m.loss.min(0.99)) {
            t += m.rto_ms;
        }
        let t = t.max(self.last[dir]);
        self.last[dir] = t;
        t
    }

    /// Breaks the stream: messages in flight are lost.
    pub fn cut(&mut self) {
        self.up = false;
        self.generation += 1;
        self.last = [0; 2];
    }

    pub fn heal(&mut self) {
        self.up = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_keeps_its_order_whatever_the_jitter() {
        let mut l = Link::new(
            0,
            1,
            LinkModel {
                jitter_ms: 50,
                loss: 0.2,
                ..LinkModel::default()
            },
            crate::sim::stream(1, 0),
        );
        let mut last = 0;
        for now in 0..200 {
            let t = l.delivery(0, now);
            assert!(t >= last && t >= now + 10);
            last = t;
        }
    }
}
