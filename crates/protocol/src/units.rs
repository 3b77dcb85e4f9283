//! Durations and byte sizes as people write them in job files.
//!
//! Both accept a bare number (seconds, bytes) or a string with a unit, and both
//! serialize back as a bare number so the wire form is unambiguous.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in whole seconds: `3600`, `"90s"`, `"30m"`, `"2h"`, `"1h30m"`, `"1d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seconds(pub u64);

/// A size in bytes: `1073741824`, `"512MiB"`, `"8g"`, `"1.5GB"`.
///
/// Units follow Docker's habit: `k`, `m`, `g`, `t` (any case, with or without
/// a trailing `b` or `ib`) are powers of 1024; `KB`, `MB`, `GB`, `TB` spelled
/// with a capital `B` after the letter are also read as powers of 1024, since a
/// person asking for "8GB" of memory for a container means what Docker means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

/// Parses `"1h30m"`-style durations; the error says what is accepted.
pub fn parse_duration(text: &str) -> Result<Seconds, String> {
    let text = text.trim();
    let help =
        "write a number of seconds or a duration such as \"90s\", \"30m\", \"2h\" or \"1h30m\"";
    if text.is_empty() {
        return Err(format!("empty duration: {help}"));
    }
    if let Ok(n) = text.parse::<u64>() {
        return Ok(Seconds(n));
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let scale = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("unknown duration unit '{c}' in \"{text}\": {help}")),
        };
        let n: u64 = number
            .parse()
            .map_err(|_| format!("a number must come before '{c}' in \"{text}\": {help}"))?;
        total = n
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration \"{text}\" is too long"))?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(format!("\"{text}\" ends without a unit: {help}"));
    }
    Ok(Seconds(total))
}

/// Parses a duration as a job file's text holds it, by the rule the OpenAPI
/// document states ([`crate::rules::DURATION`]): no spaces, at most 9 digits
/// a number and 4 numbers with units, so nothing the document refuses is read.
pub fn parse_duration_text(text: &str) -> Result<Seconds, String> {
    let help = "write whole seconds or a duration such as \"90s\", \"30m\", \"2h\" or \"1h30m\" (at most 9 digits a number, 4 parts)";
    let bad = || format!("\"{text}\" is not a duration: {help}");
    let mut parts = 0;
    let mut digits = 0;
    for c in text.chars() {
        match c {
            '0'..='9' => digits += 1,
            's' | 'm' | 'h' | 'd' if (1..=9).contains(&digits) => {
                parts += 1;
                digits = 0;
            }
            _ => return Err(bad()),
        }
        if digits > 9 {
            return Err(bad());
        }
    }
    let plain = parts == 0 && digits > 0;
    let units = (1..=4).contains(&parts) && digits == 0;
    if !(plain || units) {
        return Err(bad());
    }
    parse_duration(text)
}

/// Parses a size as a job file's text holds it, by the rule the OpenAPI
/// document states ([`crate::rules::SIZE`]): no spaces, at most 6 digits
/// before the point and 6 after (larger sizes are written as bytes).
pub fn parse_byte_size_text(text: &str) -> Result<ByteSize, String> {
    let bad = || {
        format!(
            "\"{text}\" is not a size: write bytes or a size such as \"512m\", \"8GiB\" or \"1.5g\" (at most 6 digits, 6 after the point; or a number of bytes)"
        )
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let shape = whole.len() <= 6
        && fraction.len() <= 6
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && (!whole.is_empty() || !fraction.is_empty());
    let unit_ok = matches!(
        unit.to_ascii_lowercase().as_str(),
        "" | "b"
            | "k"
            | "kb"
            | "kib"
            | "m"
            | "mb"
            | "mib"
            | "g"
            | "gb"
            | "gib"
            | "t"
            | "tb"
            | "tib"
    );
    if !(shape && unit_ok) {
        return Err(bad());
    }
    parse_byte_size(text)
}

/// Parses `"8GiB"`-style sizes; the error says what is accepted.
pub fn parse_byte_size(text: &str) -> Result<ByteSize, String> {
    let text = text.trim();
    let help = "write a number of bytes or a size such as \"512m\", \"8GiB\" or \"1.5g\"";
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("\"{text}\" does not start with a number: {help}"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let scale: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "unknown size unit \"{unit}\" in \"{text}\": {help}"
            ));
        }
    };
    let bytes = value * scale as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("size \"{text}\" is out of range"));
    }
    Ok(ByteSize(bytes.round() as u64))
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s != 0 && s.is_multiple_of(3600) {
            write!(f, "{}h", s / 3600)
        } else if s != 0 && s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

macro_rules! number_or_text {
    ($ty:ident, $parse:ident, $pattern:expr, $what:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_u64(self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$ty, E> {
                        Ok($ty(v))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$ty, E> {
                        u64::try_from(v)
                            .map($ty)
                            .map_err(|_| E::custom(concat!("must not be negative: ", $what)))
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$ty, E> {
                        // JSON Schema's integers include 2.0; a fraction is refused,
                        // as the document says integer.
                        if v >= 0.0 && v.fract() == 0.0 && v <= u64::MAX as f64 {
                            Ok($ty(v as u64))
                        } else {
                            Err(E::custom(concat!("must be a whole number or text: ", $what)))
                        }
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        $parse(v).map_err(E::custom)
                    }
                }
                deserializer.deserialize_any(V)
            }
        }

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "description": $what,
                    "anyOf": [
                        {"type": "integer", "minimum": 0, "maximum": u64::MAX},
                        {"type": "string", "pattern": $pattern}
                    ]
                })
            }
        }
    };
}

number_or_text!(
    Seconds,
    parse_duration_text,
    crate::rules::DURATION,
    "a number of seconds or a duration such as \"90s\", \"30m\", \"2h\""
);
number_or_text!(
    ByteSize,
    parse_byte_size_text,
    crate::rules::SIZE,
    "a number of bytes or a size such as \"512m\", \"8GiB\""
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Seconds(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Seconds(5400)));
        assert_eq!(parse_duration("45"), Ok(Seconds(45)));
        assert_eq!(parse_duration("2d"), Ok(Seconds(172_800)));
        assert!(
            parse_duration("10x")
                .unwrap_err()
                .contains("unknown duration unit 'x'")
        );
        assert!(parse_duration("10").is_ok());
        assert!(
            parse_duration("1h30")
                .unwrap_err()
                .contains("ends without a unit")
        );
        assert!(
            parse_duration("h")
                .unwrap_err()
                .contains("a number must come before")
        );
        assert!(parse_duration("99999999999999999999d").is_err());
        assert_eq!(Seconds(5400).to_string(), "90m");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_byte_size("512m"), Ok(ByteSize(512 << 20)));
        assert_eq!(parse_byte_size("8GiB"), Ok(ByteSize(8 << 30)));
        assert_eq!(parse_byte_size("8GB"), Ok(ByteSize(8 << 30)));
        assert_eq!(parse_byte_size("1.5g"), Ok(ByteSize(3 << 29)));
        assert_eq!(parse_byte_size("100"), Ok(ByteSize(100)));
        assert!(
            parse_byte_size("lots")
                .unwrap_err()
                .contains("does not start with a number")
        );
        assert!(
            parse_byte_size("3 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert_eq!(ByteSize(3 << 29).to_string(), "1.5 GiB");
    }

    #[test]
    fn serialize_as_numbers() {
        assert_eq!(serde_json::to_string(&Seconds(60)).unwrap(), "60");
        let size: ByteSize = serde_json::from_str("\"1k\"").unwrap();
        assert_eq!(size, ByteSize(1024));
        assert!(serde_json::from_str::<ByteSize>("-3").is_err());
    }
}
