//! The lookup index: a persistent decimal trie with longest-prefix match.
//!
//! Nodes are shared through `Arc`, so cloning a [`Trie`] is O(1) and an
//! update copies only the path it touches (`Arc::make_mut`). The writer keeps
//! one copy and publishes clones; readers hold a clone for as long as they
//! like and never wait for the writer, and the writer never waits for them.
//! A subtree without children is stored as a bare value in its parent's slot,
//! which keeps the many leaf prefixes of a real numbering plan small.

use std::sync::Arc;

use crate::number::Digits;

#[derive(Debug, Clone)]
enum Child<V> {
    Empty,
    Leaf(V),
    Node(Arc<Node<V>>),
}

#[derive(Debug, Clone)]
struct Node<V> {
    value: Option<V>,
    children: [Child<V>; 10],
}

impl<V> Node<V> {
    fn empty() -> Node<V> {
        Node {
            value: None,
            children: std::array::from_fn(|_| Child::Empty),
        }
    }

    fn has_children(&self) -> bool {
        self.children.iter().any(|c| !matches!(c, Child::Empty))
    }
}

/// A map from digit strings to `V` with longest-prefix match.
#[derive(Debug, Clone)]
pub struct Trie<V> {
    root: Arc<Node<V>>,
    len: usize,
}

impl<V: Clone> Default for Trie<V> {
    fn default() -> Self {
        Trie {
            root: Arc::new(Node::empty()),
            len: 0,
        }
    }
}

impl<V: Clone> Trie<V> {
    pub fn new() -> Trie<V> {
        Trie::default()
    }

    /// Number of keys with a value.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, key: &Digits) -> Option<&V> {
        let mut node = &*self.root;
        let digits = key.as_slice();
        for (i, &d) in digits.iter().enumerate() {
            match &node.children[d as usize] {
                Child::Empty => return None,
                Child::Leaf(v) => return (i + 1 == digits.len()).then_some(v),
                Child::Node(n) => node = n,
            }
        }
        node.value.as_ref()
    }

    /// The value of the longest key that is a prefix of `key`, with that
    /// key's length.
    #[inline]
    pub fn longest_match(&self, key: &[u8]) -> Option<(usize, &V)> {
        let mut node = &*self.root;
        let mut best = node.value.as_ref().map(|v| (0, v));
        for (i, &d) in key.iter().enumerate() {
            match &node.children[d as usize] {
                Child::Empty => break,
                Child::Leaf(v) => return Some((i + 1, v)),
                Child::Node(n) => {
                    node = n;
                    if let Some(v) = &node.value {
                        best = Some((i + 1, v));
                    }
                }
            }
        }
        best
    }

    /// Every key that is a prefix of `key` (including `key`), shortest first.
    pub fn matches<'a>(&'a self, key: &Digits) -> Vec<(Digits, &'a V)> {
        let mut out = Vec::new();
        let mut node = &*self.root;
        if let Some(v) = &node.value {
            out.push((Digits::EMPTY, v));
        }
        for (i, &d) in key.as_slice().iter().enumerate() {
            match &node.children[d as usize] {
                Child::Empty => break,
                Child::Leaf(v) => {
                    out.push((key.truncate(i + 1), v));
                    break;
                }
                Child::Node(n) => {
                    node = n;
                    if let Some(v) = &node.value {
                        out.push((key.truncate(i + 1), v));
                    }
                }
            }
        }
        out
    }

    /// Sets `key` to `value`; returns the old value.
    pub fn insert(&mut self, key: &Digits, value: V) -> Option<V> {
        let old = insert_at(Arc::make_mut(&mut self.root), key.as_slice(), value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &Digits) -> Option<V> {
        let old = if key.is_empty() {
            Arc::make_mut(&mut self.root).value.take()
        } else {
            remove_at(Arc::make_mut(&mut self.root), key.as_slice())
        };
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// Every key under `prefix` (including `prefix`) in lexical order;
    /// `f` returns false to stop.
    pub fn walk_under(&self, prefix: &Digits, f: &mut dyn FnMut(&Digits, &V) -> bool) {
        let mut node = &*self.root;
        for (i, &d) in prefix.as_slice().iter().enumerate() {
            match &node.children[d as usize] {
                Child::Empty => return,
                Child::Leaf(v) => {
                    if i + 1 == prefix.len() {
                        f(prefix, v);
                    }
                    return;
                }
                Child::Node(n) => node = n,
            }
        }
        let mut key = *prefix;
        walk(node, &mut key, f);
    }
}

fn insert_at<V: Clone>(node: &mut Node<V>, key: &[u8], value: V) -> Option<V> {
    let Some((&d, rest)) = key.split_first() else {
        return node.value.replace(value);
    };
    let slot = &mut node.children[d as usize];
    if rest.is_empty() {
        return match slot {
            Child::Empty => {
                *slot = Child::Leaf(value);
                None
            }
            Child::Leaf(v) => Some(std::mem::replace(v, value)),
            Child::Node(n) => Arc::make_mut(n).value.replace(value),
        };
    }
    match std::mem::replace(slot, Child::Empty) {
        Child::Empty => {
            let mut n = Node::empty();
            insert_at(&mut n, rest, value);
            *slot = Child::Node(Arc::new(n));
            None
        }
        Child::Leaf(v) => {
            let mut n = Node::empty();
            n.value = Some(v);
            insert_at(&mut n, rest, value);
            *slot = Child::Node(Arc::new(n));
            None
        }
        Child::Node(mut n) => {
            let old = insert_at(Arc::make_mut(&mut n), rest, value);
            *slot = Child::Node(n);
            old
        }
    }
}

/// Removes `key` (non-empty) below `node`, folding nodes that are left
/// without children back into leaves.
fn remove_at<V: Clone>(node: &mut Node<V>, key: &[u8]) -> Option<V> {
    let (&d, rest) = key.split_first()?;
    let slot = &mut node.children[d as usize];
    let (old, replacement) = match std::mem::replace(slot, Child::Empty) {
        Child::Empty => (None, Child::Empty),
        Child::Leaf(v) if rest.is_empty() => (Some(v), Child::Empty),
        leaf @ Child::Leaf(_) => (None, leaf),
        Child::Node(mut n) => {
            let inner = Arc::make_mut(&mut n);
            let old = if rest.is_empty() {
                inner.value.take()
            } else {
                remove_at(inner, rest)
            };
            let replacement = if inner.has_children() {
                Child::Node(n)
            } else {
                match inner.value.take() {
                    Some(v) => Child::Leaf(v),
                    None => Child::Empty,
                }
            };
            (old, replacement)
        }
    };
    *slot = replacement;
    old
}

fn walk<V>(node: &Node<V>, key: &mut Digits, f: &mut dyn FnMut(&Digits, &V) -> bool) -> bool {
    if let Some(v) = &node.value
        && !f(key, v)
    {
        return false;
    }
    for (d, child) in node.children.iter().enumerate() {
        let keep_going = match child {
            Child::Empty => true,
            Child::Leaf(v) => {
                let mut k = *key;
                k.push(d as u8);
                f(&k, v)
            }
            Child::Node(n) => {
                let mut k = *key;
                k.push(d as u8);
                walk(n, &mut k, f)
            }
        };
        if !keep_going {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests;
