//! A TUN device: a network interface whose packets (whole IP packets, no
//! extra header) are read and written through a file. The one `unsafe`
//! concern is the ioctl that names the device; std has no call for it.

#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::raw::{c_int, c_ulong};

extern "C" {
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
}

/// `_IOW('T', 202, int)`.
const TUNSETIFF: c_ulong = 0x4004_54ca;
const IFF_TUN: u16 = 0x0001;
const IFF_NO_PI: u16 = 0x1000;
/// The kernel's `struct ifreq`: a 16-byte name, then a union whose first
/// member here is the flags.
const IFREQ: usize = 40;

/// Creates the TUN device `name` (at most 15 bytes), which lives as long as
/// the returned file is open.
pub fn open(name: &str) -> io::Result<File> {
    if name.len() > 15 || name.contains('\0') {
        return Err(io::Error::other(format!("bad interface name {name:?}")));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")?;
    let mut request = [0u8; IFREQ];
    request[..name.len()].copy_from_slice(name.as_bytes());
    request[16..18].copy_from_slice(&(IFF_TUN | IFF_NO_PI).to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `request`
    // is as large as, on a descriptor open for the call's length.
    let done = unsafe { ioctl(file.as_raw_fd(), TUNSETIFF, request.as_mut_ptr()) };
    if done < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}
