//! Every RPC refuses bad input with INVALID_ARGUMENT and a message saying
//! what is wrong; nothing is half-applied; the daemon keeps running.

use tonic::Code;
use trunkline_proto::v1 as pb;

use crate::harness::Node;

fn hop(uri: &str) -> pb::NextHop {
    pb::NextHop {
        uri: uri.into(),
        priority: 10,
        weight: 100,
    }
}

fn spec(prefix: &str, hops: Vec<pb::NextHop>) -> pb::RouteSpec {
    pb::RouteSpec {
        prefix: prefix.into(),
        next_hops: hops,
        ..Default::default()
    }
}

fn announce(routes: Vec<pb::RouteSpec>) -> pb::AnnounceRequest {
    pb::AnnounceRequest {
        routes,
        request_id: String::new(),
    }
}

#[tokio::test]
async fn every_rpc_rejects_bad_input_and_applies_nothing() {
    let mut node = Node::start_with("", "");
    let mut c = node.client().await;
    let long_uri = format!("sip:{}@x", "a".repeat(600));
    let cases: Vec<(pb::AnnounceRequest, &str)> = vec![
        (announce(vec![]), "routes: at least one route"),
        (
            announce(vec![
                spec("+1555", vec![hop("sip:a@x")]),
                spec("+1５55", vec![hop("sip:a@x")]),
            ]),
            "routes[1].prefix \"+1５55\": '５' at position 3 is not an ASCII digit",
        ),
        (
            announce(vec![spec("+1555", vec![])]),
            "routes[0].next_hops: a route needs at least one next hop",
        ),
        (
            announce(vec![spec("+1555", vec![hop("sip:{foo}@x")])]),
            "unknown placeholder {foo}",
        ),
        (
            announce(vec![spec("+1555", vec![hop(&long_uri)])]),
            "longer than 512 bytes",
        ),
        (
            announce(vec![spec("+1555", vec![hop("sip:a b@x")])]),
            "whitespace",
        ),
        (
            announce(vec![spec(
                "+1555",
                (0..17).map(|i| hop(&format!("sip:{i}@x"))).collect(),
            )]),
            "at most 16 next hops",
        ),
        (
            announce(vec![spec("", vec![hop("sip:a@x")])]),
            "empty input",
        ),
        (announce(vec![spec("+", vec![hop("sip:a@x")])]), "lone '+'"),
        (
            announce(vec![spec("nope:12", vec![hop("sip:a@x")])]),
            "unknown number plan \"nope\"",
        ),
        (
            announce(vec![spec("+1234567890123456", vec![hop("sip:a@x")])]),
            "too long for plan e164",
        ),
        (
            announce(vec![spec("+1555..+1554", vec![hop("sip:a@x")])]),
            "range start is after its end",
        ),
        (
            pb::AnnounceRequest {
                routes: vec![spec("+1555", vec![hop("sip:a@x")])],
                request_id: "x".repeat(200),
            },
            "request_id",
        ),
    ];
    for (req, want) in cases {
        let err = c.announce(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(
            err.message().contains(want),
            "want {want:?} in {:?}",
            err.message()
        );
    }
    // The good route of the half-bad request was not applied.
    let miss = c
        .lookup(pb::LookupRequest {
            number: "+15551".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(miss.code(), Code::NotFound);

    for number in ["", "+", "+1a", "+1٥", "+1234567890123456", "1555", "x:1"] {
        let err = c
            .lookup(pb::LookupRequest {
                number: number.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "lookup {number:?}: {err:?}"
        );
        let err = c
            .explain(pb::ExplainRequest {
                number: number.into(),
                consistent: true,
            })
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "explain {number:?}: {err:?}"
        );
    }
    let err = c
        .withdraw(pb::WithdrawRequest {
            prefixes: vec!["+1".into(), "+1x2".into()],
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("prefixes[1]"), "{}", err.message());
    let err = c
        .list_routes(pb::ListRoutesRequest {
            prefix: "+1-x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // Oversized requests are refused, and the node keeps serving.
    let huge: Vec<pb::RouteSpec> = (0..400_000)
        .map(|i| {
            spec(
                &format!("+1{i:07}"),
                vec![hop("sip:{e164}@pbx.example.org")],
            )
        })
        .collect();
    let mut small = node.client().await;
    let err = small.announce(announce(huge)).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{err:?}"
    );
    assert!(node.is_running());
    c.announce(announce(vec![spec("+1555", vec![hop("sip:a@x")])]))
        .await
        .unwrap();
    let ok = c
        .lookup(pb::LookupRequest {
            number: "+15551".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ok.into_inner().matched_prefix, "+1555");
}
