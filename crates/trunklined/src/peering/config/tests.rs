use super::*;

const ME: Itad = 4_200_000_000;

fn resolve(text: &str) -> Result<Peer, String> {
    PeerSection::from_toml(text)
        .and_then(|s| s.resolve(&Plans::default(), ME))
        .map_err(|e| e.to_string())
}

#[test]
fn a_member_with_its_blocks() {
    let p = resolve(
        r#"
name = "alice"
itad = 4200000101
role = "member"
allowed = ["+1555123XXXX", "+1555124"]
sources = ["10.0.0.0/8", "192.0.2.7"]
max_prefixes = 100
max_prefixes_action = "refuse"
"#,
    )
    .unwrap();
    assert_eq!(p.policy.role, Role::Member);
    assert_eq!(p.policy.allowed.len(), 2);
    assert_eq!(p.policy.max_prefixes, Some((100, MaxPrefixAction::Refuse)));
    assert!(p.admits("10.1.2.3".parse().unwrap()));
    assert!(p.admits("192.0.2.7".parse().unwrap()));
    assert!(!p.admits("192.0.2.8".parse().unwrap()));
    assert!(p.policy.import.is_none());
}

#[test]
fn filters_read_in_order() {
    let p = resolve(
        r#"
name = "bob"
itad = 4200000202
[[import]]
prefixes = ["+49"]
action = "reject"
[[import]]
communities = ["4200000202:1:1"]
action = "accept"
local_pref = 200
"#,
    )
    .unwrap();
    let f = p.policy.import.unwrap();
    assert_eq!(f.terms.len(), 2);
    assert_eq!(f.terms[0].action, Some(Action::Reject));
    assert_eq!(f.terms[1].local_pref, Some(200));
}

#[test]
fn the_text_round_trips() {
    let text = r#"
name = "bob"
itad = 4200000202
addresses = ["http://10.0.0.2:50051"]
route_server = true
[[export]]
prefixes = ["+1"]
action = "accept"
"#;
    let s = PeerSection::from_toml(text).unwrap();
    assert_eq!(PeerSection::from_toml(&s.to_toml()).unwrap(), s);
}

#[test]
fn errors_name_the_field() {
    let cases = [
        ("name = \"a b\"\nitad = 7\n", "peer[a b].name"),
        ("name = \"x\"\nitad = 0\n", "peer[x].itad"),
        (
            "name = \"x\"\nitad = 4200000000\n",
            "peer[x].itad: is this node's own ITAD",
        ),
        (
            "name = \"x\"\nitad = 7\naddresses = [\"10.0.0.1\"]\n",
            "peer[x].addresses[0]",
        ),
        (
            "name = \"x\"\nitad = 7\nrole = \"member\"\n",
            "peer[x].allowed",
        ),
        (
            "name = \"x\"\nitad = 7\nallowed = [\"+1a\"]\n",
            "peer[x].allowed[0]",
        ),
        (
            "name = \"x\"\nitad = 7\nsources = [\"10.0.0.0/33\"]\n",
            "peer[x].sources[0]",
        ),
        (
            "name = \"x\"\nitad = 7\nhold_secs = 2\n",
            "peer[x].hold_secs",
        ),
        (
            "name = \"x\"\nitad = 7\n[[import]]\ncommunities = [\"1:2\"]\naction = \"accept\"\n",
            "peer[x].import[0].communities",
        ),
    ];
    for (text, want) in cases {
        let err = resolve(text).unwrap_err();
        assert!(err.starts_with(want), "{text:?}: {err}");
    }
    let err = PeerSection::from_toml("name = \"x\"\nitad = 7\nbogus = 1\n").unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn names_and_itads_are_unique() {
    let a = PeerSection::from_toml("name = \"a\"\nitad = 7\n").unwrap();
    let b = PeerSection::from_toml("name = \"a\"\nitad = 8\n").unwrap();
    let c = PeerSection::from_toml("name = \"c\"\nitad = 7\n").unwrap();
    let plans = Plans::default();
    assert!(check_peers(&[a.clone(), b], &plans, ME).is_err());
    assert!(check_peers(&[a, c], &plans, ME).is_err());
}
