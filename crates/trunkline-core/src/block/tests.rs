use proptest::prelude::*;

use super::*;

fn strs(plans: &Plans, ps: &[Prefix]) -> Vec<String> {
    ps.iter().map(|p| plans.prefix_str(p)).collect()
}

#[test]
fn block_notations() {
    let plans = Plans::default();
    let cases: &[(&str, &[&str])] = &[
        ("+1555123XXXX", &["+1555123"]),
        ("+1555123xxxx", &["+1555123"]),
        ("+15551230000..+15551239999", &["+1555123"]),
        (
            "+15551230000..+15551234999",
            &[
                "+15551230",
                "+15551231",
                "+15551232",
                "+15551233",
                "+15551234",
            ],
        ),
        (
            "+15551230017..+15551230123",
            &[
                "+15551230017",
                "+15551230018",
                "+15551230019",
                "+1555123002",
                "+1555123003",
                "+1555123004",
                "+1555123005",
                "+1555123006",
                "+1555123007",
                "+1555123008",
                "+1555123009",
                "+1555123010",
                "+1555123011",
                "+15551230120",
                "+15551230121",
                "+15551230122",
                "+15551230123",
            ][..],
        ),
        ("+15551234567..+15551234567", &["+15551234567"]),
        ("+1", &["+1"]),
    ];
    for (input, want) in cases {
        let got = strs(&plans, &plans.parse_block(input).unwrap().prefixes());
        assert_eq!(&got, want, "input {input}");
    }
}

#[test]
fn block_errors() {
    let plans = Plans::with_private([("npstn", 7)]).unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "+1555X1",
            "'X' at position 6 must only stand at the end of a block",
        ),
        (
            "+1555..npstn:1555",
            "a range joins two numbers of the same plan, not e164 and npstn",
        ),
        (
            "+1555..+15556",
            "a range joins two numbers of the same length, not 4 and 5 digits",
        ),
        ("+1556..+1555", "range start is after its end"),
        (
            "+123456789012XXXX",
            "16 digits is too long for plan e164 (at most 15)",
        ),
        (
            "+",
            "a lone '+' has no digits (write `e164:` for the default route)",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            plans.parse_block(input).unwrap_err().to_string(),
            *want,
            "{input}"
        );
    }
}

#[test]
fn display_back() {
    let plans = Plans::default();
    let b = plans.parse_block("+15551230000..+15551234999").unwrap();
    let ranges = ranges_from_prefixes(&b.prefixes(), 11);
    let shown: Vec<String> = ranges.iter().map(|r| plans.range_str(r)).collect();
    assert_eq!(shown, ["+15551230000..+15551234999"]);
    let b = plans.parse_block("+1555123XXXX").unwrap();
    assert_eq!(BlockDisplay(&plans, &b).to_string(), "+1555123XXXX");
    let ranges = ranges_from_prefixes(&b.prefixes(), 11);
    assert_eq!(plans.range_str(&ranges[0]), "+1555123XXXX");
}

proptest! {
    /// The prefixes of a range cover exactly the range, do not overlap, and
    /// merge back into the same range.
    #[test]
    fn range_round_trip(len in 1usize..=8, a in 0u64..100_000_000, b in 0u64..100_000_000) {
        let m = 10u64.pow(len as u32);
        let (lo, hi) = (a % m, b % m);
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        let lo_d = from_u128(lo.into(), len);
        let hi_d = from_u128(hi.into(), len);
        let r = Range { plan: PlanId::E164, lo: lo_d, hi: hi_d };
        let ps = r.prefixes();
        let mut covered = 0u128;
        let mut prev_hi: Option<u128> = None;
        for p in &ps {
            let pr = Range::of_prefix(p, len);
            let (plo, phi) = (to_u128(&pr.lo), to_u128(&pr.hi));
            prop_assert!(plo >= u128::from(lo) && phi <= u128::from(hi));
            if let Some(h) = prev_hi { prop_assert_eq!(plo, h + 1); }
            prev_hi = Some(phi);
            covered += phi - plo + 1;
        }
        prop_assert_eq!(covered, u128::from(hi - lo + 1));
        prop_assert!(ps.len() <= 18 * len);
        prop_assert_eq!(ranges_from_prefixes(&ps, len), vec![r]);
    }
}

/// The README's range: `{local}` is the digits after the range's fixed
/// part (`+1555123`), whichever of its five prefixes matched.
#[test]
fn local_of_a_range_is_after_its_fixed_part() {
    let plans = Plans::default();
    let block = plans.parse_block("+15551230000..+15551234999").unwrap();
    assert_eq!(block.local_from(), Some(7));
    for (number, prefix_len, local) in [("15551230567", 8, "0567"), ("15551234567", 8, "4567")] {
        let attrs = local_attrs(block.local_from());
        assert_eq!(attrs.local_part(number, prefix_len), local);
    }
    // A block, a prefix, or a range that is exactly one prefix: {local} is
    // the digits after the prefix, as before.
    for b in ["+1555123XXXX", "+1555123", "+15551230000..+15551239999"] {
        assert_eq!(plans.parse_block(b).unwrap().local_from(), None, "{b}");
    }
}

fn local_attrs(local_from: Option<usize>) -> crate::Attrs {
    crate::Attrs {
        source: crate::Source::Api,
        next_hops: vec![],
        path: vec![],
        local_pref: 100,
        med: 0,
        communities: vec![],
        validation: crate::Validation::NotFound,
        reject_not_found: false,
        local_from: local_from.map(|n| n as u8),
    }
}

proptest! {
    /// For any range and any number in it, `{local}` is the number's digits
    /// after the digits every number of the range shares, so two numbers
    /// of one range never get the same `{local}`, whichever prefix of the
    /// range matched each.
    #[test]
    fn local_is_unambiguous_within_a_range(
        len in 1usize..=10, a in 0u64..10_000_000_000, b in 0u64..10_000_000_000, pick in any::<u64>(),
    ) {
        let m = 10u64.pow(len as u32);
        let (lo, hi) = ((a % m).min(b % m), (a % m).max(b % m));
        let r = Range { plan: PlanId::E164, lo: from_u128(lo.into(), len), hi: from_u128(hi.into(), len) };
        let block = Block::Range(r);
        let attrs = local_attrs(block.local_from());
        let shared = r.lo.as_slice().iter().zip(r.hi.as_slice()).take_while(|(x, y)| x == y).count();
        let prefixes = block.prefixes();
        let mut seen = std::collections::HashSet::new();
        // Up to 64 numbers of the range: its ends and some in between.
        let span = hi - lo;
        for k in 0..64u64 {
            let n = match k { 0 => lo, 1 => hi, _ => lo + (pick.wrapping_mul(k) % (span + 1)) };
            let digits = from_u128(n.into(), len).to_string();
            let matched = prefixes.iter().find(|p| digits.starts_with(&p.digits.to_string()));
            prop_assert!(matched.is_some(), "{digits} not covered");
            let local = attrs.local_part(&digits, matched.unwrap().digits.len());
            prop_assert_eq!(local, &digits[shared..]);
            seen.insert((n, local.to_owned()));
        }
        let locals: std::collections::HashSet<_> = seen.iter().map(|(_, l)| l.clone()).collect();
        prop_assert_eq!(locals.len(), seen.len());
    }
}
