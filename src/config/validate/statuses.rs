//! Status-code lists (`expected_statuses`, `failure_statuses`, `on_statuses`): integers and
//! `"A-B"` range strings, each inside the codes the key allows.

use std::ops::Range;

use crate::config::raw::Spanned;

use super::ctx::Ctx;
use crate::config::raw::{StatusItem, StatusList};
use crate::config::StatusRange;

/// Which codes a list may contain.
#[derive(Clone, Copy)]
pub(super) enum Codes {
    /// Any status, 100 to 599.
    Any,
    /// Server errors only, 500 to 599: a 4xx is never an endpoint's failure.
    ServerErrors,
}

impl Codes {
    fn bounds(self) -> (u16, u16) {
        match self {
            Codes::Any => (100, 599),
            Codes::ServerErrors => (500, 599),
        }
    }
}

const SYNTAX_HINT: &str = "write a code such as 503 or \"503\", or a range such as \"500-599\"";

/// Validates a status list; `None` (after reporting every bad item) when it has problems.
/// An empty list is an error unless `allow_empty`.
pub(super) fn statuses(
    ctx: &mut Ctx<'_>,
    v: &Spanned<StatusList>,
    key: &str,
    codes: Codes,
    allow_empty: bool,
) -> Option<Vec<StatusRange>> {
    let items = v.get_ref().items(v.span());
    if items.is_empty() && !allow_empty {
        let hint = "list at least one status, e.g. [200, \"300-399\"]".to_owned();
        ctx.error(v.span(), key, "the status list is empty", Some(hint));
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, (item, span)) in items.into_iter().enumerate() {
        let k = match v.get_ref() {
            StatusList::One(_) => key.to_owned(),
            StatusList::Many(_) => format!("{key}[{i}]"),
        };
        match status(ctx, item, span, &k, codes) {
            Some(r) => out.push(r),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// One code or range, checked against `codes`.
fn status(
    ctx: &mut Ctx<'_>,
    item: &StatusItem,
    span: Range<usize>,
    key: &str,
    codes: Codes,
) -> Option<StatusRange> {
    let (range, shown) = match item {
        StatusItem::Code(n) => {
            let code = u16::try_from(*n).unwrap_or(u16::MAX);
            (StatusRange::new(code, code), n.to_string())
        }
        StatusItem::Text(t) => {
            let text = ctx.expand(t, span.clone(), key)?;
            let Some(range) = parse_range(&text) else {
                let msg = format!("invalid status or range \"{text}\"");
                ctx.error(span, key, msg, Some(SYNTAX_HINT.to_owned()));
                return None;
            };
            (range, format!("\"{text}\""))
        }
    };
    if range.from > range.to {
        let msg = format!("the range {shown} is reversed");
        let hint = format!(
            "write the lower code first: \"{}-{}\"",
            range.to, range.from
        );
        ctx.error(span, key, msg, Some(hint));
        return None;
    }
    let (min, max) = codes.bounds();
    let client_error = range.from <= 499 && range.to >= 400;
    if matches!(codes, Codes::ServerErrors) && client_error {
        let msg = match range.from == range.to {
            true => format!("{shown} is a client error (4xx), which never counts as a failure"),
            false => format!("{shown} includes client errors (4xx), which never count as failures"),
        };
        let hint = "a 4xx is the client's mistake, not the endpoint's; list codes from 500 to 599";
        ctx.error(span, key, msg, Some(hint.to_owned()));
        return None;
    }
    if range.from < min || range.to > max {
        let msg = format!("{shown} is out of range: statuses must be between {min} and {max}");
        let hint = match codes {
            Codes::Any => "HTTP status codes are 100 to 599",
            Codes::ServerErrors => "only server errors (500 to 599) count as failures",
        };
        ctx.error(span, key, msg, Some(hint.to_owned()));
        return None;
    }
    Some(range)
}

/// `"503"` or `"500-599"`: whole numbers, no spaces.
fn parse_range(text: &str) -> Option<StatusRange> {
    let code = |s: &str| -> Option<u16> {
        if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match text.split_once('-') {
        Some((a, b)) => Some(StatusRange::new(code(a)?, code(b)?)),
        None => code(text).map(|c| StatusRange::new(c, c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("503"), Some(StatusRange::new(503, 503)));
        assert_eq!(parse_range("500-599"), Some(StatusRange::new(500, 599)));
        assert_eq!(parse_range("599-500"), Some(StatusRange::new(599, 500)));
        assert_eq!(parse_range("600"), Some(StatusRange::new(600, 600)));
        for bad in [
            "",
            "a-b",
            "5xx",
            "500-",
            "-500",
            "500 - 599",
            "1-2-3",
            "+500",
            "99999999",
        ] {
            assert_eq!(parse_range(bad), None, "{bad}");
        }
    }
}
