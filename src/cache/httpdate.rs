//! HTTP-date (RFC 9110 §5.6.7) parsing in all three formats and IMF-fixdate formatting, for
//! conditional requests (`If-Modified-Since` against `Last-Modified`) and the `Date` a cache
//! adds to a stored response that lacked one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::base::civil::{civil_from_days, days_from_civil};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Parses an HTTP-date strictly (RFC 9110 §5.6.7): IMF-fixdate (`Sun, 06 Nov 1994 08:49:37
/// GMT`), the obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`) or asctime (`Sun Nov
/// 6 08:49:37 1994`, the day padded with a space). Names are case-sensitive and every
/// separator is exactly one space, so `Thu, 18  Aug  2050 ...`, `THU`, `UTC`, a one-digit
/// hour or a two-digit IMF year are invalid. `None` for anything else, or a date before 1970.
pub fn parse(s: &str) -> Option<SystemTime> {
    let t: Vec<&str> = s.split(' ').collect();
    let (day, month, year, time) = match t.as_slice() {
        [d, dd, m, y, time, "GMT"] if DAYS.iter().any(|n| d.strip_suffix(',') == Some(n)) => {
            (digits(dd, 2, 2)?, *m, year4(y)?, *time)
        }
        [d, dmy, time, "GMT"] if LONG_DAYS.iter().any(|n| d.strip_suffix(',') == Some(n)) => {
            let mut it = dmy.split('-');
            let (d, m, y) = (it.next()?, it.next()?, it.next()?);
            if it.next().is_some() {
                return None;
            }
            // Two-digit years: 70..99 are 19xx, 00..69 are 20xx.
            let yy: i64 = digits(y, 2, 2)?;
            (
                digits(d, 2, 2)?,
                m,
                if yy >= 70 { 1900 + yy } else { 2000 + yy },
                *time,
            )
        }
        [d, m, "", dd, time, y] if DAYS.contains(d) => (digits(dd, 1, 1)?, *m, year4(y)?, *time),
        [d, m, dd, time, y] if DAYS.contains(d) => (digits(dd, 2, 2)?, *m, year4(y)?, *time),
        _ => return None,
    };
    let day: u32 = day;
    let month = MONTHS.iter().position(|&n| n == month)? as u32 + 1;
    let mut hms = time.split(':');
    let h: u64 = digits(hms.next()?, 2, 2)?;
    let m: u64 = digits(hms.next()?, 2, 2)?;
    let sec: u64 = digits(hms.next()?, 2, 2)?;
    if hms.next().is_some() || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    let secs = days * 86_400 + h * 3600 + m * 60 + sec;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Formats `t` as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT` (times before 1970
/// render as the epoch).
pub fn format(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days + 4).rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn year4(s: &str) -> Option<i64> {
    digits(s, 4, 4)
}

fn digits<T: std::str::FromStr>(s: &str, min: usize, max: usize) -> Option<T> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn parses_the_three_formats() {
        let want = Some(at(784_111_777));
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT"), want);
        assert_eq!(parse("Sunday, 06-Nov-94 08:49:37 GMT"), want);
        assert_eq!(parse("Sun Nov  6 08:49:37 1994"), want);
    }

    #[test]
    fn refuses_malformed_dates() {
        for bad in [
            "",
            "0",
            "yesterday",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            // Extra spaces, wrong case, other zones and separators (cache-tests' list).
            "Thu, 18  Aug  2050 02:01:18 GMT",
            "Thu,  18 Aug 2050 02:01:18 GMT",
            "Thu, 18 Aug 2050 02:01:18  GMT",
            "THU, 18 Aug 2050 02:01:18 GMT",
            "Thu, 18 AUG 2050 02:01:18 GMT",
            "Thu, 18 Aug 2050 02:01:18 gMT",
            "Thu, 18 Aug 2050 02:01:18 UTC",
            "Thu 18 Aug 2050 02:01:18 GMT",
            "Thu, 18-Aug-2050 02:01:18 GMT",
            "Thu, 18 Aug 2050 02.01.18 GMT",
            "Thu, 18 Aug 2050 2:01:18 GMT",
            "Thu, 8 Aug 2050 02:01:18 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov   6 08:49:37 1994",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sunday, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn format_round_trips() {
        assert_eq!(format(at(784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(format(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        // Leap day and a year boundary.
        for secs in [951_782_400, 1_700_000_000, 1_704_067_199, 4_102_444_800] {
            assert_eq!(parse(&format(at(secs))), Some(at(secs)), "{secs}");
        }
        assert_eq!(format(at(951_782_400)), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
