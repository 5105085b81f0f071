use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn d(s: &str) -> Digits {
    Digits::from_ascii(s).unwrap()
}

/// The naive reference: try every prefix length, longest first.
fn naive_lpm(map: &BTreeMap<Vec<u8>, u32>, key: &[u8]) -> Option<(usize, u32)> {
    (0..=key.len())
        .rev()
        .find_map(|n| map.get(&key[..n]).map(|v| (n, *v)))
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Vec<u8>, u32),
    Remove(Vec<u8>),
}

/// Keys over a small alphabet and short lengths so that inserts, removes
/// and lookups collide often.
fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..4, 0..7)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (key(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => key().prop_map(Op::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn matches_naive_reference(ops in prop::collection::vec(op(), 0..200),
                               probes in prop::collection::vec(prop::collection::vec(0u8..4, 0..9), 50)) {
        let mut trie = Trie::new();
        let mut naive = BTreeMap::new();
        for op in &ops {
            match op {
                Op::Insert(k, v) => {
                    let key = Digits::from_values(k).unwrap();
                    prop_assert_eq!(trie.insert(&key, *v), naive.insert(k.clone(), *v));
                }
                Op::Remove(k) => {
                    let key = Digits::from_values(k).unwrap();
                    prop_assert_eq!(trie.remove(&key), naive.remove(k));
                }
            }
            prop_assert_eq!(trie.len(), naive.len());
        }
        for p in &probes {
            let got = trie.longest_match(p).map(|(n, v)| (n, *v));
            prop_assert_eq!(got, naive_lpm(&naive, p));
            prop_assert_eq!(trie.get(&Digits::from_values(p).unwrap()).copied(), naive.get(p).copied());
            let want: Vec<usize> = (0..=p.len()).filter(|n| naive.contains_key(&p[..*n])).collect();
            let got: Vec<usize> = trie.matches(&Digits::from_values(p).unwrap()).iter().map(|(k, _)| k.len()).collect();
            prop_assert_eq!(got, want);
        }
        // A walk from the root yields every key in lexical order.
        let mut walked = Vec::new();
        trie.walk_under(&Digits::EMPTY, &mut |k, v| { walked.push((k.as_slice().to_vec(), *v)); true });
        let want: Vec<(Vec<u8>, u32)> = naive.iter().map(|(k, v)| (k.clone(), *v)).collect();
        prop_assert_eq!(walked, want);
    }

    #[test]
    fn clones_do_not_see_later_writes(ops in prop::collection::vec(op(), 1..100), more in prop::collection::vec(op(), 1..100)) {
        let mut trie = Trie::new();
        for op in &ops {
            match op {
                Op::Insert(k, v) => { trie.insert(&Digits::from_values(k).unwrap(), *v); }
                Op::Remove(k) => { trie.remove(&Digits::from_values(k).unwrap()); }
            }
        }
        let frozen = trie.clone();
        let mut before = Vec::new();
        frozen.walk_under(&Digits::EMPTY, &mut |k, v| { before.push((*k, *v)); true });
        for op in &more {
            match op {
                Op::Insert(k, v) => { trie.insert(&Digits::from_values(k).unwrap(), *v); }
                Op::Remove(k) => { trie.remove(&Digits::from_values(k).unwrap()); }
            }
        }
        let mut after = Vec::new();
        frozen.walk_under(&Digits::EMPTY, &mut |k, v| { after.push((*k, *v)); true });
        prop_assert_eq!(before, after);
    }
}

#[test]
fn walk_under_a_prefix_and_stop_early() {
    let mut t = Trie::new();
    for (k, v) in [
        ("1", 1),
        ("15", 2),
        ("155", 3),
        ("1556", 4),
        ("16", 5),
        ("2", 6),
    ] {
        t.insert(&d(k), v);
    }
    let mut seen = Vec::new();
    t.walk_under(&d("15"), &mut |k, v| {
        seen.push((k.to_string(), *v));
        true
    });
    assert_eq!(
        seen,
        [("15".into(), 2), ("155".into(), 3), ("1556".into(), 4)]
    );
    let mut n = 0;
    t.walk_under(&Digits::EMPTY, &mut |_, _| {
        n += 1;
        n < 3
    });
    assert_eq!(n, 3);
    assert_eq!(t.longest_match(&[1, 5, 5, 6, 7]), Some((4, &4)));
    assert_eq!(t.longest_match(&[1, 7]), Some((1, &1)));
    assert_eq!(t.longest_match(&[3]), None);
}
