//! The peering session machine fed arbitrary input sequences (streams up
//! and down, any message in any state, time passing): it never panics and
//! keeps its invariants after every step.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trunkline_fuzz::Bytes;
use trunkline_peering::message::{
    Authority, Capabilities, Code, Message, Notification, Open, VERSION,
};
use trunkline_peering::session::{Config, Input, Output, Session, State};

const PEER_ITAD: u32 = 65001;

fn open(b: &mut Bytes<'_>) -> Open {
    let flags = b.u8().unwrap_or(0);
    Open {
        version: if flags & 1 == 0 {
            VERSION
        } else {
            u32::from(flags)
        },
        itad: if flags & 2 == 0 { PEER_ITAD } else { 7 },
        name: b.text(70),
        hold_secs: u32::from(b.u8().unwrap_or(90)),
        capabilities: Capabilities {
            plans: match flags >> 2 & 3 {
                0 => vec!["e164".into()],
                1 => vec!["npstn".into()],
                2 => vec![],
                _ => vec!["e164".into(), "npstn".into()],
            },
            graceful_restart_secs: (flags & 16 == 0).then_some(120),
            route_refresh: flags & 32 == 0,
            authority: flags & 128 == 0,
        },
        password: if flags & 64 == 0 {
            String::new()
        } else {
            b.text(8)
        },
    }
}

fn message(b: &mut Bytes<'_>) -> Message<u32> {
    match b.u8().unwrap_or(0) % 10 {
        0 => Message::Open(open(b)),
        1 => Message::Keepalive,
        2 => Message::Update(u32::from(b.u16().unwrap_or(0))),
        3 => Message::EndOfRib { plan: b.text(8) },
        4 => Message::RouteRefresh {
            plan: (b.u8().unwrap_or(0) & 1 == 1).then(|| b.text(8)),
        },
        5 => Message::Notification(Notification {
            code: Code::ALL[usize::from(b.u8().unwrap_or(0)) % Code::ALL.len()],
            reason: b.text(16),
        }),
        6 => Message::Authority(Authority::Snapshot(vec![b.take(8).to_vec()])),
        7 => Message::Authority(Authority::End(u32::from(b.u8().unwrap_or(0)))),
        8 => Message::Authority(Authority::Delta(vec![b.take(8).to_vec()])),
        _ => Message::Keepalive,
    }
}

fn input(b: &mut Bytes<'_>) -> Option<Input<u32>> {
    Some(match b.u8()? % 13 {
        0 => Input::Start,
        1 => Input::Stop(
            Code::ALL[usize::from(b.u8().unwrap_or(0)) % Code::ALL.len()],
            "stop".into(),
        ),
        2 => Input::Connected,
        3 => Input::ConnectFailed("refused".into()),
        4 => Input::Closed("reset".into()),
        5..=7 => Input::Received(message(b)),
        8 => Input::Malformed("garbage".into()),
        9 => Input::Tick,
        10 => Input::Send(message(b)),
        11 => Input::Activate(b.u8().unwrap_or(0) & 1 == 1),
        _ => Input::Pending,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let flags = b.u8().unwrap_or(0);
    let mut cfg = Config::new(65000, "fuzz", PEER_ITAD);
    cfg.active = flags & 1 == 0;
    cfg.hold_secs = if flags & 2 == 0 { 90 } else { 0 };
    cfg.plans = vec!["e164".into(), "npstn".into()];
    cfg.password = if flags & 4 == 0 {
        String::new()
    } else {
        "s".into()
    };
    cfg.authority = flags & 8 == 0;
    cfg.max_updates_per_sec = u32::from(flags >> 4);
    cfg.update_burst = u32::from(flags >> 4) * 2;
    cfg.hold_down_min_ms = 1_000;
    let mut s = Session::<u32>::new(cfg);
    let mut now = 0u64;
    while let Some(i) = input(&mut b) {
        // Time only moves forward, by up to a minute a step.
        now += u64::from(b.u16().unwrap_or(0));
        let before = s.state();
        let sending = matches!(i, Input::Send(_));
        let ticking = matches!(i, Input::Tick);
        let out = s.handle(now, i);
        for o in &out {
            match o {
                Output::Established(_) => assert_eq!(s.state(), State::Established),
                Output::Down(_) => assert_eq!(before, State::Established),
                Output::Update(_) | Output::EndOfRib(_) | Output::RefreshRequested(_) => {
                    assert_eq!(before, State::Established)
                }
                Output::Authority(_) => assert_eq!(before, State::Established),
                Output::Send(Message::Update(_)) => {
                    assert!(sending && before == State::Established)
                }
                _ => {}
            }
        }
        match s.state() {
            State::OpenConfirm | State::Established => assert!(s.negotiated().is_some()),
            State::Idle | State::Connect => assert!(s.negotiated().is_none()),
            State::OpenSent => {}
        }
        if ticking {
            // A tick handles every deadline due: one left in the past
            // would make the daemon's loop spin.
            assert!(
                s.next_deadline().is_none_or(|d| d > now),
                "{:?}",
                s.next_deadline()
            );
        }
    }
});
