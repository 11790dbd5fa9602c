//! The traffic keys of a route, validated: a weighted split over several services
//! (`split`, `sticky`), request mirroring (`[routes.mirror]`), the answers a route makes by
//! itself (`[routes.redirect]`, `[routes.respond]`), and custom bodies for the gateway's own
//! errors (`[error_pages]`, `[routes.error_pages]`). Files named here were read at load.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;

use super::HashKey;
use crate::routing::Template;

/// `split`: the services of a route with their weights (in the order written).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitSpec {
    pub targets: Vec<SplitTarget>,
    /// `sticky`: the request key that keeps one client on one service; `None` = no stickiness.
    pub sticky: Option<HashKey>,
}

/// One `split` element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SplitTarget {
    /// The service's name, as written.
    pub service: String,
    /// Index into `Config::services`.
    #[serde(skip)]
    pub index: usize,
    /// Relative share, 0 to 10,000 (0: no traffic, e.g. the idle colour of a blue/green pair).
    pub weight: u32,
}

/// `[routes.mirror]`: a share of the route's requests copied to another service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MirrorSpec {
    pub service: String,
    /// Index into `Config::services`.
    #[serde(skip)]
    pub index: usize,
    /// Share of the route's requests mirrored, 1 to 100. Default 100.
    pub percent: u32,
    /// Request bodies up to this size are copied; a request with a larger body (or one of
    /// unknown length) is not mirrored. Default 65,536.
    pub max_body_bytes: u64,
    /// Mirror requests in flight at most (the queue); beyond, dropped and counted.
    /// Default 100.
    pub queue: usize,
}

/// What a route answers by itself instead of proxying.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerSpec {
    Redirect(RedirectSpec),
    Respond(RespondSpec),
}

/// `[routes.redirect]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedirectSpec {
    /// 301, 302, 307 or 308. Default 302.
    #[serde(serialize_with = "status")]
    pub status: StatusCode,
    /// `"http"` or `"https"`; default: the request's.
    pub scheme: Option<String>,
    /// A host template (`"{tenant}.example.com"`, may carry a port); default: the request's.
    pub host: Option<Template>,
    /// A path template (`"/v2/{id}"`, `"/docs/{*}"`); default: the request's path.
    pub path: Option<Template>,
    /// Whether the request's query string is kept. Default true.
    pub keep_query: bool,
}

/// `[routes.respond]`: a static response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RespondSpec {
    /// Default 200.
    #[serde(serialize_with = "status")]
    pub status: StatusCode,
    /// The response headers (a Content-Type is added for a body when none is set).
    #[serde(serialize_with = "header_map")]
    pub headers: HeaderMap,
    #[serde(flatten)]
    pub body: BodySource,
}

/// A body from the config (`body`) or from a file read at load (`file`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BodySource {
    /// The bytes (the `body` text, or the file's content when `file` is set).
    #[serde(skip)]
    pub bytes: Bytes,
    /// Shown as its size; the file name when it came from one.
    #[serde(rename = "body_bytes")]
    pub len: usize,
    pub file: Option<PathBuf>,
}

impl BodySource {
    /// A body of these bytes, from `file` when set.
    pub fn new(bytes: Bytes, file: Option<PathBuf>) -> BodySource {
        BodySource {
            len: bytes.len(),
            bytes,
            file,
        }
    }
}

/// `[error_pages]` or `[routes.error_pages]`: custom bodies for the gateway's own errors, by
/// status (400 to 599).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ErrorPages {
    pub pages: BTreeMap<u16, ErrorPage>,
}

impl ErrorPages {
    /// The page of a status, if one is configured.
    pub fn get(&self, status: StatusCode) -> Option<&ErrorPage> {
        self.pages.get(&status.as_u16())
    }

    /// Whether no page is configured.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// These pages, with `fallback`'s for the statuses these do not name.
    pub fn over(&self, fallback: &ErrorPages) -> ErrorPages {
        let mut pages = fallback.pages.clone();
        pages.extend(self.pages.iter().map(|(k, v)| (*k, v.clone())));
        ErrorPages { pages }
    }
}

/// One error page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorPage {
    /// Default `text/html; charset=utf-8`.
    #[serde(serialize_with = "header_text")]
    pub content_type: HeaderValue,
    #[serde(flatten)]
    pub body: BodySource,
}

fn status<S: serde::Serializer>(v: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(v.as_u16())
}

fn header_map<S: serde::Serializer>(v: &HeaderMap, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(
        v.iter()
            .map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v.as_bytes()))),
    )
}

fn header_text<S: serde::Serializer>(v: &HeaderValue, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&String::from_utf8_lossy(v.as_bytes()))
}
