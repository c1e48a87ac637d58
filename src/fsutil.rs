//! Durable, private writes of state files. Every state write goes through here.
//!
//! - [`write_atomic`]: temp file in the same folder (mode 0600), write, fsync,
//!   rename over the target, fsync the folder. A reader sees the old or the
//!   new file, never a torn one, also after a crash.
//! - [`ensure_private_dir`]: folders are created 0700.
//! - [`append_synced`]: append-only files whose every append is fsynced before
//!   the call returns.
//! - [`truncate_synced`], [`rename_synced`]: cutting a torn tail, archiving.
//! - [`Lock`]: an advisory lock on a `<file>.lock` sibling, for
//!   read-modify-write stores shared by several processes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Creates `dir` and missing parents with mode 0700.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Writes `bytes` to `path` atomically with mode 0600, creating the parent
/// folder (0700) if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    ensure_private_dir(dir)?;
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp-{}-{}", name.to_string_lossy(), std::process::id(), unique()));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Appends `bytes` to `path` (created 0600) and fsyncs before returning.
pub fn append_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new().append(true).create(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_data()
}

/// Truncates `path` to `len` bytes in place (same inode) and fsyncs it: cuts
/// an unacknowledged torn tail off an append-only file.
pub fn truncate_synced(path: &Path, len: u64) -> io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(len)?;
    f.sync_all()
}

/// Renames `from` to `to` and fsyncs the folder, so the new name survives a
/// crash. Both must be in the same folder.
pub fn rename_synced(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to)?;
    let dir = to.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    (u64::from(nanos) << 16) ^ COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// An exclusive advisory lock held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    pub path: PathBuf,
}

impl Lock {
    /// Blocks until the lock for `target` (a `<target>.lock` file) is held.
    pub fn exclusive(target: &Path) -> io::Result<Lock> {
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let path = target.with_file_name(name);
        if let Some(dir) = path.parent() {
            ensure_private_dir(dir)?;
        }
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(&path)?;
        file.lock()?;
        Ok(Lock { _file: file, path })
    }
}

/// Permission bits other than the owner's that are set on `path`, if any.
pub fn loose_permissions(path: &Path) -> io::Result<Option<u32>> {
    let mode = fs::metadata(path)?.permissions().mode() & 0o777;
    Ok((mode & 0o077 != 0).then_some(mode))
}

/// A private temporary folder for unit tests, removed on drop (also when the
/// test fails): `<tmp>/openclaw-<tag>-<pid>-<n>`.
#[cfg(test)]
pub struct TestDir(pub PathBuf);

#[cfg(test)]
impl TestDir {
    pub fn new(tag: &str) -> TestDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("openclaw-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        ensure_private_dir(&p).unwrap();
        TestDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

#[cfg(test)]
impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("openclaw-fsutil-{tag}-{}-{}", std::process::id(), unique()));
        ensure_private_dir(&d).unwrap();
        d
    }

    #[test]
    fn atomic_write_is_private_and_replaces() {
        let d = tempdir("atomic");
        let f = d.join("sub/state.json");
        write_atomic(&f, b"one").unwrap();
        write_atomic(&f, b"two").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"two");
        assert_eq!(fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(d.join("sub")).unwrap().permissions().mode() & 0o777, 0o700);
        let leftovers: Vec<_> = fs::read_dir(d.join("sub")).unwrap().filter_map(|e| e.ok()).collect();
        assert_eq!(leftovers.len(), 1, "no temp files are left behind");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn append_and_lock() {
        let d = tempdir("append");
        let f = d.join("t.jsonl");
        append_synced(&f, b"a\n").unwrap();
        append_synced(&f, b"b\n").unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "a\nb\n");
        let lock = Lock::exclusive(&f).unwrap();
        assert!(lock.path.ends_with("t.jsonl.lock"));
        // A second handle cannot take the lock while the first holds it.
        let other = OpenOptions::new().write(true).open(&lock.path).unwrap();
        assert!(other.try_lock().is_err());
        drop(lock);
        assert!(other.try_lock().is_ok());
        fs::remove_dir_all(&d).unwrap();
    }
}
