//! Bandwidth limits. A copy under limits (a session's, the whole server's,
//! the client's) moves a fiftieth of a second's worth of the strictest at a
//! time, and after each piece waits until every limit has room for it again,
//! so a rate holds within 2% over any second. A copy under no limit runs as before,
//! zero-copy and in whole chunks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cancel::Cancel;

/// One limit, in bytes per second, shared by every copy it covers.
#[derive(Debug)]
pub struct Limit {
    rate: u64,
    /// When what was booked so far has had its time.
    due: Mutex<Instant>,
}

impl Limit {
    pub fn new(rate: u64) -> Arc<Limit> {
        Arc::new(Limit {
            rate: rate.max(1),
            due: Mutex::new(Instant::now()),
        })
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Books `n` bytes just moved: when they will have had their share of
    /// the rate. They took their own time to move, up to their share, which
    /// counts (a copy slower than the limit never waits); time nobody used
    /// before that is not saved up for a burst.
    fn book(&self, n: u64) -> Instant {
        let share = Duration::from_secs_f64(n as f64 / self.rate as f64);
        let mut due = self.due.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let start = (*due).max(now.checked_sub(share).unwrap_or(now));
        *due = start + share;
        *due
    }
}

/// The limits one copy is under; none by default.
#[derive(Debug, Clone, Default)]
pub struct Pace(Vec<Arc<Limit>>);

impl Pace {
    pub fn new(limits: impl IntoIterator<Item = Arc<Limit>>) -> Pace {
        Pace(limits.into_iter().collect())
    }

    /// How much to move at once: a fiftieth of a second's worth at the
    /// strictest limit (at least 4 KiB), and never more than `most`.
    pub fn chunk(&self, most: usize) -> usize {
        match self.0.iter().map(|l| l.rate).min() {
            None => most,
            Some(rate) => usize::try_from(rate / 50)
                .unwrap_or(most)
                .clamp(4096, most.max(4096)),
        }
    }

    /// After `n` more bytes moved: waits until every limit has had their
    /// time, or `cancel` stops.
    pub fn after(&self, n: u64, cancel: &Cancel) {
        let Some(due) = self.0.iter().map(|l| l.book(n)).max() else {
            return;
        };
        cancel.sleep(due.saturating_duration_since(Instant::now()));
    }
}

/// A rate as people write it: `500` bytes, `100K`, `1.5M`, `2G` per second
/// (K = 1024, as curl and lftp read them).
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let bad = || format!("not a rate: {text} (bytes per second, or with K, M or G)");
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    let scale: f64 = match unit {
        'B' => 1.0,
        'K' => 1024.0,
        'M' => 1024.0 * 1024.0,
        'G' => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let n: f64 = number.parse().map_err(|_| bad())?;
    let rate = n * scale;
    if !rate.is_finite() || rate < 1.0 || rate > u64::MAX as f64 / 2.0 {
        return Err(bad());
    }
    Ok(rate as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_as_curl_writes_them() {
        assert_eq!(parse_rate("500"), Ok(500));
        assert_eq!(parse_rate("100K"), Ok(102_400));
        assert_eq!(parse_rate("1.5m"), Ok(1_572_864));
        assert_eq!(parse_rate("2G"), Ok(2 << 30));
        for bad in ["", "K", "0", "-5", "1X", "fast", "nan", "inf"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_strictest_limit_sets_the_pace_and_time_unused_is_not_saved() {
        let (slow, fast) = (Limit::new(1_000_000), Limit::new(4_000_000));
        let pace = Pace::new([Arc::clone(&fast), Arc::clone(&slow)]);
        assert_eq!(pace.chunk(1 << 20), 20_000);
        assert_eq!(Pace::default().chunk(1 << 20), 1 << 20);
        assert_eq!(Pace::new([Limit::new(10)]).chunk(1 << 20), 4096);
        // Three pieces of 100 kB at 1 MB/s, the first of which moved in the
        // moment before: 0.2 s of waiting, however long ago the limit was
        // last used.
        std::thread::sleep(Duration::from_millis(500));
        let start = Instant::now();
        for _ in 0..3 {
            pace.after(100_000, &Cancel::new());
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(190), "{took:?}");
        assert!(took < Duration::from_millis(500), "{took:?}");
        // A copy slower than the limit never waits.
        let slow_copy = Pace::new([Limit::new(1_000_000)]);
        let start = Instant::now();
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(120));
            slow_copy.after(100_000, &Cancel::new());
        }
        let waited = start.elapsed() - Duration::from_millis(360);
        assert!(waited < Duration::from_millis(60), "{waited:?}");
        // Two copies under one limit share it.
        let shared = Limit::new(1_000_000);
        let start = Instant::now();
        let copies: Vec<_> = (0..2)
            .map(|_| {
                let pace = Pace::new([Arc::clone(&shared)]);
                std::thread::spawn(move || {
                    for _ in 0..2 {
                        pace.after(100_000, &Cancel::new());
                    }
                })
            })
            .collect();
        copies.into_iter().for_each(|c| c.join().unwrap());
        assert!(
            start.elapsed() >= Duration::from_millis(390),
            "{:?}",
            start.elapsed()
        );
    }
}
