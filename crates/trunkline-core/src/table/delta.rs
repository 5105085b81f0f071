//! The changes a plan's table holds since its index was built, in two
//! layers: `frozen`, shared with every view published since it was made,
//! and `top`, the latest changes, kept small so that publishing a view
//! after every write copies little. A key in `top` overrides `frozen`.
//! Both are hash maps: a lookup probes them at each key length that holds
//! a change, and a probe costs one hash instead of a descent through a
//! tree as large as the delta. Ordered walks sort what they need.

use std::sync::Arc;

use crate::key::Key;
use crate::plan::MAX_DIGITS;

use super::RouteSet;

type Map = hashbrown::HashMap<Key, Option<RouteSet>, foldhash::fast::RandomState>;

/// Changes in `top` before they are folded into `frozen`: what publishing
/// a view may have to copy. Tests fold after a few, so the property tests
/// of the table cross both layers.
#[cfg(not(test))]
const TOP_MAX: usize = 4096;
#[cfg(test)]
const TOP_MAX: usize = 8;

/// `Some` sets a prefix's routes, `None` removes the prefix.
#[derive(Debug, Clone, Default)]
pub(super) struct Delta {
    top: Map,
    frozen: Arc<Map>,
    /// Keys in either layer, per key length.
    per_len: [u32; MAX_DIGITS + 1],
    /// Bit `l` set: some change has length `l`.
    pub(super) mask: u64,
    /// Keys in either layer.
    len: usize,
}

impl Delta {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub(super) fn get(&self, key: &Key) -> Option<&Option<RouteSet>> {
        if !self.top.is_empty()
            && let Some(v) = self.top.get(key)
        {
            return Some(v);
        }
        self.frozen.get(key)
    }

    /// The change for `key`, where it can be changed in place: in `top`,
    /// or in `frozen` when no view shares it.
    pub(super) fn get_mut(&mut self, key: &Key) -> Option<&mut Option<RouteSet>> {
        let Delta { top, frozen, .. } = self;
        match top.get_mut(key) {
            Some(v) => Some(v),
            None => Arc::get_mut(frozen)?.get_mut(key),
        }
    }

    fn counted(&mut self, key: Key) {
        let l = key.len();
        self.per_len[l] += 1;
        self.mask |= 1 << l;
        self.len += 1;
    }

    fn uncounted(&mut self, key: Key) {
        let l = key.len();
        self.per_len[l] -= 1;
        if self.per_len[l] == 0 {
            self.mask &= !(1 << l);
        }
        self.len -= 1;
    }

    /// Sets the change for `key`; whether it had one.
    pub(super) fn insert(&mut self, key: Key, value: Option<RouteSet>) -> bool {
        let had = self.top.insert(key, value).is_some() || self.frozen.contains_key(&key);
        if !had {
            self.counted(key);
        }
        if self.top.len() > TOP_MAX {
            self.fold();
        }
        had
    }

    /// Forgets the change for `key` (for a key the index does not have,
    /// removing it is no change at all); whether it had one.
    pub(super) fn forget(&mut self, key: Key) -> bool {
        let in_top = self.top.remove(&key).is_some();
        if self.frozen.contains_key(&key) {
            // A shared layer is not copied to drop one key: a removal
            // recorded over it says the same.
            self.top.insert(key, None);
            return true;
        }
        if in_top {
            self.uncounted(key);
        }
        in_top
    }

    /// Moves `top` into `frozen` (copying `frozen` if a view shares it).
    fn fold(&mut self) {
        let frozen = Arc::make_mut(&mut self.frozen);
        frozen.extend(self.top.drain());
    }

    /// Every change with its key in `lo..=hi`, in key order.
    pub(super) fn sorted(&self, lo: Key, hi: Key) -> Vec<(Key, &Option<RouteSet>)> {
        let inside = |k: &Key| lo <= *k && *k <= hi;
        let mut out: Vec<(Key, &Option<RouteSet>)> = (self.top.iter())
            .filter(|(k, _)| inside(k))
            .map(|(k, v)| (*k, v))
            .collect();
        out.extend(
            (self.frozen.iter())
                .filter(|(k, _)| inside(k) && !self.top.contains_key(*k))
                .map(|(k, v)| (*k, v)),
        );
        out.sort_unstable_by_key(|(k, _)| *k);
        out
    }

    /// Every change that sets routes, to rewrite in place (for a change
    /// touching most of the table): one layer, no view sharing it.
    pub(super) fn sets_mut(&mut self) -> impl Iterator<Item = (&Key, &mut RouteSet)> {
        self.fold();
        Arc::make_mut(&mut self.frozen)
            .iter_mut()
            .filter_map(|(k, v)| Some((k, v.as_mut()?)))
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &Key> {
        (self.top.keys()).chain(self.frozen.keys().filter(|k| !self.top.contains_key(*k)))
    }

    pub(super) fn heap_bytes(&self) -> usize {
        (self.top.capacity() + self.frozen.capacity()) * (size_of::<(Key, Option<RouteSet>)>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number::Digits;

    fn key(s: &str) -> Key {
        Key::from_digits(&Digits::from_ascii(s).unwrap())
    }

    fn set() -> Option<RouteSet> {
        Some(RouteSet::from(Vec::new()))
    }

    /// A published view (a clone) keeps what it saw while the writer goes
    /// on, through folds; lengths and counts follow both layers.
    #[test]
    fn layers_keep_views_apart_and_count_keys_once() {
        let mut d = Delta::default();
        for i in 0..(TOP_MAX + 10) {
            assert!(!d.insert(key(&format!("1{i:05}")), set()));
        }
        assert_eq!(d.len(), TOP_MAX + 10);
        assert!(!d.frozen.is_empty(), "folded once top was full");
        let view = d.clone();
        assert!(d.insert(key("100000"), None), "an override of a frozen key");
        assert_eq!(d.len(), TOP_MAX + 10, "counted once");
        assert_eq!(d.get(&key("100000")), Some(&None));
        assert!(
            view.get(&key("100000")).unwrap().is_some(),
            "the view is unchanged"
        );
        // Forgetting a frozen key records a removal; a top-only key goes.
        assert!(d.forget(key("100001")));
        assert_eq!(d.get(&key("100001")), Some(&None));
        d.insert(key("7"), set());
        assert!(d.forget(key("7")));
        assert_eq!(d.get(&key("7")), None);
        assert_eq!(d.mask, 1 << 6, "only six-digit keys are left");
        let sorted = d.sorted(key("100000"), key("100002"));
        let keys: Vec<Key> = sorted.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, [key("100000"), key("100001"), key("100002")]);
        assert_eq!(d.keys().count(), d.len());
    }
}
