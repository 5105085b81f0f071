//! Number, prefix, block and range parsing: whatever parses prints in a
//! form that parses back to the same value, and a range's prefixes cover
//! exactly the range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trunkline_core::Plans;
use trunkline_core::block::{Block, ranges_from_prefixes};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let plans = Plans::with_private([("npstn", 7)]).unwrap();
    if let Ok(p) = plans.parse_prefix(input) {
        let text = plans.prefix_str(&p);
        assert_eq!(plans.parse_prefix(&text).as_ref(), Ok(&p), "{text}");
    }
    if let Ok(n) = plans.parse_number(input) {
        let text = plans.number_str(&n);
        assert_eq!(plans.parse_number(&text).as_ref(), Ok(&n), "{text}");
    }
    if let Ok(b) = plans.parse_block(input) {
        let prefixes = b.prefixes();
        assert!(!prefixes.is_empty(), "{input:?} covers nothing");
        if let Block::Range(r) = &b {
            assert_eq!(ranges_from_prefixes(&prefixes, r.number_len()), [*r]);
            let text = plans.range_str(r);
            let back = plans.parse_block(&text).unwrap();
            assert_eq!(back.prefixes(), prefixes, "{text}");
        }
    }
});
