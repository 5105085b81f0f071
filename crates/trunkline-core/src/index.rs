//! The compiled lookup index: an immutable decimal trie in flat arrays.
//!
//! Only subtrees holding two or more keys get a node; a subtree holding one
//! key is a leaf slot in its parent, however deep that key lies, so the
//! long unique tails of ported numbers cost nothing to walk. A node is 16
//! bytes: bitmaps of the digits that lead to inner nodes and to leaves,
//! where those start, and the node's own value. Values sit in trie order
//! (a node's leaves are contiguous) next to their keys; a sorted index over
//! them serves ordered ranges. Built in one pass; never changed after.

use crate::key::Key;
use crate::plan::MAX_DIGITS;

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Node {
    /// Index in `nodes` of the first inner child.
    first_child: u32,
    /// Index in `values` of the first leaf. The node's own value, if it has
    /// one, is placed right before its leaves.
    first_leaf: u32,
    /// Digits leading to inner nodes.
    children: u16,
    /// Digits leading to a single key (a leaf).
    leaves: u16,
    /// Leaves whose key ends right after the digit: they match without
    /// reading the key.
    exact: u16,
    has_value: bool,
}

impl Node {
    const EMPTY: Node = Node {
        first_child: 0,
        first_leaf: 0,
        children: 0,
        leaves: 0,
        exact: 0,
        has_value: false,
    };

    #[inline]
    fn value(&self) -> u32 {
        if self.has_value {
            self.first_leaf - 1
        } else {
            NONE
        }
    }
}

#[inline]
fn rank(bits: u16, d: u8) -> u32 {
    (bits & ((1u16 << d) - 1)).count_ones()
}

/// Matches along one number's path: for each matching prefix length, the
/// index of its value.
#[derive(Debug, Clone, Copy)]
pub struct PathMatches {
    /// Bit `l` set: the prefix of length `l` is in the index.
    pub mask: u64,
    value_at: [u32; MAX_DIGITS + 1],
}

impl PathMatches {
    pub fn value_index(&self, len: usize) -> Option<usize> {
        (self.mask & (1 << len) != 0).then(|| self.value_at[len] as usize)
    }
}

/// Where a lookup stands after its first `jump_digits` digits.
#[derive(Debug, Clone, Copy)]
struct Jump {
    /// Value index of the longest match so far, or `NONE`.
    best: u32,
    /// For `CONTINUE`: the node to walk on from; for `LEAF`: the leaf's
    /// value index.
    target: u32,
    best_len: u8,
    kind: u8,
}

impl Jump {
    const DONE: u8 = 0;
    const CONTINUE: u8 = 1;
    const LEAF: u8 = 2;
}

/// An immutable map from digit strings to `V` with longest-prefix match.
///
/// Large indexes also hold a jump table over the first few digits (six for
/// a million keys): one read replaces the top of the walk, the way
/// DIR-24-8 tables do for IPv4.
#[derive(Debug, Clone)]
pub struct Index<V> {
    nodes: Vec<Node>,
    jump: Vec<Jump>,
    jump_digits: usize,
    /// Keys and values in trie order.
    keys: Vec<Key>,
    values: Vec<V>,
    /// Positions in `keys` in key order.
    sorted: Vec<u32>,
}

impl<V> Default for Index<V> {
    fn default() -> Self {
        Index {
            nodes: vec![Node::EMPTY],
            jump: Vec::new(),
            jump_digits: 0,
            keys: Vec::new(),
            values: Vec::new(),
            sorted: Vec::new(),
        }
    }
}

/// What a walk down the trie found at one step.
enum Step<'a> {
    Inner(&'a Node),
    /// A leaf slot: the only key of this subtree, at this value index.
    Leaf(usize),
    /// A leaf whose key ends with this digit.
    Exact(usize),
    End,
}

impl<V> Index<V> {
    /// Builds from entries sorted by key, without duplicates.
    pub fn build(entries: Vec<(Key, V)>) -> Index<V> {
        debug_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        let n = entries.len();
        let keys: Vec<Key> = entries.iter().map(|e| e.0).collect();
        let mut slots: Vec<Option<V>> = entries.into_iter().map(|e| Some(e.1)).collect();
        let mut ix = Index {
            nodes: vec![Node::EMPTY],
            jump: Vec::new(),
            jump_digits: 0,
            keys: Vec::with_capacity(n),
            values: Vec::with_capacity(n),
            sorted: vec![0; n],
        };
        ix.fill(0, 0, &keys, 0, &mut slots);
        ix.nodes.shrink_to_fit();
        // About one jump entry per key: 10^k entries for 10^k or more keys.
        let k = if n < 1000 {
            0
        } else {
            (n.ilog10() as usize).min(5)
        };
        if k > 0 {
            ix.jump_digits = k;
            ix.jump = vec![
                Jump {
                    best: NONE,
                    target: 0,
                    best_len: 0,
                    kind: Jump::DONE,
                };
                10usize.pow(k as u32)
            ];
            let root = ix.nodes[0];
            ix.fill_jump(&root, 0, 0, (root.value(), 0));
        }
        ix
    }

    /// Fills the jump entries for the digit strings starting with `at`
    /// (of `depth` digits) under `node`, given the best match so far.
    fn fill_jump(&mut self, node: &Node, depth: usize, at: usize, best: (u32, usize)) {
        let k = self.jump_digits;
        let best = if node.has_value {
            (node.value(), depth)
        } else {
            best
        };
        if depth == k {
            return;
        }
        let span = 10usize.pow((k - depth - 1) as u32);
        for d in 0..10u8 {
            let start = (at * 10 + d as usize) * span;
            let bit = 1u16 << d;
            if node.children & bit != 0 {
                let idx = node.first_child + rank(node.children, d);
                let child = self.nodes[idx as usize];
                if depth + 1 == k {
                    let b = if child.has_value {
                        (child.value(), k)
                    } else {
                        best
                    };
                    self.jump[start] = Jump {
                        best: b.0,
                        target: idx,
                        best_len: b.1 as u8,
                        kind: Jump::CONTINUE,
                    };
                } else {
                    self.fill_jump(&child, depth + 1, at * 10 + d as usize, best);
                }
                continue;
            }
            let (kind, target, b) = if node.leaves & bit != 0 {
                let v = node.first_leaf + rank(node.leaves, d);
                if node.exact & bit != 0 {
                    (Jump::DONE, 0, (v, depth + 1))
                } else {
                    (Jump::LEAF, v, best)
                }
            } else {
                (Jump::DONE, 0, best)
            };
            self.jump[start..start + span].fill(Jump {
                best: b.0,
                target,
                best_len: b.1 as u8,
                kind,
            });
        }
    }

    /// Places `keys[at..]` (sorted positions `base..`), which all share the
    /// node's first `depth` digits, under node `node`.
    fn fill(
        &mut self,
        node: usize,
        depth: usize,
        keys: &[Key],
        base: usize,
        slots: &mut [Option<V>],
    ) {
        let mut start = 0;
        if keys.first().is_some_and(|k| k.len() == depth) {
            self.place(keys[0], base, slots);
            self.nodes[node].has_value = true;
            start = 1;
        }
        // Keys are sorted, so each digit's keys are one run.
        let mut runs: [(u8, usize, usize); 10] = [(0, 0, 0); 10];
        let mut n = 0;
        let mut i = start;
        while i < keys.len() {
            let d = keys[i].digit(depth);
            let mut j = i + 1;
            while j < keys.len() && keys[j].digit(depth) == d {
                j += 1;
            }
            runs[n] = (d, i, j);
            n += 1;
            i = j;
        }
        let runs = &runs[..n];
        self.nodes[node].first_leaf = self.values.len() as u32;
        for &(d, s, e) in runs {
            if e - s == 1 {
                self.nodes[node].leaves |= 1 << d;
                if keys[s].len() == depth + 1 {
                    self.nodes[node].exact |= 1 << d;
                }
                self.place(keys[s], base + s, slots);
            }
        }
        let first_child = self.nodes.len();
        let inner = runs.iter().filter(|r| r.2 - r.1 > 1).count();
        self.nodes[node].first_child = first_child as u32;
        self.nodes.resize(first_child + inner, Node::EMPTY);
        let mut c = first_child;
        for &(d, s, e) in runs {
            if e - s > 1 {
                self.nodes[node].children |= 1 << d;
                self.fill(c, depth + 1, &keys[s..e], base + s, slots);
                c += 1;
            }
        }
    }

    /// Appends the value of sorted position `pos` in trie order.
    fn place(&mut self, key: Key, pos: usize, slots: &mut [Option<V>]) {
        self.sorted[pos] = self.values.len() as u32;
        self.keys.push(key);
        self.values
            .push(slots[pos].take().expect("each key placed once"));
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Bytes held by the index's arrays (not by what the values point to).
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.jump.capacity() * std::mem::size_of::<Jump>()
            + self.keys.capacity() * std::mem::size_of::<Key>()
            + self.values.capacity() * std::mem::size_of::<V>()
            + self.sorted.capacity() * 4
    }

    #[inline]
    fn step(&self, node: &Node, d: u8) -> Step<'_> {
        let bit = 1u16 << d;
        if node.children & bit != 0 {
            Step::Inner(&self.nodes[(node.first_child + rank(node.children, d)) as usize])
        } else if node.leaves & bit != 0 {
            let v = (node.first_leaf + rank(node.leaves, d)) as usize;
            if node.exact & bit != 0 {
                Step::Exact(v)
            } else {
                Step::Leaf(v)
            }
        } else {
            Step::End
        }
    }

    /// Whether the leaf key at `i` is a prefix of `digits`.
    #[inline]
    fn leaf_matches(&self, i: usize, digits: &[u8]) -> Option<usize> {
        let k = self.keys[i];
        let len = k.len();
        (len <= digits.len() && (0..len).all(|j| k.digit(j) == digits[j])).then_some(len)
    }

    /// The longest key that is a prefix of `digits`: its length and value.
    #[inline]
    pub fn longest_match(&self, digits: &[u8]) -> Option<(usize, &V)> {
        let k = self.jump_digits;
        let (mut node, mut best, start) = if k > 0 && digits.len() >= k {
            let at = digits[..k].iter().fold(0usize, |a, &d| a * 10 + d as usize);
            let j = self.jump[at];
            let best = (j.best != NONE).then_some((j.best_len as usize, j.best as usize));
            match j.kind {
                Jump::CONTINUE => (&self.nodes[j.target as usize], best, k),
                Jump::LEAF => {
                    let found = self
                        .leaf_matches(j.target as usize, digits)
                        .map(|l| (l, j.target as usize));
                    return found.or(best).map(|(l, v)| (l, &self.values[v]));
                }
                _ => return best.map(|(l, v)| (l, &self.values[v])),
            }
        } else {
            let root = &self.nodes[0];
            (root, root.has_value.then(|| (0, root.value() as usize)), 0)
        };
        for (i, &d) in digits.iter().enumerate().skip(start) {
            match self.step(node, d) {
                Step::Inner(n) => {
                    node = n;
                    if node.has_value {
                        best = Some((i + 1, node.value() as usize));
                    }
                }
                Step::Exact(v) => {
                    best = Some((i + 1, v));
                    break;
                }
                Step::Leaf(v) => {
                    if let Some(len) = self.leaf_matches(v, digits) {
                        best = Some((len, v));
                    }
                    break;
                }
                Step::End => break,
            }
        }
        best.map(|(l, v)| (l, &self.values[v]))
    }

    /// [`Index::longest_match`] over a stream of numbers, many in flight
    /// at once. Each lane advances one step per visit and prefetches what
    /// its next step will read, so the memory latency of one number is
    /// spent working on the others. `out` gets each number's position and
    /// its (length, value index), in completion order.
    pub fn longest_match_stream<'q>(
        &self,
        count: usize,
        digits: impl Fn(usize) -> &'q [u8],
        mut out: impl FnMut(usize, Option<(usize, usize)>),
    ) {
        const LANES: usize = 16;
        const EMPTY: usize = usize::MAX;
        #[derive(Clone, Copy)]
        enum At {
            Jump(usize),
            Node(u32),
            Leaf(u32),
        }
        #[derive(Clone, Copy)]
        struct Lane {
            q: usize,
            at: At,
            depth: usize,
            best: Option<(usize, usize)>,
        }
        let k = self.jump_digits;
        let mut next = 0;
        let start = |next: &mut usize| -> Lane {
            if *next >= count {
                return Lane {
                    q: EMPTY,
                    at: At::Node(0),
                    depth: 0,
                    best: None,
                };
            }
            let q = *next;
            *next += 1;
            let d = digits(q);
            let at = if k > 0 && d.len() >= k {
                let j = d[..k].iter().fold(0usize, |a, &x| a * 10 + x as usize);
                prefetch_index::prefetch_index(&self.jump, j);
                At::Jump(j)
            } else {
                At::Node(0)
            };
            Lane {
                q,
                at,
                depth: 0,
                best: None,
            }
        };
        let mut lanes = [Lane {
            q: EMPTY,
            at: At::Node(0),
            depth: 0,
            best: None,
        }; LANES];
        for lane in &mut lanes {
            *lane = start(&mut next);
        }
        loop {
            let mut active = false;
            for lane in &mut lanes {
                if lane.q == EMPTY {
                    continue;
                }
                active = true;
                let d = digits(lane.q);
                let done = match lane.at {
                    At::Jump(j) => {
                        let e = self.jump[j];
                        lane.best =
                            (e.best != NONE).then_some((e.best_len as usize, e.best as usize));
                        match e.kind {
                            Jump::CONTINUE => {
                                prefetch_index::prefetch_index(&self.nodes, e.target as usize);
                                lane.at = At::Node(e.target);
                                lane.depth = k;
                                false
                            }
                            Jump::LEAF => {
                                prefetch_index::prefetch_index(&self.keys, e.target as usize);
                                lane.at = At::Leaf(e.target);
                                false
                            }
                            _ => true,
                        }
                    }
                    At::Node(i) => {
                        let n = &self.nodes[i as usize];
                        if n.has_value {
                            lane.best = Some((lane.depth, n.value() as usize));
                        }
                        match d.get(lane.depth) {
                            None => true,
                            Some(&x) => {
                                let bit = 1u16 << x;
                                if n.children & bit != 0 {
                                    let c = n.first_child + rank(n.children, x);
                                    prefetch_index::prefetch_index(&self.nodes, c as usize);
                                    lane.at = At::Node(c);
                                    lane.depth += 1;
                                    false
                                } else if n.leaves & bit != 0 {
                                    let v = n.first_leaf + rank(n.leaves, x);
                                    if n.exact & bit != 0 {
                                        lane.best = Some((lane.depth + 1, v as usize));
                                        true
                                    } else {
                                        prefetch_index::prefetch_index(&self.keys, v as usize);
                                        lane.at = At::Leaf(v);
                                        false
                                    }
                                } else {
                                    true
                                }
                            }
                        }
                    }
                    At::Leaf(v) => {
                        if let Some(len) = self.leaf_matches(v as usize, d) {
                            lane.best = Some((len, v as usize));
                        }
                        true
                    }
                };
                if done {
                    out(lane.q, lane.best);
                    *lane = start(&mut next);
                }
            }
            if !active {
                return;
            }
        }
    }

    /// Every key that is a prefix of `digits` (including all of it).
    pub fn path_matches(&self, digits: &[u8]) -> PathMatches {
        let mut m = PathMatches {
            mask: 0,
            value_at: [NONE; MAX_DIGITS + 1],
        };
        let mut record = |len: usize, v: u32| {
            if v != NONE {
                m.mask |= 1 << len;
                m.value_at[len] = v;
            }
        };
        let mut node = &self.nodes[0];
        record(0, node.value());
        for (i, &d) in digits.iter().enumerate() {
            match self.step(node, d) {
                Step::Inner(n) => {
                    node = n;
                    record(i + 1, node.value());
                }
                Step::Exact(v) => {
                    record(i + 1, v as u32);
                    break;
                }
                Step::Leaf(v) => {
                    if let Some(len) = self.leaf_matches(v, digits) {
                        record(len, v as u32);
                    }
                    break;
                }
                Step::End => break,
            }
        }
        m
    }

    pub fn value(&self, i: usize) -> &V {
        &self.values[i]
    }

    pub fn get(&self, key: Key) -> Option<&V> {
        let mut d = [0u8; MAX_DIGITS];
        for (i, slot) in d.iter_mut().enumerate().take(key.len()) {
            *slot = key.digit(i);
        }
        let digits = &d[..key.len()];
        let pm = self.path_matches(digits);
        pm.value_index(digits.len()).map(|i| &self.values[i])
    }

    /// Keys and values in `lo..=hi`, in order.
    pub fn range(&self, lo: Key, hi: Key) -> impl Iterator<Item = (Key, &V)> {
        let start = self.sorted.partition_point(|&i| self.keys[i as usize] < lo);
        let end = self
            .sorted
            .partition_point(|&i| self.keys[i as usize] <= hi);
        self.sorted[start..end]
            .iter()
            .map(|&i| (self.keys[i as usize], &self.values[i as usize]))
    }

    /// Every key with its value, to change in place (the structure, which
    /// depends only on the keys, stays).
    pub fn values_mut(&mut self) -> impl Iterator<Item = (Key, &mut V)> {
        self.keys.iter().copied().zip(self.values.iter_mut())
    }

    /// All keys and values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &V)> {
        self.sorted
            .iter()
            .map(|&i| (self.keys[i as usize], &self.values[i as usize]))
    }
}

#[cfg(test)]
mod tests;
