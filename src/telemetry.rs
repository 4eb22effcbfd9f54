//! Logging: `tracing` with a text or JSON formatter, filtered by `RUST_LOG` (default `info`).

use std::{ffi::OsStr, io::IsTerminal};

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber; logs go to stderr so `review` and `hash` keep stdout clean.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_ansi(colour(
                        std::io::stderr().is_terminal(),
                        std::env::var_os("NO_COLOR").as_deref(),
                        std::env::var_os("TERM").as_deref(),
                    ))
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // Already installed (tests, or a second call): keep the first.
    let _ = result;
}

/// Whether text logs may carry ANSI colour: only on a terminal, never with a non-empty
/// `NO_COLOR` (no-color.org) or `TERM=dumb`. Files, pipes and container runtimes get
/// plain text.
fn colour(terminal: bool, no_color: Option<&OsStr>, term: Option<&OsStr>) -> bool {
    let no_color = no_color.is_some_and(|v| !v.is_empty());
    terminal && !no_color && term != Some(OsStr::new("dumb"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color_or_a_dumb_term() {
        let os = |s: &'static str| Some(OsStr::new(s));
        assert!(colour(true, None, os("xterm-256color")));
        assert!(colour(true, os(""), None), "an empty NO_COLOR does not count");
        assert!(!colour(false, None, os("xterm")), "not a terminal");
        assert!(!colour(true, os("1"), os("xterm")));
        assert!(!colour(true, None, os("dumb")));
    }
}

/// Longest text from a request that one log field repeats, in characters.
const UNTRUSTED_CHARS: usize = 128;

/// Text from a request (uid, name, namespace, a decode error quoting the body) for a log
/// field: a forged review, or a name the API server has not validated yet, must neither
/// start a new log line nor swell one. Text without control characters and within 128
/// characters is written as it is; otherwise control characters are escaped and the rest
/// after 128 characters is cut to `…`.
#[derive(Debug, Clone, Copy)]
pub struct Untrusted<'a>(pub &'a str);

impl std::fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        let (kept, cut) = match self.0.char_indices().nth(UNTRUSTED_CHARS) {
            Some((at, _)) => (&self.0[..at], true),
            None => (self.0, false),
        };
        for c in kept.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        if cut {
            f.write_char('…')?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod untrusted_tests {
    use super::Untrusted;

    #[test]
    fn plain_text_is_written_as_it_is() {
        assert_eq!(Untrusted("web-7f9c").to_string(), "web-7f9c");
        assert_eq!(Untrusted("Grüße \"web\"").to_string(), "Grüße \"web\"");
    }

    #[test]
    fn control_characters_cannot_start_a_line() {
        let forged = "web\n2026-11-29T00:00:00Z  INFO forged\r\u{1b}[2m";
        let shown = Untrusted(forged).to_string();
        assert!(!shown.chars().any(char::is_control), "{shown}");
        assert_eq!(shown, "web\\n2026-11-29T00:00:00Z  INFO forged\\r\\u{1b}[2m");
    }

    #[test]
    fn long_text_is_cut() {
        let shown = Untrusted(&"u".repeat(8 << 20)).to_string();
        assert_eq!(shown, format!("{}…", "u".repeat(128)));
    }
}
