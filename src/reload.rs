//! Re-read a file, keep the last good value: the one reloader of the TLS pair and the
//! Secret hash key. Polling content rather than watching paths survives the kubelet's
//! `..data` symlink swap. Content that does not load is reported once — until it changes
//! again — and the value last loaded stays in use.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use arc_swap::ArcSwap;
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::Result;

/// What a [`Reloader`] re-reads, and how it turns the bytes into a value.
pub trait Source: Send + Sync + 'static {
    /// The file's content as read (two files' for a certificate and its key).
    type Raw: PartialEq + Clone + Send + Sync + 'static;
    /// What the file holds once loaded.
    type Value: Send + Sync + 'static;
    /// What the file holds, for log lines: `TLS certificate`, `Secret hash key`.
    const WHAT: &'static str;

    /// The file named in log lines.
    fn path(&self) -> &Path;
    /// The file's content; `None` when it is not there yet and that is normal.
    fn read(&self) -> Result<Option<Self::Raw>>;
    /// The value the content gives, or why it gives none.
    fn load(&self, raw: &Self::Raw) -> Result<Self::Value>;
}

/// A loaded value and the content it came from.
#[derive(Debug)]
pub struct Loaded<T, R> {
    /// The value in use.
    pub value: T,
    // To tell whether a re-read changed anything.
    raw: R,
}

/// The value in use, swapped atomically on reload; readers never wait.
pub type Current<T, R> = Arc<ArcSwap<Loaded<T, R>>>;

/// A first value and the content it came from, as a [`Current`].
pub fn current<T, R>(value: T, raw: R) -> Current<T, R> {
    Arc::new(ArcSwap::from_pointee(Loaded { value, raw }))
}

/// The [`Loaded`] value of a [`Source`].
pub type LoadedOf<S> = Loaded<<S as Source>::Value, <S as Source>::Raw>;

/// What a reload attempt did.
#[derive(Debug)]
pub enum Outcome<T, R> {
    /// Nothing new: the same bytes, or the same failure as last time.
    Unchanged,
    /// A new value is in use.
    Reloaded(Arc<Loaded<T, R>>),
    /// New bytes that do not load; the previous value is still in use.
    Failed(crate::Error),
}

/// What the file last looked like, loaded or not, so each failure is reported once.
#[derive(Debug, PartialEq)]
enum Seen<R> {
    Content(R),
    Unreadable(String),
}

/// Re-reads a [`Source`] into a [`Current`].
#[derive(Debug)]
pub struct Reloader<S: Source> {
    source: S,
    current: Current<S::Value, S::Raw>,
    seen: Mutex<Seen<S::Raw>>,
}

impl<S: Source> Reloader<S> {
    /// A reloader of `source` that swaps new values into `current`.
    pub fn new(source: S, current: Current<S::Value, S::Raw>) -> Self {
        let seen = Seen::Content(current.load().raw.clone());
        Self {
            source,
            current,
            seen: Mutex::new(seen),
        }
    }

    /// The value in use.
    pub fn current(&self) -> Arc<LoadedOf<S>> {
        self.current.load_full()
    }

    /// Re-reads the file and swaps in its value if its content changed and loads.
    pub fn reload(&self) -> Outcome<S::Value, S::Raw> {
        let read = match self.source.read() {
            Ok(None) => return Outcome::Unchanged,
            Ok(Some(raw)) => Ok(raw),
            Err(e) => Err(e),
        };
        let now = match &read {
            Ok(raw) => Seen::Content(raw.clone()),
            Err(e) => Seen::Unreadable(e.to_string()),
        };
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if *seen == now {
                return Outcome::Unchanged;
            }
            *seen = now;
        }
        let raw = match read {
            Ok(raw) => raw,
            Err(e) => return Outcome::Failed(e),
        };
        // Back to the content in use after a broken version: nothing to swap.
        if self.current.load().raw == raw {
            return Outcome::Unchanged;
        }
        match self.source.load(&raw) {
            Ok(value) => {
                let loaded = Arc::new(Loaded { value, raw });
                self.current.store(loaded.clone());
                Outcome::Reloaded(loaded)
            }
            Err(e) => Outcome::Failed(e),
        }
    }
}

/// Re-reads `reloader` every `interval`, for as long as the returned task runs. Each new
/// value and each failure is logged, then handed to `report` (a metric, a louder log line).
pub fn spawn<S, R>(
    reloader: R,
    interval: Duration,
    report: impl Fn(&Outcome<S::Value, S::Raw>) + Send + 'static,
) -> JoinHandle<()>
where
    S: Source,
    R: std::ops::Deref<Target = Reloader<S>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let outcome = reloader.reload();
            let file = reloader.source.path().display();
            match &outcome {
                Outcome::Unchanged => continue,
                Outcome::Reloaded(_) => info!(%file, "{} reloaded", S::WHAT),
                Outcome::Failed(e) => {
                    error!(%file, error = %e, "{} reload failed; keeping the previous one", S::WHAT)
                }
            }
            report(&outcome);
        }
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::Error;

    /// A file of a decimal number.
    struct Number(PathBuf);

    impl Source for Number {
        type Raw = Vec<u8>;
        type Value = u64;
        const WHAT: &'static str = "number";

        fn path(&self) -> &Path {
            &self.0
        }

        fn read(&self) -> Result<Option<Vec<u8>>> {
            match std::fs::read(&self.0) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(Error::Read {
                    path: self.0.clone(),
                    source,
                }),
            }
        }

        fn load(&self, bytes: &Vec<u8>) -> Result<u64> {
            let text = std::str::from_utf8(bytes).unwrap_or_default();
            text.trim()
                .parse()
                .map_err(|_| Error::Internal(format!("{text:?} is not a number")))
        }
    }

    #[test]
    fn a_broken_file_is_reported_once_and_the_last_good_value_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("n");
        let reloader = Reloader::new(Number(path.clone()), current(1, b"1".to_vec()));
        assert!(matches!(reloader.reload(), Outcome::Unchanged), "no file yet");

        std::fs::write(&path, "2").expect("write");
        assert!(matches!(reloader.reload(), Outcome::Reloaded(l) if l.value == 2));
        assert!(matches!(reloader.reload(), Outcome::Unchanged));

        std::fs::write(&path, "two").expect("write");
        assert!(matches!(reloader.reload(), Outcome::Failed(_)));
        assert!(matches!(reloader.reload(), Outcome::Unchanged), "reported once");
        assert_eq!(reloader.current().value, 2);

        std::fs::write(&path, "2").expect("write");
        assert!(
            matches!(reloader.reload(), Outcome::Unchanged),
            "back to the bytes in use"
        );
        std::fs::write(&path, "3").expect("write");
        assert!(matches!(reloader.reload(), Outcome::Reloaded(l) if l.value == 3));
    }

    #[test]
    fn an_unreadable_file_is_reported_once_per_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory cannot be read as a file.
        let reloader = Reloader::new(Number(dir.path().to_owned()), current(1, b"1".to_vec()));
        assert!(matches!(reloader.reload(), Outcome::Failed(_)));
        assert!(matches!(reloader.reload(), Outcome::Unchanged));
        assert_eq!(reloader.current().value, 1);
    }
}
