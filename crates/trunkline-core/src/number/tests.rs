use super::*;

fn plans() -> Plans {
    Plans::with_private([("npstn", 7), ("hamshack", 10)]).unwrap()
}

/// Each line: input, expected canonical prefix or the error's message.
const PREFIX_CASES: &[(&str, Result<&str, &str>)] = &[
    ("+1555123", Ok("+1555123")),
    ("  +1 (555) 123-4.5 ", Ok("+155512345")),
    ("e164:1555", Ok("+1555")),
    ("e164:", Ok("e164:")),
    ("npstn:5582", Ok("npstn:5582")),
    ("npstn:", Ok("npstn:")),
    ("hamshack:1234567890", Ok("hamshack:1234567890")),
    ("+123456789012345", Ok("+123456789012345")),
    ("", Err("empty input")),
    ("   ", Err("empty input")),
    (
        "+",
        Err("a lone '+' has no digits (write `e164:` for the default route)"),
    ),
    (
        "+1234567890123456",
        Err("16 digits is too long for plan e164 (at most 15)"),
    ),
    (
        "npstn:12345678",
        Err("8 digits is too long for plan npstn (at most 7)"),
    ),
    (
        "+1５55",
        Err("'５' at position 3 is not an ASCII digit (only 0-9 are accepted)"),
    ),
    (
        "+1٥55",
        Err("'٥' at position 3 is not an ASCII digit (only 0-9 are accepted)"),
    ),
    (
        "+1555CALL",
        Err("letter 'C' at position 6: numbers hold only digits"),
    ),
    ("+1555#", Err("unexpected character '#' at position 6")),
    ("foo:123", Err("unknown number plan \"foo\"")),
    (
        "15551234",
        Err("start with '+' for an E.164 number or name a plan as `plan:digits`"),
    ),
];

#[test]
fn prefix_parsing_table() {
    let plans = plans();
    for (input, want) in PREFIX_CASES {
        let got = plans
            .parse_prefix(input)
            .map(|p| plans.prefix_str(&p))
            .map_err(|e| e.to_string());
        let want = want.map(str::to_owned).map_err(str::to_owned);
        assert_eq!(got, want, "input {input:?}");
    }
}

#[test]
fn numbers_need_digits() {
    let plans = plans();
    assert_eq!(plans.parse_number("+"), Err(NumberError::LonePlus));
    assert_eq!(
        plans.parse_number("npstn:"),
        Err(NumberError::NoDigits {
            plan: "npstn".into()
        })
    );
    assert_eq!(
        plans.parse_number("e164:"),
        Err(NumberError::NoDigits {
            plan: "e164".into()
        })
    );
    let n = plans.parse_number("+1 555 123 4567").unwrap();
    assert_eq!(plans.number_str(&n), "+15551234567");
}

#[test]
fn canonical_form_round_trips() {
    let plans = plans();
    for s in ["+1", "+4930123", "npstn:0", "e164:", "hamshack:"] {
        let p = plans.parse_prefix(s).unwrap();
        assert_eq!(plans.prefix_str(&p), s);
        assert_eq!(plans.parse_prefix(&plans.prefix_str(&p)).unwrap(), p);
    }
}

#[test]
fn digits_order_is_lexical() {
    let a = Digits::from_ascii("155").unwrap();
    let b = Digits::from_ascii("1551").unwrap();
    let c = Digits::from_ascii("16").unwrap();
    assert!(a < b && b < c);
    assert!(b.starts_with(&a));
    assert_eq!(b.truncate(2), Digits::from_ascii("15").unwrap());
}
