//! Names left out because they are not valid object names, and where they were found.

use std::fmt;

use super::*;
use crate::name::quoted;

/// A name that is not a valid object name, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// ConfigMap or Secret.
    pub kind: SourceKind,
    /// The name as written.
    pub name: InvalidName,
    /// Where it was found.
    pub origin: Origin,
}

/// Where a rejected name was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A pod-template site; `container` for env references.
    Template {
        /// The kind of site.
        via: Via,
        /// The container (or initContainer) name, as written.
        container: Option<String>,
    },
    /// The `extra-*` or `exclude-*` annotation with this key.
    Annotation(String),
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, name) = (self.kind.kind(), quoted(&self.name.0));
        write!(f, "confighash: {kind} name {name} ")?;
        match &self.origin {
            Origin::Annotation(key) => write!(f, "in annotation {key}")?,
            Origin::Template { via, container } => {
                let site = match via {
                    Via::Volume => "a volume",
                    Via::Projected => "a projected volume",
                    Via::Env => "env",
                    Via::EnvFrom => "envFrom",
                    Via::Annotation => "an annotation",
                };
                write!(f, "in {site}")?;
                if let Some(container) = container {
                    write!(f, " of container {}", quoted(container))?;
                }
            }
        }
        write!(f, " is not a valid name (DNS-1123 subdomain); ignored")
    }
}

/// The names left out as invalid: the first few in full, for the warnings that name them,
/// and a count of the rest, so a hostile list costs no memory beyond its own text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejections {
    /// The first [`Rejections::KEPT`] distinct rejections, in document order.
    pub kept: Vec<Rejected>,
    /// How many more were found.
    pub more: usize,
}

impl Rejections {
    /// How many rejections are kept in full.
    pub const KEPT: usize = 32;

    pub(super) fn add(&mut self, rejected: Rejected) {
        if self.kept.contains(&rejected) {
            return;
        }
        if self.kept.len() < Self::KEPT {
            self.kept.push(rejected);
        } else {
            self.more += 1;
        }
    }

    /// True when no name was rejected.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}
