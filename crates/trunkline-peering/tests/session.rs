//! Conformance of the session state machine, driven by
//! `fixtures/session.txt`: one test per line,
//!
//! ```text
//! name | from | inputs | outputs | state
//! ```
//!
//! `from` is a state reached from a fresh active session (`passive` for a
//! started passive one) by the standard path at time 0. `inputs` are
//! separated by `;` and `outputs` likewise, one group per input (`-` for
//! none). See `input` and `render` below for the notation.

use trunkline_peering::message::{
    Authority, Capabilities, Code, Message, Notification, Open, VERSION,
};
use trunkline_peering::session::{Config, Input, Millis, Output, Session};

const ME: u32 = 4_200_000_000;
const PEER: u32 = 4_200_000_101;

fn config(active: bool) -> Config {
    Config {
        hold_secs: 90,
        plans: vec!["e164".into(), "npstn".into()],
        password: "s3cret".into(),
        active,
        max_updates_per_sec: 2,
        update_burst: 3,
        hold_down_min_ms: 5_000,
        hold_down_max_ms: 20_000,
        hold_down_forget_ms: 20_000,
        ..Config::new(ME, "exchange", PEER)
    }
}

/// The Open a well-behaved peer sends, changed by `key=value` options.
fn peer_open(opts: &[&str]) -> Open {
    let mut o = Open {
        version: VERSION,
        itad: PEER,
        name: "alice".into(),
        hold_secs: 30,
        capabilities: Capabilities {
            plans: vec!["e164".into()],
            graceful_restart_secs: Some(60),
            route_refresh: true,
            authority: false,
        },
        password: "s3cret".into(),
    };
    for opt in opts {
        let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
        match k {
            "version" => o.version = v.parse().unwrap(),
            "itad" => o.itad = v.parse().unwrap(),
            "name" => o.name = v.to_owned(),
            "hold" => o.hold_secs = v.parse().unwrap(),
            "plans" => o.capabilities.plans = v.split(',').map(str::to_owned).collect(),
            "gr" => o.capabilities.graceful_restart_secs = v.parse().ok(),
            "rr" => o.capabilities.route_refresh = v == "yes",
            "auth" => o.capabilities.authority = v == "yes",
            "password" => o.password = v.to_owned(),
            _ => panic!("unknown open option {k}"),
        }
    }
    o
}

/// Parses one input; `now` is advanced by `tick`.
fn input(text: &str, now: &mut Millis) -> Input<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let code = |w: &str| Code::from_name(w).unwrap_or_else(|| panic!("unknown code {w}"));
    match words.as_slice() {
        ["start"] => Input::Start,
        ["stop", c] => Input::Stop(code(c), "test".into()),
        ["connected"] => Input::Connected,
        ["connect-failed"] => Input::ConnectFailed("refused".into()),
        ["closed"] => Input::Closed("reset".into()),
        ["pending"] => Input::Pending,
        ["malformed"] => Input::Malformed("garbage".into()),
        ["activate"] => Input::Activate(true),
        ["deactivate"] => Input::Activate(false),
        ["tick", t] => {
            *now = t.parse().unwrap();
            Input::Tick
        }
        ["recv", rest @ ..] => Input::Received(message(rest)),
        ["send", rest @ ..] => Input::Send(message(rest)),
        _ => panic!("unknown input {text:?}"),
    }
}

fn message(words: &[&str]) -> Message<String> {
    match words {
        ["open", opts @ ..] => Message::Open(peer_open(opts)),
        ["keepalive"] => Message::Keepalive,
        ["update", u] => Message::Update((*u).to_owned()),
        ["eor", plan] => Message::EndOfRib {
            plan: (*plan).to_owned(),
        },
        ["refresh"] => Message::RouteRefresh { plan: None },
        ["refresh", plan] => Message::RouteRefresh {
            plan: Some((*plan).to_owned()),
        },
        ["authority-snapshot"] => Message::Authority(Authority::Snapshot(vec![b"s".to_vec()])),
        ["authority-end"] => Message::Authority(Authority::End(1)),
        ["authority-delta"] => Message::Authority(Authority::Delta(vec![b"d".to_vec()])),
        ["notification", c] => Message::Notification(Notification {
            code: Code::from_name(c).unwrap(),
            reason: String::new(),
        }),
        _ => panic!("unknown message {words:?}"),
    }
}

fn render(o: &Output<String>) -> String {
    match o {
        Output::Send(m) => match m {
            Message::Open(_) => "send open".into(),
            Message::Keepalive => "send keepalive".into(),
            Message::Update(u) => format!("send update {u}"),
            Message::EndOfRib { plan } => format!("send eor {plan}"),
            Message::RouteRefresh { plan } => match plan {
                Some(p) => format!("send refresh {p}"),
                None => "send refresh".into(),
            },
            Message::Notification(n) => format!("send notification {}", n.code),
            Message::Authority(a) => format!("send {}", a.kind()),
        },
        Output::Dial => "dial".into(),
        Output::Close => "close".into(),
        Output::Established(n) => format!(
            "established hold={} plans={} gr={} rr={}{}",
            n.hold_secs,
            n.plans.join(","),
            n.peer_restart_secs.map_or("none".into(), |s| s.to_string()),
            if n.route_refresh { "yes" } else { "no" },
            if n.authority { " auth" } else { "" }
        ),
        Output::Authority(a) => a.kind().to_owned(),
        Output::Down(d) => {
            if d.graceful {
                "down graceful".into()
            } else {
                "down".into()
            }
        }
        Output::Update(u) => format!("update {u}"),
        Output::EndOfRib(p) => format!("eor {p}"),
        Output::RefreshRequested(p) => match p {
            Some(p) => format!("refresh {p}"),
            None => "refresh".into(),
        },
    }
}

/// A session in `state`, reached the standard way at time 0.
fn reach(state: &str) -> Session<String> {
    let passive = state == "passive";
    let mut s = Session::new(config(!passive));
    let path: &[Input<String>] = match state {
        "idle" => &[],
        "passive" => &[Input::Start],
        "connect" => &[Input::Start],
        "open-sent" => &[Input::Start, Input::Connected],
        "open-confirm" => &[
            Input::Start,
            Input::Connected,
            Input::Received(Message::Open(peer_open(&[]))),
        ],
        "established" => &[
            Input::Start,
            Input::Connected,
            Input::Received(Message::Open(peer_open(&[]))),
            Input::Received(Message::Keepalive),
        ],
        other => panic!("unknown start state {other}"),
    };
    for i in path {
        s.handle(0, i.clone());
    }
    s
}

#[test]
fn session_fixtures() {
    let text = include_str!("fixtures/session.txt");
    let mut failures = Vec::new();
    let mut count = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        count += 1;
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let [name, from, inputs, outputs, state] = cols[..] else {
            panic!("line {}: want 5 columns: {line}", n + 1);
        };
        let mut s = reach(from);
        let mut now = 0;
        let inputs: Vec<&str> = inputs.split(';').map(str::trim).collect();
        let wanted: Vec<&str> = outputs.split(';').map(str::trim).collect();
        assert_eq!(
            inputs.len(),
            wanted.len(),
            "line {}: one output group per input",
            n + 1
        );
        let mut got = Vec::new();
        for i in &inputs {
            let input = input(i, &mut now);
            let out: Vec<String> = s.handle(now, input).iter().map(render).collect();
            got.push(if out.is_empty() {
                "-".to_owned()
            } else {
                out.join(", ")
            });
        }
        let got_state = s.state().name();
        if got != wanted || got_state != state {
            failures.push(format!(
                "line {} ({name}):\n  want {} | {state}\n  got  {} | {got_state}",
                n + 1,
                wanted.join("; "),
                got.join("; ")
            ));
        }
    }
    assert!(count > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every Notification code has a name the fixtures can use, and back.
#[test]
fn codes_round_trip() {
    for c in Code::ALL {
        assert_eq!(Code::from_name(c.name()), Some(c));
    }
}
