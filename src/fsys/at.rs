//! Folders held open, and names resolved by the kernel relative to them: the
//! `*at` system calls and Linux's `openat2(2)` (5.6 and later), which std
//! lacks. The unsafe code is these calls, behind the safe methods of [`Dir`].
//!
//! Why: a check of a path followed by an operation on the same path loses to
//! anyone who swaps a folder for a symlink in between. Here a folder, once
//! open, stays the folder it was, whatever is renamed meanwhile; a name is
//! one component looked up inside it, never followed when it is the last;
//! and a longer path is resolved by `openat2` with `RESOLVE_BENEATH`, which
//! fails with `EXDEV` rather than leave the folder, through `..` or a symlink
//! alike, and checks again if a rename races with it.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::raw::{c_char, c_int, c_long, c_uint};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

mod sys {
    use std::os::raw::{c_char, c_int, c_long, c_uint, c_void};

    pub const O_RDONLY: c_int = 0;
    pub const O_WRONLY: c_int = 1;
    pub const O_RDWR: c_int = 2;
    pub const O_CREAT: c_int = 0o100;
    pub const O_EXCL: c_int = 0o200;
    pub const O_NOCTTY: c_int = 0o400;
    pub const O_APPEND: c_int = 0o2000;
    pub const O_NONBLOCK: c_int = 0o4000;
    pub const O_CLOEXEC: c_int = 0o2_000_000;
    pub const O_PATH: c_int = 0o10_000_000;
    #[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
    pub const O_DIRECTORY: c_int = 0o40_000;
    #[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
    pub const O_NOFOLLOW: c_int = 0o100_000;
    #[cfg(not(any(target_arch = "aarch64", target_arch = "arm")))]
    pub const O_DIRECTORY: c_int = 0o200_000;
    #[cfg(not(any(target_arch = "aarch64", target_arch = "arm")))]
    pub const O_NOFOLLOW: c_int = 0o400_000;

    pub const AT_FDCWD: c_int = -100;
    pub const AT_REMOVEDIR: c_int = 0x200;
    pub const RENAME_NOREPLACE: c_uint = 1;

    /// The same number on every architecture (added in Linux 5.6).
    pub const SYS_OPENAT2: c_long = 437;
    pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
    pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
    pub const RESOLVE_BENEATH: u64 = 0x08;

    #[repr(C)]
    pub struct OpenHow {
        pub flags: u64,
        pub mode: u64,
        pub resolve: u64,
    }

    /// glibc's and musl's `struct dirent` on 64-bit Linux.
    #[repr(C)]
    pub struct Dirent {
        pub ino: u64,
        pub off: i64,
        pub reclen: u16,
        pub kind: u8,
        pub name: [c_char; 256],
    }

    extern "C" {
        pub fn syscall(number: c_long, ...) -> c_long;
        pub fn openat(dir: c_int, path: *const c_char, flags: c_int, ...) -> c_int;
        pub fn mkdirat(dir: c_int, path: *const c_char, mode: c_uint) -> c_int;
        pub fn unlinkat(dir: c_int, path: *const c_char, flags: c_int) -> c_int;
        pub fn renameat2(
            from_dir: c_int,
            from: *const c_char,
            to_dir: c_int,
            to: *const c_char,
            flags: c_uint,
        ) -> c_int;
        pub fn linkat(
            from_dir: c_int,
            from: *const c_char,
            to_dir: c_int,
            to: *const c_char,
            flags: c_int,
        ) -> c_int;
        pub fn fdopendir(fd: c_int) -> *mut c_void;
        pub fn readdir(dir: *mut c_void) -> *mut Dirent;
        pub fn closedir(dir: *mut c_void) -> c_int;
        pub fn __errno_location() -> *mut c_int;
        pub fn geteuid() -> c_uint;
    }
}

#[cfg(not(target_pointer_width = "64"))]
compile_error!("dialback reads folders with the 64-bit layout of struct dirent");

/// `EXDEV`: `openat2` with `RESOLVE_BENEATH` refused to leave the folder.
pub const EXDEV: i32 = 18;
/// `ELOOP`: a symlink where none may be followed.
pub const ELOOP: i32 = 40;
/// `ENOTDIR`, `EISDIR`, `EEXIST`, `EINVAL`, `ENXIO`: what name operations say.
pub const ENOTDIR: i32 = 20;
pub const EISDIR: i32 = 21;
pub const EEXIST: i32 = 17;
pub const EINVAL: i32 = 22;
pub const ENXIO: i32 = 6;
/// `O_NONBLOCK`, for opening a local file by path without blocking.
pub const O_NONBLOCK: i32 = sys::O_NONBLOCK;
/// `O_NOFOLLOW`, for opening a local file by path, never through a symlink.
pub const O_NOFOLLOW: i32 = sys::O_NOFOLLOW;
const EAGAIN: i32 = 11;
const EINTR: i32 = 4;

/// How a path below a [`Dir`] may be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Symlinks are followed while they stay below the folder (the server's
    /// shared root: links inside it work, links that lead out do not).
    Inside,
    /// No symlink is followed at all (the client's local target, where any
    /// link was put there by someone else).
    Never,
}

/// What a file is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only to look at it (`fstat`) or to open names inside it.
    Look,
    Read,
    Write,
    /// Writing at the end, whatever the position; reading too (a resumed
    /// download's `--verify` reads the part that was there).
    Append,
    /// Reading its entries.
    List,
}

impl Mode {
    fn flags(self) -> c_int {
        // Never blocks in `open` (a FIFO waits for its other end); never
        // becomes the controlling terminal; never leaks into a child.
        let open = sys::O_CLOEXEC | sys::O_NOCTTY | sys::O_NONBLOCK;
        match self {
            // `openat2` refuses any other flag beside `O_PATH`.
            Mode::Look => sys::O_PATH | sys::O_CLOEXEC,
            Mode::Read => open | sys::O_RDONLY,
            Mode::Write => open | sys::O_WRONLY,
            Mode::Append => open | sys::O_RDWR | sys::O_APPEND,
            Mode::List => open | sys::O_RDONLY | sys::O_DIRECTORY,
        }
    }
}

/// An open folder. Every name given to its methods is one path component
/// (no `/`), except where a method says it takes a relative path.
#[derive(Debug)]
pub struct Dir(OwnedFd);

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a name"))
}

/// The result of a call that returns -1 and sets errno, retried on EINTR.
fn check(mut call: impl FnMut() -> c_long) -> io::Result<c_long> {
    loop {
        let n = call();
        if n >= 0 {
            return Ok(n);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(EINTR) {
            return Err(e);
        }
    }
}

fn owned(fd: c_long) -> OwnedFd {
    // SAFETY: the kernel just returned this descriptor to us, and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

impl Dir {
    /// Opens the folder at `path` the ordinary way: the path is the user's
    /// own word (a `--root`, a local target), so its symlinks are followed.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let path = cstr(path.as_os_str())?;
        let flags = Mode::Look.flags() | sys::O_DIRECTORY;
        // SAFETY: `path` is a NUL-terminated string that outlives the call.
        let fd = check(|| unsafe { sys::openat(sys::AT_FDCWD, path.as_ptr(), flags) } as c_long)?;
        Ok(Dir(owned(fd)))
    }

    /// Opens the relative `path` below this folder, resolved by the kernel so
    /// that it never leads out: `EXDEV` where it would (through `..` or a
    /// symlink), `ELOOP` for any symlink with `Links::Never`. `.` is the
    /// folder itself. Fails with `ENOSYS` on kernels before 5.6.
    pub fn resolve(&self, path: impl AsRef<OsStr>, mode: Mode, links: Links) -> io::Result<File> {
        let name = cstr(path.as_ref())?;
        let resolve = sys::RESOLVE_BENEATH
            | sys::RESOLVE_NO_MAGICLINKS
            | match links {
                Links::Inside => 0,
                Links::Never => sys::RESOLVE_NO_SYMLINKS,
            };
        let how = sys::OpenHow {
            flags: mode.flags() as u64,
            mode: 0,
            resolve,
        };
        // The kernel answers EAGAIN when a rename elsewhere raced with a
        // lookup through `..`; it is safe to try again, a few times.
        let mut tries = 0;
        loop {
            // SAFETY: `name` and `how` outlive the call; the size is `how`'s.
            let result = check(|| unsafe {
                sys::syscall(
                    sys::SYS_OPENAT2,
                    self.0.as_raw_fd() as c_long,
                    name.as_ptr(),
                    &how as *const sys::OpenHow,
                    std::mem::size_of::<sys::OpenHow>(),
                )
            });
            match result {
                Err(e) if e.raw_os_error() == Some(EAGAIN) && tries < 16 => tries += 1,
                Err(e) => return Err(e),
                Ok(fd) => return Ok(File::from(owned(fd))),
            }
        }
    }

    /// The folder at the relative `path` below this one (see [`Dir::resolve`]).
    pub fn folder(&self, path: impl AsRef<OsStr>, links: Links) -> io::Result<Dir> {
        Dir::adopt(self.resolve(path, Mode::Look, links)?)
    }

    /// The open `file` as a folder, if it is one (`ENOTDIR` if not).
    pub fn adopt(file: File) -> io::Result<Dir> {
        if !file.metadata()?.is_dir() {
            return Err(io::Error::from_raw_os_error(ENOTDIR));
        }
        Ok(Dir(OwnedFd::from(file)))
    }

    /// Opens the name in this folder, never through a symlink (`ELOOP`).
    pub fn open_name(&self, name: &OsStr, mode: Mode) -> io::Result<File> {
        self.openat(name, mode.flags() | sys::O_NOFOLLOW, 0)
    }

    /// Creates the name in this folder as a new file, open for reading and
    /// writing: never an existing file, never through a symlink (`EEXIST`).
    pub fn create(&self, name: &OsStr, permissions: u32) -> io::Result<File> {
        let flags = sys::O_RDWR
            | sys::O_CREAT
            | sys::O_EXCL
            | sys::O_NOFOLLOW
            | sys::O_CLOEXEC
            | sys::O_NOCTTY;
        self.openat(name, flags, permissions)
    }

    fn openat(&self, name: &OsStr, flags: c_int, permissions: u32) -> io::Result<File> {
        let name = cstr(name)?;
        let fd = check(|| {
            // SAFETY: `name` is NUL-terminated and outlives the call.
            (unsafe { sys::openat(self.0.as_raw_fd(), name.as_ptr(), flags, permissions) })
                as c_long
        })?;
        Ok(File::from(owned(fd)))
    }

    /// What the name is, or with `follow` what it leads to (symlinks
    /// followed by the ordinary rules: only for names already vetted).
    pub fn stat(&self, name: &OsStr, follow: bool) -> io::Result<Metadata> {
        let flags = Mode::Look.flags() | if follow { 0 } else { sys::O_NOFOLLOW };
        self.openat(name, flags, 0)?.metadata()
    }

    /// Makes the folder `name` here (`EEXIST` if anything has the name).
    pub fn make_folder(&self, name: &OsStr) -> io::Result<()> {
        let name = cstr(name)?;
        // SAFETY: `name` is NUL-terminated and outlives the call.
        check(|| (unsafe { sys::mkdirat(self.0.as_raw_fd(), name.as_ptr(), 0o777) }) as c_long)?;
        Ok(())
    }

    /// Removes the name here: an empty folder with `folder` (`ENOTDIR` for
    /// anything else), otherwise a file or symlink (`EISDIR` for a folder).
    /// A symlink is removed itself, never what it leads to.
    pub fn remove(&self, name: &OsStr, folder: bool) -> io::Result<()> {
        let name = cstr(name)?;
        let flags = if folder { sys::AT_REMOVEDIR } else { 0 };
        // SAFETY: `name` is NUL-terminated and outlives the call.
        check(|| (unsafe { sys::unlinkat(self.0.as_raw_fd(), name.as_ptr(), flags) }) as c_long)?;
        Ok(())
    }

    /// Renames the name here to `to_name` in `to`; with `keep`, never over
    /// anything that has that name already (`EEXIST`).
    pub fn rename(&self, name: &OsStr, to: &Dir, to_name: &OsStr, keep: bool) -> io::Result<()> {
        let (from, target) = (cstr(name)?, cstr(to_name)?);
        let flags: c_uint = if keep { sys::RENAME_NOREPLACE } else { 0 };
        check(|| {
            // SAFETY: both names are NUL-terminated and outlive the call.
            (unsafe {
                sys::renameat2(
                    self.0.as_raw_fd(),
                    from.as_ptr(),
                    to.0.as_raw_fd(),
                    target.as_ptr(),
                    flags,
                )
            }) as c_long
        })?;
        Ok(())
    }

    /// Gives the file `name` here a second name, `to_name` in `to`, never
    /// over an existing one (`EEXIST`) and never through a symlink.
    pub fn link(&self, name: &OsStr, to: &Dir, to_name: &OsStr) -> io::Result<()> {
        let (from, target) = (cstr(name)?, cstr(to_name)?);
        check(|| {
            // SAFETY: both names are NUL-terminated and outlive the call.
            (unsafe {
                sys::linkat(
                    self.0.as_raw_fd(),
                    from.as_ptr(),
                    to.0.as_raw_fd(),
                    target.as_ptr(),
                    0,
                )
            }) as c_long
        })?;
        Ok(())
    }

    /// The names in this folder (not `.` and `..`), read as they are consumed.
    pub fn entries(&self) -> io::Result<Entries> {
        let fd = OwnedFd::from(self.resolve(".", Mode::List, Links::Never)?);
        // SAFETY: on success the stream owns the descriptor (closedir closes it).
        let stream = unsafe { sys::fdopendir(fd.as_raw_fd()) };
        if stream.is_null() {
            return Err(io::Error::last_os_error());
        }
        std::mem::forget(fd);
        Ok(Entries(stream))
    }
}

/// What [`Entries`] says a name is, as the folder itself records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    File,
    Folder,
    Symlink,
    /// Something else (a FIFO, a socket, a device), or not recorded.
    Other,
}

/// A folder's names, from `readdir(3)`.
#[derive(Debug)]
pub struct Entries(*mut std::os::raw::c_void);

// SAFETY: the stream is used by one thread at a time (`&mut self`) and is
// not tied to the thread that opened it.
unsafe impl Send for Entries {}

impl Iterator for Entries {
    type Item = io::Result<(OsString, Kind)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // SAFETY: errno is this thread's; readdir sets it only on error.
            unsafe { *sys::__errno_location() = 0 };
            // SAFETY: the stream is open until drop.
            let entry = unsafe { sys::readdir(self.0) };
            if entry.is_null() {
                let e = io::Error::last_os_error();
                return (e.raw_os_error() != Some(0)).then_some(Err(e));
            }
            // SAFETY: readdir returned a valid entry, good until the next call;
            // its name is NUL-terminated, and copied out before then.
            let (name, kind) = unsafe {
                let name = CStr::from_ptr((*entry).name.as_ptr() as *const c_char);
                (OsString::from_vec(name.to_bytes().to_vec()), (*entry).kind)
            };
            if name == "." || name == ".." {
                continue;
            }
            let kind = match kind {
                4 => Kind::Folder,
                8 => Kind::File,
                10 => Kind::Symlink,
                _ => Kind::Other,
            };
            return Some(Ok((name, kind)));
        }
    }
}

impl Drop for Entries {
    fn drop(&mut self) {
        // SAFETY: the stream is open and is not used again.
        unsafe { sys::closedir(self.0) };
    }
}

/// Whether a file found where we write is one we may take over: a plain
/// file of the user this process runs as, with no other name (a hard link
/// would let another user keep what we write).
pub fn sole_own_file(meta: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid cannot fail.
    meta.is_file() && meta.nlink() == 1 && meta.uid() == unsafe { sys::geteuid() }
}

/// The folder that holds the local `path` (the user's own word: symlinks up
/// to it are followed), opened, and the last name, which must be a name.
pub fn holder(path: &Path) -> io::Result<(Dir, OsString)> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file name", path.display()),
        )
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((Dir::open(parent)?, name.to_os_string()))
}

/// Whether this kernel can resolve names beneath a folder (`openat2`, Linux
/// 5.6): the server refuses to start without it rather than run weaker.
pub fn can_confine(dir: &Dir) -> io::Result<()> {
    dir.resolve(".", Mode::Look, Links::Inside).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn scratch(label: &str) -> std::path::PathBuf {
        let top = std::env::temp_dir().join(format!("dialback-at-{}-{label}", std::process::id()));
        let _ = fs::remove_dir_all(&top);
        fs::create_dir_all(top.join("root/sub")).unwrap();
        fs::create_dir_all(top.join("outside")).unwrap();
        fs::write(top.join("outside/secret"), b"secret").unwrap();
        fs::write(top.join("root/sub/f"), b"f").unwrap();
        top
    }

    fn errno(r: io::Result<impl std::fmt::Debug>) -> i32 {
        r.unwrap_err().raw_os_error().unwrap()
    }

    #[test]
    fn paths_resolve_beneath_the_folder_or_not_at_all() {
        let top = scratch("beneath");
        let root = Dir::open(&top.join("root")).unwrap();
        std::os::unix::fs::symlink("../outside", top.join("root/out")).unwrap();
        std::os::unix::fs::symlink("sub/f", top.join("root/in")).unwrap();
        std::os::unix::fs::symlink("/proc/self/root/etc/passwd", top.join("root/magic")).unwrap();
        let read = |p: &str, links| root.resolve(p, Mode::Read, links);
        assert!(read("in", Links::Inside).is_ok());
        assert_eq!(errno(read("in", Links::Never)), ELOOP);
        assert_eq!(errno(read("out/secret", Links::Inside)), EXDEV);
        assert_eq!(errno(read("../outside/secret", Links::Inside)), EXDEV);
        assert_eq!(errno(read("/etc/passwd", Links::Inside)), EXDEV);
        assert!(read("magic", Links::Inside).is_err());
        assert!(root.folder("sub", Links::Never).is_ok());
        assert_eq!(errno(root.folder("sub/f", Links::Inside)), ENOTDIR);
        fs::remove_dir_all(&top).unwrap();
    }

    #[test]
    fn name_operations_act_on_the_name_in_the_open_folder() {
        let top = scratch("names");
        let root = Dir::open(&top.join("root")).unwrap();
        let sub = root.folder("sub", Links::Never).unwrap();
        // The folder stays the one opened, whatever takes its name meanwhile.
        fs::rename(top.join("root/sub"), top.join("root/moved")).unwrap();
        std::os::unix::fs::symlink(top.join("outside"), top.join("root/sub")).unwrap();
        sub.remove(OsStr::new("f"), false).unwrap();
        assert!(!top.join("root/moved/f").exists());
        assert!(top.join("outside/secret").exists());
        sub.make_folder(OsStr::new("d")).unwrap();
        assert_eq!(errno(sub.make_folder(OsStr::new("d"))), EEXIST);
        assert_eq!(errno(sub.remove(OsStr::new("d"), false)), EISDIR);
        sub.remove(OsStr::new("d"), true).unwrap();
        // Creating never opens what is there, nor follows a link.
        std::os::unix::fs::symlink(top.join("outside/secret"), top.join("root/moved/l")).unwrap();
        assert_eq!(errno(sub.create(OsStr::new("l"), 0o600)), EEXIST);
        assert_eq!(errno(sub.open_name(OsStr::new("l"), Mode::Write)), ELOOP);
        assert!(sub
            .stat(OsStr::new("l"), false)
            .unwrap()
            .file_type()
            .is_symlink());
        let mut new = sub.create(OsStr::new("n"), 0o600).unwrap();
        io::Write::write_all(&mut new, b"n").unwrap();
        sub.link(OsStr::new("n"), &root, OsStr::new("n2")).unwrap();
        assert_eq!(
            errno(sub.link(OsStr::new("n"), &root, OsStr::new("n2"))),
            EEXIST
        );
        sub.rename(OsStr::new("n"), &root, OsStr::new("n3"), true)
            .unwrap();
        assert_eq!(
            errno(root.rename(OsStr::new("n2"), &root, OsStr::new("n3"), true)),
            EEXIST
        );
        root.rename(OsStr::new("n2"), &root, OsStr::new("n3"), false)
            .unwrap();
        assert_eq!(fs::read(top.join("root/n3")).unwrap(), b"n");
        assert_eq!(fs::read(top.join("outside/secret")).unwrap(), b"secret");
        assert!(!sole_own_file(&sub.stat(OsStr::new("l"), false).unwrap()));
        assert!(
            !sole_own_file(&root.stat(OsStr::new("n3"), false).unwrap()),
            "two names"
        );
        drop(root.create(OsStr::new("one"), 0o600).unwrap());
        assert!(sole_own_file(&root.stat(OsStr::new("one"), false).unwrap()));
        fs::remove_dir_all(&top).unwrap();
    }

    #[test]
    fn a_folder_lists_its_names_with_their_kinds() {
        let top = scratch("entries");
        let root = Dir::open(&top.join("root")).unwrap();
        std::os::unix::fs::symlink("sub", top.join("root/l")).unwrap();
        fs::write(top.join("root/f"), b"").unwrap();
        let mut names: Vec<_> = root.entries().unwrap().map(|e| e.unwrap()).collect();
        names.sort();
        let want = [
            ("f", Kind::File),
            ("l", Kind::Symlink),
            ("sub", Kind::Folder),
        ];
        let want: Vec<_> = want.iter().map(|(n, k)| (OsString::from(n), *k)).collect();
        assert_eq!(names, want);
        fs::remove_dir_all(&top).unwrap();
    }
}
