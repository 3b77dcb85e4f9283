//! Text fields that take text and nothing else.
//!
//! Why: a YAML parser asked for a string hands over any plain scalar as its
//! source text, so `image: false` became the image "false" and `name: 2024`
//! the name "2024", while the OpenAPI document says these keys hold strings
//! and JSON refuses `false` there. These deserializers ask the parser what
//! the value is (`deserialize_any`) and refuse booleans, numbers and null
//! with a sentence that says to quote the value, so a YAML job and a JSON
//! job are held to the same rule. Env values keep their documented
//! coercion of numbers and booleans to text (see `env_map` in `mod.rs`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};

/// A string, and only a string.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text; in YAML write a value that reads as true, false, null or a number in quotes, e.g. \"2024\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Err(E::invalid_type(Unexpected::Bool(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Err(E::invalid_type(Unexpected::Signed(v), &self))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Err(E::invalid_type(Unexpected::Unsigned(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Err(E::invalid_type(Unexpected::Float(v), &self))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Err(E::invalid_type(Unexpected::Unit, &self))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A required text field.
pub(super) fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Text::deserialize(deserializer).map(|Text(s)| s)
}

/// An optional text field: absent or null is `None`, anything else must be text.
pub(super) fn optional_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(Option::<Text>::deserialize(deserializer)?.map(|Text(s)| s))
}

/// A field that may be left out but, when given, is text (null is refused).
pub(super) fn given_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    text(deserializer).map(Some)
}

/// A list of text.
pub(super) fn texts<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<Text>::deserialize(deserializer)?
        .into_iter()
        .map(|Text(s)| s)
        .collect())
}

/// A map whose values are text.
pub(super) fn text_values<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(BTreeMap::<String, Text>::deserialize(deserializer)?
        .into_iter()
        .map(|(k, Text(v))| (k, v))
        .collect())
}
