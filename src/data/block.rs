//! Block mode (RFC 959 §3.4.2, `MODE B`): each file on the data connection is
//! a run of blocks, each a header (a descriptor byte and a 16-bit count) and
//! that many bytes, the last with the end-of-file flag. The connection does
//! not have to close to mark a file's end, so one connection carries many
//! files: a batch of small files costs no connection per file, and an upload
//! can go as soon as its STOR is sent.

use std::io::{self, Read, Write};

/// The descriptor's flags (RFC 959 §3.4.2). End of record (0x80) means
/// nothing to a file of bytes, and suspected errors (0x20) nothing to TCP.
const END_OF_FILE: u8 = 0x40;
const RESTART_MARKER: u8 = 0x10;

/// The most bytes one block carries.
const MAX_BLOCK: usize = u16::MAX as usize;

/// Writes a file as blocks on `out`. Bytes are gathered into blocks of up
/// to 64 KiB, so a small file goes as one write: header, bytes and the
/// end-of-file flag together. Call `finish`; dropped unfinished, the file
/// has no end and the peer must not take it for whole.
pub struct BlockWriter<W: Write> {
    out: W,
    /// The block being gathered: 3 bytes of header, then its bytes.
    block: Vec<u8>,
}

impl<W: Write> BlockWriter<W> {
    pub fn new(out: W) -> BlockWriter<W> {
        BlockWriter {
            out,
            block: vec![0; 3],
        }
    }

    /// Writes the gathered block with `flags`.
    fn emit(&mut self, flags: u8) -> io::Result<()> {
        let count = (self.block.len() - 3) as u16;
        self.block[0] = flags;
        self.block[1..3].copy_from_slice(&count.to_be_bytes());
        self.out.write_all(&self.block)?;
        self.block.truncate(3);
        Ok(())
    }

    /// Ends the file: what is gathered goes with the end-of-file flag.
    pub fn finish(mut self) -> io::Result<()> {
        self.emit(END_OF_FILE)?;
        self.out.flush()
    }
}

impl<W: Write> Write for BlockWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.block.len() - 3 == MAX_BLOCK {
            self.emit(0)?;
        }
        let n = buf.len().min(MAX_BLOCK + 3 - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    /// Gathered bytes wait for the block to fill or the file to end.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads one file's bytes from blocks on `input`, to the block with the
/// end-of-file flag and not a byte past it, so the next file's blocks stay
/// where they are. The connection ending first is an error: a file cut
/// short never passes for whole. Restart markers are skipped.
pub struct BlockReader<R: Read> {
    input: R,
    /// Bytes left in the current block.
    left: usize,
    /// Whether the current block is the file's last.
    last: bool,
}

impl<R: Read> BlockReader<R> {
    pub fn new(input: R) -> BlockReader<R> {
        BlockReader {
            input,
            left: 0,
            last: false,
        }
    }

    /// Reads the next block's header, skipping restart markers.
    fn next_block(&mut self) -> io::Result<()> {
        loop {
            let mut header = [0u8; 3];
            self.input.read_exact(&mut header).map_err(cut_short)?;
            let count = usize::from(u16::from_be_bytes([header[1], header[2]]));
            self.last = header[0] & END_OF_FILE != 0;
            if header[0] & RESTART_MARKER == 0 {
                self.left = count;
                return Ok(());
            }
            io::copy(&mut (&mut self.input).take(count as u64), &mut io::sink())?;
            if self.last {
                return Ok(());
            }
        }
    }
}

impl<R: Read> Read for BlockReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.left == 0 {
            if self.last {
                return Ok(0);
            }
            self.next_block()?;
        }
        let want = buf.len().min(self.left);
        let n = self.input.read(&mut buf[..want])?;
        if n == 0 && want > 0 {
            return Err(cut_short(io::ErrorKind::UnexpectedEof.into()));
        }
        self.left -= n;
        Ok(n)
    }
}

/// The connection ended inside a file.
fn cut_short(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the data connection ended before the file's end-of-file block",
        ),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(files: &[&[u8]]) -> Vec<u8> {
        let mut wire = Vec::new();
        for file in files {
            let mut w = BlockWriter::new(&mut wire);
            // Written in odd pieces, as a copy loop would.
            for piece in file.chunks(7_000) {
                w.write_all(piece).unwrap();
            }
            w.finish().unwrap();
        }
        wire
    }

    #[test]
    fn files_go_back_to_back_and_come_out_whole() {
        let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 255) as u8).collect();
        let files: [&[u8]; 4] = [b"hello", b"", &big, b"last"];
        let wire = framed(&files);
        // A small file is one block: header and bytes in one write.
        assert_eq!(
            &wire[..8],
            &[END_OF_FILE, 0, 5, b'h', b'e', b'l', b'l', b'o']
        );
        assert_eq!(&wire[8..11], &[END_OF_FILE, 0, 0], "an empty file");
        // 200,000 bytes: three full blocks and one with the end.
        assert_eq!(wire.len(), 8 + 3 + (200_000 + 4 * 3) + (3 + 4));
        let mut input = &wire[..];
        for file in files {
            let mut got = Vec::new();
            BlockReader::new(&mut input).read_to_end(&mut got).unwrap();
            assert_eq!(got, file);
        }
        assert!(input.is_empty());
    }

    #[test]
    fn a_file_cut_short_is_an_error_and_markers_are_skipped() {
        let wire = framed(&[b"0123456789"]);
        for cut in [0, 2, 3, 9] {
            let mut got = Vec::new();
            let e = BlockReader::new(&wire[..cut]).read_to_end(&mut got);
            assert_eq!(e.unwrap_err().kind(), io::ErrorKind::UnexpectedEof, "{cut}");
        }
        // A restart marker and record ends (0x80), as another sender might send.
        let mut wire = vec![RESTART_MARKER, 0, 3, b'm', b'k', b'1'];
        wire.extend_from_slice(&[0x80, 0, 2, b'a', b'b']);
        wire.extend_from_slice(&[END_OF_FILE | 0x80, 0, 1, b'c']);
        let mut got = Vec::new();
        BlockReader::new(&wire[..]).read_to_end(&mut got).unwrap();
        assert_eq!(got, b"abc");
    }
}
