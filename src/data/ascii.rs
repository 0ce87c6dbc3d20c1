//! TYPE A, RFC 959's ASCII type: text crosses the wire with CRLF line ends
//! (§3.1.1.1), and each side stores it with its own (LF here). Two adapters
//! do the converting as bytes stream through, in constant memory: a reader
//! that puts a CR before every LF not already after one, for sending, and a
//! writer that drops the CR of every CRLF, for receiving. A CR alone, or any
//! other byte, passes unchanged.

use std::io::{self, Read, Write};

/// Reads `inner` with every lone LF made CRLF.
pub struct ToNetwork<R> {
    inner: R,
    /// Whether the last byte given out was a CR.
    after_cr: bool,
    /// Read from `inner` and not given out yet, with the next one to give.
    held: Vec<u8>,
    at: usize,
}

impl<R: Read> ToNetwork<R> {
    pub fn new(inner: R) -> ToNetwork<R> {
        ToNetwork {
            inner,
            after_cr: false,
            held: Vec::new(),
            at: 0,
        }
    }
}

impl<R: Read> Read for ToNetwork<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.at == self.held.len() {
            // Half the room: every byte read may become two.
            self.held.resize(buf.len().div_ceil(2).max(1), 0);
            let n = self.inner.read(&mut self.held)?;
            self.held.truncate(n);
            self.at = 0;
            if n == 0 {
                return Ok(0);
            }
        }
        let mut out = 0;
        while self.at < self.held.len() && out + 2 <= buf.len() {
            let b = self.held[self.at];
            if b == b'\n' && !self.after_cr {
                buf[out] = b'\r';
                out += 1;
            }
            buf[out] = b;
            out += 1;
            self.after_cr = b == b'\r';
            self.at += 1;
        }
        if out == 0 {
            // A one-byte buffer: give the next byte (or the CR before it) alone.
            let b = self.held[self.at];
            if b == b'\n' && !self.after_cr {
                buf[0] = b'\r';
                self.after_cr = true;
            } else {
                buf[0] = b;
                self.after_cr = b == b'\r';
                self.at += 1;
            }
            out = 1;
        }
        Ok(out)
    }
}

/// Writes to `inner` with the CR of every CRLF dropped. A CR at the end of
/// one write waits for the next byte; [`ToLocal::finish`] writes it out if
/// nothing came after it.
pub struct ToLocal<W: Write> {
    inner: W,
    cr_held: bool,
    out: Vec<u8>,
}

impl<W: Write> ToLocal<W> {
    pub fn new(inner: W) -> ToLocal<W> {
        ToLocal {
            inner,
            cr_held: false,
            out: Vec::new(),
        }
    }

    /// Writes a CR still held back (the text ended with it) and flushes.
    pub fn finish(mut self) -> io::Result<W> {
        if self.cr_held {
            self.inner.write_all(b"\r")?;
        }
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ToLocal<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.clear();
        for &b in buf {
            if std::mem::take(&mut self.cr_held) && b != b'\n' {
                self.out.push(b'\r');
            }
            match b {
                b'\r' => self.cr_held = true,
                _ => self.out.push(b),
            }
        }
        self.inner.write_all(&self.out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_network(text: &[u8], chunk: usize) -> Vec<u8> {
        let mut reader = ToNetwork::new(text);
        let (mut out, mut buf) = (Vec::new(), vec![0u8; chunk]);
        loop {
            match reader.read(&mut buf).unwrap() {
                0 => return out,
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    fn to_local(wire: &[u8], chunk: usize) -> Vec<u8> {
        let mut writer = ToLocal::new(Vec::new());
        for piece in wire.chunks(chunk) {
            writer.write_all(piece).unwrap();
        }
        writer.finish().unwrap()
    }

    #[test]
    fn line_ends_become_crlf_on_the_wire_and_lf_again_whatever_the_chunks() {
        let cases: [(&[u8], &[u8]); 6] = [
            (b"a\nb\n", b"a\r\nb\r\n"),
            (b"already\r\nthere\r\n", b"already\r\nthere\r\n"),
            (b"\n\n", b"\r\n\r\n"),
            (b"lone\rcr", b"lone\rcr"),
            (b"ends in cr\r", b"ends in cr\r"),
            (b"", b""),
        ];
        for (local, wire) in cases {
            for chunk in [1, 2, 3, 7, 4096] {
                assert_eq!(to_network(local, chunk), wire, "{local:?} by {chunk}");
            }
        }
        // Back: CRLF becomes LF, a lone CR stays, split anywhere.
        let wire = b"a\r\nb\rc\r\n\r\nend\r";
        for chunk in [1, 2, 3, 5, 4096] {
            assert_eq!(to_local(wire, chunk), b"a\nb\rc\n\nend\r", "by {chunk}");
        }
        // A round trip of Unix text gives it back.
        let text = b"one\ntwo\n\nthree";
        assert_eq!(to_local(&to_network(text, 3), 2), text);
    }
}
