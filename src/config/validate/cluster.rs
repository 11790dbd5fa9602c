//! `[cluster]`: the Redis that instances share runtime registrations and reload notices
//! through.

use super::ctx::Ctx;
use super::document::Section;
use super::limits::redis_url;
use crate::config::raw::RawCluster;
use crate::config::ClusterSettings;

/// Validates `[cluster]`; `None` when absent or invalid (errors are in `ctx`).
pub(super) fn cluster(
    section: Option<&Section<RawCluster>>,
    ctx: &mut Ctx<'_>,
) -> Option<ClusterSettings> {
    let section = section?;
    let raw = &section.raw;
    let redis = match &raw.redis {
        Some(v) => redis_url(v, "cluster.redis", ctx),
        None => {
            let what = "e.g. redis = \"redis://127.0.0.1:6379/0\"";
            ctx.missing(0..0, "cluster.redis", &section.dropped, what);
            None
        }
    };
    let prefix = match &raw.prefix {
        Some(p) => {
            let text = ctx.string(p, "cluster.prefix")?;
            if text.is_empty() || !text.chars().all(|c| c.is_ascii_graphic()) {
                let msg = "the prefix must be printable ASCII without spaces, and not empty";
                ctx.error(p.span(), "cluster.prefix", msg, None);
                return None;
            }
            text
        }
        None => "portcullis".to_owned(),
    };
    Some(ClusterSettings {
        redis: redis?,
        prefix,
    })
}
