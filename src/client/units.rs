//! Sizes, durations and rates as a person reads them, and the one-line result
//! of a transfer.

use std::time::{Duration, Instant};

use super::Transfer;

/// `0 B`, `512 B`, `4.2 KiB`, `18.0 MiB`: binary units, one decimal.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `3 ms` below a tenth of a second, `0.21 s` below a minute, `2 min 5 s` above.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 100 {
        format!("{ms} ms")
    } else if d.as_secs() < 60 {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// Bytes per second in human units, `1.3 MiB/s`.
pub fn human_rate(bytes: u64, d: Duration) -> String {
    let secs = d.as_secs_f64().max(1e-6);
    format!("{}/s", human_bytes((bytes as f64 / secs) as u64))
}

/// A transfer's result line: `received notes.txt: 4.2 KiB in 3 ms (1.3 MiB/s)`.
pub fn result_line(verb: &str, name: &str, t: Transfer) -> String {
    format!(
        "{verb} {name}: {} in {} ({})",
        human_bytes(t.bytes),
        human_duration(t.elapsed),
        human_rate(t.bytes, t.elapsed)
    )
}

/// The live progress line: `big.iso 1.2 GiB of 4.0 GiB  30% 85.7 MiB/s 0:33 left`,
/// or without a total `big.iso 1.2 GiB 85.7 MiB/s`.
pub fn progress_line(name: &str, done: u64, total: Option<u64>, elapsed: Duration) -> String {
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-6);
    match total.filter(|&t| t > 0) {
        Some(total) => {
            let left = (total.saturating_sub(done) as f64 / rate.max(1.0)) as u64;
            format!(
                "{name} {} of {} {:>3}% {}/s {}:{:02} left",
                human_bytes(done),
                human_bytes(total),
                done * 100 / total,
                human_bytes(rate as u64),
                left / 60,
                left % 60
            )
        }
        None => format!(
            "{name} {} {}/s",
            human_bytes(done),
            human_bytes(rate as u64)
        ),
    }
}

/// When to draw a transfer's progress line: only for transfers that last over
/// half a second, and at most ten times a second.
#[derive(Debug)]
pub struct Meter {
    name: String,
    started: Instant,
    drawn: Option<Instant>,
    /// The last line drawn is still on the screen.
    on_screen: bool,
}

impl Meter {
    pub fn new(name: &str) -> Meter {
        Meter {
            name: name.to_string(),
            started: Instant::now(),
            drawn: None,
            on_screen: false,
        }
    }

    /// The line to draw now, if it is time to draw one.
    pub fn update(&mut self, done: u64, total: Option<u64>, now: Instant) -> Option<String> {
        let elapsed = now.saturating_duration_since(self.started);
        let recently = self
            .drawn
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_millis(100));
        if elapsed < Duration::from_millis(500) || recently {
            return None;
        }
        self.drawn = Some(now);
        self.on_screen = true;
        Some(progress_line(&self.name, done, total, elapsed))
    }

    /// Names what moves now (a recursive transfer moves from file to file).
    pub fn rename(&mut self, name: &str) {
        if self.name != name {
            self.name = name.to_string();
        }
    }

    /// Whether a line is on the screen; it is not, once asked (the caller
    /// clears it). The next update may draw at once.
    pub fn take_drawn(&mut self) -> bool {
        let on_screen = self.on_screen;
        self.on_screen = false;
        on_screen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_durations_and_rates_read_at_a_glance() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(4300), "4.2 KiB");
        assert_eq!(human_bytes(18 << 20), "18.0 MiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
        assert_eq!(human_duration(Duration::from_millis(3)), "3 ms");
        assert_eq!(human_duration(Duration::from_millis(210)), "0.21 s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2 min 5 s");
        assert_eq!(human_rate(1 << 20, Duration::from_millis(500)), "2.0 MiB/s");
    }

    #[test]
    fn progress_shows_share_rate_and_time_left() {
        let two = Duration::from_secs(2);
        assert_eq!(
            progress_line("big.iso", 1 << 30, Some(4 << 30), two),
            "big.iso 1.0 GiB of 4.0 GiB  25% 512.0 MiB/s 0:06 left"
        );
        assert_eq!(progress_line("x", 2048, None, two), "x 2.0 KiB 1.0 KiB/s");
    }

    #[test]
    fn the_meter_waits_half_a_second_then_draws_ten_times_a_second_at_most() {
        let mut m = Meter::new("f");
        let t0 = m.started;
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(m.update(1, None, at(400)), None);
        assert!(!m.take_drawn());
        assert!(m.update(1, None, at(500)).is_some());
        assert_eq!(m.update(2, None, at(550)), None);
        assert!(m.update(3, None, at(600)).is_some());
        m.rename("g");
        assert!(m.update(4, None, at(700)).unwrap().starts_with("g 4 B"));
        assert!(m.take_drawn());
        assert!(!m.take_drawn(), "cleared once");
    }
}
