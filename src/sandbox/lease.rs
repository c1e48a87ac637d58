//! Leases: a sandbox container with an exec or file operation in flight is
//! never removed, by prune or by recreate, in this process or another.
//!
//! A lease is a shared advisory lock on `<state>/sandbox/leases/<name>.lock`
//! (std's `File::lock_shared`), held for as long as the [`Lease`] lives.
//! A remover takes the same file's exclusive lock with [`try_removal`]: it
//! fails while any lease is held, and while the remover holds it, new leases
//! wait, so nothing starts on a container that is being removed. Because the
//! lock lives in the kernel, a crashed holder releases it at once.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::fsutil;

/// Held while an operation uses a container.
#[derive(Debug)]
pub struct Lease {
    _file: File,
}

/// Held while a container is removed; no lease can start meanwhile.
#[derive(Debug)]
pub struct Removal {
    _file: File,
}

fn lock_path(state_dir: &Path, container: &str) -> PathBuf {
    // Container names are [a-zA-Z0-9_.-] (the Engine enforces it), so the
    // name is a safe file name.
    state_dir.join("sandbox").join("leases").join(format!("{container}.lock"))
}

fn open(state_dir: &Path, container: &str) -> io::Result<File> {
    let path = lock_path(state_dir, container);
    if let Some(dir) = path.parent() {
        fsutil::ensure_private_dir(dir)?;
    }
    OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)
}

/// Takes a lease on `container`, waiting while it is being removed.
pub fn acquire(state_dir: &Path, container: &str) -> io::Result<Lease> {
    let file = open(state_dir, container)?;
    file.lock_shared()?;
    Ok(Lease { _file: file })
}

/// Takes the removal lock on `container` if no lease is held; `Ok(None)`
/// when the container is in use.
pub fn try_removal(state_dir: &Path, container: &str) -> io::Result<Option<Removal>> {
    let file = open(state_dir, container)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Removal { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Deletes the lock file of a removed container (call while holding the
/// [`Removal`]). A missing file is fine.
pub fn forget(state_dir: &Path, container: &str) {
    let _ = std::fs::remove_file(lock_path(state_dir, container));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_block_removal_and_removal_waits_for_nothing() {
        let dir = std::env::temp_dir().join(format!("openclaw-lease-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = acquire(&dir, "c1").unwrap();
        let b = acquire(&dir, "c1").unwrap();
        assert!(try_removal(&dir, "c1").unwrap().is_none(), "two leases held");
        drop(a);
        assert!(try_removal(&dir, "c1").unwrap().is_none(), "one lease held");
        drop(b);
        let removal = try_removal(&dir, "c1").unwrap();
        assert!(removal.is_some());
        assert!(try_removal(&dir, "c2").unwrap().is_some(), "other containers are independent");
        forget(&dir, "c1");
        drop(removal);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
