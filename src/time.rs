//! Calendar dates from `SystemTime`, in UTC, for log lines, MDTM/MLSD
//! (RFC 3659 `YYYYMMDDHHMMSS`) and `ls -l` listings. The standard library has
//! no calendar, so this converts days since the epoch to a civil date itself.

use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A moment in UTC, broken into its calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Whole seconds since the Unix epoch, negative before it (rounded down, so
/// half a second before the epoch is in 1969).
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => {
            let before = e.duration();
            -(before.as_secs() as i64) - i64::from(before.subsec_nanos() > 0)
        }
    }
}

/// The moment `secs` seconds after the epoch (before it when negative), as a
/// file time; one past what `SystemTime` holds is taken as the epoch.
pub fn system_time(secs: i64) -> SystemTime {
    let span = std::time::Duration::from_secs(secs.unsigned_abs());
    match secs {
        0.. => UNIX_EPOCH.checked_add(span),
        _ => UNIX_EPOCH.checked_sub(span),
    }
    .unwrap_or(UNIX_EPOCH)
}

impl Civil {
    /// The calendar date of `secs` seconds after the epoch (proleptic Gregorian).
    pub fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        // Shift the epoch to 0000-03-01 so leap days fall at the end of a year;
        // an era is the 400-year Gregorian cycle of 146097 days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
        }
    }

    /// Seconds since the epoch of this moment (the inverse of `from_unix`).
    pub fn to_unix(&self) -> i64 {
        // Days from 0000-03-01, as in `from_unix`, then shifted to the epoch.
        let (y, m) = if self.month <= 2 {
            (self.year - 1, self.month + 9)
        } else {
            (self.year, self.month - 3)
        };
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let doy = (153 * i64::from(m) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400 + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
    }

    /// Parses `YYYYMMDDHHMMSS` (RFC 3659 §2.3, fractions of a second ignored);
    /// `None` for anything else, or a date that does not exist.
    pub fn parse_compact(text: &str) -> Option<Civil> {
        let digits = text.split('.').next()?;
        if digits.len() != 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n = |a: usize, b: usize| digits[a..b].parse::<u32>().ok();
        let c = Civil {
            year: i64::from(n(0, 4)?),
            month: n(4, 6)?,
            day: n(6, 8)?,
            hour: n(8, 10)?,
            minute: n(10, 12)?,
            second: n(12, 14)?,
        };
        // A date that does not exist comes back different from the calendar.
        (Civil::from_unix(c.to_unix()) == c).then_some(c)
    }

    pub fn of(t: SystemTime) -> Civil {
        Civil::from_unix(unix_seconds(t))
    }

    /// `2026-11-21T07:05:11Z`
    pub fn iso(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `20261121070511`, as MDTM and MLSD's `modify` fact want it (RFC 3659 §2.3).
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// The date column of `ls -l`: `Nov 21 07:05` for the last six months, `Nov 21  2025` otherwise.
pub fn ls_date(t: SystemTime, now: SystemTime) -> String {
    let secs = unix_seconds(t);
    let c = Civil::from_unix(secs);
    let month = MONTHS[(c.month - 1) as usize];
    let age = unix_seconds(now) - secs;
    if (0..183 * 86_400).contains(&age) {
        format!("{month} {:>2} {:02}:{:02}", c.day, c.hour, c.minute)
    } else {
        format!("{month} {:>2}  {}", c.day, c.year)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_dates() {
        assert_eq!(Civil::from_unix(0).iso(), "1970-01-01T00:00:00Z");
        assert_eq!(Civil::from_unix(951_782_400).iso(), "2000-02-29T00:00:00Z");
        assert_eq!(Civil::from_unix(1_795_244_711).compact(), "20261121070511");
        assert_eq!(Civil::from_unix(-1).iso(), "1969-12-31T23:59:59Z");
        assert_eq!(
            Civil::from_unix(4_107_542_400).iso(),
            "2100-03-01T00:00:00Z"
        );
    }

    #[test]
    fn compact_dates_parse_back_to_the_same_moment() {
        for secs in [
            0,
            951_782_400,
            1_795_244_711,
            -1,
            -2_208_988_800,
            4_107_542_400,
        ] {
            let c = Civil::from_unix(secs);
            assert_eq!(c.to_unix(), secs);
            assert_eq!(Civil::parse_compact(&c.compact()), Some(c));
            assert_eq!(unix_seconds(system_time(secs)), secs);
        }
        let half = Duration::from_millis(500);
        assert_eq!(unix_seconds(UNIX_EPOCH - half), -1);
        assert_eq!(unix_seconds(UNIX_EPOCH + half), 0);
        assert!(Civil::parse_compact("20261121070511.123").is_some());
        for bad in [
            "20260230120000",
            "2026112107051",
            "2026-11-21 07:05",
            "20261321000000",
        ] {
            assert_eq!(Civil::parse_compact(bad), None, "{bad}");
        }
    }

    #[test]
    fn ls_dates_show_the_year_only_for_old_files() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_244_711);
        assert_eq!(ls_date(t, t + Duration::from_secs(60)), "Nov 21 07:05");
        assert_eq!(
            ls_date(t, t + Duration::from_secs(200 * 86_400)),
            "Nov 21  2026"
        );
    }
}
