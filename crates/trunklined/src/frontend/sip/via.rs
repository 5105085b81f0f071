//! The top Via of a request: where it came from, and where a UDP answer
//! goes (RFC 3261 §18.2.1 and §18.2.2, RFC 3581 `rport`).

use std::net::{IpAddr, SocketAddr};

use super::{Request, full_name};

/// The sent-by host and port of one via-parm, `SIP/2.0/UDP host[:port];...`.
fn sent_by(head: &str) -> Option<(&str, Option<u16>)> {
    let addr = head.split_whitespace().nth(1)?;
    if let Some(v6) = addr.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        return Some((host, rest.strip_prefix(':').and_then(|p| p.parse().ok())));
    }
    Some(match addr.split_once(':') {
        Some((host, port)) => (host, port.parse().ok()),
        None => (addr, None),
    })
}

impl Request {
    /// Records in the top Via where the request came from: `received` when
    /// the sent-by host is not the source address (or the client asked for
    /// `rport`), and `rport` filled in with the source port. Returns where
    /// a UDP answer goes: the source with `rport`, else the source address
    /// at the sent-by port (5060 by default).
    pub fn stamp_source(&mut self, src: SocketAddr) -> SocketAddr {
        let Some((_, value)) = self
            .headers
            .iter_mut()
            .find(|(n, _)| full_name(n).eq_ignore_ascii_case("via"))
        else {
            return src;
        };
        let (top, rest) = match value.split_once(',') {
            Some((top, rest)) => (top, Some(rest)),
            None => (value.as_str(), None),
        };
        let mut parts = top.split(';').map(str::trim);
        let head = parts.next().unwrap_or_default();
        let (host, port) = sent_by(head).unwrap_or(("", None));
        let mut rport = false;
        let mut stamped = head.to_owned();
        for p in parts {
            let name = p.split('=').next().unwrap_or_default().trim();
            if name.eq_ignore_ascii_case("rport") {
                rport = true;
            } else if !name.eq_ignore_ascii_case("received") {
                stamped.push(';');
                stamped.push_str(p);
            }
        }
        if rport || host.parse::<IpAddr>().ok() != Some(src.ip()) {
            stamped.push_str(&format!(";received={}", src.ip()));
        }
        if rport {
            stamped.push_str(&format!(";rport={}", src.port()));
        }
        let dest = if rport {
            src
        } else {
            SocketAddr::new(src.ip(), port.unwrap_or(5060))
        };
        *value = match rest {
            Some(rest) => format!("{stamped},{rest}"),
            None => stamped,
        };
        dest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(via: &str, src: &str) -> (String, SocketAddr) {
        let mut r = Request {
            method: "INVITE".into(),
            uri: "sip:+1@x".into(),
            headers: vec![
                ("v".into(), via.into()),
                ("Via".into(), "SIP/2.0/UDP b".into()),
            ],
        };
        let dest = r.stamp_source(src.parse().unwrap());
        (r.headers[0].1.clone(), dest)
    }

    #[test]
    fn received_and_rport_follow_rfc_3261_and_3581() {
        // Same host, no rport: untouched; the answer goes to the Via port.
        assert_eq!(
            stamp(
                "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1",
                "10.0.0.1:40000"
            ),
            (
                "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1".into(),
                "10.0.0.1:5070".parse().unwrap()
            )
        );
        // A name, or another address: received; the default port.
        assert_eq!(
            stamp("SIP/2.0/UDP pbx.example;branch=z9hG4bK1", "192.0.2.7:5060"),
            (
                "SIP/2.0/UDP pbx.example;branch=z9hG4bK1;received=192.0.2.7".into(),
                "192.0.2.7:5060".parse().unwrap()
            )
        );
        // rport: filled in, received always, the answer to the source.
        assert_eq!(
            stamp(
                "SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK1, SIP/2.0/UDP c",
                "203.0.113.9:61000"
            ),
            (
                "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=203.0.113.9;rport=61000, SIP/2.0/UDP c".into(),
                "203.0.113.9:61000".parse().unwrap()
            )
        );
        // IPv6 sent-by in brackets; a stale received is replaced.
        assert_eq!(
            stamp(
                "SIP/2.0/UDP [2001:db8::1]:5062;received=1.2.3.4",
                "[2001:db8::1]:5062"
            ),
            (
                "SIP/2.0/UDP [2001:db8::1]:5062".into(),
                "[2001:db8::1]:5062".parse().unwrap()
            )
        );
    }
}
