//! ENUM (RFC 6116) over DNS, UDP and TCP: `<reversed digits>.<zone>` gets
//! NAPTR records built from the best route and its alternates, answered
//! from the same lookup as the gRPC API. The node is authoritative for its
//! zones: SOA and NS at the apex, NXDOMAIN where no route matches, REFUSED
//! outside its zones. Messages are parsed and written with hickory-proto.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{NAPTR, NS, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use trunkline_cluster::state::View;
use trunkline_core::{Digits, Number, PlanId, Plans, Prefix};

mod cache;

use self::cache::AnswerCache;
use super::{Listeners, Sizing};
use crate::metrics::Metrics;
use crate::parse::{ConfigError, invalid};
use crate::store::StoreHandle;

/// `[dns]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSection {
    #[serde(default)]
    pub enabled: bool,
    /// UDP and TCP.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Zones served, each for one number plan. Default: `e164.arpa.`.
    #[serde(default = "default_zones")]
    pub zones: Vec<ZoneSection>,
    /// TTL of answers, and of negative answers (the SOA minimum).
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// Largest UDP answer; larger ones are truncated (the client retries
    /// over TCP).
    #[serde(default = "default_udp_payload")]
    pub max_udp_payload: u16,
    #[serde(default = "default_tcp_connections")]
    pub max_tcp_connections: usize,
    /// Name of this server in SOA and NS records (default `ns.<zone>`).
    #[serde(default)]
    pub nameserver: Option<String>,
    /// UDP answers per second to one address (response-rate limiting, so
    /// the server is no amplifier); beyond it answers are dropped and the
    /// client retries over TCP. 0: no limit.
    #[serde(default = "default_rate_limit")]
    pub rate_limit: u32,
    /// UDP answers kept, encoded, until the table changes (a packet cache,
    /// as PowerDNS keeps; about 350 bytes each). 0: none.
    #[serde(default = "default_answer_cache")]
    pub answer_cache: usize,
}

fn default_answer_cache() -> usize {
    65_536
}

fn default_rate_limit() -> u32 {
    200
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSection {
    pub name: String,
    #[serde(default = "default_plan")]
    pub plan: String,
}

impl Default for DnsSection {
    fn default() -> DnsSection {
        DnsSection {
            enabled: false,
            listen: default_listen(),
            zones: default_zones(),
            ttl: default_ttl(),
            max_udp_payload: default_udp_payload(),
            max_tcp_connections: default_tcp_connections(),
            nameserver: None,
            rate_limit: default_rate_limit(),
            answer_cache: default_answer_cache(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5353))
}
fn default_zones() -> Vec<ZoneSection> {
    vec![ZoneSection {
        name: "e164.arpa.".into(),
        plan: default_plan(),
    }]
}
fn default_plan() -> String {
    "e164".into()
}
fn default_ttl() -> u32 {
    60
}
fn default_udp_payload() -> u16 {
    1232
}
fn default_tcp_connections() -> usize {
    256
}

/// One zone, resolved.
#[derive(Debug, Clone)]
pub struct Zone {
    pub name: Name,
    pub plan: PlanId,
    soa: Record,
    ns: Record,
}

/// Everything the answering needs, checked once at startup.
#[derive(Debug, Clone)]
pub struct Zones {
    zones: Vec<Zone>,
    ttl: u32,
    max_udp: u16,
}

impl DnsSection {
    /// Checks the section; errors name the field.
    pub fn resolve(&self, plans: &Plans) -> Result<Zones, ConfigError> {
        if self.zones.is_empty() {
            return Err(invalid("dns.zones", "at least one zone"));
        }
        if self.max_udp_payload < 512 {
            return Err(invalid("dns.max_udp_payload", "at least 512"));
        }
        let mut zones = Vec::new();
        for (i, z) in self.zones.iter().enumerate() {
            let field = |f: &str| format!("dns.zones[{i}].{f}");
            let name = Name::from_ascii(&z.name)
                .ok()
                .filter(|n| n.is_fqdn() && n.num_labels() > 0)
                .ok_or_else(|| {
                    invalid(
                        field("name"),
                        format!("{:?}: a domain name ending in '.'", z.name),
                    )
                })?
                .to_lowercase();
            let plan = plans
                .by_name(&z.plan)
                .ok_or_else(|| invalid(field("plan"), format!("no number plan {:?}", z.plan)))?;
            if zones.iter().any(|o: &Zone| o.name == name) {
                return Err(invalid(field("name"), "served twice"));
            }
            let ns_name = match &self.nameserver {
                Some(n) => Name::from_ascii(n)
                    .ok()
                    .filter(Name::is_fqdn)
                    .ok_or_else(|| {
                        invalid(
                            "dns.nameserver",
                            format!("{n:?}: a domain name ending in '.'"),
                        )
                    })?,
                None => name
                    .prepend_label("ns")
                    .map_err(|e| invalid(field("name"), e))?,
            };
            let rname = name
                .prepend_label("hostmaster")
                .map_err(|e| invalid(field("name"), e))?;
            let soa = Record::from_rdata(
                name.clone(),
                self.ttl,
                RData::SOA(SOA::new(
                    ns_name.clone(),
                    rname,
                    1,
                    3600,
                    600,
                    86400,
                    self.ttl,
                )),
            );
            let ns = Record::from_rdata(name.clone(), self.ttl, RData::NS(NS(ns_name)));
            zones.push(Zone {
                name,
                plan,
                soa,
                ns,
            });
        }
        // Longest zone first, so the most specific one answers.
        zones.sort_by_key(|z| std::cmp::Reverse(z.name.num_labels()));
        Ok(Zones {
            zones,
            ttl: self.ttl,
            max_udp: self.max_udp_payload,
        })
    }
}

/// How a query was answered, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Hit,
    NoData,
    NxDomain,
    Refused,
    FormErr,
    NotImp,
    /// An answer that could not be encoded.
    ServFail,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::NoData => "nodata",
            Outcome::NxDomain => "miss",
            Outcome::Refused => "refused",
            Outcome::FormErr => "bad-request",
            Outcome::NotImp => "not-implemented",
            Outcome::ServFail => "error",
        }
    }
}

/// The ENUM service of a URI scheme (RFC 6116 §3.4.3), if it has one.
fn service(uri: &str) -> Option<&'static str> {
    let scheme = uri.split_once(':')?.0.to_ascii_lowercase();
    match scheme.as_str() {
        "sip" | "sips" => Some("E2U+sip"),
        "iax2" => Some("E2U+iax2"),
        "tel" => Some("E2U+tel"),
        _ => None,
    }
}

/// `!^.*$!<uri>!`: the URI is already expanded for the queried number,
/// so the rule replaces the whole application unique string. The
/// delimiter is the first of a few that do not occur in the URI;
/// backslashes are escaped (RFC 3402 §3.2).
pub fn regexp(uri: &str) -> Option<String> {
    let delim = ['!', '|', '#', '%', '~', '`']
        .into_iter()
        .find(|d| !uri.contains(*d))?;
    let escaped = uri.replace('\\', "\\\\");
    let rule = format!("{delim}^.*${delim}{escaped}{delim}");
    // A DNS character-string holds at most 255 bytes; a longer rule could
    // not be encoded, so that next hop is left out of the answer.
    (rule.len() <= 255).then_some(rule)
}

impl Zones {
    /// The answer to one query message, or `None` for a message that
    /// needs no answer (a response).
    pub fn respond(&self, req: &Message, view: &View, plans: &Plans) -> Option<(Message, Outcome)> {
        if req.metadata.message_type != MessageType::Query {
            return None;
        }
        let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
        resp.metadata.recursion_desired = req.metadata.recursion_desired;
        if let Some(e) = &req.edns {
            let mut edns = Edns::new();
            edns.set_max_payload(self.max_udp.min(e.max_payload().max(512)));
            if e.version() > 0 {
                // RFC 6891: only version 0 exists.
                edns.set_rcode_high(ResponseCode::BADVERS.high());
                resp.metadata.response_code = ResponseCode::BADVERS;
                resp.set_edns(edns);
                return Some((resp, Outcome::FormErr));
            }
            resp.set_edns(edns);
        }
        if req.metadata.op_code != OpCode::Query {
            resp.metadata.response_code = ResponseCode::NotImp;
            return Some((resp, Outcome::NotImp));
        }
        let [q] = req.queries.as_slice() else {
            resp.metadata.response_code = ResponseCode::FormErr;
            return Some((resp, Outcome::FormErr));
        };
        resp.add_query(q.clone());
        let qname = q.name().to_lowercase();
        let zone = self
            .zones
            .iter()
            .find(|z| q.query_class() == DNSClass::IN && z.name.zone_of(&qname));
        let Some(zone) = zone else {
            resp.metadata.response_code = ResponseCode::Refused;
            return Some((resp, Outcome::Refused));
        };
        resp.metadata.authoritative = true;
        let qtype = q.query_type();
        let nodata = |mut resp: Message| {
            resp.add_authority(zone.soa.clone());
            (resp, Outcome::NoData)
        };
        let nxdomain = |mut resp: Message| {
            resp.metadata.response_code = ResponseCode::NXDomain;
            resp.add_authority(zone.soa.clone());
            (resp, Outcome::NxDomain)
        };
        if qname == zone.name {
            return Some(match qtype {
                RecordType::SOA => {
                    resp.add_answer(zone.soa.clone());
                    (resp, Outcome::Hit)
                }
                RecordType::NS => {
                    resp.add_answer(zone.ns.clone());
                    (resp, Outcome::Hit)
                }
                RecordType::ANY => {
                    resp.add_answer(zone.soa.clone());
                    resp.add_answer(zone.ns.clone());
                    (resp, Outcome::Hit)
                }
                _ => nodata(resp),
            });
        }
        if qname.is_wildcard() {
            // `*` is no digit: ENUM names hold only digits below the zone.
            return Some(nxdomain(resp));
        }
        // The labels below the zone, each one digit, most significant last.
        let below = qname.num_labels() - zone.name.num_labels();
        let mut digits = Vec::with_capacity(below as usize);
        for label in qname.iter().take(below as usize) {
            match label {
                [d @ b'0'..=b'9'] => digits.push(d - b'0'),
                _ => return Some(nxdomain(resp)),
            }
        }
        digits.reverse();
        let max = plans
            .get(zone.plan)
            .map_or(0, |p| usize::from(p.max_digits));
        let Some(digits) = Digits::from_values(&digits).filter(|d| d.len() <= max) else {
            return Some(nxdomain(resp));
        };
        let number = Number {
            plan: zone.plan,
            digits,
        };
        let Some(answer) = crate::lookup::lookup_number(view, &number) else {
            // A name above routed prefixes exists, though it holds no
            // records: NODATA, not NXDOMAIN, which would tell resolvers
            // that nothing below it exists either (RFC 8020).
            let name = Prefix {
                plan: zone.plan,
                digits: number.digits,
            };
            return Some(if crate::lookup::has_routes_below(view, &name) {
                nodata(resp)
            } else {
                nxdomain(resp)
            });
        };
        if qtype != RecordType::NAPTR && qtype != RecordType::ANY {
            return Some(nodata(resp));
        }
        let hops = answer.hops;
        // Order groups the hops by (route, priority), in the order to try
        // them; preference ranks the hops within a group (heaviest first,
        // as they are already sorted).
        let mut group = 0u16;
        let mut rank = 0u16;
        let mut last = None;
        for h in &hops {
            if last != Some((h.route, h.priority)) {
                if last.is_some() {
                    group = group.saturating_add(1);
                }
                rank = 0;
                last = Some((h.route, h.priority));
            }
            let (Some(service), Some(regexp)) = (service(&h.uri), regexp(&h.uri)) else {
                continue;
            };
            let naptr = NAPTR::new(
                group.saturating_mul(10).saturating_add(100),
                rank.saturating_mul(10).saturating_add(10),
                b"u".to_vec().into_boxed_slice(),
                service.as_bytes().to_vec().into_boxed_slice(),
                regexp.into_bytes().into_boxed_slice(),
                Name::root(),
            );
            resp.add_answer(Record::from_rdata(
                q.name().clone(),
                self.ttl,
                RData::NAPTR(naptr),
            ));
            rank = rank.saturating_add(1);
        }
        if resp.answers.is_empty() {
            return Some(nodata(resp));
        }
        Some((resp, Outcome::Hit))
    }

    /// Wire form of an answer; for UDP, truncated (TC set) when larger
    /// than the client can take.
    fn encode(&self, resp: &Message, limit: Option<usize>) -> Option<Vec<u8>> {
        let bytes = resp.to_vec().ok()?;
        match limit {
            Some(l) if bytes.len() > l => resp.truncate().to_vec().ok(),
            _ => Some(bytes),
        }
    }
}

impl Zones {
    /// Answers one packet as it came off the wire, from `view`; `serving`
    /// is false on a node removed from its cluster. `None`: nobody to
    /// answer (not even the header reads, or it is not a query).
    pub fn answer_packet(
        &self,
        packet: &[u8],
        udp: bool,
        view: &View,
        plans: &Plans,
        serving: bool,
    ) -> Option<(Vec<u8>, Outcome)> {
        match Message::from_vec(packet) {
            Ok(req) if !serving => {
                // A node removed from its cluster holds a stale table: a
                // server failure sends the resolver to the next server.
                if req.metadata.message_type != MessageType::Query {
                    return None;
                }
                let resp = Message::error_msg(
                    req.metadata.id,
                    req.metadata.op_code,
                    ResponseCode::ServFail,
                );
                Some((resp.to_vec().ok()?, Outcome::ServFail))
            }
            Ok(req) => {
                let (resp, outcome) = self.respond(&req, view, plans)?;
                let limit = if udp {
                    usize::from(
                        req.edns
                            .as_ref()
                            .map_or(512, |e| e.max_payload().clamp(512, self.max_udp)),
                    )
                } else {
                    // TCP frames a message with a 16-bit length.
                    usize::from(u16::MAX)
                };
                match self.encode(&resp, Some(limit)) {
                    Some(wire) => Some((wire, outcome)),
                    // Whatever could not be encoded, the client gets an
                    // answer rather than a timeout.
                    None => Some((
                        Message::error_msg(
                            req.metadata.id,
                            req.metadata.op_code,
                            ResponseCode::ServFail,
                        )
                        .to_vec()
                        .ok()?,
                        Outcome::ServFail,
                    )),
                }
            }
            Err(_) => {
                // Answer FORMERR if at least the header reads; otherwise
                // there is nobody to answer.
                let id = u16::from_be_bytes([*packet.first()?, *packet.get(1)?]);
                if packet.len() < 12 || packet[2] & 0x80 != 0 {
                    return None;
                }
                let resp = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
                Some((resp.to_vec().ok()?, Outcome::FormErr))
            }
        }
    }
}

#[derive(Debug)]
struct Shared {
    zones: Zones,
    store: StoreHandle,
    metrics: Metrics,
    cache: Option<AnswerCache>,
}

impl Shared {
    fn answer(&self, packet: &[u8], udp: bool) -> Option<Vec<u8>> {
        let start = Instant::now();
        let view = self.store.view().load();
        let serving = self.store.serving().is_ok();
        let cache = self.cache.as_ref().filter(|_| udp && serving);
        if let Some((resp, outcome)) = cache.and_then(|c| c.get(view.applied_index, packet)) {
            self.metrics
                .frontend_answered("dns", outcome.label(), start);
            return Some(resp);
        }
        let (resp, outcome) =
            self.zones
                .answer_packet(packet, udp, &view, self.store.plans(), serving)?;
        if let Some(c) = cache {
            c.put(view.applied_index, packet, &resp, outcome);
        }
        self.metrics
            .frontend_answered("dns", outcome.label(), start);
        Some(resp)
    }
}

/// How long a TCP connection may stay idle.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Starts the DNS front end; it stops with `stop`.
pub async fn start(
    cfg: &DnsSection,
    zones: Zones,
    store: StoreHandle,
    metrics: Metrics,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Listeners> {
    let shared = Arc::new(Shared {
        zones,
        store,
        metrics,
        cache: AnswerCache::new(cfg.answer_cache),
    });
    let udp_shared = shared.clone();
    let limited = shared
        .metrics
        .frontend_rate_limited
        .get_or_create(&crate::metrics::FrontendOnly { frontend: "dns" })
        .clone();
    // One receive loop per core: lookups take microseconds, so the socket
    // is the bottleneck, not the answering.
    let loops = std::thread::available_parallelism().map_or(2, |n| n.get());
    Listeners::bind(
        "ENUM (DNS)",
        cfg.listen,
        Sizing {
            udp_loops: loops,
            max_datagram: 4096,
            max_tcp: cfg.max_tcp_connections,
            rate: super::rate::RateLimit::new(cfg.rate_limit).map(Arc::new),
            limited,
        },
        stop,
        move |packet, from| Some((udp_shared.answer(packet, true)?, from)),
        move |stream| {
            let shared = shared.clone();
            async move {
                let _ = serve_tcp(stream, &shared).await;
            }
        },
    )
    .await
}

/// Length-prefixed messages until the client closes or goes idle.
async fn serve_tcp(mut s: tokio::net::TcpStream, shared: &Shared) -> std::io::Result<()> {
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, s.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        tokio::time::timeout(TCP_IDLE, s.read_exact(&mut msg))
            .await
            .map_err(|_| std::io::ErrorKind::TimedOut)??;
        let Some(resp) = shared.answer(&msg, false) else {
            return Ok(());
        };
        let Ok(len) = u16::try_from(resp.len()) else {
            return Ok(());
        };
        let mut out = Vec::with_capacity(resp.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&resp);
        // A client that stops reading does not hold the connection.
        tokio::time::timeout(TCP_IDLE, s.write_all(&out))
            .await
            .map_err(|_| std::io::ErrorKind::TimedOut)??;
    }
}

#[cfg(test)]
mod tests;
