//! Atomic writes and private directories.

use std::io::Write;
use std::path::Path;

/// Create `dir` (and parents) readable and writable by the user only.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        // Every command passes here for each directory it uses: one stat
        // when the directory is already as it should be (ours, 0700).
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if std::fs::metadata(dir)
            .is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o777 == 0o700 && m.uid() == me)
        {
            return Ok(());
        }
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// Write `bytes` to `path` through a temporary file in the same directory and
/// a rename, so a reader sees the old content or the new, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A file name for `name` (an installation's) with `extension`: the name
/// itself when it is plainly safe in a path, else its hex, so no name can
/// climb out of the directory or clash with a dot-file.
pub fn file_name_for(name: &str, extension: &str) -> String {
    let safe = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if safe {
        format!("{name}.{extension}")
    } else {
        format!("{}.{extension}", hex::encode(name))
    }
}

/// Open (creating, never truncating) the lock file at `path`: what it
/// holds — a holder's marker or pid — is the caller's to read.
pub fn lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// `flock(LOCK_EX)` on `file`, waiting or not; false when `wait` is false
/// and another open file holds it.
#[cfg(unix)]
fn flock(file: &std::fs::File, wait: bool) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    let op = if wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    // SAFETY: flock on a descriptor the caller owns; no memory is shared
    // with the kernel.
    if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Without `flock`, every lock is granted at once.
#[cfg(not(unix))]
fn flock(_file: &std::fs::File, _wait: bool) -> std::io::Result<bool> {
    Ok(true)
}

/// An exclusive `flock` held on an open lock file. Dropping it lets go of
/// the lock explicitly, not only by closing the descriptor: a child being
/// started on another thread shares the descriptor from `fork` until its
/// `exec` closes it, and would hold the lock until then (the next action on
/// the installation refused as busy, a waiter kept waiting).
#[derive(Debug)]
pub struct HeldLock(std::fs::File);

impl std::ops::Deref for HeldLock {
    type Target = std::fs::File;
    fn deref(&self) -> &std::fs::File {
        &self.0
    }
}

impl std::ops::DerefMut for HeldLock {
    fn deref_mut(&mut self) -> &mut std::fs::File {
        &mut self.0
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Take an exclusive `flock` on `file` without waiting: the held lock, or
/// the file back (to read what its holder wrote) when another open file
/// holds it.
pub fn try_lock(file: std::fs::File) -> std::io::Result<Result<HeldLock, std::fs::File>> {
    Ok(if flock(&file, false)? {
        Ok(HeldLock(file))
    } else {
        Err(file)
    })
}

/// Open (creating) `path` and wait for an exclusive `flock` on it; the lock
/// is held until the returned lock is dropped (or the process dies).
pub fn lock_exclusive(path: &Path) -> std::io::Result<HeldLock> {
    let file = lock_file(path)?;
    flock(&file, true)?;
    Ok(HeldLock(file))
}
