//! Shapes that keep only what the decision reads of maps and values it otherwise only
//! type-checks, so a body of millions of tiny entries costs no more than its own bytes.
//!
//! - Labels and annotations: the decision reads only keys under the annotation prefix (the
//!   skip key, the extra and exclude lists, the rollout window, and the two it writes), so
//!   the others are type-checked as strings and dropped as they stream by.
//! - A built-in kind's `spec` fields beside the template: each is type-checked by its JSON
//!   type, a list or an object standing in empty for its contents, which are skipped.

use std::{cell::RefCell, collections::BTreeMap, fmt};

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

thread_local! {
    /// The annotation prefix with its slash (`confighash.io/`) of the decode running on this
    /// thread; set by [`super::object`] before it starts.
    static PREFIX: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Sets the prefix whose keys [`ours`] keeps, for decodes on this thread.
pub fn set_prefix(prefix: &str) {
    PREFIX.with_borrow_mut(|p| {
        p.clear();
        p.push_str(prefix);
    });
}

/// A `map[string]string` (labels, annotations) with only the keys under the annotation
/// prefix kept; every value must still be a string. `null` is `None`, any map `Some`, so the
/// patch still tells a missing map from an empty one.
pub fn ours<'de, D: Deserializer<'de>>(de: D) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    de.deserialize_option(Ours)
}

struct Ours;

impl<'de> Visitor<'de> for Ours {
    type Value = Option<BTreeMap<String, String>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of strings")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kept = BTreeMap::new();
        while let Some(key) = map.next_key::<super::Key<'de>>()? {
            let key = key.0;
            if PREFIX.with_borrow(|prefix| key.starts_with(prefix.as_str())) {
                kept.insert(key.into_owned(), map.next_value::<String>()?);
            } else {
                map.next_value::<AString>()?;
            }
        }
        Ok(Some(kept))
    }
}

/// A JSON string, checked and not kept.
struct AString;

impl<'de> de::Deserialize<'de> for AString {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AString;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<AString, E> {
                Ok(AString)
            }
        }
        de.deserialize_str(V)
    }
}

/// A JSON value as its type: scalars kept, a list or an object empty, its contents skipped.
pub struct Shallow(pub Value);

impl<'de> de::Deserialize<'de> for Shallow {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(ShallowVisitor)
    }
}

struct ShallowVisitor;

impl<'de> Visitor<'de> for ShallowVisitor {
    type Value = Shallow;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Shallow, E> {
        Ok(Shallow(Value::from(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Shallow, E> {
        Ok(Shallow(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Shallow, E> {
        Ok(Shallow(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Shallow, E> {
        Ok(Shallow(Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Shallow, E> {
        Ok(Shallow(Value::from(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Shallow, E> {
        Ok(Shallow(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<Shallow, E> {
        Ok(Shallow(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Shallow, D::Error> {
        de.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shallow, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Shallow(Value::Array(Vec::new())))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shallow, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Shallow(Value::Object(Map::new())))
    }
}
