//! `Fields`: reads the optional keys of one config table into slots that hold their defaults,
//! reporting each problem under the table's dotted key and remembering whether any occurred.
//! The `fields!` macro declares the simple keys of a table one line each (the config key, the
//! raw field and the runtime field share a name): flags, integer ranges, durations, status
//! lists and closed sets of strings.

use std::ops::Range;
use std::time::Duration;

use crate::config::raw::Spanned;

use super::ctx::{show_duration, Ctx};
use super::statuses::{statuses, Codes};
use crate::config::raw::{DurationStr, StatusList, StrList};
use crate::config::StatusRange;

/// Reads the simple keys of a table into their slots, one line a key, through a [`Fields`]:
///
/// ```text
/// fields!(f, raw, out;
///     enabled: flag;
///     interval: timeout;                      // > 0, <= 1 day
///     jitter: duration0;                      // may be 0
///     keepalive_interval: opt_timeout;        // into an Option
///     healthy_threshold: int(1, 100, HINT);   // an integer range
///     expected_statuses: statuses(Codes::Any, false);
///     format: one_of(&CHOICES);
///     level: with(level);                     // any `fn(ctx, &value, key) -> Option<T>`
///     retries: int(0, 10, HINT) => out.retry.retries;  // another slot
/// );
/// ```
///
/// Each key is checked by the same function as a hand-written call, so messages and
/// locations are those of `Ctx`.
macro_rules! fields {
    ($f:expr, $raw:expr, $out:ident;
     $($key:ident: $kind:ident $(($($arg:expr),* $(,)?))? $(=> $slot:expr)?;)*) => {
        $(fields!(@one $f, $raw, $key, $kind [$($($arg),*)?],
            fields!(@slot $out, $key $(, $slot)?));)*
    };
    (@slot $out:ident, $key:ident) => { $out.$key };
    (@slot $out:ident, $key:ident, $slot:expr) => { $slot };
    (@one $f:expr, $raw:expr, $key:ident, flag [], $slot:expr) => {
        $f.flag(&$raw.$key, &mut $slot)
    };
    (@one $f:expr, $raw:expr, $key:ident, int [$min:expr, $max:expr, $hint:expr], $slot:expr) => {
        $f.int(&$raw.$key, stringify!($key), $min, $max, $hint, &mut $slot)
    };
    (@one $f:expr, $raw:expr, $key:ident, timeout [], $slot:expr) => {
        $f.duration(&$raw.$key, stringify!($key), false, &mut $slot)
    };
    (@one $f:expr, $raw:expr, $key:ident, duration0 [], $slot:expr) => {
        $f.duration(&$raw.$key, stringify!($key), true, &mut $slot)
    };
    (@one $f:expr, $raw:expr, $key:ident, opt_timeout [], $slot:expr) => {
        $f.opt_timeout(&$raw.$key, stringify!($key), &mut $slot)
    };
    (@one $f:expr, $raw:expr, $key:ident, statuses [$codes:expr, $empty:expr], $slot:expr) => {
        $f.statuses(&$raw.$key, stringify!($key), $codes, $empty, &mut $slot)
    };
    (@one $f:expr, $raw:expr, $key:ident, with [$check:expr], $slot:expr) => {
        $f.with(&$raw.$key, stringify!($key), $check, &mut $slot)
    };
    (@one $f:expr, $raw:expr, $key:ident, one_of [$choices:expr], $slot:expr) => {
        $f.one_of(&$raw.$key, stringify!($key), $choices, &mut $slot)
    };
}
pub(super) use fields;

/// Reads the optional keys of one table into their slots; `ok` turns false on any problem.
pub(super) struct Fields<'c, 'a> {
    pub ctx: &'c mut Ctx<'a>,
    /// The dotted key of the table, e.g. `services[0].retry`.
    pub prefix: String,
    pub ok: bool,
    /// Keys (of any prefix) whose value was written but invalid, for rules between keys.
    bad: Vec<String>,
}

impl<'c, 'a> Fields<'c, 'a> {
    /// Fields of the table at `prefix` (`server.http2`, `services[3].retry`).
    pub(super) fn new(ctx: &'c mut Ctx<'a>, prefix: impl Into<String>) -> Self {
        Fields {
            ctx,
            prefix: prefix.into(),
            ok: true,
            bad: Vec::new(),
        }
    }

    /// Notes `field` of the current table as invalid (already reported).
    pub(super) fn invalid(&mut self, field: &str) {
        self.bad.push(format!("{}.{field}", self.prefix));
    }

    /// Whether `field` of the current table is absent or valid (not reported as invalid).
    pub(super) fn valid(&self, field: &str) -> bool {
        !self
            .bad
            .iter()
            .any(|b| *b == format!("{}.{field}", self.prefix))
    }

    /// Runs a check given the context and a `field -> full key` function.
    pub(super) fn check<T>(
        &mut self,
        run: impl FnOnce(&mut Ctx<'_>, &dyn Fn(&str) -> String) -> Option<T>,
    ) -> Option<T> {
        let prefix = &self.prefix;
        let out = run(self.ctx, &|field| format!("{prefix}.{field}"));
        self.ok &= out.is_some();
        out
    }

    pub(super) fn error(
        &mut self,
        span: Range<usize>,
        field: &str,
        message: impl Into<String>,
        hint: &str,
    ) {
        let key = format!("{}.{field}", self.prefix);
        self.ctx.error(span, key, message, Some(hint.to_owned()));
        self.ok = false;
    }

    /// An integer in `min..=max`.
    pub(super) fn int<T: TryFrom<i64>>(
        &mut self,
        v: &Option<Spanned<i64>>,
        field: &str,
        min: i64,
        max: i64,
        hint: &str,
        slot: &mut T,
    ) {
        let Some(v) = v else { return };
        let n = self.check(|ctx, k| ctx.int_in(v, &k(field), min, max, hint));
        match n.and_then(|n| T::try_from(n).ok()) {
            Some(n) => *slot = n,
            None => self.invalid(field),
        }
    }

    pub(super) fn flag(&mut self, v: &Option<Spanned<bool>>, slot: &mut bool) {
        if let Some(b) = v {
            *slot = *b.get_ref();
        }
    }

    /// A duration (`zero` allows 0). Returns false when present and invalid.
    pub(super) fn duration(
        &mut self,
        v: &Option<Spanned<DurationStr>>,
        field: &str,
        zero: bool,
        slot: &mut Duration,
    ) -> bool {
        let Some(v) = v else { return true };
        let d = self.check(|ctx, k| match zero {
            true => ctx.duration_allow_zero(v, &k(field)),
            false => ctx.timeout(v, &k(field)),
        });
        if d.is_none() {
            self.invalid(field);
        }
        d.inspect(|d| *slot = *d).is_some()
    }

    /// A key with its own check, `check(ctx, value, full key)`; `None` means reported.
    pub(super) fn with<V, T>(
        &mut self,
        v: &Option<V>,
        field: &str,
        check: impl FnOnce(&mut Ctx<'_>, &V, &str) -> Option<T>,
        slot: &mut T,
    ) {
        let Some(v) = v else { return };
        match self.check(|ctx, k| check(ctx, v, &k(field))) {
            Some(x) => *slot = x,
            None => self.invalid(field),
        }
    }

    /// A timeout into an optional slot (no default).
    pub(super) fn opt_timeout(
        &mut self,
        v: &Option<Spanned<DurationStr>>,
        field: &str,
        slot: &mut Option<Duration>,
    ) {
        let Some(v) = v else { return };
        *slot = self.check(|ctx, k| ctx.timeout(v, &k(field)));
        if slot.is_none() {
            self.invalid(field);
        }
    }

    /// One of a closed set of strings.
    pub(super) fn one_of<T: Copy>(
        &mut self,
        v: &Option<Spanned<String>>,
        field: &str,
        choices: &[(&str, T)],
        slot: &mut T,
    ) {
        let Some(v) = v else { return };
        match self.check(|ctx, k| ctx.one_of(v, &k(field), choices)) {
            Some(x) => *slot = x,
            None => self.invalid(field),
        }
    }

    pub(super) fn statuses(
        &mut self,
        v: &Option<Spanned<StatusList>>,
        field: &str,
        codes: Codes,
        allow_empty: bool,
        slot: &mut Vec<StatusRange>,
    ) {
        let Some(v) = v else { return };
        if let Some(s) = self.check(|ctx, k| statuses(ctx, v, &k(field), codes, allow_empty)) {
            *slot = s;
        }
    }

    /// `upper` (when written) must not be below `lower`; when absent it is raised to `lower`.
    /// Nothing is checked when either is invalid (already reported).
    pub(super) fn at_least(
        &mut self,
        (upper_v, upper_field, upper): (&Option<Spanned<DurationStr>>, &str, &mut Duration),
        (lower_field, lower): (&str, Duration),
    ) {
        if !self.valid(upper_field) || !self.valid(lower_field) {
            return;
        }
        match upper_v {
            None => *upper = (*upper).max(lower),
            Some(v) if *upper < lower => {
                let msg = format!(
                    "{} is less than `{lower_field}` ({})",
                    show_duration(*upper),
                    show_duration(lower)
                );
                let hint = format!("raise {upper_field} or lower {lower_field}");
                self.error(v.span(), upper_field, msg, &hint);
            }
            Some(_) => {}
        }
    }
}

/// One string of a `StrList`, `${ENV}`-expanded (`None`: it could not be, already reported),
/// with its span and dotted key (`key[i]`, or `key` for a single string).
pub(super) struct Entry {
    pub text: Option<String>,
    pub span: Range<usize>,
    pub key: String,
}

/// The strings of a list, expanded.
pub(super) fn expanded(v: &Spanned<StrList>, key: &str, ctx: &mut Ctx<'_>) -> Vec<Entry> {
    let list = v.get_ref();
    let items = list.items(v.span());
    let mut out = Vec::with_capacity(items.len());
    for (i, (text, span)) in items.into_iter().enumerate() {
        let key = match list {
            StrList::One(_) => key.to_owned(),
            StrList::Many(_) => format!("{key}[{i}]"),
        };
        let text = ctx.expand(text, span.clone(), &key);
        out.push(Entry { text, span, key });
    }
    out
}

/// Each string of a list, `${ENV}`-expanded, through `check(ctx, text, entry, items so far)`
/// (which reports its own problems, e.g. an item listed twice); `None` when any failed.
pub(super) fn each<T>(
    ctx: &mut Ctx<'_>,
    v: &Spanned<StrList>,
    key: &str,
    mut check: impl FnMut(&mut Ctx<'_>, String, &Entry, &[T]) -> Option<T>,
) -> Option<Vec<T>> {
    let (mut out, mut ok) = (Vec::new(), true);
    for item in expanded(v, key, ctx) {
        let Some(text) = item.text.clone() else {
            ok = false;
            continue;
        };
        match check(ctx, text, &item, &out) {
            Some(x) => out.push(x),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `v` without repeats, in the order first written (for lists where a repeat is harmless).
pub(super) fn distinct<T: PartialEq>(v: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len());
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}
