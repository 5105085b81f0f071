//! A SIP redirect server (RFC 3261 §8.3), UDP and TCP: an INVITE for
//! `sip:+15551234567@...` (or a `tel:` URI) gets `302 Moved Temporarily`
//! with one Contact per next hop, q-values by order; `404` where no route
//! matches; `400` for malformed requests; `200` for OPTIONS; `405` for
//! methods it does not serve. No dialogs, no transactions beyond answering
//! each request once: a redirect server needs none.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

use super::{Listeners, Sizing};
use crate::lookup::{Answer, LookupError};
use crate::metrics::Metrics;
use crate::store::StoreHandle;

/// `[sip]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipSection {
    #[serde(default)]
    pub enabled: bool,
    /// UDP and TCP.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_tcp_connections")]
    pub max_tcp_connections: usize,
    /// UDP answers per second to one address (response-rate limiting);
    /// beyond it answers are dropped and the client retransmits. 0: no
    /// limit.
    #[serde(default = "default_rate_limit")]
    pub rate_limit: u32,
}

fn default_rate_limit() -> u32 {
    200
}

impl Default for SipSection {
    fn default() -> SipSection {
        SipSection {
            enabled: false,
            listen: default_listen(),
            max_tcp_connections: default_tcp_connections(),
            rate_limit: default_rate_limit(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5060))
}
fn default_tcp_connections() -> usize {
    256
}

/// Largest SIP message taken.
const MAX_MESSAGE: usize = 16 * 1024;
const ALLOW: &str = "INVITE, ACK, CANCEL, OPTIONS";

/// A parsed request: what answering needs, headers kept in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub uri: String,
    /// (name as written, value), in order.
    pub headers: Vec<(String, String)>,
}

/// Compact header forms (RFC 3261 §7.3.3) to their full names.
fn full_name(name: &str) -> &str {
    match name.to_ascii_lowercase().as_str() {
        "v" => "via",
        "f" => "from",
        "t" => "to",
        "i" => "call-id",
        "l" => "content-length",
        "m" => "contact",
        _ => name,
    }
}

impl Request {
    /// Every value of a header (by full or compact name), in order.
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(move |(n, _)| full_name(n).eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn one(&self, name: &str) -> Option<&str> {
        self.all(name).next()
    }
}

/// Parses the head of a request (up to the blank line). Errors say what
/// is wrong, for the 400's reason.
pub fn parse(head: &str) -> Result<Request, String> {
    let mut lines = head.split("\r\n").flat_map(|l| l.split('\n'));
    if let Some(line) = lines.clone().find(|l| has_control(l)) {
        // Answers copy headers; a stray CR or control byte would corrupt them.
        return Err(format!("control character in {line:?}"));
    }
    let first = lines.next().ok_or("empty message")?;
    let mut parts = first.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("bad request line {first:?}"));
    };
    if version != "SIP/2.0" {
        return Err(format!("version {version:?}"));
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!("method {method:?}"));
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            // A folded continuation of the previous header.
            let (_, v) = headers.last_mut().ok_or("continuation before any header")?;
            v.push(' ');
            v.push_str(line.trim());
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header line without ':': {line:?}"))?;
        let name = name.trim();
        if name.is_empty() || name.contains(' ') {
            return Err(format!("header name {name:?}"));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let req = Request {
        method: method.to_owned(),
        uri: uri.to_owned(),
        headers,
    };
    for h in ["via", "from", "to", "call-id", "cseq"] {
        if req.one(h).is_none() {
            return Err(format!("no {h} header"));
        }
    }
    let cseq = req.one("cseq").unwrap_or_default();
    let mut c = cseq.split_whitespace();
    match (c.next().map(str::parse::<u32>), c.next()) {
        (Some(Ok(_)), Some(m)) if m == req.method => {}
        _ => return Err(format!("CSeq {cseq:?} does not match the method")),
    }
    Ok(req)
}

/// The dialed number in a request URI: the user part of a sip:/sips: URI
/// or a tel: URI's number, without parameters, percent-decoded (`%2B` is
/// a `+`).
pub fn dialed(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    let user = match scheme.to_ascii_lowercase().as_str() {
        "sip" | "sips" => rest.split_once('@')?.0,
        "tel" => rest,
        _ => return None,
    };
    let user = user.split(';').next()?;
    let mut out = Vec::with_capacity(user.len());
    let mut bytes = user.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok().filter(|u| !u.is_empty())
}

/// A next hop a SIP client can be redirected to: a sip:, sips: or tel:
/// URI that fits in a Contact's angle brackets.
fn redirectable(uri: &str) -> bool {
    let scheme = uri.split(':').next().unwrap_or_default();
    ["sip", "sips", "tel"]
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s))
        && !uri.contains(['<', '>'])
}

/// A response to `req`: Via, From, To (with a tag), Call-ID and CSeq
/// copied as RFC 3261 §8.2.6.2 says, then `extra` headers.
pub fn response(req: &Request, code: u16, reason: &str, extra: &[(String, String)]) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for v in req.all("via") {
        out.push_str(&format!("Via: {v}\r\n"));
    }
    out.push_str(&format!(
        "From: {}\r\n",
        req.one("from").unwrap_or_default()
    ));
    let to = req.one("to").unwrap_or_default();
    if to.to_ascii_lowercase().contains(";tag=") {
        out.push_str(&format!("To: {to}\r\n"));
    } else {
        // A tag derived from the Call-ID: the same request gets the same
        // tag when retransmitted.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&req.one("call-id"), &mut h);
        let tag = std::hash::Hasher::finish(&h);
        out.push_str(&format!("To: {to};tag={tag:x}\r\n"));
    }
    out.push_str(&format!(
        "Call-ID: {}\r\n",
        req.one("call-id").unwrap_or_default()
    ));
    out.push_str(&format!(
        "CSeq: {}\r\n",
        req.one("cseq").unwrap_or_default()
    ));
    for (n, v) in extra {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("Server: trunklined\r\nContent-Length: 0\r\n\r\n");
    out
}

/// How a request was answered, for metrics.
fn label(code: u16) -> &'static str {
    match code {
        302 | 200 => "hit",
        404 => "miss",
        400 => "bad-request",
        405 | 481 => "not-allowed",
        _ => "error",
    }
}

/// Answers one request (already parsed) with `lookup` (the node's
/// [`crate::lookup::lookup`]). `None`: no response (ACK).
pub fn answer(
    req: &Request,
    lookup: impl Fn(&str) -> Result<Answer, LookupError>,
) -> Option<(u16, String)> {
    let r = |code, reason: &str, extra: &[(String, String)]| {
        Some((code, response(req, code, reason, extra)))
    };
    match req.method.as_str() {
        "ACK" => None,
        "OPTIONS" => r(
            200,
            "OK",
            &[
                ("Allow".into(), ALLOW.into()),
                ("Accept".into(), "application/sdp".into()),
            ],
        ),
        // The INVITE was answered at once; nothing is pending to cancel.
        "CANCEL" => r(481, "Call/Transaction Does Not Exist", &[]),
        "INVITE" => {
            let Some(number) = dialed(&req.uri) else {
                return r(400, "Bad Request - no number in the Request-URI", &[]);
            };
            if number.bytes().all(|b| b.is_ascii_digit()) {
                // A national or local form: well formed, but not a number
                // Trunkline can route.
                return r(404, "Not Found - not in E.164 form (+ and digits)", &[]);
            }
            match lookup(&number) {
                Ok(found) => {
                    let contacts: Vec<(String, String)> = found
                        .hops
                        .iter()
                        .filter(|h| redirectable(&h.uri))
                        .take(10)
                        .enumerate()
                        .map(|(i, h)| {
                            let q = 10 - i as u32;
                            let q = if q == 10 {
                                "1.0".to_owned()
                            } else {
                                format!("0.{q}")
                            };
                            ("Contact".to_owned(), format!("<{}>;q={q}", h.uri))
                        })
                        .collect();
                    if contacts.is_empty() {
                        return r(404, "Not Found - no SIP next hop", &[]);
                    }
                    r(302, "Moved Temporarily", &contacts)
                }
                Err(LookupError::NoRoute(_)) => r(404, "Not Found", &[]),
                // This node cannot answer (it was removed from its
                // cluster): the proxy should ask another.
                Err(LookupError::Removed(_)) => {
                    r(503, "Service Unavailable - this node serves no routes", &[])
                }
                Err(e @ LookupError::Number { .. }) => {
                    let reason =
                        format!("Bad Request - {}", e.to_string().replace(['\r', '\n'], " "));
                    r(400, &reason, &[])
                }
            }
        }
        _ => r(405, "Method Not Allowed", &[("Allow".into(), ALLOW.into())]),
    }
}

#[derive(Debug)]
struct Shared {
    store: StoreHandle,
    metrics: Metrics,
}

/// Parses and answers one message, given its head (both transports read
/// up to the blank line) and where it came from: the response's code and
/// text, and where to send it. `None`: nothing to answer.
pub fn reply(
    head: &str,
    src: SocketAddr,
    lookup: impl Fn(&str) -> Result<Answer, LookupError>,
) -> Option<(u16, String, SocketAddr)> {
    if head.starts_with("SIP/2.0 ") {
        // A response: nothing to answer.
        return None;
    }
    match parse(head) {
        Ok(mut req) => {
            let dest = req.stamp_source(src);
            let (code, text) = answer(&req, lookup)?;
            Some((code, text, dest))
        }
        Err(why) => {
            // A 400 needs the headers it copies; without them there is
            // nobody to answer. An ACK is never answered (RFC 3261 §17).
            if head.starts_with("ACK ") {
                return None;
            }
            let mut partial = lenient(head)?;
            let dest = partial.stamp_source(src);
            let reason = format!("Bad Request - {}", why.replace(['\r', '\n'], " "));
            Some((400, response(&partial, 400, &reason, &[]), dest))
        }
    }
}

impl Shared {
    /// Answers one message and counts it.
    fn handle(&self, head: &str, src: SocketAddr) -> Option<(String, SocketAddr)> {
        let start = Instant::now();
        let (code, text, dest) = reply(head, src, |n| crate::lookup::lookup(&self.store, n))?;
        self.metrics.frontend_answered("sip", label(code), start);
        Some((text, dest))
    }
}

/// A control character other than tab: never part of a well-formed line.
fn has_control(line: &str) -> bool {
    line.chars().any(|c| c.is_control() && c != '\t')
}

/// The headers of a malformed request, when enough is there to answer it.
/// Lines with control characters are left out: they cannot be copied.
fn lenient(head: &str) -> Option<Request> {
    let mut headers = Vec::new();
    for line in head.split(['\r', '\n']).skip(1) {
        if has_control(line) {
            continue;
        }
        if let Some((n, v)) = line.split_once(':') {
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut req = Request {
        method: String::new(),
        uri: String::new(),
        headers,
    };
    if !["via", "from", "to", "call-id"]
        .iter()
        .all(|h| req.one(h).is_some())
    {
        return None;
    }
    if req.one("cseq").is_none() {
        // Without a CSeq there is still a client to tell: the answer's
        // CSeq names the request line's method, so the client's
        // transaction (matched by Via branch and method) gets it.
        let method = head.split_whitespace().next().unwrap_or_default();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        req.headers.push(("CSeq".into(), format!("0 {method}")));
    }
    Some(req)
}

/// How long a TCP connection may stay idle.
const TCP_IDLE: Duration = Duration::from_secs(60);

/// Starts the SIP front end; it stops with `stop`.
pub async fn start(
    cfg: &SipSection,
    store: StoreHandle,
    metrics: Metrics,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Listeners> {
    let shared = Arc::new(Shared { store, metrics });
    let udp_shared = shared.clone();
    let limited = shared
        .metrics
        .frontend_rate_limited
        .get_or_create(&crate::metrics::FrontendOnly { frontend: "sip" })
        .clone();
    Listeners::bind(
        "SIP redirect",
        cfg.listen,
        Sizing {
            udp_loops: 1,
            max_datagram: MAX_MESSAGE,
            max_tcp: cfg.max_tcp_connections,
            rate: super::rate::RateLimit::new(cfg.rate_limit).map(Arc::new),
            limited,
        },
        stop,
        move |datagram, from| {
            // Only the head must be text; a body (SDP, ISUP) may be binary.
            let end = datagram
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .unwrap_or(datagram.len());
            let head = std::str::from_utf8(&datagram[..end]).ok()?;
            let (text, dest) = udp_shared.handle(head, from)?;
            Some((text.into_bytes(), dest))
        },
        move |stream| {
            let shared = shared.clone();
            async move {
                let _ = serve_tcp(stream, &shared).await;
            }
        },
    )
    .await
}

/// Messages framed by Content-Length, until the client closes or idles.
/// Each message must arrive whole within `TCP_IDLE` and within
/// `MAX_MESSAGE` bytes, and each answer be taken within `TCP_IDLE`, so a
/// slow or silent client cannot hold a connection slot for long.
async fn serve_tcp(stream: tokio::net::TcpStream, shared: &Shared) -> std::io::Result<()> {
    let peer = stream.peer_addr()?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let Some(head) = tokio::time::timeout(TCP_IDLE, read_message(&mut read))
            .await
            .map_err(|_| std::io::ErrorKind::TimedOut)??
        else {
            return Ok(());
        };
        // Over TCP the answer goes back on the connection (RFC 3261 §18.2.2).
        if let Some((resp, _)) = shared.handle(&head, peer) {
            tokio::time::timeout(TCP_IDLE, write.write_all(resp.as_bytes()))
                .await
                .map_err(|_| std::io::ErrorKind::TimedOut)??;
        }
    }
}

/// One message's head (its body read and dropped); `None` when the client
/// closed, or sent more than `MAX_MESSAGE`.
async fn read_message<R: AsyncBufReadExt + Unpin>(read: &mut R) -> std::io::Result<Option<String>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        // Never more than what is left of the limit, even without a newline.
        let left = (MAX_MESSAGE + 1).saturating_sub(head.len()) as u64;
        let n = (&mut *read).take(left).read_line(&mut line).await?;
        if n == 0 || head.len() + line.len() > MAX_MESSAGE {
            return Ok(None);
        }
        // Keep-alive CRLFs between messages (RFC 5626) are skipped.
        if head.is_empty() && line.trim().is_empty() {
            continue;
        }
        let end = line == "\r\n" || line == "\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| full_name(n.trim()).eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if head.len() + length > MAX_MESSAGE {
        return Ok(None);
    }
    let mut body = vec![0u8; length];
    read.read_exact(&mut body).await?;
    Ok(Some(head))
}

#[cfg(test)]
mod tests;
mod via;
