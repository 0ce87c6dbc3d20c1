//! Data connections, shared by server and client: accepting one with a timeout
//! from one expected address only, and moving a file's bytes in constant memory:
//! zero-copy (`zerocopy`) where the kernel can, else through one large buffer.
//! (`io::copy` would use an 8 KiB buffer here, since std uses `sendfile(2)` only
//! towards pipes: measured on loopback, 8 KiB took 1.7 times as long for a GiB
//! as a 1 MiB buffer, which is as fast as `sendfile` for sending.) A checksum
//! can be computed beside a transfer (`follow`), from the bytes a receiver
//! writes or the file a sender reads.

use std::fs::File;
use std::io::{self, PipeWriter, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::cancel::Cancel;

pub mod ascii;
pub mod block;
mod follow;
mod pace;
mod sockopt;
mod zerocopy;

pub use follow::Follower;
pub use pace::{parse_rate, Limit, Pace};
pub use sockopt::{close_received, end_sending, receive_low_water, urgent_inline};

use zerocopy::Outcome;

/// The copy buffer: large enough that a fast peer fills or drains it in few calls.
pub const BUFFER: usize = 1 << 20;

/// An IP address with IPv4-mapped IPv6 (`::ffff:a.b.c.d`, what a dual-stack
/// socket reports for IPv4 peers) turned back into plain IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// Waits up to `timeout` for a connection from `expected` on `listener`. Connections
/// from any other address are closed at once and passed to `stranger` (for the
/// log); they do not end the wait, but `cancel` does.
pub fn accept_from(
    listener: &TcpListener,
    expected: IpAddr,
    timeout: Duration,
    cancel: &Cancel,
    stranger: impl FnMut(SocketAddr),
) -> io::Result<TcpStream> {
    accept_whose(
        listener,
        expected,
        timeout,
        cancel,
        |_, from| Some(from),
        stranger,
    )
}

/// `accept_from`, where `whose` says whose a connection is: its peer's
/// address, or another (a load balancer names the client it passes on), or
/// `None` to close it unnamed.
pub fn accept_whose(
    listener: &TcpListener,
    expected: IpAddr,
    timeout: Duration,
    cancel: &Cancel,
    mut whose: impl FnMut(&TcpStream, SocketAddr) -> Option<SocketAddr>,
    mut stranger: impl FnMut(SocketAddr),
) -> io::Result<TcpStream> {
    // std has no accept with a timeout: poll a non-blocking listener, starting with
    // short naps since the peer has usually connected already.
    listener.set_nonblocking(true)?;
    let start = Instant::now();
    let mut nap = Duration::from_micros(50);
    loop {
        match listener.accept() {
            Ok((stream, from)) => {
                stream.set_nonblocking(false)?;
                match whose(&stream, from) {
                    Some(client) if canonical(client.ip()) == canonical(expected) => {
                        return Ok(stream)
                    }
                    Some(client) => stranger(client),
                    None => {}
                }
            }
            Err(_) if cancel.is_stopped() => return Err(io::ErrorKind::Interrupted.into()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = timeout.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no data connection arrived in time",
                    ));
                }
                thread::sleep(nap.min(left));
                nap = (nap * 2).min(Duration::from_millis(20));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Which side of a copy failed. A copy stopped by its [`Cancel`] fails on its
/// read side with `Interrupted`.
#[derive(Debug)]
pub enum CopyError {
    /// Reading the source failed: for a socket, the peer went away or stalled.
    Read(io::Error),
    /// Writing the destination failed: the disk is full, or the peer went away.
    Write(io::Error),
}

// How files are sent: sendfile, to every peer, by both sides, chosen by what
// the sending process itself spends (its own CPU from /proc/PID/stat, 1 GiB
// from tmpfs over loopback, Dec 2026, 2 cores, medians of 5 interleaved runs).
// Our server to a Python ftplib reader: sendfile 0.23 s of CPU per GiB
// (0.15-0.24), 64 KiB read-and-send chunks 0.54 s (0.49-0.56); wall 0.25 s
// against 0.55 s. Our client to pyftpdlib: sendfile 0.08 s (0.07-0.15) against
// 0.75-0.80 s in 4 KiB chunks, 262,144 system calls per GiB. Our client to
// vsftpd, 256 MiB, 7 interleaved runs: 0.03-0.04 s of CPU against 0.15-0.21 s,
// and the same wall time (median 0.21 s, 0.18-0.24 against 0.17-0.23). The chunks chosen
// before by wall time into tmpfs (where a receiver that copies cache-hot bytes
// makes a small-chunk sender look fast) cost every peer but our own 2-10x the
// CPU, which on a real network is what a busy server runs out of.

/// Sends `file` from its current position to its end with `sendfile(2)`,
/// through the buffer where the kernel cannot.
pub fn send_file(
    file: &mut File,
    out: &mut TcpStream,
    pace: &Pace,
    cancel: &Cancel,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, CopyError> {
    let chunk = pace.chunk(zerocopy::CHUNK);
    let outcome = zerocopy::send_file(file, out, chunk, cancel, &mut paced(pace, cancel, progress));
    match outcome {
        Outcome::Done(result) => result,
        Outcome::Unsupported { moved } => {
            copy(file, out, pace, cancel, &mut |n| progress(moved + n)).map(|n| moved + n)
        }
    }
}

/// `progress`, after waiting as `pace` says for the bytes moved since the
/// last call.
fn paced<'a>(
    pace: &'a Pace,
    cancel: &'a Cancel,
    progress: &'a mut dyn FnMut(u64),
) -> impl FnMut(u64) + 'a {
    let mut before = 0;
    move |total| {
        pace.after(total - before, cancel);
        before = total;
        progress(total)
    }
}

/// Receives `input` into `file` at its position, to its end or to `limit`
/// bytes, whichever comes first (a receiver that knows the size asks for one
/// byte more, to see a sender that lies without taking in what it sends):
/// zero-copy where the kernel can, through the buffer otherwise. Every byte
/// goes into `tap` too, if there is one (a [`Follower`]'s).
pub fn receive_file(
    input: &mut TcpStream,
    file: &mut File,
    limit: u64,
    tap: Option<&PipeWriter>,
    pace: &Pace,
    cancel: &Cancel,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, CopyError> {
    let chunk = pace.chunk(zerocopy::CHUNK);
    let mut paced = paced(pace, cancel, progress);
    let outcome = zerocopy::receive_file(input, file, limit, chunk, tap, cancel, &mut paced);
    drop(paced);
    match outcome {
        Outcome::Done(result) => result,
        Outcome::Unsupported { moved } => {
            let mut rest = input.take(limit - moved);
            let mut out = Tapped { file, tap };
            copy(&mut rest, &mut out, pace, cancel, &mut |n| {
                progress(moved + n)
            })
            .map(|n| moved + n)
        }
    }
}

/// A file whose every byte written goes into a tap too.
struct Tapped<'a> {
    file: &'a mut File,
    tap: Option<&'a PipeWriter>,
}

impl Write for Tapped<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if let Some(mut tap) = self.tap {
            tap.write_all(&buf[..n])?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The buffer of a copy in block mode: one block (most files sent that way
/// are small).
const BLOCK_CHUNK: usize = 64 << 10;

/// Sends `input` to its end as one file's blocks on `out` (block mode),
/// the last with the end-of-file flag.
pub fn send_blocks(
    input: &mut impl Read,
    out: &TcpStream,
    pace: &Pace,
    cancel: &Cancel,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, CopyError> {
    let mut blocks = block::BlockWriter::new(out);
    let n = copy_in(input, &mut blocks, BLOCK_CHUNK, pace, cancel, progress)?;
    blocks.finish().map_err(CopyError::Write)?;
    Ok(n)
}

/// Receives one file's blocks from `input` into `out`, to its end-of-file
/// block or to `limit` bytes, whichever comes first (as `receive_file`);
/// the next file's blocks stay where they are.
pub fn receive_blocks(
    input: &TcpStream,
    out: &mut (impl Write + ?Sized),
    limit: u64,
    pace: &Pace,
    cancel: &Cancel,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, CopyError> {
    let mut blocks = block::BlockReader::new(input).take(limit);
    copy_in(&mut blocks, out, BLOCK_CHUNK, pace, cancel, progress)
}

/// Copies `input` to its end into `out` through one large buffer; `progress`
/// gets the running total after each chunk. A stalled peer fails the read or
/// write after the socket's timeout.
pub fn copy(
    input: &mut impl Read,
    out: &mut (impl Write + ?Sized),
    pace: &Pace,
    cancel: &Cancel,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, CopyError> {
    copy_in(input, out, pace.chunk(BUFFER), pace, cancel, progress)
}

/// The chunk for listings, which are mostly a few KiB: zeroing and faulting in
/// [`BUFFER`] for each of them took longer than reading them (a `GET -r` of 51
/// unchanged folders spent about a tenth of the client's time in that memset).
pub const LISTING_CHUNK: usize = 16 << 10;

/// [`copy`] in chunks of `size` bytes, reporting progress at most once a
/// [`BUFFER`]'s worth and at the end.
pub fn copy_in(
    input: &mut impl Read,
    out: &mut (impl Write + ?Sized),
    size: usize,
    pace: &Pace,
    cancel: &Cancel,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; size];
    let (mut total, mut reported) = (0, 0);
    loop {
        cancel.check().map_err(CopyError::Read)?;
        let n = match input.read(&mut buf) {
            Ok(0) => {
                if total != reported {
                    progress(total);
                }
                return Ok(total);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
        pace.after(n as u64, cancel);
        total += n as u64;
        if total - reported >= BUFFER as u64 {
            progress(total);
            reported = total;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_takes_only_the_expected_peer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _stranger = TcpStream::connect(addr).unwrap();
        let mut refused = Vec::new();
        let expected: IpAddr = "127.0.0.2".parse().unwrap();
        let err = accept_from(
            &listener,
            expected,
            Duration::from_millis(100),
            &Cancel::new(),
            |a| refused.push(a),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(refused.len(), 1);

        let _friend = TcpStream::connect(addr).unwrap();
        let ok = accept_from(
            &listener,
            addr.ip(),
            Duration::from_secs(5),
            &Cancel::new(),
            |_| {},
        )
        .unwrap();
        assert_eq!(ok.peer_addr().unwrap().ip(), addr.ip());
    }

    /// A file opened to append takes no splice (EINVAL), so the bytes go
    /// the ordinary way: the file and the tap must still get every one.
    #[test]
    fn a_file_that_takes_no_splice_gets_every_byte_and_so_does_the_tap() {
        let bytes: Vec<u8> = (0..3 * BUFFER + 5).map(|i| (i * 13 % 253) as u8).collect();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut tx = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let mut rx = listener.accept().unwrap().0;
        let sent = bytes.clone();
        let sender = thread::spawn(move || tx.write_all(&sent).unwrap());
        let path = std::env::temp_dir().join(format!("dialback-append-{}", std::process::id()));
        let mut file = File::options()
            .append(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        let (mut tapped, tap) = io::pipe().unwrap();
        let reader = thread::spawn(move || {
            let mut all = Vec::new();
            tapped.read_to_end(&mut all).unwrap();
            all
        });
        let (free, none) = (Pace::default(), Cancel::new());
        let n = receive_file(
            &mut rx,
            &mut file,
            u64::MAX,
            Some(&tap),
            &free,
            &none,
            &mut |_| {},
        );
        drop(tap);
        sender.join().unwrap();
        assert_eq!(n.unwrap(), bytes.len() as u64);
        assert!(
            std::fs::read(&path).unwrap() == bytes,
            "the file got other bytes"
        );
        assert!(reader.join().unwrap() == bytes, "the tap got other bytes");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn mapped_addresses_are_plain_ipv4() {
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(canonical(mapped), "127.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn copy_counts_every_byte_and_names_the_failing_side() {
        let data: Vec<u8> = (0..=255u8).cycle().take(3 * BUFFER + 7).collect();
        let mut out = Vec::new();
        let mut reports = 0;
        let none = Cancel::new();
        let n = copy(
            &mut &data[..],
            &mut out,
            &Pace::default(),
            &none,
            &mut |_| reports += 1,
        )
        .unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(out, data);
        assert_eq!(reports, 4);

        let (mut out, mut seen) = (Vec::new(), Vec::new());
        let free = Pace::default();
        let n = copy_in(&mut &data[..], &mut out, 4096, &free, &none, &mut |t| {
            seen.push(t)
        })
        .unwrap();
        assert_eq!((n, &out), (data.len() as u64, &data));
        let whole = BUFFER as u64;
        assert_eq!(seen, [whole, 2 * whole, 3 * whole, data.len() as u64]);

        let mut full = [0u8; 10];
        let err = copy(
            &mut &data[..],
            &mut &mut full[..],
            &Pace::default(),
            &none,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, CopyError::Write(_)));

        let stopped = Cancel::new();
        stopped.stop(crate::cancel::Stop::Interrupt);
        let err = copy(
            &mut &data[..],
            &mut Vec::new(),
            &Pace::default(),
            &stopped,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, CopyError::Read(e) if e.kind() == io::ErrorKind::Interrupted));
    }
}
