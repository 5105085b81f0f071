use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::number::Digits;

fn key(v: &[u8]) -> Key {
    Key::from_digits(&Digits::from_values(v).unwrap())
}

/// The naive reference: try every prefix length, longest first.
fn naive_lpm(map: &BTreeMap<Vec<u8>, u32>, q: &[u8]) -> Option<(usize, u32)> {
    (0..=q.len())
        .rev()
        .find_map(|n| map.get(&q[..n]).map(|v| (n, *v)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn matches_naive_reference(
        entries in prop::collection::btree_map(prop::collection::vec(0u8..4, 0..8), any::<u32>(), 0..300),
        probes in prop::collection::vec(prop::collection::vec(0u8..4, 0..10), 60),
    ) {
        let mut sorted: Vec<(Key, u32)> = entries.iter().map(|(k, v)| (key(k), *v)).collect();
        sorted.sort_by_key(|e| e.0);
        let ix = Index::build(sorted);
        prop_assert_eq!(ix.len(), entries.len());
        for q in &probes {
            prop_assert_eq!(ix.longest_match(q).map(|(n, v)| (n, *v)), naive_lpm(&entries, q));
            let pm = ix.path_matches(q);
            for n in 0..=q.len() {
                prop_assert_eq!(pm.value_index(n).map(|i| *ix.value(i)), entries.get(&q[..n]).copied());
            }
            prop_assert_eq!(ix.get(key(q)).copied(), entries.get(q).copied());
            // Everything under q, in order.
            let want: Vec<u32> = entries.iter().filter(|(k, _)| k.starts_with(q)).map(|(_, v)| *v).collect();
            let got: Vec<u32> = ix.range(key(q), key(q).subtree_end()).map(|(_, v)| *v).collect();
            prop_assert_eq!(got, want);
        }
        let all: Vec<Vec<u8>> = ix.iter().map(|(k, _)| k.to_digits().as_slice().to_vec()).collect();
        let want: Vec<Vec<u8>> = entries.keys().cloned().collect();
        prop_assert_eq!(all, want);
    }
}

#[test]
fn empty_and_root_only() {
    let ix: Index<u32> = Index::build(vec![]);
    assert_eq!(ix.longest_match(&[1, 2]), None);
    let ix = Index::build(vec![(Key::EMPTY, 7)]);
    assert_eq!(ix.longest_match(&[1, 2]), Some((0, &7)));
    assert_eq!(ix.longest_match(&[]), Some((0, &7)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Tables big enough to get a jump table (1000 keys and up), with keys
    /// shorter and longer than its digits.
    #[test]
    fn jump_table_matches_naive_reference(
        entries in prop::collection::btree_map(prop::collection::vec(0u8..10, 0..7), any::<u32>(), 1000..2500),
        probes in prop::collection::vec(prop::collection::vec(0u8..10, 0..9), 400),
    ) {
        let mut sorted: Vec<(Key, u32)> = entries.iter().map(|(k, v)| (key(k), *v)).collect();
        sorted.sort_by_key(|e| e.0);
        let ix = Index::build(sorted);
        prop_assert_eq!(ix.jump_digits, 3);
        for q in probes.iter().chain(entries.keys()) {
            prop_assert_eq!(ix.longest_match(q).map(|(n, v)| (n, *v)), naive_lpm(&entries, q));
            let mut longer = q.clone();
            longer.extend([3, 1, 4]);
            prop_assert_eq!(ix.longest_match(&longer).map(|(n, v)| (n, *v)), naive_lpm(&entries, &longer));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(30))]

    /// The batched walk gives exactly the single walk's answers.
    #[test]
    fn batch_equals_single(
        entries in prop::collection::btree_map(prop::collection::vec(0u8..10, 0..7), any::<u32>(), 0..2500),
        probes in prop::collection::vec(prop::collection::vec(0u8..10, 0..9), 64),
    ) {
        let mut sorted: Vec<(Key, u32)> = entries.iter().map(|(k, v)| (key(k), *v)).collect();
        sorted.sort_by_key(|e| e.0);
        let ix = Index::build(sorted);
        let mut got = vec![None; probes.len()];
        let mut seen = 0;
        ix.longest_match_stream(probes.len(), |i| probes[i].as_slice(), |i, r| {
            got[i] = r.map(|(l, v)| (l, *ix.value(v)));
            seen += 1;
        });
        prop_assert_eq!(seen, probes.len());
        for (i, q) in probes.iter().enumerate() {
            prop_assert_eq!(got[i], ix.longest_match(q).map(|(l, v)| (l, *v)));
        }
    }
}
