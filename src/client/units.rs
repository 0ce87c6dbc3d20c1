//! Sizes, durations and rates as a person reads them, and the one-line result
//! of a transfer.

use std::time::Duration;

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
}
