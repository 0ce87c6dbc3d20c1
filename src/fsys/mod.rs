//! Files on disk: the server's shared root and path confinement, atomic writes
//! through temporary files (used by both binaries), and reading folders for
//! listings (their line formats are `listing`).
//!
//! Confinement works in two steps. A name from the wire is first resolved
//! lexically against the session's folder into a `VPath`, which can never climb
//! above the root. Then the kernel does the rest (`at`): the root is an open
//! folder, a path below it is resolved by `openat2(RESOLVE_BENEATH)`, which
//! follows a symlink only while it stays inside, and a name is created,
//! removed or renamed in the open folder that holds it, never followed. There
//! is no check followed by an act on a path, so nothing swapped in between
//! can lead outside: no `/proc`, no canonicalizing after the start.

pub mod at;

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use at::{Dir, Links, Mode};

/// Every temporary file this crate writes starts with this; the server never
/// lists, serves or accepts such names.
pub const TEMP_PREFIX: &str = ".dialback-";

/// Why a path was refused. Each maps to a 550 on the wire.
#[derive(Debug)]
pub enum Refusal {
    /// The path leads outside the root (through `..` or a symlink).
    Escape,
    /// Nothing is there, or it is one of our temporary files.
    NotFound,
    /// It exists but is not a plain file (for RETR, STOR, SIZE).
    NotAFile,
    /// It exists but is not a folder (for CWD).
    NotAFolder,
    /// The name is not allowed (a NUL byte, an empty name).
    BadName,
    /// Something is there already (MKD, or a rename onto a folder).
    Exists,
    /// The folder holds something (RMD removes empty folders only).
    NotEmpty,
    /// The root itself, which cannot be removed or renamed.
    TheRoot,
    /// A folder cannot move into itself.
    IntoItself,
    Io(io::Error),
}

impl std::fmt::Display for Refusal {
    /// The words a 550 reply or an error line gives after the name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Escape => f.write_str("outside the shared folder; permission denied"),
            Refusal::NotFound => f.write_str("no such file or folder"),
            Refusal::NotAFile => f.write_str("not a plain file"),
            Refusal::NotAFolder => f.write_str("not a folder"),
            Refusal::BadName => f.write_str("bad name"),
            Refusal::Exists => f.write_str("already exists"),
            Refusal::NotEmpty => f.write_str("folder not empty"),
            Refusal::TheRoot => f.write_str("the shared folder itself cannot be changed"),
            Refusal::IntoItself => f.write_str("a folder cannot move into itself"),
            Refusal::Io(e) => f.write_str(&crate::error::describe_io(e)),
        }
    }
}

impl From<io::Error> for Refusal {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound => Refusal::NotFound,
            io::ErrorKind::AlreadyExists => Refusal::Exists,
            io::ErrorKind::DirectoryNotEmpty => Refusal::NotEmpty,
            _ => Refusal::Io(e),
        }
    }
}

/// A path below the root, as components that are never empty, `.` or `..`,
/// and whether it was written with a trailing slash (so must be a folder).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VPath(Vec<String>, bool);

impl VPath {
    /// The last component; `None` for the root itself.
    pub fn name(&self) -> Option<&str> {
        self.0.last().map(String::as_str)
    }

    pub fn parent(&self) -> VPath {
        VPath(self.0[..self.0.len().saturating_sub(1)].to_vec(), false)
    }

    /// The path as a client sees it, `/` being the root.
    pub fn display(&self) -> String {
        format!("/{}", self.0.join("/"))
    }
}

/// Resolves `arg` against `cwd` without touching the disk (RFC 959 pathnames,
/// `/` meaning the root). `..` climbs back to the root and no further: above
/// the root is the root.
pub fn resolve(cwd: &VPath, arg: &str) -> Result<VPath, Refusal> {
    if arg.contains('\0') {
        return Err(Refusal::BadName);
    }
    let mut parts = if arg.starts_with('/') {
        Vec::new()
    } else {
        cwd.0.clone()
    };
    for part in arg.split('/') {
        match part {
            "" | "." => {}
            // `..` at the root stays there, as `cd ..` at `/` does in a
            // shell and on every FTP server that roots a user (vsftpd, proftpd).
            ".." => {
                parts.pop();
            }
            _ if part.starts_with(TEMP_PREFIX) => return Err(Refusal::NotFound),
            _ => parts.push(part.to_string()),
        }
    }
    let folder = arg.ends_with('/') && !parts.is_empty();
    Ok(VPath(parts, folder))
}

/// The folder the server shares: held open, with every name below it
/// resolved by the kernel (see the module's notes).
#[derive(Debug, Clone)]
pub struct Root {
    dir: Arc<Dir>,
    real: PathBuf,
}

/// A refusal for what the kernel said about a name below the root.
fn refusal(e: io::Error) -> Refusal {
    match e.raw_os_error() {
        Some(at::EXDEV) => Refusal::Escape,
        // A FIFO opened for writing with nobody reading it.
        Some(at::ENXIO) => Refusal::NotAFile,
        _ => Refusal::from(e),
    }
}

/// `v` as a path relative to the root, for `openat2`.
fn relative(v: &VPath) -> String {
    let mut path = match v.0.is_empty() {
        true => ".".to_string(),
        false => v.0.join("/"),
    };
    if v.1 {
        // `file/` fails as it would in a shell: not a directory.
        path.push('/');
    }
    path
}

impl Root {
    /// Opens the folder to share. Refuses a kernel that cannot resolve names
    /// beneath it (Linux before 5.6, or a sandbox that forbids `openat2`)
    /// rather than share it with weaker checks.
    pub fn new(dir: &Path) -> io::Result<Root> {
        let real = fs::canonicalize(dir)?;
        if !real.is_dir() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a folder"));
        }
        let dir = Dir::open(&real)?;
        at::can_confine(&dir).map_err(|e| {
            io::Error::other(format!(
                "this system cannot confine a folder: openat2 (Linux 5.6 or later) failed: {e}"
            ))
        })?;
        Ok(Root {
            dir: Arc::new(dir),
            real,
        })
    }

    pub fn path(&self) -> &Path {
        &self.real
    }

    /// Opens what `v` names, symlinks followed only while they stay inside.
    fn reach(&self, v: &VPath, mode: Mode) -> Result<File, Refusal> {
        self.dir
            .resolve(relative(v), mode, Links::Inside)
            .map_err(refusal)
    }

    /// Metadata of what `v` names (following symlinks inside the root).
    pub fn stat(&self, v: &VPath) -> Result<Metadata, Refusal> {
        Ok(self.reach(v, Mode::Look)?.metadata()?)
    }

    /// Checks that `v` is a folder, for CWD.
    pub fn folder(&self, v: &VPath) -> Result<(), Refusal> {
        if self.stat(v)?.is_dir() {
            Ok(())
        } else {
            Err(Refusal::NotAFolder)
        }
    }

    /// Opens a plain file for reading; returns it with its size.
    pub fn open(&self, v: &VPath) -> Result<(File, u64), Refusal> {
        let file = plain(self.reach(v, Mode::Read)?)?;
        let size = file.metadata()?.len();
        Ok((file, size))
    }

    /// The open folder that holds the name `v`, and the name: where MKD, RMD,
    /// DELE, RNFR, RNTO, STOR and APPE act. The name is never followed, so
    /// removing or renaming a symlink acts on the link and never on what it
    /// points to. The root itself has no such name; temporary names never get
    /// here (`resolve` refuses them).
    fn holder<'v>(&self, v: &'v VPath) -> Result<(Arc<Dir>, &'v OsStr), Refusal> {
        let name = OsStr::new(v.name().ok_or(Refusal::TheRoot)?);
        let parent = v.parent();
        if parent.0.is_empty() {
            return Ok((self.dir.clone(), name));
        }
        let dir = self.dir.folder(relative(&parent), Links::Inside);
        let dir = Arc::new(dir.map_err(refusal)?);
        after_opening_the_folder();
        Ok((dir, name))
    }

    /// Where a new version of `v` may be written: its folder, inside the root,
    /// and its name, which must not be a folder or a symlink leading out.
    fn target<'v>(&self, v: &'v VPath) -> Result<(Arc<Dir>, &'v OsStr), Refusal> {
        if v.1 {
            return Err(Refusal::NotAFile);
        }
        let (dir, name) = self.holder(v)?;
        match dir.stat(name, false) {
            Ok(m) if m.file_type().is_symlink() => match self.stat(v)?.is_file() {
                true => Ok((dir, name)),
                false => Err(Refusal::NotAFile),
            },
            // A folder, a FIFO, a socket or a device is never replaced by a file.
            Ok(m) if !m.is_file() => Err(Refusal::NotAFile),
            _ => Ok((dir, name)),
        }
    }

    /// A temporary file beside `v`, renamed over `v` only on `commit`.
    pub fn create(&self, v: &VPath) -> Result<TempFile, Refusal> {
        let (dir, name) = self.target(v)?;
        Ok(TempFile::in_folder(dir, name)?)
    }

    /// Opens the existing file `v` to write from `offset` on (REST then STOR),
    /// for resuming an upload in place; an offset past the end is refused.
    /// Returns the file positioned there. Nothing is truncated here: the caller
    /// cuts the file at the end of what it wrote, once the transfer is complete.
    pub fn open_at(&self, v: &VPath, offset: u64) -> Result<File, Refusal> {
        self.target(v)?;
        let mut file = plain(self.reach(v, Mode::Write)?)?;
        if offset > file.metadata()?.len() {
            return Err(Refusal::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "restart offset past the end of the file",
            )));
        }
        io::Seek::seek(&mut file, io::SeekFrom::Start(offset))?;
        Ok(file)
    }

    /// Opens the file or folder `v` (following symlinks inside the root) to
    /// change its time or mode through the handle; never blocks, never anything
    /// but a file or a folder.
    pub fn open_entry(&self, v: &VPath) -> Result<File, Refusal> {
        let file = self.reach(v, Mode::Read)?;
        let meta = file.metadata()?;
        if meta.is_file() || meta.is_dir() {
            Ok(file)
        } else {
            Err(Refusal::NotAFile)
        }
    }

    /// A temporary file for an append to `v` (APPE): `v` must be a plain file
    /// inside the root that we may write, or not exist yet. `append` adds it
    /// once complete.
    pub fn create_append(&self, v: &VPath) -> Result<TempFile, Refusal> {
        let (dir, name) = self.target(v)?;
        match self.reach(v, Mode::Write).and_then(plain) {
            Ok(_) | Err(Refusal::NotFound) => {}
            Err(r) => return Err(r),
        }
        Ok(TempFile::in_folder(dir, name)?)
    }

    /// Adds a finished append to the end of `v`, its target. Where the target
    /// does not exist the bytes become it (a hard link, which never replaces a
    /// file that appeared meanwhile); otherwise they are copied to its end under
    /// an exclusive lock, so appends that finish together land one after the
    /// other, whole. Waits at most `wait` for the lock, and not at all once
    /// `cancel` stops.
    pub fn append(
        &self,
        mut temp: TempFile,
        v: &VPath,
        wait: Duration,
        cancel: &Cancel,
    ) -> Result<(), Refusal> {
        match temp.dir.link(&temp.temp, &temp.dir, &temp.target) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        let mut target = plain(self.reach(v, Mode::Write)?)?;
        lock_within(&target, wait, cancel, "the file stayed busy")?;
        let end = io::Seek::seek(&mut target, io::SeekFrom::End(0))?;
        io::Seek::seek(&mut temp.file, io::SeekFrom::Start(0))?;
        let undo = Undo::begin(&temp.dir, &relative(v), &target.metadata()?)?;
        // File to file: the kernel copies (copy_file_range); the lock goes with `target`.
        if let Err(e) = io::copy(&mut temp.file, &mut target) {
            // A copy cut short (a full disk) takes back what it added, lock still held.
            let _ = target.set_len(end);
            return Err(e.into());
        }
        drop(undo);
        Ok(())
    }

    /// Makes the folder `v` (MKD); its parent must exist.
    pub fn make_folder(&self, v: &VPath) -> Result<(), Refusal> {
        let (dir, name) = self.holder(v)?;
        Ok(dir.make_folder(name)?)
    }

    /// Removes the empty folder `v` (RMD); a symlink to a folder is not a folder here.
    pub fn remove_folder(&self, v: &VPath) -> Result<(), Refusal> {
        let (dir, name) = self.holder(v)?;
        dir.remove(name, true).map_err(|e| match e.raw_os_error() {
            Some(at::ENOTDIR) => Refusal::NotAFolder,
            _ => e.into(),
        })
    }

    /// Deletes the file (or symlink) `v` (DELE); folders go with RMD.
    pub fn remove_file(&self, v: &VPath) -> Result<(), Refusal> {
        let (dir, name) = self.holder(v)?;
        dir.remove(name, false).map_err(|e| match e.raw_os_error() {
            Some(at::EISDIR) => Refusal::NotAFile,
            _ => e.into(),
        })
    }

    /// Checks that `v` names something that a rename could move (RNFR).
    pub fn exists(&self, v: &VPath) -> Result<(), Refusal> {
        let (dir, name) = self.holder(v)?;
        dir.stat(name, false)?;
        Ok(())
    }

    /// Renames `from` to `to` (RNFR, RNTO). A file or link replaces a file or
    /// link at `to` in one step, as sync tools need; nothing replaces a folder
    /// (the kernel refuses a file over a folder); a folder never replaces
    /// anything (`RENAME_NOREPLACE`) nor moves into itself.
    pub fn rename(&self, from: &VPath, to: &VPath) -> Result<(), Refusal> {
        let (source, name) = self.holder(from)?;
        let (target, to_name) = self.holder(to)?;
        if to.0.starts_with(&from.0) && to.0.len() > from.0.len() {
            return Err(Refusal::IntoItself);
        }
        let folder = source.stat(name, false)?.is_dir();
        let keep = folder && from != to;
        source
            .rename(name, &target, to_name, keep)
            .map_err(|e| match e.raw_os_error() {
                Some(at::EISDIR | at::ENOTDIR) => Refusal::Exists,
                Some(at::EINVAL) => Refusal::IntoItself,
                _ => e.into(),
            })
    }

    /// The entries of folder `v` (or `v` alone when it is a file), read as they
    /// are sent, so memory stays bounded whatever the folder holds: a folder of
    /// up to `SORTED` entries comes sorted by name, a larger one in the order the
    /// file system gives. Left out: temporary files, names with a line feed,
    /// symlinks that lead outside the root, and anything but files and folders.
    pub fn list(&self, v: &VPath) -> Result<Listing, Refusal> {
        let opened = self.reach(v, Mode::Look)?;
        let meta = opened.metadata()?;
        if meta.is_file() {
            let name = v.name().unwrap_or("/").to_string();
            return Ok(Listing {
                first: vec![Entry { name, meta }].into_iter(),
                rest: None,
                only: None,
                folder: false,
                failed: None,
            });
        }
        let dir = Dir::adopt(opened).map_err(|_| Refusal::NotAFile)?;
        let entries = dir.entries()?;
        let mut listing = Listing {
            first: Vec::new().into_iter(),
            rest: Some(Rest {
                root: self.dir.clone(),
                at: relative(v),
                dir,
                entries,
            }),
            only: None,
            folder: true,
            failed: None,
        };
        let mut first = Vec::new();
        while first.len() < SORTED {
            match listing.next_unsorted() {
                Some(e) => first.push(e),
                None => {
                    first.sort_by(|a, b| a.name.cmp(&b.name));
                    break;
                }
            }
        }
        listing.first = first.into_iter();
        Ok(listing)
    }
}

/// Folders with up to this many entries are listed sorted; larger ones stream
/// unsorted, so one listing holds at most this many entries in memory.
pub const SORTED: usize = 2000;

/// A folder's entries, read from disk as they are consumed.
#[derive(Debug)]
pub struct Listing {
    /// The first entries, read ahead (and sorted, when they were all).
    first: std::vec::IntoIter<Entry>,
    /// The rest of the folder, still to be read.
    rest: Option<Rest>,
    /// A wildcard pattern the names must match.
    only: Option<crate::glob::Pattern>,
    /// Whether this lists a folder, rather than one file named on its own.
    pub folder: bool,
    /// Why reading the folder stopped short, if it did.
    failed: Option<io::Error>,
}

/// The part of a folder still to be listed.
#[derive(Debug)]
struct Rest {
    /// The root, and the folder's path in it: where its symlinks resolve.
    root: Arc<Dir>,
    at: String,
    dir: Dir,
    entries: at::Entries,
}

impl Listing {
    fn next_unsorted(&mut self) -> Option<Entry> {
        let rest = self.rest.as_mut()?;
        // A folder that cannot be read on ends the listing there, and says
        // why (`failed`): a listing cut short must not pass for whole.
        for item in rest.entries.by_ref() {
            let (os_name, kind) = match item {
                Ok(item) => item,
                Err(e) => {
                    self.failed = Some(e);
                    break;
                }
            };
            let name = os_name.to_string_lossy().into_owned();
            // A name with a line feed cannot be shown on one line.
            if name.starts_with(TEMP_PREFIX) || name.contains('\n') {
                continue;
            }
            // A symlink is followed from the root, so it is listed only where
            // it stays inside; anything else is read in the open folder, never
            // followed (a link swapped in since reads as a link, left out).
            let meta = match kind {
                at::Kind::Symlink => {
                    let path = Path::new(&rest.at).join(&os_name);
                    (rest.root)
                        .resolve(path, Mode::Look, Links::Inside)
                        .and_then(|f| f.metadata())
                }
                _ => rest.dir.stat(&os_name, false),
            };
            // FIFOs, sockets and devices are left out: nothing can be done with them here.
            match meta {
                Ok(meta) if meta.is_file() || meta.is_dir() => return Some(Entry { name, meta }),
                _ => continue,
            }
        }
        self.rest = None;
        None
    }
}

impl Listing {
    /// Why the folder could not be read to its end, once it has been read.
    pub fn failed(&mut self) -> Option<io::Error> {
        self.failed.take()
    }

    /// The entries whose names match a wildcard pattern (`*`, `?`, `[...]`).
    pub fn only(mut self, pattern: &str) -> Listing {
        self.only = Some(crate::glob::Pattern::new(pattern));
        self
    }
}

impl Iterator for Listing {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        loop {
            let entry = self.first.next().or_else(|| self.next_unsorted())?;
            match &self.only {
                Some(p) if !p.matches(&entry.name) => continue,
                _ => return Some(entry),
            }
        }
    }
}

/// `file` if it is a plain file: a FIFO or a device is refused once open
/// (opened without blocking, as every open here is).
fn plain(file: File) -> Result<File, Refusal> {
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(Refusal::NotAFile)
    }
}

/// Opens the local file at `path` (the user's own word, so symlinks are
/// followed) if it is a plain file, never blocking: a FIFO can block in
/// `open(2)` until someone opens its other end, and no timeout covers an open.
pub fn open_plain(path: &Path, options: &mut OpenOptions) -> Result<File, Refusal> {
    let file = options
        .custom_flags(at::O_NONBLOCK)
        .open(path)
        .map_err(refusal)?;
    plain(file)
}

#[cfg(test)]
thread_local! {
    /// A test's action just after a name's folder was opened.
    static BETWEEN: std::cell::RefCell<Option<Box<dyn FnMut()>>> = std::cell::RefCell::new(None);
}

/// Where a folder swapped for a symlink by someone else would strike: after
/// the folder holding a name was opened, before the name is acted on. Tests
/// put their swap here, so the race happens every run rather than by chance.
fn after_opening_the_folder() {
    #[cfg(test)]
    BETWEEN.with(|hook| {
        if let Some(action) = hook.borrow_mut().as_mut() {
            action();
        }
    });
}

/// Opens the local `path` that is neither a file nor a folder (`/dev/null`,
/// a terminal, a FIFO with a reader) to write to it, never blocking in the
/// open; a FIFO nobody reads is refused at once.
pub fn open_device(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(at::O_NONBLOCK)
        .open(path)
}

/// One listed name with the metadata of what it leads to.
#[derive(Debug)]
pub struct Entry {
    /// The name; bytes that are not UTF-8 show as U+FFFD.
    pub name: String,
    pub meta: Metadata,
}

/// Creates a new file `.dialback-PID-N.SUFFIX` in `dir` and locks it: the
/// lock, held until the file is closed, is the sign that its writer lives
/// (see `sweep`). Where the file system has no locks, the sweep cannot take
/// one either, and leaves the file alone.
///
/// A sweep can come between the creation and the lock: it finds the file
/// unlocked, takes it and removes the name. So the file counts as ours only
/// once it is locked and its name still leads to it; otherwise the next name
/// is tried (the sweep removes or has removed this one).
fn fresh(dir: &Dir, suffix: &str, permissions: u32) -> io::Result<(OsString, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = OsString::from(format!("{TEMP_PREFIX}{}-{n}.{suffix}", std::process::id()));
        match dir.create(&name, permissions) {
            Ok(file) => match file.try_lock() {
                Ok(()) if still_named(dir, &name, &file)? => return Ok((name, file)),
                Ok(()) | Err(fs::TryLockError::WouldBlock) => continue,
                // No locks here: nobody sweeps it either.
                Err(fs::TryLockError::Error(_)) => return Ok((name, file)),
            },
            // Left by an earlier process with the same pid, or another machine's: take the next number.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Whether `name` in `dir` is still `file` (and not removed, or replaced).
fn still_named(dir: &Dir, name: &OsStr, file: &File) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let ours = file.metadata()?;
    Ok(match dir.stat(name, false) {
        Ok(now) => (now.dev(), now.ino()) == (ours.dev(), ours.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    })
}

/// What an append leaves beside its bytes while it copies them to the end of
/// its target, `.dialback-PID-N.undo`: the target's path from the root, its
/// identity, and its length before. Removed once the copy is done or taken
/// back; a server killed during the copy leaves it, and the next start's
/// sweep cuts the target back to that length (the client had no 226, so
/// the append did not happen, and it may send it again whole).
struct Undo {
    dir: Arc<Dir>,
    name: OsString,
    /// Open, and so locked, until the note is removed.
    _file: File,
}

impl Undo {
    fn begin(dir: &Arc<Dir>, path: &str, target: &Metadata) -> io::Result<Undo> {
        use std::os::unix::fs::MetadataExt;
        let (name, file) = fresh(dir, "undo", 0o600)?;
        let undo = Undo {
            dir: dir.clone(),
            name,
            _file: file,
        };
        let note = format!("{} {} {}\n{path}", target.len(), target.dev(), target.ino());
        io::Write::write_all(&mut &undo._file, note.as_bytes())?;
        Ok(undo)
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        let _ = self.dir.remove(&self.name, false);
    }
}

/// Puts back the file an abandoned `.undo` note names (below `top`) to its
/// length before the append; returns that length. A file replaced since (no
/// longer the same identity) is left alone.
fn undo(top: &Dir, note: &[u8]) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "an undo note in no known form");
    let text = std::str::from_utf8(note).map_err(|_| bad())?;
    let (head, path) = text.split_once('\n').ok_or_else(bad)?;
    let numbers: Vec<u64> = head
        .split(' ')
        .map(|n| n.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let [length, dev, ino] = numbers[..] else {
        return Err(bad());
    };
    let file = plain(top.resolve(path, Mode::Write, Links::Inside)?).map_err(|_| bad())?;
    let meta = file.metadata()?;
    if (meta.dev(), meta.ino()) == (dev, ino) && meta.len() > length {
        file.set_len(length)?;
    }
    Ok(length)
}

/// A file being written under a temporary name in its target's folder. It
/// becomes the target only through `commit`; dropped uncommitted, it is removed,
/// so a failed transfer never leaves a partial file under the final name. The
/// folder is held open: whatever is renamed meanwhile, the file lands in it.
#[derive(Debug)]
pub struct TempFile {
    file: File,
    dir: Arc<Dir>,
    temp: OsString,
    target: OsString,
    committed: bool,
}

impl TempFile {
    /// Creates a fresh temporary file in `target`'s folder (the user's own
    /// path, symlinks followed up to the folder).
    pub fn beside(target: &Path) -> io::Result<TempFile> {
        let (dir, name) = at::holder(target)?;
        TempFile::in_folder(Arc::new(dir), &name)
    }

    /// Creates a fresh temporary file in `dir`, to become its name `target`.
    pub fn in_folder(dir: Arc<Dir>, target: &OsStr) -> io::Result<TempFile> {
        let (temp, file) = fresh(&dir, "part", 0o666)?;
        Ok(TempFile::new(file, dir, temp, target))
    }

    fn new(file: File, dir: Arc<Dir>, temp: OsString, target: &OsStr) -> TempFile {
        TempFile {
            file,
            dir,
            temp,
            target: target.to_os_string(),
            committed: false,
        }
    }

    /// The partial file of a download to `target` in `dir`,
    /// `.dialback-get-NAME.part`: started over, or kept to `resume` from its
    /// end. Like any temporary file it is removed when the download fails;
    /// only a killed client leaves it, and the next resumed download of that
    /// name goes on from it. One found there is taken only if it is a plain
    /// file of ours with no other name (never a symlink, never another user's
    /// file planted to receive our download); two downloads to one name at
    /// once are refused.
    pub fn partial(dir: Arc<Dir>, target: &OsStr, resume: bool) -> io::Result<TempFile> {
        let temp = TempFile::partial_name(target);
        let mut file = match dir.create(&temp, 0o666) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let shown = temp.to_string_lossy();
                let file =
                    dir.open_name(&temp, Mode::Write)
                        .map_err(|e| match e.raw_os_error() {
                            Some(at::ELOOP) => {
                                io::Error::other(format!("{shown}: a symlink; left alone"))
                            }
                            _ => e,
                        })?;
                if !at::sole_own_file(&file.metadata()?) {
                    return Err(io::Error::other(format!(
                        "{shown}: not a partial download of ours (another user's, or linked); left alone"
                    )));
                }
                file
            }
            Err(e) => return Err(e),
        };
        if let Err(fs::TryLockError::WouldBlock) = file.try_lock() {
            return Err(io::Error::other(
                "another download to this name is under way",
            ));
        }
        if resume {
            io::Seek::seek(&mut file, io::SeekFrom::End(0))?;
        } else {
            file.set_len(0)?;
        }
        Ok(TempFile::new(file, dir, temp, target))
    }

    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// The name of the partial file of a download to `target`.
    pub fn partial_name(target: &OsStr) -> OsString {
        let mut temp = OsString::from(format!("{TEMP_PREFIX}get-"));
        temp.push(target);
        temp.push(".part");
        temp
    }

    /// Leaves the file under its temporary name (a download's partial file,
    /// to be resumed); returns its length.
    pub fn keep(mut self) -> io::Result<u64> {
        self.committed = true;
        self.file.metadata().map(|m| m.len())
    }

    /// Renames the finished file into place, replacing what was there (a
    /// symlink itself, never what it leads to) and keeping a replaced file's
    /// permission bits. (Its owner becomes the writer, and a hard link to the
    /// old file keeps the old contents: the name gets a new file.)
    pub fn commit(mut self) -> io::Result<()> {
        if let Ok(old) = self.dir.stat(&self.target, false) {
            if old.is_file() {
                self.file.set_permissions(old.permissions())?;
            }
        }
        self.dir
            .rename(&self.temp, &self.dir, &self.target, false)?;
        self.committed = true;
        Ok(())
    }
}

/// Writes `text` as the file at `path`, whole or not at all, readable by its
/// owner alone whatever was there before (a users file's hashes, a history):
/// through a [`TempFile`] made owner-only before its first byte, synced, then
/// renamed into place.
pub fn write_private(path: &Path, text: &str) -> io::Result<()> {
    let mut temp = TempFile::beside(path)?;
    temp.file
        .set_permissions(fs::Permissions::from_mode(0o600))?;
    io::Write::write_all(&mut temp.file, text.as_bytes())?;
    temp.file.sync_all()?;
    temp.dir
        .rename(&temp.temp, &temp.dir, &temp.target, false)?;
    temp.committed = true;
    Ok(())
}

/// Takes an exclusive lock for changing the file at `path`: on `PATH.lock`
/// beside it (the file itself is replaced by each write, so a lock on it
/// would be on the old file), waiting at most `wait` for another holder.
/// Held until the returned file is dropped; the kernel drops it when the
/// holder dies, so a killed writer never leaves the file locked.
pub fn lock_beside(path: &Path, wait: Duration) -> io::Result<File> {
    let mut name = path.as_os_str().to_os_string();
    name.push(".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(at::O_NOFOLLOW)
        .open(name)?;
    let busy = "another change to it is still under way";
    lock_within(&lock, wait, &Cancel::new(), busy)?;
    Ok(lock)
}

/// Takes an exclusive lock on `file`, waiting at most `wait` for another
/// holder, and not at all once `cancel` stops; `busy` says why it timed out.
fn lock_within(file: &File, wait: Duration, cancel: &Cancel, busy: &str) -> io::Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock)
                if Instant::now() < deadline && !cancel.is_stopped() =>
            {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, busy.to_string()))
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            // Nothing more can be done if removal fails; the name is never served.
            let _ = self.dir.remove(&self.temp, false);
        }
    }
}

/// Removes the temporary files that killed processes (servers or clients)
/// left below `dir`. A writer holds a lock on its temporary file for as long as
/// it has it open, and the kernel drops the lock when the writer dies, so a
/// temporary file that can be locked has no writer left. This holds across
/// processes, PID namespaces (a server that is PID 1 in every container run),
/// and servers sharing one root. The walk goes through open folders and never
/// follows a symlink, so nothing renamed meanwhile can lead it outside;
/// `report` hears of each removal or failure.
pub fn sweep(dir: &Path, report: &mut dyn FnMut(&Path, Swept)) {
    if let Ok(open) = Dir::open(dir) {
        sweep_in(&open, &open, dir, report);
    }
}

/// What the sweep did with one leftover.
#[derive(Debug)]
pub enum Swept {
    /// A temporary file, removed (or not).
    Removed(io::Result<()>),
    /// An append's undo note: its file cut back to this length, the note removed.
    PutBack(io::Result<u64>),
}

fn sweep_in(top: &Dir, dir: &Dir, path: &Path, report: &mut dyn FnMut(&Path, Swept)) {
    let Ok(entries) = dir.entries() else {
        return;
    };
    for (name, kind) in entries.map_while(Result::ok) {
        let kind = match kind {
            at::Kind::Other => dir.stat(&name, false).map_or(at::Kind::Other, |m| match m {
                m if m.is_dir() => at::Kind::Folder,
                m if m.is_file() => at::Kind::File,
                _ => at::Kind::Other,
            }),
            kind => kind,
        };
        if kind == at::Kind::Folder {
            if let Ok(sub) = dir.folder(&name, Links::Never) {
                sweep_in(top, &sub, &path.join(&name), report);
            }
            continue;
        }
        let Some(suffix) = ours(&name.to_string_lossy()) else {
            continue;
        };
        let Some(mut file) = abandoned(dir, &name) else {
            continue;
        };
        // The lock is released when `file` closes, after the name is gone.
        let swept = match suffix {
            "undo" => {
                let mut note = Vec::new();
                let put_back = io::Read::read_to_end(&mut file, &mut note)
                    .and_then(|_| undo(top, &note))
                    .and_then(|length| dir.remove(&name, false).map(|()| length));
                Swept::PutBack(put_back)
            }
            _ => Swept::Removed(dir.remove(&name, false)),
        };
        report(&path.join(&name), swept);
    }
}

/// Whether `name` has the exact shape of the server's own leftovers,
/// `.dialback-PID-N.part` (a temporary file, from [`TempFile::in_folder`]) or
/// `.dialback-PID-N.undo` (an append's note); which suffix. A user's own
/// `.dialback-notes`, or the client's resumable `.dialback-get-NAME.part`,
/// is not the sweep's to touch.
fn ours(name: &str) -> Option<&'static str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (rest, suffix) = name.strip_prefix(TEMP_PREFIX)?.rsplit_once('.')?;
    let (pid, n) = rest.split_once('-')?;
    let suffix = ["part", "undo"].into_iter().find(|s| *s == suffix)?;
    (digits(pid) && digits(n)).then_some(suffix)
}

/// The leftover `name` in `dir`, open and locked, if nobody holds it (its
/// writer is gone): a plain file, never through a symlink.
fn abandoned(dir: &Dir, name: &OsStr) -> Option<File> {
    let file = plain(dir.open_name(name, Mode::Read).ok()?).ok()?;
    file.try_lock().ok()?;
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> VPath {
        resolve(&VPath::default(), s).unwrap()
    }

    #[test]
    fn names_resolve_against_the_current_folder() {
        let cwd = v("/a/b");
        assert_eq!(resolve(&cwd, "c.txt").unwrap().display(), "/a/b/c.txt");
        assert_eq!(resolve(&cwd, "../c").unwrap().display(), "/a/c");
        assert_eq!(resolve(&cwd, "/x//y/./z/").unwrap().display(), "/x/y/z");
        assert_eq!(resolve(&cwd, "../..").unwrap().display(), "/");
        // Backslashes and tildes are ordinary characters on Unix.
        assert_eq!(
            resolve(&cwd, "..\\..\\etc").unwrap().display(),
            "/a/b/..\\..\\etc"
        );
        assert_eq!(resolve(&cwd, "~").unwrap().display(), "/a/b/~");
    }

    #[test]
    fn nothing_climbs_above_the_root() {
        let cwd = v("/a");
        for (above, stays) in [
            ("../..", "/"),
            ("../../etc/passwd", "/etc/passwd"),
            ("/..", "/"),
            ("x/../../..", "/"),
            ("../../a", "/a"),
        ] {
            assert_eq!(resolve(&cwd, above).unwrap().display(), stays, "{above}");
        }
        assert!(matches!(resolve(&cwd, "a\0b"), Err(Refusal::BadName)));
    }

    #[test]
    fn private_files_are_written_whole_and_owner_only_over_anything() {
        let (top, _) = tree("private");
        let dir = top.join("outside");
        let path = dir.join("secret.txt");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, "new text\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new text\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secret.txt"], "no temporary file is left");
        // Where nothing can be written, nothing is: an error, not a panic.
        assert!(write_private(&dir.join("missing/secret.txt"), "x").is_err());
        fs::remove_dir_all(&top).unwrap();
    }

    #[test]
    fn temporary_names_are_invisible() {
        let name = format!("{TEMP_PREFIX}1-2.part");
        assert!(matches!(
            resolve(&VPath::default(), &name),
            Err(Refusal::NotFound)
        ));
    }

    /// A scratch tree: `root/` holding `inside.txt`, and `outside/secret.txt` beside it.
    fn tree(label: &str) -> (PathBuf, Root) {
        let top =
            std::env::temp_dir().join(format!("dialback-fsys-{}-{label}", std::process::id()));
        let _ = fs::remove_dir_all(&top);
        fs::create_dir_all(top.join("root")).unwrap();
        fs::create_dir_all(top.join("outside")).unwrap();
        fs::write(top.join("root/inside.txt"), b"inside").unwrap();
        fs::write(top.join("outside/secret.txt"), b"secret").unwrap();
        let root = Root::new(&top.join("root")).unwrap();
        (top, root)
    }

    #[test]
    fn a_folder_swapped_for_a_link_out_after_it_was_opened_is_still_the_one_acted_in() {
        let (top, root) = tree("swap");
        fs::create_dir(top.join("root/sub")).unwrap();
        for name in ["f", "g", "h", "t"] {
            fs::write(top.join("root/sub").join(name), b"in").unwrap();
            fs::write(top.join("outside").join(name), b"out").unwrap();
        }
        // Every time, exactly after the folder holding the name was opened,
        // `sub` becomes a link to `outside` (its folder moves to `was`).
        let swap = {
            let top = top.clone();
            move || {
                if !top.join("root/sub").is_symlink() {
                    fs::rename(top.join("root/sub"), top.join("root/was")).unwrap();
                    std::os::unix::fs::symlink("../outside", top.join("root/sub")).unwrap();
                }
            }
        };
        let unswap = |top: &Path| {
            fs::remove_file(top.join("root/sub")).unwrap();
            fs::rename(top.join("root/was"), top.join("root/sub")).unwrap();
        };
        BETWEEN.with(|hook| *hook.borrow_mut() = Some(Box::new(swap)));
        root.remove_file(&v("sub/f")).unwrap();
        unswap(&top);
        root.make_folder(&v("sub/made")).unwrap();
        unswap(&top);
        // A rename's second folder is looked up after the swap: refused.
        let moved = root.rename(&v("sub/g"), &v("sub/g2"));
        assert!(matches!(moved, Err(Refusal::Escape)), "{moved:?}");
        unswap(&top);
        root.rename(&v("sub/g"), &v("g2")).unwrap();
        unswap(&top);
        let mut temp = root.create(&v("sub/h")).unwrap();
        unswap(&top);
        io::Write::write_all(temp.file(), b"new").unwrap();
        temp.commit().unwrap();
        BETWEEN.with(|hook| hook.borrow_mut().take());
        // Each acted in the folder it opened; nothing outside changed.
        assert!(!top.join("root/sub/f").exists());
        assert!(top.join("root/sub/made").is_dir() && top.join("root/g2").exists());
        assert_eq!(fs::read(top.join("root/sub/h")).unwrap(), b"new");
        for name in ["f", "g", "h", "t"] {
            assert_eq!(fs::read(top.join("outside").join(name)).unwrap(), b"out");
        }
        assert_eq!(fs::read_dir(top.join("outside")).unwrap().count(), 5);
        // With the link in place before the lookup, the kernel refuses it.
        fs::rename(top.join("root/sub"), top.join("root/was")).unwrap();
        std::os::unix::fs::symlink("../outside", top.join("root/sub")).unwrap();
        for refused in [
            root.open(&v("sub/t")).map(drop),
            root.open_at(&v("sub/t"), 0).map(drop),
            root.remove_file(&v("sub/t")),
            root.make_folder(&v("sub/x")),
            root.create(&v("sub/t")).map(drop),
            root.list(&v("sub")).map(drop),
            root.stat(&v("sub/t")).map(drop),
        ] {
            assert!(matches!(refused, Err(Refusal::Escape)), "{refused:?}");
        }
        fs::remove_dir_all(&top).unwrap();
    }
    #[test]
    fn name_operations_never_follow_the_last_component_nor_touch_the_root() {
        let (top, root) = tree("names");
        let link = root.path().join("out");
        std::os::unix::fs::symlink(top.join("outside"), &link).unwrap();
        std::os::unix::fs::symlink(top.join("outside/secret.txt"), root.path().join("s")).unwrap();
        // DELE and RNFR of a symlink act on the link.
        root.remove_file(&v("s")).unwrap();
        assert!(top.join("outside/secret.txt").exists());
        assert!(matches!(
            root.remove_folder(&v("out")),
            Err(Refusal::NotAFolder)
        ));
        root.rename(&v("out"), &v("moved")).unwrap();
        assert!(top.join("outside").is_dir() && root.path().join("moved").is_symlink());
        // A name below a symlink that leads out is outside.
        assert!(matches!(
            root.make_folder(&v("moved/x")),
            Err(Refusal::Escape)
        ));
        assert!(matches!(
            root.remove_file(&v("moved/secret.txt")),
            Err(Refusal::Escape)
        ));
        // The root, folders into themselves, folders that are not empty.
        assert!(matches!(root.remove_folder(&v("/")), Err(Refusal::TheRoot)));
        assert!(matches!(
            root.rename(&v("/"), &v("x")),
            Err(Refusal::TheRoot)
        ));
        root.make_folder(&v("d")).unwrap();
        root.make_folder(&v("d/e")).unwrap();
        assert!(matches!(root.make_folder(&v("d")), Err(Refusal::Exists)));
        assert!(matches!(
            root.rename(&v("d"), &v("d/e/f")),
            Err(Refusal::IntoItself)
        ));
        assert!(matches!(
            root.remove_folder(&v("d")),
            Err(Refusal::NotEmpty)
        ));
        assert!(matches!(
            root.rename(&v("inside.txt"), &v("d")),
            Err(Refusal::Exists)
        ));
        // A file replaces a file in one step.
        fs::write(root.path().join("new.txt"), b"new").unwrap();
        root.rename(&v("new.txt"), &v("inside.txt")).unwrap();
        assert_eq!(fs::read(root.path().join("inside.txt")).unwrap(), b"new");
        assert_eq!(fs::read(top.join("outside/secret.txt")).unwrap(), b"secret");
        fs::remove_dir_all(&top).unwrap();
    }

    #[test]
    fn the_sweep_removes_only_temporary_files_nobody_writes() {
        let (top, root) = tree("sweep");
        // Left by a killed writer: same name shape, no lock. Even with our own pid.
        let dead = root
            .path()
            .join(format!("{TEMP_PREFIX}{}-99.part", std::process::id()));
        fs::write(&dead, b"x").unwrap();
        let live = TempFile::beside(&root.path().join("upload.bin")).unwrap();
        // Names like ours that are not: a user's file, a client's resumable
        // download, and the shape with something else in it.
        let others: Vec<PathBuf> = [
            "notes.part",
            ".dialback-notes",
            ".dialback-get-photo.jpg.part",
            ".dialback-12-x.part",
            ".dialback-12-3.part.bak",
        ]
        .iter()
        .map(|n| root.path().join(n))
        .collect();
        for other in &others {
            fs::write(other, b"x").unwrap();
        }
        let mut removed = Vec::new();
        sweep(root.path(), &mut |p, r| {
            removed.push((p.to_path_buf(), matches!(r, Swept::Removed(Ok(())))))
        });
        assert_eq!(removed, [(dead.clone(), true)]);
        assert!(!dead.exists() && root.path().join(&live.temp).exists());
        assert!(others.iter().all(|o| o.exists()));
        drop(live);
        fs::remove_dir_all(&top).unwrap();
    }

    #[test]
    fn a_sweep_running_meanwhile_never_takes_a_new_temporary_file() {
        // The sweep of a server that has just started runs beside its first
        // uploads: one that came between a creation and its lock used to
        // remove the file, and the upload failed at its rename.
        let (top, root) = tree("sweep-race");
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sweeper = {
            let (path, done) = (root.path().to_path_buf(), done.clone());
            std::thread::spawn(move || {
                let mut taken = 0;
                while !done.load(Ordering::Relaxed) {
                    sweep(&path, &mut |_, _| taken += 1);
                }
                taken
            })
        };
        for i in 0..2000 {
            let target = root.path().join(format!("f{i}"));
            let mut temp = TempFile::beside(&target).unwrap();
            io::Write::write_all(temp.file(), b"x").unwrap();
            temp.commit().unwrap_or_else(|e| panic!("upload {i}: {e}"));
            assert_eq!(fs::read(&target).unwrap(), b"x");
        }
        done.store(true, Ordering::Relaxed);
        sweeper.join().unwrap();
        fs::remove_dir_all(&top).unwrap();
    }

    #[test]
    fn a_replaced_file_keeps_its_permission_bits() {
        let (top, root) = tree("mode");
        let target = root.path().join("inside.txt");
        fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
        let mut temp = TempFile::beside(&target).unwrap();
        io::Write::write_all(temp.file(), b"new").unwrap();
        temp.commit().unwrap();
        let meta = fs::metadata(&target).unwrap();
        assert_eq!((meta.permissions().mode() & 0o777, meta.len()), (0o640, 3));
        fs::remove_dir_all(&top).unwrap();
    }
}
