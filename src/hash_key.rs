//! The HMAC key for Secret digests (contract §4.4, §8): read from `--secret-hash-key-file`,
//! at least 32 bytes, re-read when the file changes, and created once in the cluster when the
//! chart's key Secret does not exist yet. The key is never logged.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use hmac::{KeyInit, digest::InvalidLength};
use sha2::Sha256;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::{
    Result,
    reload::{self, Current, Outcome, Reloader},
};

mod secret;

pub use self::secret::{SecretRef, for_serve, load_or_create};

/// Shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
/// The data key of the key Secret.
pub const SECRET_DATA_KEY: &str = "key";

/// HMAC-SHA256 keyed with the hash key.
pub type Hmac256 = hmac::Hmac<Sha256>;

/// The current key, shared and swapped on reload.
#[derive(Clone)]
pub struct HashKey {
    // The keyed HMAC state and the bytes it came from.
    current: Current<Keyed, Vec<u8>>,
}

/// Which key a digest was made with: each key this process loads gets its own, so a cached
/// Secret digest is never served under a different key. Says nothing about the key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(u64);

static NEXT_KEY_ID: AtomicU64 = AtomicU64::new(0);

/// A loaded key: its HMAC state and which key it is.
#[derive(Clone)]
pub struct Keyed {
    id: KeyId,
    mac: Hmac256,
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey(<redacted>)")
    }
}

/// How to make a key, told with every error about one.
const HOW_TO_CREATE: &str =
    "create one with `head -c 48 /dev/urandom | base64 > hash.key` (the Helm chart creates and keeps it)";

/// Why there is no usable Secret hash key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key is shorter than [`MIN_KEY_BYTES`].
    #[error("the Secret hash key has {len} bytes; it needs at least {MIN_KEY_BYTES}: {HOW_TO_CREATE}")]
    TooShort {
        /// Its length after trimming surrounding whitespace.
        len: usize,
    },
    /// HMAC refused the key.
    #[error("invalid HMAC key")]
    Invalid,
    /// `--secret-hash-key-file` could not be read.
    #[error("reading the Secret hash key {}: {source}; {HOW_TO_CREATE}", path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or creating the key Secret failed.
    #[error("Secret hash key {namespace}/{name}: {source}")]
    Cluster {
        /// Namespace of the key Secret.
        namespace: String,
        /// Name of the key Secret.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The key Secret exists but holds no key.
    #[error("Secret {namespace}/{name} has no `{SECRET_DATA_KEY}` entry")]
    NoEntry {
        /// Namespace of the key Secret.
        namespace: String,
        /// Name of the key Secret.
        name: String,
    },
    /// The system random number generator failed.
    #[error("no system randomness for the hash key")]
    NoRandomness,
}

fn keyed(bytes: &[u8]) -> Result<Keyed> {
    // Surrounding whitespace (a trailing newline from `echo` or an editor) is not key material.
    let key = bytes.trim_ascii();
    if key.len() < MIN_KEY_BYTES {
        return Err(KeyError::TooShort { len: key.len() }.into());
    }
    let mac = Hmac256::new_from_slice(key).map_err(|InvalidLength| KeyError::Invalid)?;
    Ok(Keyed {
        id: KeyId(NEXT_KEY_ID.fetch_add(1, Ordering::Relaxed)),
        mac,
    })
}

/// `--secret-hash-key-file`, re-read by the crate's one [`Reloader`].
struct KeyFile(PathBuf);

impl reload::Source for KeyFile {
    type Raw = Vec<u8>;
    type Value = Keyed;
    const WHAT: &'static str = "Secret hash key";

    fn path(&self) -> &Path {
        &self.0
    }

    fn read(&self) -> Result<Option<Vec<u8>>> {
        // Normal right after the server created the key Secret: the kubelet mounts it
        // within a minute. A file that disappears later keeps the current key too.
        if !self.0.exists() {
            return Ok(None);
        }
        // Compared trimmed: a newline added by an editor is not a new key.
        read(&self.0).map(|bytes| Some(bytes.trim_ascii().to_vec()))
    }

    fn load(&self, bytes: &Vec<u8>) -> Result<Keyed> {
        keyed(bytes)
    }
}

impl HashKey {
    /// A key from bytes (trimmed of surrounding whitespace; at least 32 bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Ok(Self {
            current: reload::current(keyed(bytes)?, bytes.trim_ascii().to_vec()),
        })
    }

    /// Reads the key file; a missing, unreadable or short file is an error that says how to fix it.
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_bytes(&read(path)?)
    }

    /// A fresh HMAC state keyed with the current key.
    pub fn mac(&self) -> Hmac256 {
        self.current.load().value.mac.clone()
    }

    /// The current key, fixed: a reload after this call does not change what the returned
    /// key digests with, so its [`KeyId`] names the key of every digest it makes.
    pub fn pinned(&self) -> (KeyId, HashKey) {
        let loaded = self.current.load_full();
        let id = loaded.value.id;
        let pinned = HashKey {
            current: std::sync::Arc::new(arc_swap::ArcSwap::new(loaded)),
        };
        (id, pinned)
    }

    fn reloader(&self, path: PathBuf) -> Reloader<KeyFile> {
        Reloader::new(KeyFile(path), self.current.clone())
    }

    /// Re-reads `path`; true when a new valid key replaced the old one. A missing file
    /// changes nothing.
    pub fn reload(&self, path: &Path) -> Result<bool> {
        match self.reloader(path.to_owned()).reload() {
            Outcome::Unchanged => Ok(false),
            Outcome::Reloaded(_) => Ok(true),
            Outcome::Failed(e) => Err(e),
        }
    }

    /// Re-reads `path` every `interval`; a broken file is logged and the old key kept.
    pub fn spawn_reloader(&self, path: PathBuf, interval: Duration) -> JoinHandle<()> {
        reload::spawn(Box::new(self.reloader(path)), interval, |outcome| {
            if let Outcome::Reloaded(_) = outcome {
                warn!("Secret hash key changed; every workload that consumes a Secret will roll");
            }
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| {
        KeyError::Read {
            path: path.to_owned(),
            source,
        }
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_secret_is_namespace_slash_name() {
        let parsed: SecretRef = "ops/confighash-key".parse().expect("valid");
        assert_eq!(
            (parsed.namespace.as_str(), parsed.name.as_str()),
            ("ops", "confighash-key")
        );
        for bad in ["ops", "/name", "ops/", ""] {
            let message = bad.parse::<SecretRef>().expect_err("refused");
            assert!(message.contains("NAMESPACE/NAME"), "{message}");
        }
        for bad in [
            "ops/a/b",
            "Ops/key",
            "ops/Key",
            "../ops/key",
            "ops/key?watch=true",
        ] {
            assert!(
                bad.parse::<SecretRef>().is_err(),
                "{bad} is not a valid namespace and name"
            );
        }
    }

    #[test]
    fn short_missing_and_unreadable_keys_are_refused_with_instructions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let short = dir.path().join("short");
        std::fs::write(&short, "too short\n").expect("write");
        for (path, needle) in [
            (short.clone(), "has 9 bytes; it needs at least 32"),
            (dir.path().join("missing"), "No such file"),
            (dir.path().to_path_buf(), "Is a directory"),
        ] {
            let message = HashKey::load(&path).expect_err("refused").to_string();
            assert!(
                message.contains(needle) && message.contains("head -c 48 /dev/urandom"),
                "{message}"
            );
        }
    }

    #[test]
    fn a_pinned_key_keeps_its_identity_and_bytes_across_a_reload() {
        use hmac::Mac;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key");
        std::fs::write(&path, [b'a'; 32]).expect("write");
        let key = HashKey::load(&path).expect("key");
        let (before, pinned) = key.pinned();
        assert_eq!(key.pinned().0, before, "the same key, the same identity");
        std::fs::write(&path, [b'b'; 32]).expect("write");
        assert!(key.reload(&path).expect("reloads"));
        let (after, _) = key.pinned();
        assert_ne!(before, after, "a new key has a new identity");
        let digest = |k: &HashKey| k.mac().chain_update(b"x").finalize().into_bytes();
        let old = HashKey::from_bytes(&[b'a'; 32]).expect("key");
        assert_eq!(
            digest(&pinned),
            digest(&old),
            "a pinned key does not follow reloads"
        );
        assert_ne!(digest(&key), digest(&old));
    }

    #[test]
    fn surrounding_whitespace_is_not_part_of_the_key() {
        use hmac::Mac;
        let digest = |k: &HashKey| k.mac().chain_update(b"x").finalize().into_bytes();
        let plain = HashKey::from_bytes(&[b'k'; 32]).expect("key");
        let newline = HashKey::from_bytes(&[&[b'k'; 32][..], b"\n"].concat()).expect("key");
        assert_eq!(digest(&plain), digest(&newline));
    }

    #[test]
    fn a_newline_added_to_the_key_file_is_no_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key");
        std::fs::write(&path, [b'a'; 32]).expect("write");
        let key = HashKey::load(&path).expect("key");
        let (before, _) = key.pinned();
        std::fs::write(&path, [&[b'a'; 32][..], b"\n"].concat()).expect("write");
        assert!(!key.reload(&path).expect("unchanged"), "the same key, trimmed");
        assert_eq!(key.pinned().0, before, "digests made with it stay valid");
    }

    #[test]
    fn reload_swaps_a_changed_key_and_keeps_the_old_one_on_error() {
        use hmac::Mac;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key");
        std::fs::write(&path, [b'a'; 32]).expect("write");
        let key = HashKey::load(&path).expect("key");
        let digest = |k: &HashKey| k.mac().chain_update(b"x").finalize().into_bytes();
        let first = digest(&key);
        assert!(!key.reload(&path).expect("unchanged"));
        std::fs::write(&path, b"short").expect("write");
        assert!(key.reload(&path).is_err());
        assert_eq!(digest(&key), first);
        std::fs::write(&path, [b'b'; 32]).expect("write");
        assert!(key.reload(&path).expect("reloaded"));
        assert_ne!(digest(&key), first);
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let key = HashKey::from_bytes(&[b's'; 40]).expect("key");
        assert_eq!(format!("{key:?}"), "HashKey(<redacted>)");
    }
}
