//! Response-rate limiting for the UDP front ends, as BIND's RRL: UDP
//! sources can be forged, so a server that answers every datagram can be
//! aimed at a victim as an amplifier. Each address that answers go to
//! gets a token bucket of `per_sec` answers a second (bursts of as
//! many); answers beyond it are dropped and counted. A genuine client
//! that loses one retries (DNS over TCP, SIP by its retransmission timer).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before idle ones are swept.
const MAX_BUCKETS: usize = 100_000;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub struct RateLimit {
    per_sec: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimit {
    /// None when `per_sec` is 0 (no limit).
    pub fn new(per_sec: u32) -> Option<RateLimit> {
        (per_sec > 0).then(|| RateLimit {
            per_sec: f64::from(per_sec),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Whether an answer to `to` may go out at `now`. The lock is held for
    /// a map lookup, never across an await.
    pub fn allow(&self, to: IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            // Full buckets of sources quiet for a second are the default.
            let per_sec = self.per_sec;
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec < per_sec
            });
        }
        let b = buckets.entry(to).or_insert(Bucket {
            tokens: self.per_sec,
            at: now,
        });
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * self.per_sec;
        b.tokens = (b.tokens + refill).min(self.per_sec);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::{Duration, Instant};

    use super::RateLimit;

    #[test]
    fn each_address_gets_its_rate_and_others_are_untouched() {
        let r = RateLimit::new(10).unwrap();
        let (a, b) = (
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        );
        let t0 = Instant::now();
        let sent = (0..100).filter(|_| r.allow(a, t0)).count();
        assert_eq!(sent, 10, "a burst of the rate, then nothing");
        assert!(r.allow(b, t0), "another address is served");
        assert!(!r.allow(a, t0 + Duration::from_millis(50)));
        assert!(
            r.allow(a, t0 + Duration::from_millis(150)),
            "tokens come back at the rate"
        );
        assert!(RateLimit::new(0).is_none());
    }
}
