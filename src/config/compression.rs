//! Validated response-compression settings: a policy's `[policies.NAME.compression]` section.

use serde::Serialize;

/// A content coding the gateway can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    Zstd,
    Br,
    Gzip,
}

impl Algorithm {
    /// The token in `Accept-Encoding` / `Content-Encoding` (and in the config).
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Zstd => "zstd",
            Algorithm::Br => "br",
            Algorithm::Gzip => "gzip",
        }
    }
}

/// How hard the encoders work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Fastest,
    /// Each algorithm's usual default (brotli: 4, as tower-http sets it).
    Default,
    Best,
    /// A number, clamped to each algorithm's range (gzip 1-9, br 0-11, zstd 1-22).
    Precise(i32),
}

/// `[policies.NAME.compression]`: compression of responses on the routes using the policy.
/// `"fastest"`, `"default"`, `"best"` or the number, as in the config.
impl Serialize for Level {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Level::Fastest => s.serialize_str("fastest"),
            Level::Default => s.serialize_str("default"),
            Level::Best => s.serialize_str("best"),
            Level::Precise(n) => s.serialize_i32(*n),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompressionSpec {
    /// Default true when the table is present.
    pub enabled: bool,
    /// The codings offered, in the server's order of preference (used when the client's
    /// q-values tie). Default zstd, br, gzip.
    pub algorithms: Vec<Algorithm>,
    /// Bodies whose Content-Length says they are smaller are sent as they are. Default 1024.
    pub min_size: u64,
    /// Media types compressed: exact (`application/json`) or a whole top-level type
    /// (`text/*`), lowercased. Default [`DEFAULT_TYPES`].
    pub types: Vec<String>,
    pub level: Level,
}

/// The media types compressed by default.
pub const DEFAULT_TYPES: &[&str] = &[
    "text/*",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/xhtml+xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/ld+json",
    "application/problem+json",
    "application/manifest+json",
    "application/wasm",
    "image/svg+xml",
];

/// Media types that are already compressed (or, for `text/event-stream`, must not be held
/// back by an encoder's buffer): refused in `types` and never compressed.
pub const NEVER_TYPES: &[&str] = &[
    "text/event-stream",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/heic",
    "application/zip",
    "application/gzip",
    "application/x-gzip",
    "application/zstd",
    "application/x-bzip2",
    "application/x-xz",
    "application/x-7z-compressed",
    "application/x-rar-compressed",
    "application/vnd.rar",
    "font/woff",
    "font/woff2",
];

/// Top-level types whose members are (almost all) compressed already.
pub const NEVER_TOP_LEVEL: &[&str] = &["video", "audio"];

impl Default for CompressionSpec {
    fn default() -> Self {
        CompressionSpec {
            enabled: true,
            algorithms: vec![Algorithm::Zstd, Algorithm::Br, Algorithm::Gzip],
            min_size: 1024,
            types: DEFAULT_TYPES.iter().map(|t| (*t).to_owned()).collect(),
            level: Level::Default,
        }
    }
}
