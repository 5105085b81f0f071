//! `trunkline.peering.v1` messages to and from the session's own types.
//! Updates stay in their wire form until the import step reads them.

use trunkline_core::{LargeCommunity, NextHop, PlanId, Plans};
use trunkline_peering::message::{Authority, Capabilities, Code, Message, Notification, Open};
use trunkline_peering::policy::Announced;
use trunkline_proto::peering::v1 as pb;

pub type Msg = Message<pb::Update>;

pub fn to_proto(m: Msg) -> pb::PeerMessage {
    use pb::peer_message::Body;
    let body = match m {
        Message::Open(o) => Body::Open(pb::Open {
            version: o.version,
            itad: o.itad,
            name: o.name,
            hold_time_secs: o.hold_secs,
            capabilities: Some(pb::Capabilities {
                plans: o.capabilities.plans,
                graceful_restart: o.capabilities.graceful_restart_secs.map(|s| {
                    pb::GracefulRestart {
                        restart_time_secs: s,
                    }
                }),
                route_refresh: o.capabilities.route_refresh,
                authority: o.capabilities.authority,
            }),
            password: o.password,
        }),
        Message::Keepalive => Body::Keepalive(pb::Keepalive {}),
        Message::Update(u) => Body::Update(u),
        Message::EndOfRib { plan } => Body::EndOfRib(pb::EndOfRib { plan }),
        Message::RouteRefresh { plan } => Body::RouteRefresh(pb::RouteRefresh {
            plan: plan.unwrap_or_default(),
        }),
        Message::Notification(n) => Body::Notification(pb::Notification {
            code: code_to_proto(n.code) as i32,
            reason: n.reason,
        }),
        Message::Authority(Authority::Snapshot(statements)) => {
            Body::AuthoritySnapshot(pb::AuthoritySnapshot { statements })
        }
        Message::Authority(Authority::End(statements)) => {
            Body::AuthorityEnd(pb::AuthorityEnd { statements })
        }
        Message::Authority(Authority::Delta(statements)) => {
            Body::AuthorityDelta(pb::AuthorityDelta { statements })
        }
    };
    pb::PeerMessage { body: Some(body) }
}

/// Structural errors only (an empty message); route contents are checked
/// on import, one route at a time.
pub fn from_proto(m: pb::PeerMessage) -> Result<Msg, String> {
    use pb::peer_message::Body;
    Ok(match m.body.ok_or("a message with no body")? {
        Body::Open(o) => Message::Open(open_from_proto(o)),
        Body::Keepalive(_) => Message::Keepalive,
        Body::Update(u) => Message::Update(u),
        Body::EndOfRib(e) => Message::EndOfRib { plan: e.plan },
        Body::RouteRefresh(r) => Message::RouteRefresh {
            plan: (!r.plan.is_empty()).then_some(r.plan),
        },
        Body::Notification(n) => Message::Notification(Notification {
            code: code_from_proto(n.code),
            reason: n.reason,
        }),
        Body::AuthoritySnapshot(s) => Message::Authority(Authority::Snapshot(s.statements)),
        Body::AuthorityEnd(e) => Message::Authority(Authority::End(e.statements)),
        Body::AuthorityDelta(d) => Message::Authority(Authority::Delta(d.statements)),
    })
}

pub fn open_from_proto(o: pb::Open) -> Open {
    let caps = o.capabilities.unwrap_or_default();
    Open {
        version: o.version,
        itad: o.itad,
        name: o.name,
        hold_secs: o.hold_time_secs,
        capabilities: Capabilities {
            plans: caps.plans,
            graceful_restart_secs: caps.graceful_restart.map(|g| g.restart_time_secs),
            route_refresh: caps.route_refresh,
            authority: caps.authority,
        },
        password: o.password,
    }
}

fn code_to_proto(c: Code) -> pb::NotificationCode {
    use pb::NotificationCode as P;
    match c {
        Code::UnsupportedVersion => P::UnsupportedVersion,
        Code::BadPeerItad => P::BadPeerItad,
        Code::BadOpen => P::BadOpen,
        Code::UnacceptableHoldTime => P::UnacceptableHoldTime,
        Code::NoCommonPlan => P::NoCommonPlan,
        Code::AuthFailed => P::AuthFailed,
        Code::HoldTimerExpired => P::HoldTimerExpired,
        Code::FsmError => P::FsmError,
        Code::MalformedMessage => P::MalformedMessage,
        Code::MaxPrefixes => P::MaxPrefixes,
        Code::AdminShutdown => P::AdminShutdown,
        Code::AdminReset => P::AdminReset,
        Code::PeerDeconfigured => P::PeerDeconfigured,
        Code::ConnectionCollision => P::ConnectionCollision,
        Code::UpdateRate => P::UpdateRate,
        Code::MessageTooLarge => P::MessageTooLarge,
        Code::ConnectionRejected => P::ConnectionRejected,
    }
}

/// Unknown codes (from a newer peer) read as a malformed message.
fn code_from_proto(c: i32) -> Code {
    use pb::NotificationCode as P;
    match P::try_from(c).unwrap_or(P::Unspecified) {
        P::UnsupportedVersion => Code::UnsupportedVersion,
        P::BadPeerItad => Code::BadPeerItad,
        P::BadOpen => Code::BadOpen,
        P::UnacceptableHoldTime => Code::UnacceptableHoldTime,
        P::NoCommonPlan => Code::NoCommonPlan,
        P::AuthFailed => Code::AuthFailed,
        P::HoldTimerExpired => Code::HoldTimerExpired,
        P::FsmError => Code::FsmError,
        P::MaxPrefixes => Code::MaxPrefixes,
        P::AdminShutdown => Code::AdminShutdown,
        P::AdminReset => Code::AdminReset,
        P::PeerDeconfigured => Code::PeerDeconfigured,
        P::ConnectionCollision => Code::ConnectionCollision,
        P::UpdateRate => Code::UpdateRate,
        P::MessageTooLarge => Code::MessageTooLarge,
        P::ConnectionRejected => Code::ConnectionRejected,
        P::MalformedMessage | P::Unspecified => Code::MalformedMessage,
    }
}

/// Reads one received route. `carried` are the plans the session
/// negotiated; a route of any other plan is an error.
pub fn announced(
    plans: &Plans,
    carried: &[PlanId],
    r: &pb::PathRoute,
) -> Result<Announced, String> {
    let prefix = plans
        .parse_prefix(&r.prefix)
        .map_err(|e| format!("prefix {:?}: {e}", r.prefix))?;
    if !carried.contains(&prefix.plan) {
        return Err(format!("prefix {:?}: plan not negotiated", r.prefix));
    }
    if r.next_hops.len() > trunkline_core::route::MAX_NEXT_HOPS {
        return Err(format!(
            "{}: {} next hops (at most {})",
            r.prefix,
            r.next_hops.len(),
            trunkline_core::route::MAX_NEXT_HOPS
        ));
    }
    let mut next_hops = r
        .next_hops
        .iter()
        .map(|h| NextHop::new(&h.uri, h.priority, h.weight))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", r.prefix))?;
    trunkline_core::route::order_next_hops(&mut next_hops);
    if r.communities.len() > 64 {
        return Err(format!("{}: more than 64 communities", r.prefix));
    }
    let local_from = r
        .local_from
        .map(|n| {
            u8::try_from(n)
                .ok()
                .filter(|&n| usize::from(n) <= prefix.digits.len())
                .ok_or_else(|| format!("{}: local_from {n} is longer than the prefix", r.prefix))
        })
        .transpose()?;
    Ok(Announced {
        prefix,
        next_hops,
        path: r.path.clone(),
        med: r.med,
        communities: r
            .communities
            .iter()
            .map(|c| LargeCommunity(c.global, c.local1, c.local2))
            .collect(),
        local_from,
    })
}

pub fn path_route(plans: &Plans, a: &Announced) -> pb::PathRoute {
    pb::PathRoute {
        prefix: plans.prefix_str(&a.prefix),
        next_hops: a
            .next_hops
            .iter()
            .map(|h| pb::NextHop {
                uri: h.uri.clone(),
                priority: h.priority,
                weight: h.weight,
            })
            .collect(),
        path: a.path.clone(),
        med: a.med,
        communities: a
            .communities
            .iter()
            .map(|c| pb::LargeCommunity {
                global: c.0,
                local1: c.1,
                local2: c.2,
            })
            .collect(),
        local_from: a.local_from.map(u32::from),
    }
}
