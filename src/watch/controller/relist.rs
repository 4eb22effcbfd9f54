//! The bookkeeping of a (re)list, by keys only: between a stream's `Init` and its
//! `InitDone` the keys it lists are noted, so that `InitDone` tells which keys held from
//! before are gone. The objects themselves are never kept — only the index holds what it
//! needs of them — so a relist costs a set of keys, not a copy of the cluster.

use std::{
    collections::{HashMap, HashSet},
    hash::Hash,
};

/// The streams of one kind of key (`S`, e.g. one per workload kind) that are listing,
/// with the keys (`K`) each has listed so far.
#[derive(Debug)]
pub(super) struct Relists<S, K> {
    listing: HashMap<S, HashSet<K>>,
}

impl<S, K> Default for Relists<S, K> {
    fn default() -> Self {
        Self {
            listing: HashMap::new(),
        }
    }
}

impl<S: Hash + Eq, K: Hash + Eq + Clone> Relists<S, K> {
    /// Every stream of `streams` lists from the start (they were restarted).
    pub fn restart(&mut self, streams: impl IntoIterator<Item = S>) {
        self.listing = streams.into_iter().map(|s| (s, HashSet::new())).collect();
    }

    /// `Init`: `stream` lists again.
    pub fn start(&mut self, stream: S) {
        self.listing.insert(stream, HashSet::new());
    }

    /// An object of `stream` exists; noted only while `stream` lists.
    pub fn seen(&mut self, stream: &S, key: &K) {
        if let Some(seen) = self.listing.get_mut(stream) {
            seen.insert(key.clone());
        }
    }

    /// `InitDone`: the keys `stream` listed (none if it was not listing).
    pub fn finish(&mut self, stream: &S) -> HashSet<K> {
        self.listing.remove(stream).unwrap_or_default()
    }

    /// `InitDone`: of the keys of `stream` held before, those its list did not name.
    pub fn gone(&mut self, stream: &S, held: impl IntoIterator<Item = K>) -> Vec<K> {
        let seen = self.finish(stream);
        held.into_iter().filter(|k| !seen.contains(k)).collect()
    }

    /// A stream that will not list (its kind is not served) counts as listed; true when
    /// it was listing.
    pub fn abandon(&mut self, stream: &S) -> bool {
        self.listing.remove(stream).is_some()
    }

    /// True when no stream is listing.
    pub fn done(&self) -> bool {
        self.listing.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_not_listed_again_are_gone_and_only_listing_streams_count() {
        let mut relists = Relists::<&str, u32>::default();
        relists.restart(["a", "b"]);
        relists.seen(&"a", &1);
        relists.seen(&"a", &3);
        relists.seen(&"c", &9);
        assert!(!relists.done());
        assert_eq!(relists.gone(&"a", [1, 2, 3, 4]), vec![2, 4]);
        assert!(relists.abandon(&"b"));
        assert!(!relists.abandon(&"b"));
        assert!(relists.done());
        // Not listing: nothing was seen, so every held key is gone.
        assert_eq!(relists.gone(&"c", [9]), vec![9]);
        relists.start("a");
        relists.seen(&"a", &5);
        assert_eq!(relists.finish(&"a"), HashSet::from([5]));
    }
}
