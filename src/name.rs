//! Object names that can exist (contract §3): a [`Name`] holds only a DNS-1123 subdomain,
//! the rule the API server applies to ConfigMap and Secret names. Names come from people,
//! so every lookup, digest line and index entry takes a `Name`: an invalid one cannot reach
//! a URL because it cannot be built.

use std::{borrow::Borrow, fmt, ops::Deref, str::FromStr};

/// Longest DNS-1123 subdomain (apimachinery `DNS1123SubdomainMaxLength`).
pub const MAX_LEN: usize = 253;

/// How much of a rejected name a warning or error repeats, in characters.
const ECHO_CHARS: usize = 64;

/// A valid ConfigMap or Secret name: at most 253 characters, dot-separated parts of
/// lower-case letters, digits and `-`, each starting and ending with a letter or digit
/// (apimachinery's `IsDNS1123Subdomain`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

/// A string that is not a DNS-1123 subdomain. Its `Display` quotes a bounded prefix of the
/// input with every control character escaped, so it is safe in logs and warnings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not a valid name (a DNS-1123 subdomain: at most 253 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)", quoted(.0))]
pub struct InvalidName(pub String);

impl Name {
    /// Checks `name`; the error keeps the input for the message.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidName> {
        let name = name.into();
        if is_dns1123_subdomain(&name) {
            Ok(Self(name))
        } else {
            Err(InvalidName(name))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// apimachinery's `IsDNS1123Subdomain`: length at most 253 and the whole string matching
/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= MAX_LEN && s.split('.').all(is_label)
}

/// One dot-separated part: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn is_label(part: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = part.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            alnum(first) && alnum(last) && bytes.iter().all(|b| alnum(b) || *b == b'-')
        }
        _ => false,
    }
}

/// `text` for a message: at most 64 characters of it, `…` if cut, in double quotes with
/// quotes, backslashes and control characters escaped.
pub fn quoted(text: &str) -> String {
    match text.char_indices().nth(ECHO_CHARS) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// Longest namespace name (apimachinery `DNS1123LabelMaxLength`).
pub const NAMESPACE_MAX_LEN: usize = 63;

/// Checks a namespace before it goes into a URL: the API server names namespaces with
/// DNS-1123 labels (at most 63 lower-case letters, digits and `-`, no dots), so anything
/// else came from a forged review or a hand-written file and must not steer a request.
pub fn check_namespace(namespace: &str) -> Result<&str, InvalidNamespace> {
    if namespace.len() <= NAMESPACE_MAX_LEN && is_label(namespace) {
        Ok(namespace)
    } else {
        Err(InvalidNamespace(namespace.to_owned()))
    }
}

/// A string that is not a DNS-1123 label, offered as a namespace. Its `Display` quotes a
/// bounded prefix of the input with every control character escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("namespace {} is not valid (a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit)", quoted(.0))]
pub struct InvalidNamespace(pub String);

impl FromStr for Name {
    type Err = InvalidName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Name {
    type Error = InvalidName;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// Sound: `Name` orders, compares and hashes exactly as the `String` it wraps.
impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::plain("demo")]
    #[case::dashes("kube-system")]
    #[case::at_the_limit(&"a".repeat(63))]
    fn accepts_namespaces(#[case] namespace: &str) {
        assert_eq!(check_namespace(namespace), Ok(namespace));
    }

    #[rstest]
    #[case::empty("")]
    #[case::parent("../../kube-system")]
    #[case::query("x?watch=true")]
    #[case::slash("demo/configmaps/x")]
    #[case::dotted("a.b")]
    #[case::upper("Demo")]
    #[case::newline("demo\nx")]
    #[case::too_long(&"a".repeat(64))]
    fn refuses_other_namespaces(#[case] namespace: &str) {
        let err = check_namespace(namespace).expect_err(namespace);
        assert!(!err.to_string().contains('\n'), "{err}");
    }

    #[rstest]
    #[case::one_letter("a")]
    #[case::one_digit("0")]
    #[case::dashes_inside("web-config")]
    #[case::dotted("config.v2.example")]
    #[case::digits_first("1st-config")]
    #[case::double_dash("a--b")]
    #[case::at_the_limit(&"a".repeat(253))]
    #[case::long_parts(&format!("{}.{}", "a".repeat(63), "b".repeat(189)))]
    fn accepts_dns1123_subdomains(#[case] name: &str) {
        assert_eq!(Name::new(name).map(|n| n.to_string()), Ok(name.to_owned()));
    }

    #[rstest]
    #[case::empty("")]
    #[case::upper_case("Web-Config")]
    #[case::too_long(&"a".repeat(254))]
    #[case::leading_dash("-web")]
    #[case::trailing_dash("web-")]
    #[case::double_dot("a..b")]
    #[case::leading_dot(".a")]
    #[case::trailing_dot("a.")]
    #[case::underscore("web_config")]
    #[case::unicode("wéb")]
    #[case::space("feature-flags routes")]
    #[case::path("../../kube-system/configmaps/kubeadm-config")]
    #[case::query("x?watch=true")]
    #[case::percent("x%2Fy")]
    #[case::newline("a\nb")]
    #[case::dash_before_dot("a-.b")]
    fn rejects_everything_else(#[case] name: &str) {
        assert_eq!(Name::new(name), Err(InvalidName(name.to_owned())));
    }

    #[test]
    fn messages_quote_a_bounded_escaped_prefix() {
        let message = InvalidName(format!("a\"\n\u{1b}[31m{}", "x".repeat(10_000))).to_string();
        assert!(message.starts_with(r#""a\"\n\u{1b}[31mxxx"#), "{message}");
        assert!(message.contains("x\"… is not a valid name"), "{message}");
        assert!(message.len() < 300, "{}", message.len());
        assert!(!message.contains('\n') && !message.contains('\u{1b}'));
    }
}
