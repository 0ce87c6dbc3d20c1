//! What the two binaries share around their arguments: options and their
//! values, seconds and port numbers, and the one place where parsing ends in
//! usage, the version, or a usage error (exit status 2).

use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

/// What parsing the arguments asks for.
pub enum Start<T> {
    Run(T),
    Usage,
    Version,
}

/// The arguments after the program's name, taken one at a time.
pub struct Flags(std::vec::IntoIter<String>);

impl Flags {
    pub fn new(args: Vec<String>) -> Flags {
        Flags(args.into_iter())
    }

    /// The value that must follow option `name`.
    pub fn value(&mut self, name: &str) -> Result<String, String> {
        self.0.next().ok_or(format!("{name} needs a value"))
    }

    /// The value of `name`, parsed; `what` says what it should be.
    pub fn parsed<T: FromStr>(&mut self, name: &str, what: &str) -> Result<T, String> {
        self.value(name)?
            .parse()
            .map_err(|_| format!("{name} needs {what}"))
    }

    /// A positive number of seconds, fractions allowed (tests use 0.2).
    pub fn seconds(&mut self, name: &str) -> Result<Duration, String> {
        match self.value(name)?.parse::<f64>() {
            Ok(s) if s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
            _ => Err(format!("{name} needs a positive number of seconds")),
        }
    }
}

impl Iterator for Flags {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.0.next()
    }
}

/// A port number, 0 to 65535.
pub fn port(text: &str) -> Result<u16, String> {
    text.parse()
        .map_err(|_| format!("not a port number: {text}"))
}

/// Parses the process's arguments with `parse`; prints the usage or the
/// version, or the error in one line, and gives the exit status when there
/// is nothing to run.
pub fn start<T>(
    program: &str,
    usage: &str,
    parse: impl FnOnce(&mut Flags) -> Result<Start<T>, String>,
) -> Result<T, ExitCode> {
    match parse(&mut Flags::new(std::env::args().skip(1).collect())) {
        Ok(Start::Run(t)) => Ok(t),
        Ok(Start::Usage) => {
            println!("{usage}");
            Err(ExitCode::SUCCESS)
        }
        Ok(Start::Version) => {
            println!("{program} (dialback) {}", env!("CARGO_PKG_VERSION"));
            Err(ExitCode::SUCCESS)
        }
        // One line with the cause: the usage is a `--help` away.
        Err(msg) => {
            eprintln!("{program}: {msg}; try '{program} --help'");
            Err(ExitCode::from(2))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_seconds_and_ports_are_checked() {
        let mut f = Flags::new(["0.2", "-1", "x", "12"].map(String::from).to_vec());
        assert_eq!(f.seconds("--t"), Ok(Duration::from_millis(200)));
        assert_eq!(
            f.seconds("--t"),
            Err("--t needs a positive number of seconds".into())
        );
        assert_eq!(
            f.parsed::<usize>("--n", "a whole number"),
            Err("--n needs a whole number".into())
        );
        assert_eq!(f.parsed::<usize>("--n", "a whole number"), Ok(12));
        assert_eq!(f.value("--dir"), Err("--dir needs a value".into()));
        assert_eq!(port("65535"), Ok(65535));
        assert_eq!(port("65536"), Err("not a port number: 65536".into()));
    }
}
