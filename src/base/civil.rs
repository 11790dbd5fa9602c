//! Proleptic Gregorian calendar arithmetic (H. Hinnant's algorithms) and a UTC breakdown of a
//! `SystemTime`: for HTTP-dates (`cache::httpdate`) and the access log's timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch of a date and the seconds since its midnight (a certificate's
/// validity end, for ACME's schedule and the TLS expiry metrics).
pub fn unix_seconds(y: i64, m: u32, d: u32, seconds: u32) -> i64 {
    days_from_civil(y, m, d) * 86_400 + i64::from(seconds)
}

/// The inverse of `days_from_civil`: (year, month 1-12, day 1-31).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A moment in UTC, broken down (times before 1970 read as the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micros: u32,
    /// 0 = Sunday.
    pub weekday: u32,
}

impl Utc {
    pub fn of(t: SystemTime) -> Utc {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = d.as_secs();
        let days = (secs / 86_400) as i64;
        let rem = (secs % 86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Utc {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
            micros: d.subsec_micros(),
            weekday: (days + 4).rem_euclid(7) as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn breaks_down_a_known_moment() {
        // 2000-10-10T13:55:36.5Z, a Tuesday.
        let t = UNIX_EPOCH + Duration::from_millis(971_186_136_500);
        let u = Utc::of(t);
        assert_eq!(
            (u.year, u.month, u.day, u.hour, u.minute, u.second),
            (2000, 10, 10, 13, 55, 36)
        );
        assert_eq!((u.micros, u.weekday), (500_000, 2));
        assert_eq!(days_from_civil(2000, 10, 10), 971_186_136 / 86_400);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }
}
