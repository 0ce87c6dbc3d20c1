//! Recursive transfers that work as a mirror: walk the source and the target
//! tree, plan what differs (`plan`, pure), then make folders, copy files and,
//! when asked, delete what the source no longer has, in pipelined batches.
//!
//! A file is copied when the target lacks it or its size or modification
//! time differs; the copy then gets the source's time (downloads locally,
//! uploads with MFMT), so a second run finds nothing to do. Against a server
//! without MFMT an upload counts as current when it is no older than the
//! local file. Remote trees are read with MLSD, or with LIST and MDTM where
//! the server has no MLSD (vsftpd). A name a server sends is used only if it
//! is one plain path component, so no listing can write outside the target.
//! With `--checksum` (as rsync `-c` and rclone `--checksum`) files of the
//! same size are compared by content instead: the server's HASH against the
//! local file's, whatever their times say.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pipeline::{small_first, Crew, Done, Event, Job, WINDOW};
use super::{local_refusal, Client, Transfer};
use crate::digest::Algorithm;
use crate::fsys::at::{Dir, Links, Mode};
use crate::fsys::{open_plain, TempFile};
use crate::listing::{parse_list, parse_mlsd, parse_tree_line, plain_name, Entry, Stamp};
use crate::protocol::{Command, TREE_END};
use crate::time::{system_time, unix_seconds, Civil};
use crate::{Error, Result};

/// A tree: folders and files by their path below its top (`a/b.txt`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tree {
    pub folders: BTreeSet<String>,
    pub files: BTreeMap<String, Stamp>,
}

/// A file MGET fetches: its remote path, the name it gets here, and the
/// size its listing gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub remote: String,
    pub name: String,
    pub size: u64,
}

/// How a mirror run decides and what it may do.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Mirror {
    /// Also remove what the source no longer has.
    pub delete: bool,
    /// Compare files of the same size by checksum, not by time.
    pub checksum: bool,
}

/// What a mirror run does to make the target like the source.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Folders to make, parents first.
    pub make: Vec<String>,
    /// Files to copy.
    pub copy: Vec<String>,
    /// Files already the same.
    pub unchanged: usize,
    /// Files of the same size on both sides, to compare by checksum.
    pub compare: Vec<String>,
    /// Paths that are a file on one side and a folder on the other.
    pub clashes: Vec<String>,
    /// Files to delete from the target (with `delete` only).
    pub remove_files: Vec<String>,
    /// Folders to remove from the target, children first.
    pub remove_folders: Vec<String>,
}

/// Whether `target` needs the `source` file copied over it. With `exact` the
/// times must match (the copy will get the source's time); without, a target
/// no older than the source is current.
pub fn differs(source: Stamp, target: Option<Stamp>, exact: bool) -> bool {
    let Some(target) = target else {
        return true;
    };
    if source.size != target.size {
        return true;
    }
    match (source.time, target.time) {
        (Some(s), Some(t)) if exact => s != t,
        (Some(s), Some(t)) => s > t,
        _ => false,
    }
}

/// The plan that makes `target` like `source` (see `differs` for `exact`).
pub fn plan(source: &Tree, target: &Tree, exact: bool, mirror: Mirror) -> Plan {
    let mut plan = Plan::default();
    for folder in &source.folders {
        if target.files.contains_key(folder) {
            plan.clashes.push(folder.clone());
        } else if !target.folders.contains(folder) {
            plan.make.push(folder.clone());
        }
    }
    for (path, &stamp) in &source.files {
        let same_size = target.files.get(path).is_some_and(|t| t.size == stamp.size);
        if target.folders.contains(path) {
            plan.clashes.push(path.clone());
        } else if mirror.checksum && same_size {
            plan.compare.push(path.clone());
        } else if differs(stamp, target.files.get(path).copied(), exact) {
            plan.copy.push(path.clone());
        } else {
            plan.unchanged += 1;
        }
    }
    if mirror.delete {
        plan.remove_files = (target.files.keys())
            .filter(|p| !source.files.contains_key(*p) && !source.folders.contains(*p))
            .cloned()
            .collect();
        plan.remove_folders = (target.folders.iter().rev())
            .filter(|p| !source.folders.contains(*p) && !source.files.contains_key(*p))
            .cloned()
            .collect();
    }
    plan
}

/// The tree below the local folder `top` (empty if it does not exist). Links
/// to files count as files; links to folders are not followed (no loops).
pub fn local_tree(top: &Path) -> io::Result<Tree> {
    let mut tree = Tree::default();
    if !top.exists() {
        return Ok(tree);
    }
    let mut todo = vec![String::new()];
    while let Some(folder) = todo.pop() {
        for entry in fs::read_dir(top.join(&folder))? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !plain_name(&name) {
                continue;
            }
            let path = join(&folder, &name);
            let kind = entry.file_type()?;
            if kind.is_dir() {
                tree.folders.insert(path.clone());
                todo.push(path);
            } else if let Some(meta) = file_meta(&entry, kind) {
                let time = meta.modified().ok().map(unix_seconds);
                let size = meta.len();
                tree.files.insert(path, Stamp { size, time });
            }
        }
    }
    Ok(tree)
}

/// How deep a remote tree may go: deeper is taken for a server whose folder
/// lists itself (the tree would never end), and refused before any copy.
const MAX_DEPTH: usize = 100;
/// The most entries a remote tree may have: its paths are held in memory.
const MAX_ENTRIES: usize = 1_000_000;

/// How many files `--verify` checks at once in a mirror: as many HASHes as
/// the pipeline sends ahead, so a part's cost one round trip; the downloads
/// wait for them uncommitted, an open file each, well inside the usual
/// limit of 1,024.
const CHECKED: usize = WINDOW;

/// Reads the listing `text` of `folder` into `tree`, and its folders into
/// `next`. A listing we cannot read fails the whole tree: taken for empty, it
/// would make a mirror delete what it lacks.
fn add_listing(
    tree: &mut Tree,
    next: &mut Vec<String>,
    folder: &str,
    text: &[u8],
    mlsd: bool,
    most: usize,
) -> std::result::Result<(), String> {
    let text = String::from_utf8_lossy(text);
    let entries = match mlsd {
        true => parse_mlsd(&text)?,
        false => parse_list(&text)?,
    };
    for entry in entries {
        match entry {
            Entry::File(name, stamp) => {
                tree.files.insert(join(folder, &name), stamp);
            }
            Entry::Folder(name) => {
                let path = join(folder, &name);
                tree.folders.insert(path.clone());
                next.push(path);
            }
        }
    }
    if tree.files.len() + tree.folders.len() > most {
        return Err(format!(
            "more than {most} files and folders in the tree; mirror a part of it at a time"
        ));
    }
    Ok(())
}

/// Reads one line of a TREE reply into `tree`. What MLSD would leave out
/// is left out, and so is what is below it: an entry whose folder is not in
/// the tree (the walk gives each folder before what it holds).
fn add_tree_line(tree: &mut Tree, line: &str) -> std::result::Result<(), String> {
    let facts = line.strip_prefix(' ').ok_or("not a line of the tree")?;
    let (path, stamp) = match parse_tree_line(facts)? {
        None => return Ok(()),
        Some(Entry::File(path, stamp)) => (path, Some(stamp)),
        Some(Entry::Folder(path)) => (path, None),
    };
    if let Some((folder, _)) = path.rsplit_once('/') {
        if !tree.folders.contains(folder) {
            return Ok(());
        }
    }
    match stamp {
        Some(stamp) => drop(tree.files.insert(path, stamp)),
        None => drop(tree.folders.insert(path)),
    }
    match tree.files.len() + tree.folders.len() > MAX_ENTRIES {
        true => Err(format!("more than {MAX_ENTRIES} files and folders")),
        false => Ok(()),
    }
}

/// Whether the partial file of a download to `name` in `dir` may be gone on
/// from: a plain file of ours, written no earlier than the remote file's
/// last change (`time`), so both are parts of one version.
fn resumable(dir: &Dir, name: &std::ffi::OsStr, time: Option<i64>) -> bool {
    let Ok(meta) = dir.stat(&TempFile::partial_name(name), false) else {
        return false;
    };
    let written = meta.modified().ok().map(unix_seconds);
    crate::fsys::at::sole_own_file(&meta)
        && meta.len() > 0
        && matches!((written, time), (Some(w), Some(t)) if w >= t)
}

/// The open folder below `top` that holds `path` (`a/b/c.txt`), reached
/// without following any symlink, and the last name.
fn holder(top: &Dir, path: &str) -> io::Result<(Dir, OsString)> {
    let (folder, name) = path.rsplit_once('/').unwrap_or((".", path));
    Ok((top.folder(folder, Links::Never)?, OsString::from(name)))
}

/// A plain file's metadata, through a link to one too. A plain file's is
/// read relative to its open folder, which spares walking the whole path
/// again for each file (path lookups were about 40% of the local walk's time
/// in a profile of an unchanged `GET -r` of 2,000 files).
fn file_meta(entry: &fs::DirEntry, kind: fs::FileType) -> Option<fs::Metadata> {
    let meta = match kind.is_symlink() {
        true => fs::metadata(entry.path()),
        false => entry.metadata(),
    };
    meta.ok().filter(|m| m.is_file())
}

/// `folder/name`, or `name` at the top.
fn join(folder: &str, name: &str) -> String {
    match folder {
        "" => name.to_string(),
        _ => format!("{folder}/{name}"),
    }
}

/// What a recursive transfer did.
#[derive(Debug, Default)]
pub struct Summary {
    pub files: u64,
    pub bytes: u64,
    pub unchanged: usize,
    pub deleted: usize,
    /// Paths that failed, each with why.
    pub failed: Vec<(String, Error)>,
    pub elapsed: Duration,
}

/// What a recursive transfer tells its caller as it goes.
pub enum Progress<'a> {
    /// This many files with this many bytes between them are to be copied.
    Planned(usize, u64),
    /// `path` has moved this many bytes so far.
    Moving(&'a str, u64),
    /// `path` is done (or failed).
    Moved(&'a str, &'a Result<Transfer>),
    /// A line to show: the session went passive.
    Note(&'a str),
}

impl Client {
    /// The names FEAT lists, asked once per connection (none if FEAT is unknown).
    pub fn features(&mut self) -> Result<&[String]> {
        if self.features.is_none() {
            let reply = self.command(&Command::Feat)?;
            self.keep_features(&reply);
        }
        Ok(self.features.as_deref().unwrap_or_default())
    }

    /// Keeps what a reply to FEAT lists (nothing, if it was refused).
    pub(super) fn keep_features(&mut self, reply: &super::Reply) {
        let lines = match reply.code {
            211 => reply.lines.get(1..).unwrap_or_default(),
            _ => &[],
        };
        let names = lines.iter().map(|l| l.trim().to_ascii_uppercase());
        self.features = Some(names.collect());
    }

    fn has_feature(&mut self, name: &str) -> Result<bool> {
        let found = self
            .features()?
            .iter()
            .any(|f| f.split(' ').next() == Some(name));
        Ok(found)
    }

    /// The entries of one remote folder (`""` for the current one): MLSD
    /// where the server has it, else LIST.
    pub fn entries(&mut self, folder: &str) -> Result<Vec<Entry>> {
        let mlsd = self.has_feature("MLST")?;
        let path = (!folder.is_empty()).then(|| folder.to_string());
        let cmd = match mlsd {
            true => Command::Mlsd(path),
            false => Command::List(path),
        };
        let (mut text, mut failure) = (None, None);
        self.pipeline([Ok(Job::List(cmd))], &mut |event| match event {
            Event::Finished(_, Ok(Done::Listed(t))) => text = Some(t),
            Event::Finished(_, Err(e)) => failure = Some(e),
            _ => {}
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        let text = String::from_utf8_lossy(text.as_deref().unwrap_or_default()).into_owned();
        match mlsd {
            true => parse_mlsd(&text),
            false => parse_list(&text),
        }
        .map_err(Error::Protocol)
    }

    /// The remote tree below `top`, read a level at a time (a wide level over
    /// `crew`'s sessions too): MLSD, or LIST and then pipelined MDTMs for the files.
    pub fn remote_tree(
        &mut self,
        top: &str,
        crew: &mut Crew,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Tree> {
        let mlsd = self.has_feature("MLST")?;
        if mlsd && self.has_feature("TREE")? {
            if let Some(tree) = self.whole_tree(top)? {
                return Ok(tree);
            }
        }
        if !mlsd {
            // LIST of a missing folder is an empty listing on some servers
            // (vsftpd), which a mirror would take for an empty source.
            let here = self.pwd()?;
            self.cd(top)?;
            self.cd(&here)?;
        }
        let mut tree = Tree::default();
        let mut level = vec![String::new()];
        let mut depth = 0;
        while !level.is_empty() {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(Error::Protocol(format!(
                    "{top}: more than {MAX_DEPTH} folders deep (a folder that lists itself?); nothing was copied"
                )));
            }
            let make = |i: usize| {
                let path = Some(remote_path(top, &level[i]));
                Ok(Job::List(match mlsd {
                    true => Command::Mlsd(path),
                    false => Command::List(path),
                }))
            };
            // Each listing is read into the tree as it arrives, so no more
            // than the sessions' listings in flight are held at once.
            let (mut next, mut failure) = (Vec::new(), None);
            let order: Vec<usize> = (0..level.len()).collect();
            self.spread(crew, &order, &make, &mut |event| match event {
                Event::Finished(i, Ok(Done::Listed(text))) if failure.is_none() => {
                    let read =
                        add_listing(&mut tree, &mut next, &level[i], &text, mlsd, MAX_ENTRIES);
                    let at = || remote_path(top, &level[i]);
                    failure = read
                        .err()
                        .map(|e| Error::Protocol(format!("{}: {e}", at())));
                }
                Event::Finished(_, Err(e)) => failure = failure.take().or(Some(e)),
                Event::Note(line) => progress(Progress::Note(&line)),
                _ => {}
            })?;
            if let Some(e) = failure {
                return Err(e);
            }
            level = next;
        }
        if !mlsd && self.has_feature("MDTM")? {
            self.ask_times(top, &mut tree)?;
        }
        Ok(tree)
    }

    /// The whole tree below `top` in one reply, from a server that offers
    /// TREE (ours): one round trip where listing folder by folder takes one
    /// per folder a session. `None` if the server did not give all of it
    /// (refused, or stopped short); the tree is then read folder by folder,
    /// which says what is wrong. Read line by line into the tree, so no
    /// more than the tree is held.
    fn whole_tree(&mut self, top: &str) -> Result<Option<Tree>> {
        let path = (!top.is_empty()).then(|| top.to_string());
        self.send(&Command::Tree(path))?;
        let first = self.reply_line()?;
        // `-v` shows the reply's first and last lines, not every entry.
        self.observe(super::Direction::Received, &first);
        if !first.starts_with("213-") {
            // A refusal: one line, or several ending in its code.
            if first.as_bytes().get(3) == Some(&b'-') {
                let end = format!("{} ", &first[..3]);
                while !self.reply_line()?.starts_with(&end) {}
            }
            return Ok(None);
        }
        let (mut tree, mut trouble) = (Tree::default(), false);
        loop {
            let line = self.reply_line()?;
            if let Some(last) = line.strip_prefix("213 ") {
                self.observe(super::Direction::Received, &line);
                return Ok((!trouble && last == TREE_END).then_some(tree));
            }
            trouble = trouble || add_tree_line(&mut tree, &line).is_err();
        }
    }

    /// Fills in the files' times with pipelined MDTMs.
    fn ask_times(&mut self, top: &str, tree: &mut Tree) -> Result<()> {
        let paths: Vec<String> = tree.files.keys().cloned().collect();
        let jobs = (paths.iter()).map(|p| Ok(Job::Ask(Command::Mdtm(remote_path(top, p)), &[213])));
        self.pipeline(jobs, &mut |event| {
            if let Event::Finished(i, Ok(Done::Answered(reply))) = event {
                let time = Civil::parse_compact(reply.text().trim()).map(|c| c.to_unix());
                if let Some(stamp) = tree.files.get_mut(&paths[i]) {
                    stamp.time = time;
                }
            }
        })
    }

    /// Makes the local folder `local` like the remote folder `remote`.
    pub fn get_tree(
        &mut self,
        remote: &str,
        local: &Path,
        mirror: Mirror,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Summary> {
        let started = Instant::now();
        // A mirror is byte for byte, whatever ASCII mode says.
        self.set_type(false)?;
        let mut crew = Crew::default();
        let source = self.remote_tree(remote, &mut crew, progress)?;
        let target = local_tree(local)?;
        let mut plan = plan(&source, &target, true, mirror);
        // Everything below the target happens through its open folder, and
        // no symlink in it is followed: one put there, even mid-run, is
        // refused and named, and nothing outside is written or removed.
        fs::create_dir_all(local)?;
        let top = Dir::open(local)?;
        let ours = |path: &str, algorithm| {
            let mut file = top.resolve(path, Mode::Read, Links::Never)?;
            super::digest_of(&mut file, algorithm)
        };
        let settle = (&source, &target, true);
        self.by_content(&mut plan, remote, settle, &ours, progress)?;
        let mut summary = Summary {
            unchanged: plan.unchanged,
            ..Summary::default()
        };
        fail_clashes(&plan, &mut summary);
        for folder in &plan.make {
            let made = holder(&top, folder).and_then(|(dir, name)| dir.make_folder(&name));
            if let Err(e) = made {
                summary.failed.push((folder.clone(), e.into()));
            }
        }
        let make = |i: usize| {
            let path = &plan.copy[i];
            let (dir, name) = holder(&top, path)?;
            // A partial file left by a stopped run is gone on from, if it was
            // written since the remote file last changed.
            let resume = resumable(&dir, &name, source.files[path].time);
            let sink = TempFile::partial(Arc::new(dir), &name, resume)?;
            let remote = remote_path(remote, path);
            let size = source.files[path].size;
            Ok(Job::Get { remote, sink, size })
        };
        let bytes = plan.copy.iter().map(|p| source.files[p].size).sum();
        progress(Progress::Planned(plan.copy.len(), bytes));
        let order = small_first(plan.copy.iter().map(|p| source.files[p].size));
        // With --verify a part's files wait, uncommitted, for its checks.
        let check = self.verify_algorithm()?;
        for part in order.chunks(part_size(check, order.len())) {
            let mut landed = Vec::new();
            self.spread(&mut crew, part, &make, &mut |event| match event {
                Event::Progress(i, n) => progress(Progress::Moving(&plan.copy[i], n)),
                Event::Note(line) => progress(Progress::Note(&line)),
                Event::Finished(i, result) => {
                    let path = &plan.copy[i];
                    let result = result.and_then(|done| match done {
                        Done::Got(mut sink, transfer) => {
                            if let Some(t) = source.files[path].time {
                                sink.file().set_modified(system_time(t))?;
                            }
                            Ok((sink, transfer))
                        }
                        _ => Err(Error::Protocol("a download ended without its file".into())),
                    });
                    match (result, check) {
                        (Ok(got), Some(_)) => landed.push((i, got)),
                        (result, _) => {
                            let done =
                                result.and_then(|(sink, t)| Ok(sink.commit().map(|()| t)?));
                            summary.count(path, done, progress);
                        }
                    }
                }
            })?;
            if let Some(algorithm) = check {
                let remote_of = |i: usize| remote_path(remote, &plan.copy[i]);
                self.commit_checked(algorithm, landed, &remote_of, &mut |i, done| {
                    summary.count(&plan.copy[i], done, progress)
                })?;
            }
        }
        for (paths, folder) in [(&plan.remove_files, false), (&plan.remove_folders, true)] {
            for path in paths {
                let removed = holder(&top, path).and_then(|(dir, name)| dir.remove(&name, folder));
                summary.removed(path, removed.map_err(Error::from));
            }
        }
        summary.elapsed = started.elapsed();
        Ok(summary)
    }

    /// Downloads `files` into the folder `local`, each under its name there,
    /// over this session and a crew of others, pipelined (MGET); `done`
    /// hears how each went, as it ends.
    pub fn get_files(
        &mut self,
        files: &[Wanted],
        local: &Path,
        done: &mut dyn FnMut(&str, Result<Transfer>),
    ) -> Result<()> {
        self.set_type(false)?;
        let mut crew = Crew::default();
        let top = Arc::new(Dir::open(local)?);
        let make = |i: usize| {
            let Wanted { remote, name, size } = &files[i];
            let sink = TempFile::partial(Arc::clone(&top), name.as_ref(), false)?;
            let (remote, size) = (remote.clone(), *size);
            Ok(Job::Get { remote, sink, size })
        };
        let mut notes = Vec::new();
        let order = small_first(files.iter().map(|f| f.size));
        // With --verify a part's files wait, uncommitted, for its checks.
        let check = self.verify_algorithm()?;
        let mut run = || -> Result<()> {
            for part in order.chunks(part_size(check, order.len())) {
                let mut landed = Vec::new();
                self.spread(&mut crew, part, &make, &mut |event| match event {
                    Event::Finished(i, result) => {
                        let result = result.and_then(|done| match done {
                            Done::Got(sink, transfer) => Ok((sink, transfer)),
                            _ => Err(Error::Protocol("a download ended without its file".into())),
                        });
                        match (result, check) {
                            (Ok(got), Some(_)) => landed.push((i, got)),
                            (result, _) => {
                                let result =
                                    result.and_then(|(s, t)| Ok(s.commit().map(|()| t)?));
                                done(&files[i].name, result);
                            }
                        }
                    }
                    // Said with the session's own (`take_notes`).
                    Event::Note(line) => notes.push(line),
                    Event::Progress(..) => {}
                })?;
                if let Some(algorithm) = check {
                    let remote_of = |i: usize| files[i].remote.clone();
                    self.commit_checked(algorithm, landed, &remote_of, &mut |i, result| {
                        done(&files[i].name, result)
                    })?;
                }
            }
            Ok(())
        };
        let result = run();
        self.notes.extend(notes);
        result
    }

    /// Makes the remote folder `remote` like the local folder `local`.
    pub fn put_tree(
        &mut self,
        local: &Path,
        remote: &str,
        mirror: Mirror,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Summary> {
        let started = Instant::now();
        if !fs::metadata(local).is_ok_and(|m| m.is_dir()) {
            return Err(Error::Usage(format!(
                "{}: no such local folder",
                local.display()
            )));
        }
        self.set_type(false)?;
        let source = local_tree(local)?;
        // A folder that is not there yet (550; 501 from pyftpdlib): MKD makes
        // it, or the listing's refusal says why not.
        let mut crew = Crew::default();
        let target = match self.remote_tree(remote, &mut crew, progress) {
            Ok(tree) => tree,
            Err(Error::Remote(refused)) => {
                self.mkdir(remote).map_err(|_| Error::Remote(refused))?;
                Tree::default()
            }
            Err(e) => return Err(e),
        };
        let exact = self.has_feature("MFMT")?;
        let mut summary = Summary::default();
        let mut plan = plan(&source, &target, exact, mirror);
        let ours = |path: &str, algorithm| {
            let at = local.join(path);
            let mut file = open_plain(&at, fs::OpenOptions::new().read(true))
                .map_err(|r| local_refusal(&at, r))?;
            super::digest_of(&mut file, algorithm)
        };
        self.by_content(
            &mut plan,
            remote,
            (&source, &target, exact),
            &ours,
            progress,
        )?;
        summary.unchanged = plan.unchanged;
        fail_clashes(&plan, &mut summary);
        let mkd = |p: &String| Ok(Job::Ask(Command::Mkd(remote_path(remote, p)), &[257]));
        self.pipeline(plan.make.iter().map(mkd), &mut |event| {
            if let Event::Finished(i, Err(e)) = event {
                summary.failed.push((plan.make[i].clone(), e));
            }
        })?;
        let make = |i: usize| {
            let path = &plan.copy[i];
            let at = local.join(path);
            let file = open_plain(&at, fs::OpenOptions::new().read(true))
                .map_err(|r| local_refusal(&at, r))?;
            let size = file.metadata()?.len();
            let time = source.files[path]
                .time
                .filter(|_| exact)
                .map(Civil::from_unix);
            let remote = remote_path(remote, path);
            Ok(Job::Put {
                file,
                remote,
                size,
                time,
            })
        };
        let bytes = plan.copy.iter().map(|p| source.files[p].size).sum();
        progress(Progress::Planned(plan.copy.len(), bytes));
        let order = small_first(plan.copy.iter().map(|p| source.files[p].size));
        // With --verify a part's uploads are checked once it is over.
        let check = self.verify_algorithm()?;
        for part in order.chunks(part_size(check, order.len())) {
            let mut sent = Vec::new();
            self.spread(&mut crew, part, &make, &mut |event| match event {
                Event::Progress(i, n) => progress(Progress::Moving(&plan.copy[i], n)),
                Event::Note(line) => progress(Progress::Note(&line)),
                Event::Finished(i, result) => {
                    let result = result.and_then(|done| match done {
                        Done::Sent(t) => Ok(t),
                        _ => Err(Error::Protocol("an upload ended without its reply".into())),
                    });
                    match (result, check) {
                        (Ok(t), Some(_)) => sent.push((i, t)),
                        (result, _) => summary.count(&plan.copy[i], result, progress),
                    }
                }
            })?;
            if let Some(algorithm) = check {
                let remotes: Vec<String> = (sent.iter())
                    .map(|(i, _)| remote_path(remote, &plan.copy[*i]))
                    .collect();
                let ours = &mut |k: usize| ours(&plan.copy[sent[k].0], algorithm);
                let checks = self.check_all(algorithm, &remotes, ours)?;
                for (((i, transfer), checked), at) in sent.into_iter().zip(checks).zip(&remotes) {
                    // What arrived is not what was sent: it goes.
                    if checked.is_err() {
                        let _ = self.delete(at);
                    }
                    summary.count(&plan.copy[i], checked.map(|()| transfer), progress);
                }
            }
        }
        let removals: Vec<(&String, Command)> = (plan.remove_files.iter())
            .map(|p| (p, Command::Dele(remote_path(remote, p))))
            .chain(
                plan.remove_folders
                    .iter()
                    .map(|p| (p, Command::Rmd(remote_path(remote, p)))),
            )
            .collect();
        let jobs = removals
            .iter()
            .map(|(_, cmd)| Ok(Job::Ask(cmd.clone(), &[250])));
        self.pipeline(jobs, &mut |event| {
            if let Event::Finished(i, result) = event {
                summary.removed(removals[i].0, result.map(|_| ()));
            }
        })?;
        summary.elapsed = started.elapsed();
        Ok(summary)
    }
}

impl Client {
    /// Settles the plan's files of the same size on both sides by content:
    /// one whose checksum here (`ours`) differs from the server's HASH of it
    /// is copied, one that matches is left as it is, and one whose checksum
    /// cannot be had on either side is copied, which puts it right. Against
    /// a server without HASH, one note, and size and time decide (`settle`:
    /// source, target and whether times must match exactly).
    fn by_content(
        &mut self,
        plan: &mut Plan,
        remote: &str,
        settle: (&Tree, &Tree, bool),
        ours: &dyn Fn(&str, Algorithm) -> Result<String>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        let compare = std::mem::take(&mut plan.compare);
        if compare.is_empty() {
            return Ok(());
        }
        let (source, target, exact) = settle;
        if !self.content_hash()? {
            progress(Progress::Note(
                "the server has no HASH: --checksum compares sizes and times",
            ));
            for path in compare {
                match differs(source.files[&path], target.files.get(&path).copied(), exact) {
                    true => plan.copy.push(path),
                    false => plan.unchanged += 1,
                }
            }
            return Ok(());
        }
        let mut theirs = vec![None; compare.len()];
        let ask = |p: &String| Ok(Job::Ask(Command::Hash(remote_path(remote, p)), &[213]));
        self.pipeline(compare.iter().map(ask), &mut |event| {
            if let Event::Finished(i, Ok(Done::Answered(reply))) = event {
                theirs[i] = super::hash_reply(&reply);
            }
        })?;
        for (path, theirs) in compare.into_iter().zip(theirs) {
            let same = theirs.is_some_and(|(algorithm, hex)| {
                ours(&path, algorithm).is_ok_and(|ours| ours == hex)
            });
            match same {
                true => plan.unchanged += 1,
                false => plan.copy.push(path),
            }
        }
        plan.copy.sort();
        Ok(())
    }

    /// `--verify` for a batch's files, once they came or went: the server's
    /// HASH of each of `remotes`, asked for in one pipelined batch on this
    /// session, against `ours` of the same file; for each, whether they
    /// agree.
    fn check_all(
        &mut self,
        algorithm: Algorithm,
        remotes: &[String],
        ours: &mut dyn FnMut(usize) -> Result<String>,
    ) -> Result<Vec<Result<()>>> {
        let mut replies: Vec<Option<Result<Done>>> = remotes.iter().map(|_| None).collect();
        let ask = |r: &String| Ok(Job::Ask(Command::Hash(r.clone()), &[213]));
        self.pipeline(remotes.iter().map(ask), &mut |event| {
            if let Event::Finished(k, result) = event {
                replies[k] = Some(result);
            }
        })?;
        let checked = (replies.into_iter().enumerate()).map(|(k, reply)| match reply {
            Some(Ok(Done::Answered(reply))) => {
                super::agree(&remotes[k], algorithm, &ours(k)?, reply)
            }
            Some(Err(e)) => Err(e),
            _ => Err(Error::Protocol("HASH got no reply".into())),
        });
        Ok(checked.collect())
    }

    /// A part's downloads that `landed` (each with its index, for
    /// `remote_of` and `finish`), checked with `check_all`: each is renamed
    /// into place only if it agrees, and `finish` hears how each went.
    fn commit_checked(
        &mut self,
        algorithm: Algorithm,
        mut landed: Vec<(usize, (TempFile, Transfer))>,
        remote_of: &dyn Fn(usize) -> String,
        finish: &mut dyn FnMut(usize, Result<Transfer>),
    ) -> Result<()> {
        let remotes: Vec<String> = landed.iter().map(|(i, _)| remote_of(*i)).collect();
        let ours = &mut |k: usize| super::digest_of(landed[k].1 .0.file(), algorithm);
        let checks = self.check_all(algorithm, &remotes, ours)?;
        for ((i, (sink, transfer)), checked) in landed.into_iter().zip(checks) {
            finish(
                i,
                checked.and_then(|()| Ok(sink.commit().map(|()| transfer)?)),
            );
        }
        Ok(())
    }

    /// Whether the server has HASH; if so this session's HASH answers in
    /// SHA-256 where the server offers it (else its own choice).
    fn content_hash(&mut self) -> Result<bool> {
        let offered = self.offered_hashes()?;
        if offered.iter().any(|(a, _)| *a == Algorithm::Sha256) {
            // One that will not switch keeps its own, which its replies name.
            self.choose_hash(Algorithm::Sha256)?;
        }
        Ok(!offered.is_empty())
    }
}

/// How many files of a mirror go in one part: all, unless `--verify`
/// checks them (`check`), when each part's downloads wait uncommitted, an
/// open file each, for the part's checks.
fn part_size(check: Option<Algorithm>, all: usize) -> usize {
    match check {
        Some(_) => CHECKED,
        None => all.max(1),
    }
}

impl Summary {
    fn count(&mut self, path: &str, result: Result<Transfer>, progress: &mut dyn FnMut(Progress)) {
        progress(Progress::Moved(path, &result));
        match result {
            Ok(t) => {
                self.files += 1;
                self.bytes += t.bytes;
            }
            Err(e) => self.failed.push((path.to_string(), e)),
        }
    }

    fn removed(&mut self, path: &str, result: Result<()>) {
        match result {
            Ok(()) => self.deleted += 1,
            Err(e) => self.failed.push((path.to_string(), e)),
        }
    }
}

fn fail_clashes(plan: &Plan, summary: &mut Summary) {
    for path in &plan.clashes {
        let e = Error::Usage("a file on one side and a folder on the other".into());
        summary.failed.push((path.clone(), e));
    }
}

/// The remote path of `path` below `top` (`top` itself for the top).
fn remote_path(top: &str, path: &str) -> String {
    match path {
        "" => top.to_string(),
        _ => format!("{}/{path}", top.trim_end_matches('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(size: u64, time: i64) -> Stamp {
        Stamp {
            size,
            time: Some(time),
        }
    }

    fn tree(folders: &[&str], files: &[(&str, Stamp)]) -> Tree {
        Tree {
            folders: folders.iter().map(|f| f.to_string()).collect(),
            files: files.iter().map(|(p, s)| (p.to_string(), *s)).collect(),
        }
    }

    #[test]
    fn a_file_differs_by_size_or_time() {
        assert!(differs(stamp(3, 10), None, true));
        assert!(differs(stamp(3, 10), Some(stamp(4, 10)), true));
        assert!(differs(stamp(3, 10), Some(stamp(3, 11)), true));
        assert!(!differs(stamp(3, 10), Some(stamp(3, 10)), true));
        // Without exact times, a target no older than the source is current.
        assert!(!differs(stamp(3, 10), Some(stamp(3, 11)), false));
        assert!(differs(stamp(3, 12), Some(stamp(3, 11)), false));
        // An unknown time leaves the size to decide.
        let unknown = Stamp {
            size: 3,
            time: None,
        };
        assert!(!differs(stamp(3, 10), Some(unknown), true));
    }

    #[test]
    fn a_plan_copies_what_differs_and_deletes_only_when_asked() {
        let source = tree(
            &["a", "a/b", "new"],
            &[
                ("a/same", stamp(1, 5)),
                ("a/b/changed", stamp(2, 6)),
                ("top", stamp(3, 7)),
            ],
        );
        let target = tree(
            &["a", "a/b", "gone", "gone/deeper"],
            &[
                ("a/same", stamp(1, 5)),
                ("a/b/changed", stamp(2, 1)),
                ("gone/deeper/x", stamp(1, 1)),
                ("old", stamp(1, 1)),
            ],
        );
        let only = |delete, checksum| Mirror { delete, checksum };
        let mirror = plan(&source, &target, true, only(false, false));
        assert_eq!(mirror.make, ["new"]);
        assert_eq!(mirror.copy, ["a/b/changed", "top"]);
        assert_eq!(mirror.unchanged, 1);
        assert!(mirror.remove_files.is_empty() && mirror.remove_folders.is_empty());
        let sync = plan(&source, &target, true, only(true, false));
        assert_eq!(sync.remove_files, ["gone/deeper/x", "old"]);
        assert_eq!(
            sync.remove_folders,
            ["gone/deeper", "gone"],
            "children first"
        );
        // A name that is a file on one side and a folder on the other is neither
        // copied over nor deleted.
        let clash = plan(
            &tree(&["x"], &[]),
            &tree(&[], &[("x", stamp(1, 1))]),
            true,
            only(true, false),
        );
        assert_eq!(clash.clashes, ["x"]);
        assert!(clash.make.is_empty() && clash.remove_files.is_empty());
        // By content: every file of the same size is compared, whatever its
        // time; one of another size or missing is copied.
        let content = plan(&source, &target, true, only(false, true));
        assert_eq!(content.compare, ["a/b/changed", "a/same"]);
        assert_eq!(content.copy, ["top"]);
        assert_eq!(content.unchanged, 0);
    }

    #[test]
    fn remote_paths_join_below_the_top() {
        assert_eq!(remote_path("photos", ""), "photos");
        assert_eq!(remote_path("photos/", "a/b"), "photos/a/b");
        assert_eq!(remote_path("/", "a"), "/a");
    }

    #[test]
    fn the_local_tree_skips_temporary_files_and_folder_links() {
        let top = std::env::temp_dir().join(format!("dialback-tree-{}", std::process::id()));
        let _ = fs::remove_dir_all(&top);
        fs::create_dir_all(top.join("a/b")).unwrap();
        fs::write(top.join("a/b/f"), b"four").unwrap();
        fs::write(top.join(".dialback-get-f.part"), b"").unwrap();
        std::os::unix::fs::symlink(&top, top.join("a/loop")).unwrap();
        std::os::unix::fs::symlink(top.join("a/b/f"), top.join("to-f")).unwrap();
        let t = local_tree(&top).unwrap();
        fs::remove_dir_all(&top).unwrap();
        assert_eq!(t.folders.iter().collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(t.files.keys().collect::<Vec<_>>(), ["a/b/f", "to-f"]);
        assert_eq!(t.files["to-f"].size, 4);
        assert!(
            local_tree(&top).unwrap().files.is_empty(),
            "a missing folder is empty"
        );
    }

    #[test]
    fn a_remote_tree_holds_at_most_its_bound_of_entries() {
        let (mut tree, mut next) = (Tree::default(), Vec::new());
        let listing = b"type=dir; sub\r\ntype=file;size=1; a\r\ntype=file;size=1; b\r\n";
        add_listing(&mut tree, &mut next, "", listing, true, 5).unwrap();
        assert_eq!(next, ["sub"]);
        let over = add_listing(&mut tree, &mut next, "sub", listing, true, 5).unwrap_err();
        assert_eq!(
            over,
            "more than 5 files and folders in the tree; mirror a part of it at a time"
        );
        let odd = add_listing(&mut tree, &mut next, "", b"what is this\r\n", false, 5);
        assert!(odd.is_err());
    }
}
