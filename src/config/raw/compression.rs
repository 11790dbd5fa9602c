//! The raw `[policies.NAME.compression]` table (see `raw`).

use std::fmt;

use super::Spanned;
use schemars::JsonSchema;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::StrList;

/// `[policies.NAME.compression]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawCompression {
    pub enabled: Option<Spanned<bool>>,
    pub algorithms: Option<Spanned<StrList>>,
    pub min_size: Option<Spanned<i64>>,
    pub types: Option<Spanned<StrList>>,
    pub level: Option<Spanned<RawLevel>>,
}

/// `level`: a name (`"fastest"`, `"default"`, `"best"`) or a number.
#[derive(Debug)]
pub(in crate::config) enum RawLevel {
    Name(String),
    Number(i64),
}

impl<'de> Deserialize<'de> for RawLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawLevel;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"fastest\", \"default\", \"best\" or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawLevel, E> {
                Ok(RawLevel::Name(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawLevel, E> {
                Ok(RawLevel::Number(v))
            }
        }
        d.deserialize_any(V)
    }
}
