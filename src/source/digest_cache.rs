//! Source digests of cluster objects, remembered by the version they were made from.
//!
//! An object's content is fixed by its uid and resourceVersion: a digest made from one
//! version under one key selection (and, for a Secret, one HMAC key) stays right for as long
//! as a consistent metadata read names that same version. The cache therefore never decides
//! whether an object changed; the API server's answer to the metadata read does. It only
//! spares the full read, the parsing and the hashing when nothing changed.
//!
//! Bounded: at most [`DigestCache::MAX_OBJECTS`] objects, each with at most
//! [`DigestCache::MAX_SELECTIONS`] digests of its current version; the object used least
//! recently goes first. Every field of an entry is bounded (names by validation, uid and
//! resourceVersion by the API server, the key selection by a fixed-size fingerprint), so the
//! whole cache stays under about 6 MiB.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
};
use sha2::{Digest, Sha256};

use crate::{
    digest::{SourceDigest, SourceKind},
    hash_key::KeyId,
    name::Name,
    references::Keys,
};

/// Which object: kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    /// ConfigMap or Secret.
    pub kind: SourceKind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: Name,
}

/// Which version of an object: a new object (even under an old name) has a new uid, and
/// every write gives a new resourceVersion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.resourceVersion`.
    pub resource_version: String,
}

impl Version {
    /// The version `meta` names; `None` when either field is missing (then nothing is cached).
    pub fn of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<Self> {
        Some(Self {
            uid: meta.uid.clone().filter(|u| !u.is_empty())?,
            resource_version: meta.resource_version.clone().filter(|v| !v.is_empty())?,
        })
    }
}

/// What a digest was made under besides the object: the key selection, as a fingerprint of
/// fixed size (a hostile selection of many keys costs no more memory than `All`), and the
/// HMAC key for a Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Under {
    selection: [u8; 32],
    hmac_key: Option<KeyId>,
}

impl Under {
    /// `keys`, and the HMAC key for a Secret (`None` for a ConfigMap).
    pub fn new(keys: &Keys, hmac_key: Option<KeyId>) -> Self {
        let mut hasher = Sha256::new();
        match keys {
            Keys::All => hasher.update([0]),
            Keys::Some(keys) => {
                hasher.update([1]);
                // Length-prefixed, so no two selections share a byte string.
                for key in keys {
                    hasher.update((key.len() as u64).to_be_bytes());
                    hasher.update(key.as_bytes());
                }
            }
        }
        Self {
            selection: hasher.finalize().into(),
            hmac_key,
        }
    }
}

/// The cache's metrics, registered by [`crate::metrics::Metrics`].
#[derive(Debug, Clone, Default)]
pub struct CacheMetrics {
    /// Lookups of a digest by result: `hit` (no full read) or `miss`.
    pub requests: Family<CacheResult, Counter>,
    /// Objects held.
    pub objects: Gauge,
}

/// The label of [`CacheMetrics::requests`]: `result="hit"` or `result="miss"`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheResult {
    result: &'static str,
}

struct Slot {
    version: Version,
    digests: Vec<(Under, SourceDigest)>,
    used: u64,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<ObjectKey, Slot>,
    // Last use → object, so the least recently used is the first entry.
    by_use: BTreeMap<u64, ObjectKey>,
    clock: u64,
}

impl Inner {
    fn touch(&mut self, key: &ObjectKey) {
        self.clock += 1;
        let clock = self.clock;
        if let Some(slot) = self.slots.get_mut(key) {
            self.by_use.remove(&slot.used);
            slot.used = clock;
            self.by_use.insert(clock, key.clone());
        }
    }

    fn remove(&mut self, key: &ObjectKey) {
        if let Some(slot) = self.slots.remove(key) {
            self.by_use.remove(&slot.used);
        }
    }
}

/// Digests by object, version and selection; see the module documentation.
pub struct DigestCache {
    inner: Mutex<Inner>,
    max_objects: usize,
    metrics: CacheMetrics,
}

impl std::fmt::Debug for DigestCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestCache")
            .field("objects", &self.len())
            .field("max_objects", &self.max_objects)
            .finish()
    }
}

impl Default for DigestCache {
    fn default() -> Self {
        Self::with_capacity(Self::MAX_OBJECTS)
    }
}

impl DigestCache {
    /// Objects held at most: more than the sources of any few hundred workloads together.
    pub const MAX_OBJECTS: usize = 4096;
    /// Digests of one version held at most (different key selections or HMAC keys).
    pub const MAX_SELECTIONS: usize = 8;

    /// A cache of at most `max_objects` objects (at least one).
    pub fn with_capacity(max_objects: usize) -> Self {
        Self {
            inner: Mutex::default(),
            max_objects: max_objects.max(1),
            metrics: CacheMetrics::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the maps inconsistent: every update is one step.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The metrics to register.
    pub fn metrics(&self) -> &CacheMetrics {
        &self.metrics
    }

    /// Counts one lookup as a hit or a miss.
    pub fn count(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.metrics.requests.get_or_create(&CacheResult { result }).inc();
    }

    /// Objects held.
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when some version of `key` is held: only then can a metadata read save a full one.
    pub fn holds(&self, key: &ObjectKey) -> bool {
        self.lock().slots.contains_key(key)
    }

    /// The digest of `version` of `key` under `under`, if held.
    pub fn get(&self, key: &ObjectKey, version: &Version, under: &Under) -> Option<SourceDigest> {
        let mut inner = self.lock();
        let slot = inner.slots.get(key).filter(|s| s.version == *version)?;
        let digest = slot.digests.iter().find(|(u, _)| u == under).map(|(_, d)| *d)?;
        inner.touch(key);
        Some(digest)
    }

    /// Holds `digest` of `version` of `key` under `under`; digests of any other version of
    /// `key` are dropped, since they can never be served again.
    pub fn insert(&self, key: &ObjectKey, version: Version, under: Under, digest: SourceDigest) {
        let mut inner = self.lock();
        match inner.slots.get_mut(key) {
            Some(slot) if slot.version == version => {
                if !slot.digests.iter().any(|(u, _)| *u == under) {
                    if slot.digests.len() == Self::MAX_SELECTIONS {
                        slot.digests.remove(0);
                    }
                    slot.digests.push((under, digest));
                }
            }
            Some(slot) => {
                slot.version = version;
                slot.digests = vec![(under, digest)];
            }
            None => {
                while inner.slots.len() >= self.max_objects {
                    let Some((_, oldest)) = inner.by_use.pop_first() else {
                        break;
                    };
                    inner.slots.remove(&oldest);
                }
                // `used` 0 is in no order entry; `touch` below files it at once.
                let slot = Slot {
                    version,
                    digests: vec![(under, digest)],
                    used: 0,
                };
                inner.slots.insert(key.clone(), slot);
            }
        }
        inner.touch(key);
        self.metrics.objects.set(inner.slots.len() as i64);
    }

    /// Drops every digest of `key` (it no longer exists).
    pub fn forget(&self, key: &ObjectKey) {
        let mut inner = self.lock();
        inner.remove(key);
        self.metrics.objects.set(inner.slots.len() as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            kind: SourceKind::ConfigMap,
            namespace: "demo".into(),
            name: Name::new(name).expect("valid"),
        }
    }

    fn version(uid: &str, rv: &str) -> Version {
        Version {
            uid: uid.into(),
            resource_version: rv.into(),
        }
    }

    #[test]
    fn a_digest_is_served_only_for_its_version_and_selection() {
        let cache = DigestCache::default();
        let all = Under::new(&Keys::All, None);
        let one = Under::new(&Keys::Some(["a".to_owned()].into()), None);
        cache.insert(&key("app"), version("u1", "5"), all, [1; 32]);
        assert_eq!(cache.get(&key("app"), &version("u1", "5"), &all), Some([1; 32]));
        assert_eq!(cache.get(&key("app"), &version("u1", "6"), &all), None, "changed");
        assert_eq!(
            cache.get(&key("app"), &version("u2", "5"), &all),
            None,
            "recreated"
        );
        assert_eq!(
            cache.get(&key("app"), &version("u1", "5"), &one),
            None,
            "other keys"
        );
        assert_eq!(cache.get(&key("other"), &version("u1", "5"), &all), None);
        cache.insert(&key("app"), version("u1", "6"), all, [2; 32]);
        assert_eq!(
            cache.get(&key("app"), &version("u1", "5"), &all),
            None,
            "old version dropped"
        );
        cache.forget(&key("app"));
        assert!(!cache.holds(&key("app")));
    }

    #[test]
    fn selections_that_differ_only_in_how_keys_split_differ() {
        let split =
            |keys: &[&str]| Under::new(&Keys::Some(keys.iter().map(|k| k.to_string()).collect()), None);
        assert_ne!(split(&["ab", "c"]), split(&["a", "bc"]));
        assert_ne!(split(&[]), Under::new(&Keys::All, None));
    }

    #[test]
    fn a_secret_digest_is_tied_to_its_hmac_key() {
        let (a, _) = crate::hash_key::HashKey::from_bytes(&[1; 32])
            .expect("key")
            .pinned();
        let (b, _) = crate::hash_key::HashKey::from_bytes(&[1; 32])
            .expect("key")
            .pinned();
        let cache = DigestCache::default();
        let v = version("u", "1");
        cache.insert(&key("s"), v.clone(), Under::new(&Keys::All, Some(a)), [3; 32]);
        assert_eq!(
            cache.get(&key("s"), &v, &Under::new(&Keys::All, Some(a))),
            Some([3; 32])
        );
        assert_eq!(cache.get(&key("s"), &v, &Under::new(&Keys::All, Some(b))), None);
    }

    #[test]
    fn the_least_recently_used_object_goes_first_and_the_bound_holds() {
        let cache = DigestCache::with_capacity(2);
        let all = Under::new(&Keys::All, None);
        let v = version("u", "1");
        cache.insert(&key("a"), v.clone(), all, [1; 32]);
        cache.insert(&key("b"), v.clone(), all, [2; 32]);
        assert!(
            cache.get(&key("a"), &v, &all).is_some(),
            "a is now the most recent"
        );
        cache.insert(&key("c"), v.clone(), all, [3; 32]);
        assert_eq!(cache.len(), 2);
        assert!(cache.holds(&key("a")) && cache.holds(&key("c")) && !cache.holds(&key("b")));
        for i in 0..100 {
            cache.insert(&key(&format!("n{i}")), v.clone(), all, [0; 32]);
            assert!(cache.len() <= 2);
        }
        let inner = cache.lock();
        assert_eq!(
            inner.by_use.len(),
            inner.slots.len(),
            "the use order tracks every object"
        );
    }

    #[test]
    fn selections_of_one_version_are_bounded() {
        let cache = DigestCache::default();
        let v = version("u", "1");
        for i in 0..(DigestCache::MAX_SELECTIONS + 5) {
            let under = Under::new(&Keys::Some([format!("k{i}")].into()), None);
            cache.insert(&key("app"), v.clone(), under, [i as u8; 32]);
        }
        let inner = cache.lock();
        assert_eq!(
            inner.slots[&key("app")].digests.len(),
            DigestCache::MAX_SELECTIONS
        );
    }
}
