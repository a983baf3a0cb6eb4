//! Local files that appear whole or not at all, and the registry of the
//! temporary files behind them, which a program removes when it is killed
//! ([`remove_temporaries`]); outputs put in place together ([`place_together`]),
//! which a signal waits for ([`stop_commits`]).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::input::follow_links;

/// Every temporary file being written, to remove if the process is killed:
/// dropping a file never runs then, and a killed `generate` would leave a
/// file as large as the size asked for. `None` once removed for good
/// ([`remove_temporaries`]): the process is about to exit, and no file may
/// be made after.
static TEMPORARIES: Mutex<Option<Vec<PathBuf>>> = Mutex::new(Some(Vec::new()));

/// Folders made for outputs (`generate DIR`), deepest first, to remove if
/// the process is killed before its outputs are in place.
static FOLDERS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Adds a temporary file to remove if the process is killed.
pub fn register(path: &Path) {
    if let Ok(mut all) = TEMPORARIES.lock() {
        if let Some(all) = all.as_mut() {
            all.push(path.to_path_buf());
        }
    }
}

/// Makes a temporary file with `builder` in `dir` and registers it, as one
/// step: the list's lock is held while the file is made, so a signal's
/// [`remove_temporaries`] waits for it and removes it. Made, then
/// registered, a signal in between left it behind (a test that kills
/// `generate` as soon as its file appears saw it under load). Once the
/// temporaries are removed for good, none is made.
pub fn registered_tempfile(
    builder: &tempfile::Builder<'_, '_>,
    dir: &Path,
) -> io::Result<(File, tempfile::TempPath)> {
    let mut all = TEMPORARIES.lock().unwrap_or_else(|e| e.into_inner());
    let Some(all) = all.as_mut() else {
        return Err(io::Error::other("the process is stopping"));
    };
    let (file, temp) = builder.tempfile_in(dir)?.into_parts();
    all.push(temp.to_path_buf());
    Ok((file, temp))
}

/// Takes a temporary file off the list: it was renamed or removed.
pub fn unregister(path: &Path) {
    if let Ok(mut all) = TEMPORARIES.lock() {
        if let Some(all) = all.as_mut() {
            all.retain(|p| p != path);
        }
    }
}

/// Adds folders just made (deepest first) to remove, if still empty, when
/// the process is killed.
pub fn register_folders(made: &[PathBuf]) {
    if let Ok(mut all) = FOLDERS.lock() {
        all.extend_from_slice(made);
    }
}

/// Takes folders off the list: they are kept, or removed already.
pub fn unregister_folders(made: &[PathBuf]) {
    if let Ok(mut all) = FOLDERS.lock() {
        all.retain(|p| !made.contains(p));
    }
}

/// Removes every temporary file still being written, then the folders
/// made for them (only empty ones). For a signal handler's thread, just
/// before the process exits.
pub fn remove_temporaries() {
    if let Ok(mut all) = TEMPORARIES.lock() {
        for path in all.take().unwrap_or_default() {
            let _ = std::fs::remove_file(path);
        }
    }
    if let Ok(mut all) = FOLDERS.lock() {
        for dir in all.drain(..) {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Fails, as the system would open it, when `path` cannot name a file to
/// write: a trailing `/` or `/.` on a file (ENOTDIR) or on nothing at all
/// (EISDIR), a loop of links (ELOOP). `Path` drops a trailing slash, so
/// without this `-o loc.csv/` would replace `loc.csv` itself. An existing
/// folder passes: the writer refuses it in words of its own.
pub fn check_file_path(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let bytes = path.as_os_str().as_bytes();
            let names_folder = bytes.ends_with(b"/")
                || bytes.ends_with(b"/.")
                || bytes.ends_with(b"/..")
                || bytes == b"."
                || bytes == b"..";
            if names_folder {
                Err(io::Error::from_raw_os_error(libc::EISDIR))
            } else {
                Ok(())
            }
        }
        Err(e) => Err(e),
    }
}

/// Whether a commit is under way; a signal waits for it ([`stop_commits`]).
static COMMITS: Mutex<()> = Mutex::new(());

/// Set once an output was put in place and kept, so that a signal's
/// message can say whether anything was written.
static PLACED: AtomicBool = AtomicBool::new(false);

/// Puts outputs in place together, each step putting one (or taking a
/// stale file away), in order: all are kept, or, when one fails, those
/// before it are undone. A signal arriving meanwhile waits until the steps
/// are done ([`stop_commits`]), so it never leaves new and old outputs
/// mixed; a stop asked for on `cancel` before the first step fails the
/// commit with [`Error::Interrupted`], and nothing is put in place.
pub fn place_together<'a>(
    cancel: &CancelToken,
    steps: impl IntoIterator<Item = Box<dyn FnOnce() -> Result<Placed> + 'a>>,
) -> Result<()> {
    let _commit = begin_commit(cancel)?;
    let mut placed: Vec<Placed> = Vec::new();
    let mut delayed = false;
    let mut count = 0;
    for step in steps {
        test_kill_at(count);
        count += 1;
        match step() {
            Ok(done) => placed.push(done),
            Err(e) => {
                placed.into_iter().rev().for_each(Placed::undo);
                return Err(e);
            }
        }
        if !delayed && placed.iter().any(|p| p.target.is_some()) {
            delayed = true;
            test_delay();
        }
    }
    test_kill_at(count);
    placed.into_iter().for_each(Placed::keep);
    Ok(())
}

/// Waits for a commit under way, then checks that no stop was asked for.
fn begin_commit(cancel: &CancelToken) -> Result<MutexGuard<'static, ()>> {
    let guard = COMMITS.lock().unwrap_or_else(|e| e.into_inner());
    cancel.check()?;
    Ok(guard)
}

/// What a signal found of the outputs ([`stop_commits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// No output was put in place: older files are as they were.
    NothingPlaced,
    /// A commit was whole (its outputs all new) before the stop.
    Placed,
    /// A commit was still under way when the wait ran out (an upload that
    /// does not complete): some outputs may be new, some old.
    StillPlacing,
}

/// For a signal handler's thread, after [`CancelToken::cancel`]: waits
/// (up to `wait`) until a commit under way is whole, and keeps any other
/// from starting. Says what the outputs are, so that the message is true.
pub fn stop_commits(wait: std::time::Duration) -> Stopped {
    let asked = std::time::Instant::now();
    loop {
        match COMMITS.try_lock() {
            Ok(guard) => {
                // Held until the process exits: no commit starts after it.
                std::mem::forget(guard);
                break;
            }
            Err(std::sync::TryLockError::Poisoned(e)) => {
                std::mem::forget(e.into_inner());
                break;
            }
            Err(std::sync::TryLockError::WouldBlock) if asked.elapsed() < wait => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(std::sync::TryLockError::WouldBlock) => return Stopped::StillPlacing,
        }
    }
    if PLACED.load(Ordering::SeqCst) {
        Stopped::Placed
    } else {
        Stopped::NothingPlaced
    }
}

/// Test-only: `EVENT_COUNTER_TEST_COMMIT_DELAY_MS` holds a commit after
/// its first output is in place, so that a test can signal it there. Only
/// with the `testing` feature (the binary `cargo test` runs): a release
/// build reads no such variable.
fn test_delay() {
    #[cfg(feature = "testing")]
    if let Some(ms) = std::env::var("EVENT_COUNTER_TEST_COMMIT_DELAY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Test-only: `EVENT_COUNTER_TEST_KILL_AT_STEP=N` kills the process with
/// SIGKILL (nothing runs after it: no undo, no clean-up) just before step
/// N of a commit, or after its last step (N = the number of steps) before
/// the files it replaced are let go, so that a test can check what a run
/// killed at each point of its commit leaves. Only with the `testing`
/// feature, as [`test_delay`].
fn test_kill_at(step: usize) {
    #[cfg(feature = "testing")]
    {
        let at = std::env::var("EVENT_COUNTER_TEST_KILL_AT_STEP")
            .ok()
            .and_then(|n| n.parse::<usize>().ok());
        if at == Some(step) {
            // SAFETY: kill(2) and getpid(2) take no pointers and touch no
            // memory of this process.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
    }
    #[cfg(not(feature = "testing"))]
    let _ = step;
}

/// A step of [`place_together`]: takes the file at `path` away (a stale
/// shard manifest), keeping it under a hidden name beside it until the
/// commit is kept, so that it can be put back. Nothing there: nothing to do.
pub fn take_away(path: &Path) -> Result<Placed> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(Placed::default());
    }
    let write_error = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let spare = tempfile::Builder::new()
        .prefix(".old.")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(write_error)?
        .into_temp_path();
    std::fs::rename(path, &spare).map_err(write_error)?;
    register(&spare);
    Ok(Placed {
        target: Some(path.to_path_buf()),
        old: Some(spare),
        removal: true,
    })
}

/// A file that appears at its path only when [`AtomicFile::commit`] is
/// called; dropped uncommitted, it leaves nothing behind.
///
/// It is written to a temporary file in the target's folder (so that the
/// rename is atomic) with a unique name, so any number of writers, in this
/// process or others, never share one. A link is followed, dangling or
/// not, and the file it leads to is replaced: the link stays a link.
///
/// A path that is, or leads through a link to, anything but a regular file
/// (`/dev/null`, a named pipe), or that leads into `/proc` (as
/// `/dev/stdout` does, whatever it is open on), is written in place
/// instead: renaming a temporary file there would replace a device or the
/// system's link. (`/dev/shm` is a folder like any other.)
pub struct AtomicFile {
    /// The path as given, for messages.
    path: PathBuf,
    /// The file that is replaced: the path given, its links followed.
    target: PathBuf,
    /// `None` when writing in place.
    temp: Option<tempfile::TempPath>,
    writer: Option<BufWriter<File>>,
    /// Blocks were reserved past what may be written: cut the file to its
    /// written length before it is renamed.
    preallocated: bool,
    /// The file's final length when it was written at offsets rather than
    /// through [`AtomicFile::writer`].
    written_len: Option<u64>,
}

/// Where an output at `path` goes: written in place, or the file that a
/// temporary one replaces (the path given, links followed).
pub enum Placement {
    /// A device, a pipe, or a path that leads into `/proc`.
    InPlace,
    /// A regular file, existing or not.
    Replace(PathBuf),
}

impl Placement {
    /// Follows `path`'s links ([`follow_links`]), so that no link and no
    /// `..` hides `/proc` (the descriptor links of `/dev/stdout`,
    /// `/dev/fd/N`) or a device.
    pub fn of(path: &Path) -> Placement {
        let (at, into_proc) = follow_links(path);
        if into_proc || std::fs::metadata(&at).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            return Placement::InPlace;
        }
        Placement::Replace(at)
    }
}

impl AtomicFile {
    /// Creates the temporary file next to the file `path` leads to; fails
    /// at once if that is a folder, or its folder does not exist.
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let write_error = |source| Error::Write {
            path: path.to_path_buf(),
            source,
        };
        check_file_path(path).map_err(write_error)?;
        let (file, temp, target) = match Placement::of(path) {
            Placement::InPlace => {
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(write_error)?;
                (file, None, path.to_path_buf())
            }
            Placement::Replace(target) => {
                if target.is_dir() {
                    return Err(write_error(io::Error::other(
                        "is a folder; name a file to write",
                    )));
                }
                let name = target
                    .file_name()
                    .ok_or_else(|| write_error(io::Error::other("not a file name")))?;
                let dir = match target.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir,
                    _ => Path::new("."),
                };
                if !dir.is_dir() {
                    return Err(write_error(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("the folder {} does not exist", dir.display()),
                    )));
                }
                // ".result.csv.a1B2c3.tmp": hidden, and says whose it is.
                // The name is shortened so that a target near the length
                // limit still leaves room for the random part.
                let shown: String = name.to_string_lossy().chars().take(40).collect();
                let prefix = format!(".{shown}.");
                let mut builder = tempfile::Builder::new();
                builder.prefix(&prefix).suffix(".tmp");
                // As a plain create would: 0666 less the umask, not 0600.
                use std::os::unix::fs::PermissionsExt;
                builder.permissions(std::fs::Permissions::from_mode(0o666));
                let (file, temp) = registered_tempfile(&builder, dir).map_err(write_error)?;
                (file, Some(temp), target)
            }
        };
        Ok(AtomicFile {
            path: path.to_path_buf(),
            target,
            temp,
            writer: Some(BufWriter::with_capacity(256 * 1024, file)),
            preallocated: false,
            written_len: None,
        })
    }

    /// The file itself, for writing at offsets from several threads, after
    /// whatever went through [`AtomicFile::writer`]. The caller says how
    /// long the file ends up with [`AtomicFile::set_len`].
    pub fn file(&mut self) -> Result<&File> {
        let flushed = self.writer().flush();
        self.check(flushed)?;
        Ok(self.writer().get_ref())
    }

    /// Whether it is written to a temporary file (not in place, as a device
    /// is), which can be written at any offset.
    pub fn is_temporary(&self) -> bool {
        self.temp.is_some()
    }

    /// The file's final length, when written through [`AtomicFile::file`].
    pub fn set_len(&mut self, len: u64) {
        self.written_len = Some(len);
    }

    /// Reserves disk blocks for up to `len` bytes before writing a large
    /// file. On ext4 allocating blocks while writing costs several times
    /// the copy itself (measured: 0.43 GB/s without, 6 GB/s with). Only
    /// a hint: file systems that cannot preallocate just write slower.
    pub fn preallocate(&mut self, len: u64) {
        if self.temp.is_none() || len == 0 {
            return;
        }
        let file = self.writer().get_ref();
        let done = rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len);
        self.preallocated |= done.is_ok();
    }

    /// The buffered writer of the file.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("not committed yet")
    }

    /// Turns an I/O error from writing into an error naming the target.
    pub fn check<T>(&self, result: io::Result<T>) -> Result<T> {
        result.map_err(|source| Error::Write {
            path: self.path.clone(),
            source,
        })
    }

    /// Flushes, syncs and renames the file into place (the library commits
    /// through [`PendingOutput`](super::PendingOutput), its tests here).
    #[cfg(test)]
    pub fn commit(mut self) -> Result<()> {
        self.prepare(true)?;
        self.rename()
    }

    /// Everything a commit does that can fail for lack of space: writes
    /// what is buffered, cuts a preallocated file to its length, and (with
    /// `sync`) waits until it is on disk. Only the rename is left after it.
    pub fn prepare(&mut self, sync: bool) -> Result<()> {
        let (preallocated, written_len) = (self.preallocated, self.written_len);
        // A device written in place is not synced: /dev/null cannot be,
        // and a pipe has nothing to wait for.
        let sync = sync && self.temp.is_some();
        let writer = self.writer();
        let result = writer.flush().and_then(|()| {
            let file = writer.get_mut();
            if preallocated {
                use std::io::Seek;
                let written = match written_len {
                    Some(len) => len,
                    None => file.stream_position()?,
                };
                file.set_len(written)?;
            }
            if sync {
                file.sync_all()?;
            }
            Ok(())
        });
        self.check(result)
    }

    /// Puts a prepared file in place (a device written in place has nothing
    /// to rename). No token stops it: a process that exits on a signal
    /// keeps it from starting with [`stop_commits`].
    #[cfg(test)]
    pub fn rename(self) -> Result<()> {
        place_together(
            &CancelToken::new(),
            [Box::new(|| self.put_in_place()) as Box<dyn FnOnce() -> _>],
        )
    }

    /// Puts a prepared file in place, keeping the file it replaced (as a
    /// hidden hard link beside it) until [`Placed::keep`], so that
    /// [`Placed::undo`] can put it back: outputs appear all together or
    /// not at all, even when the last of them fails.
    pub fn put_in_place(mut self) -> Result<Placed> {
        self.writer.take();
        let Some(temp) = self.temp.take() else {
            return Ok(Placed::default());
        };
        // Where the old file is kept: a unique name beside it, linked to
        // it. A file system without hard links keeps no old file, and
        // undo then removes the new one.
        let old = if self.target.is_file() {
            let dir = self.target.parent().unwrap_or(Path::new("."));
            tempfile::Builder::new()
                .prefix(".old.")
                .suffix(".tmp")
                .tempfile_in(dir)
                .ok()
                .and_then(|spare| {
                    let spare = spare.into_temp_path();
                    let at = spare.to_path_buf();
                    // Replaced by the link: the TempPath removes it on drop.
                    std::fs::remove_file(&at).ok()?;
                    std::fs::hard_link(&self.target, &at).ok()?;
                    register(&at);
                    Some(spare)
                })
        } else {
            None
        };
        let at = temp.to_path_buf();
        let renamed = temp.persist(&self.target).map_err(|e| e.error);
        unregister(&at);
        self.check(renamed)?;
        Ok(Placed {
            target: Some(self.target.clone()),
            old,
            removal: false,
        })
    }
}

/// A file put in place (or taken away, [`take_away`]), whose predecessor
/// can still be put back.
#[derive(Default)]
pub struct Placed {
    /// The file now in place (`None`: written in place, nothing to undo).
    target: Option<PathBuf>,
    /// The file it replaced, if there was one.
    old: Option<tempfile::TempPath>,
    /// Whether the step took the file away rather than put a new one.
    removal: bool,
}

impl Placed {
    /// Keeps the new file and drops the old one.
    pub fn keep(self) {
        if let Some(old) = &self.old {
            unregister(old);
        }
        if self.target.is_some() && !self.removal {
            PLACED.store(true, Ordering::SeqCst);
        }
        // The old file's link is removed as `old` drops.
    }

    /// Puts the old file back (or removes the new one, where there was
    /// none before). Best effort: it runs on the way out of a failure.
    pub fn undo(self) {
        let Some(target) = self.target else {
            return;
        };
        match self.old {
            Some(old) => {
                unregister(&old);
                if let Err(e) = old.persist(&target) {
                    log::warn!(
                        "{}: could not put the old file back: {}",
                        target.display(),
                        e.error
                    );
                }
            }
            None => {
                let _ = std::fs::remove_file(&target);
            }
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // The temporary path removes its file as it drops, after this.
        if let Some(temp) = &self.temp {
            unregister(temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_file_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.csv");
        std::fs::write(&path, "old").unwrap();
        {
            let mut file = AtomicFile::create(&path).unwrap();
            file.writer().write_all(b"new").unwrap();
            // dropped without commit
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let mut file = AtomicFile::create(&path).unwrap();
        file.writer().write_all(b"new").unwrap();
        file.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
