//! Which GPUs a task asks for, as a person writes it: a count (`2`), `all`,
//! or a list of device indices (`[0, 1]`), read and written in that form.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which GPUs a task gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gpus {
    /// Any this many GPUs.
    Count(u32),
    /// Every GPU of the node.
    All,
    /// These device indices.
    Indices(Vec<u32>),
}

impl Serialize for Gpus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Gpus::Count(n) => serializer.serialize_u32(*n),
            Gpus::All => serializer.serialize_str("all"),
            Gpus::Indices(list) => list.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Gpus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Gpus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count, \"all\", or a list of GPU indices")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Gpus, E> {
                u32::try_from(v)
                    .map(Gpus::Count)
                    .map_err(|_| E::custom("too many GPUs"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Gpus, E> {
                u32::try_from(v)
                    .map(Gpus::Count)
                    .map_err(|_| E::custom("the GPU count must not be negative"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Gpus, E> {
                // JSON Schema's integers include 2.0.
                whole(v).map(Gpus::Count).ok_or_else(|| {
                    E::custom(format!("{v} is not a whole count of GPUs; write e.g. 2"))
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Gpus, E> {
                // Only `all`: a count is a number, as the schema says.
                if v == "all" {
                    Ok(Gpus::All)
                } else {
                    Err(E::custom(format!(
                        "\"{v}\" is not a GPU request; write a count (2), all, or a list of indices ([0, 1])"
                    )))
                }
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Gpus, A::Error> {
                let mut list = Vec::new();
                while let Some(Index(index)) = seq.next_element::<Index>()? {
                    list.push(index);
                }
                Ok(Gpus::Indices(list))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A whole number that fits a `u32`, from a float such as `2.0`.
fn whole(v: f64) -> Option<u32> {
    (v.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&v)).then_some(v as u32)
}

/// A GPU index, written as an integer (`2.0` counts as one, as in JSON Schema).
struct Index(u32);

impl<'de> Deserialize<'de> for Index {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Index;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a GPU index (0, 1, ...)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Index, E> {
                u32::try_from(v)
                    .map(Index)
                    .map_err(|_| E::custom("the GPU index is too large"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Index, E> {
                u32::try_from(v)
                    .map(Index)
                    .map_err(|_| E::custom("a GPU index must not be negative"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Index, E> {
                whole(v)
                    .map(Index)
                    .ok_or_else(|| E::custom(format!("{v} is not a GPU index; write e.g. 0")))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl JsonSchema for Gpus {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Gpus".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A count of GPUs, \"all\", or a list of device indices",
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": u32::MAX},
                {"const": "all"},
                {"type": "array", "minItems": 1, "uniqueItems": true,
                 "items": {"type": "integer", "minimum": 0, "maximum": u32::MAX}}
            ]
        })
    }
}
