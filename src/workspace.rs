//! File access rooted in a workspace folder: what the agent's `read`, `write`,
//! `edit` and `apply_patch` tools (reference §7; `remove` and `rename` for the
//! patch's deletes and moves) and the sandbox use to touch files in the
//! host folder that a sandbox container has bind-mounted at its workdir
//! (`/workspace`), or in an agent's own workspace. Upstream did this on the
//! host against the mounted folder, "sandbox-rooted" (reference §3.7); so do
//! we.
//!
//! Tool inputs come from a model, and processes in the sandbox can create
//! symlinks and race us, so nothing here reads or writes outside the root.
//!
//! # Paths
//!
//! A path is relative to the root, or absolute when it lies under the root
//! or under the container workdir given to [`Root::open`] (`/workspace/x`
//! means `<root>/x`). Refused: empty paths, NUL bytes, paths over
//! [`MAX_PATH_BYTES`], a `..` that climbs above the root, any other absolute
//! path, and a `..` next to a backslash (`..\..\x`). Otherwise a backslash is
//! an ordinary character of a file name, as it is on Linux. A leading `~` is
//! refused rather than expanded or taken literally, so `~/.ssh/id_rsa` never
//! means the gateway user's home; a file really named `~x` is reached as
//! `./~x`.
//!
//! # Symlinks
//!
//! [`Root::resolve`] walks the path one component at a time from the root,
//! following symlinks itself (at most [`MAX_SYMLINKS`]) and applying `..` to
//! the real folder reached so far, so the host path it returns holds no
//! symlinks in its existing part. A symlink (final or parent, dangling or
//! not) whose target leads outside the root is refused; one that stays
//! inside is followed. An absolute link target is taken as inside when it
//! starts with the root or with the container workdir: a link made in the
//! container as `ln -s /workspace/data cur` works as it does in there.
//!
//! # Races
//!
//! A check followed by an open is not trusted on its own:
//!
//! - `read` and `edit` open the resolved path, then read the opened file's
//!   real path from `/proc/self/fd/<fd>` and refuse it unless it is inside
//!   the root, before reading a byte. Only regular files are read, and files
//!   are opened with `O_NONBLOCK` (on the common Linux ABIs) so a FIFO
//!   planted by the sandbox cannot hang the caller.
//! - `write` (and `edit`'s write) opens the parent folder one component at a
//!   time, creating missing folders (0700) as it goes, and checks each open
//!   folder through `/proc/self/fd`. The temp file (`create_new`, 0600 or the
//!   replaced file's mode), its `rename` over the target, and the `fsync` of
//!   the folder all go through `/proc/self/fd/<dirfd>/<name>`, which the
//!   kernel resolves to the folder already opened and checked, so swapping a
//!   parent for a symlink after the check cannot redirect them. `rename`
//!   replaces a symlink at the target rather than following it. The temp
//!   file's own real path is checked too, and it is removed on any failure.
//!   These are the steps of `fsutil::write_atomic`, which works by path and
//!   so cannot be used here; `fsutil::ensure_private_dir` makes the folders.
//!
//! Ownership: when the gateway runs as root and the root folder belongs to
//! another user (a sandbox workspace given to the container's user), files
//! and folders it creates are given to that user (`fchown` on the opened,
//! checked descriptor), so the sandbox can read and change them.
//!
//! What remains: no path-based step is left between a check and the bytes
//! read or written. A folder the sandbox swaps for a symlink right after we
//! create it makes the write fail (the check after opening it refuses), not
//! escape. `edit` is a read followed by a write, so a change the sandbox
//! makes in between is overwritten; that loses data the sandbox wrote, it
//! does not leave the root. Hard links cannot bring an outside file in,
//! because the workspace is its own mount in the container and links do not
//! cross mounts; a host user who hard-links an outside file into the
//! workspace is trusted, as is the path of the root folder itself. `/proc`
//! must be mounted: without it every read and write fails closed.
//! [`Root::resolve`] alone is a snapshot: a caller that opens its result
//! itself gets none of the above.
//!
//! # Not here
//!
//! Tool schemas and parameter aliases (`file_path`, `old_string`, …), patches
//! (`apply_patch`), fuzzy or line-ending-tolerant edit matching, and exec.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::fsutil::ensure_private_dir;

/// The longest path accepted, in bytes (Linux `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;
/// The most symlinks followed while resolving one path (Linux `MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;
/// A sensible `max_bytes` for [`Root::read`] (upstream's read tool caps at 50 KB).
pub const DEFAULT_READ_MAX_BYTES: usize = 50 * 1024;
/// The largest file [`Root::edit`] loads into memory.
pub const MAX_EDIT_BYTES: usize = 16 * 1024 * 1024;

/// Whether the workspace may be changed (`workspaceAccess` `ro` or `rw`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// A workspace folder that file operations are confined to.
#[derive(Clone, Debug)]
pub struct Root {
    /// The folder, canonicalized when opened.
    root: PathBuf,
    /// The folder as given to [`Root::open`], an alias of `root` for absolute paths.
    given: PathBuf,
    /// Where the folder is mounted in the container, e.g. `/workspace`.
    container_dir: Option<PathBuf>,
    access: Access,
    /// When we run as root in a folder owned by someone else (a sandbox
    /// workspace given to the container's user), what we create is given to
    /// that owner too, so the sandbox can use it.
    owner: Option<(u32, u32)>,
}

/// Why a workspace operation was refused or failed. Paths are shown as the
/// caller gave them (shortened and with control characters escaped).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The folder given to [`Root::open`] is missing or is not a folder.
    RootNotDir { dir: PathBuf, err: Option<io::Error> },
    /// The container workdir given to [`Root::open`] is not a plain absolute path.
    BadContainerDir { dir: String },
    /// The path is malformed: empty, a NUL byte, too long, `..` with backslashes, or a leading `~`.
    InvalidPath { path: String, reason: &'static str },
    /// The path, or a symlink on it, leads outside the root.
    Escapes { root: PathBuf, path: String },
    /// Resolving the path followed more than [`MAX_SYMLINKS`] symlinks.
    TooManySymlinks { path: String },
    /// `write` or `edit` on a read-only workspace.
    ReadOnly { path: String },
    NotFound { path: String },
    IsDirectory { path: String },
    /// A FIFO, socket or device.
    NotRegularFile { path: String },
    /// `read` was asked to start past the last line.
    OffsetBeyondEnd { path: String, offset: usize, lines: usize },
    /// The file is larger than [`MAX_EDIT_BYTES`].
    FileTooLarge { path: String, limit: usize },
    /// `edit` on a file that is not UTF-8 text.
    NotUtf8 { path: String },
    /// `edit` with an empty old text.
    EmptyOldText { path: String },
    /// `edit`'s old text does not occur in the file.
    TextNotFound { path: String },
    /// `edit`'s old text occurs `count` (> 1) times.
    TextNotUnique { path: String, count: usize },
    /// An I/O error while doing `op` (e.g. "read", "create a folder for").
    Io { op: &'static str, path: String, err: io::Error },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::RootNotDir { dir, err } => {
                write!(f, "Workspace folder {} is not a directory", dir.display())?;
                if let Some(err) = err {
                    write!(f, " ({err})")?;
                }
                write!(f, "; create it or fix the configured workspace path")
            }
            Error::BadContainerDir { dir } => {
                write!(f, "Container workdir {dir:?} must be an absolute path without `..`, e.g. /workspace")
            }
            Error::InvalidPath { path, reason } => write!(f, "Invalid path \"{path}\": {reason}"),
            Error::Escapes { root, path } => write!(
                f,
                "Path escapes sandbox root ({}): {path}; use a path inside the workspace, relative to it",
                root.display()
            ),
            Error::TooManySymlinks { path } => {
                write!(f, "Too many levels of symbolic links in {path}; give the real path of the file")
            }
            Error::ReadOnly { path } => write!(
                f,
                "Cannot modify {path}: the workspace is mounted read-only (workspaceAccess: \"ro\"). \
                 Set agents.defaults.sandbox.workspaceAccess (or the agent's sandbox.workspaceAccess) \
                 to \"rw\" to allow write, edit and apply_patch"
            ),
            Error::NotFound { path } => {
                write!(f, "File not found: {path}; paths are relative to the workspace root")
            }
            Error::IsDirectory { path } => write!(f, "{path} is a directory, not a file; give a file path"),
            Error::NotRegularFile { path } => {
                write!(f, "{path} is not a regular file (a FIFO, socket or device) and is not read or replaced")
            }
            Error::OffsetBeyondEnd { path, offset, lines } => write!(
                f,
                "Offset {offset} is beyond end of file ({lines} lines total) in {path}; use a smaller offset"
            ),
            Error::FileTooLarge { path, limit } => {
                write!(f, "{path} is larger than {limit} bytes; use write to replace it instead of edit")
            }
            Error::NotUtf8 { path } => {
                write!(f, "{path} is not valid UTF-8 text; use write to replace it instead of edit")
            }
            Error::EmptyOldText { path } => {
                write!(f, "The old text for {path} is empty; give the exact text to replace")
            }
            Error::TextNotFound { path } => write!(
                f,
                "Could not find the exact text in {path}. The old text must match exactly including all whitespace and newlines."
            ),
            Error::TextNotUnique { path, count } => write!(
                f,
                "Found {count} occurrences of the text in {path}. The text must be unique. Please provide more context to make it unique."
            ),
            Error::Io { op, path, err } => write!(f, "Could not {op} {path}: {err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::RootNotDir { err: Some(err), .. } | Error::Io { err, .. } => Some(err),
            _ => None,
        }
    }
}

impl Root {
    /// Opens the workspace `dir`, which must exist and be a folder.
    /// `container_dir` is where the container sees it (e.g. `/workspace`), so
    /// absolute paths under it map into `dir`; `None` when there is no container.
    pub fn open(dir: &Path, access: Access, container_dir: Option<&str>) -> Result<Root, Error> {
        let not_dir = |err| Error::RootNotDir { dir: dir.to_path_buf(), err };
        let root = fs::canonicalize(dir).map_err(|e| not_dir(Some(e)))?;
        if !fs::metadata(&root).map_err(|e| not_dir(Some(e)))?.is_dir() {
            return Err(not_dir(None));
        }
        let container_dir = match container_dir {
            None => None,
            Some(c) => {
                let p = Path::new(c);
                let plain = p.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
                if !p.is_absolute() || !plain || c.contains('\0') {
                    return Err(Error::BadContainerDir { dir: c.to_string() });
                }
                Some(p.to_path_buf())
            }
        };
        let given = if dir.is_absolute() { dir.to_path_buf() } else { root.clone() };
        let owner = {
            use std::os::unix::fs::MetadataExt;
            let we_are_root = fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
            let meta = fs::metadata(&root).map_err(|e| not_dir(Some(e)))?;
            (we_are_root && meta.uid() != 0).then(|| (meta.uid(), meta.gid()))
        };
        Ok(Root { root, given, container_dir, access, owner })
    }

    /// The canonical host folder.
    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn access(&self) -> Access {
        self.access
    }

    /// The host path `user_path` names, checked to be inside the root (see
    /// the module doc). Its existing part holds no symlinks; the rest may not
    /// exist yet.
    pub fn resolve(&self, user_path: &str) -> Result<PathBuf, Error> {
        let rel = self.relative(user_path)?;
        self.walk(user_path, &rel)
    }

    /// Reads the text of `path`: lines `offset..offset+limit` (1-based;
    /// `None` = from the first line, to the end), at most `max_bytes` bytes of
    /// them. A longer selection ends at a character boundary, followed by a
    /// line `[... truncated: N more bytes in the file; continue with
    /// offset=L]`. Bytes that are not UTF-8 are shown as U+FFFD.
    pub fn read(&self, path: &str, offset: Option<usize>, limit: Option<usize>, max_bytes: usize) -> Result<String, Error> {
        let (_, file, meta) = self.open_file(path)?;
        let start = offset.unwrap_or(1).max(1);
        let sel = select_lines(file, start, limit, max_bytes).map_err(|e| io_err("read", path, e))?;
        if !sel.reached && start > 1 && limit != Some(0) {
            return Err(Error::OffsetBeyondEnd { path: shown(path), offset: start, lines: sel.lines });
        }
        let mut out = sel.bytes;
        let Some((cut, line)) = sel.cut else {
            return Ok(String::from_utf8_lossy(&out).into_owned());
        };
        let trimmed = trim_partial_char(&mut out);
        let more = meta.len().saturating_sub(cut - trimmed as u64);
        let mut text = String::from_utf8_lossy(&out).into_owned();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("[... truncated: {more} more bytes in the file; continue with offset={line}]"));
        Ok(text)
    }

    /// Writes `content` to `path`, replacing it atomically, and returns the
    /// number of bytes written. Missing parent folders are created (0700); a
    /// new file is 0600, a replaced one keeps its permission bits.
    pub fn write(&self, path: &str, content: &str) -> Result<usize, Error> {
        self.check_writable(path)?;
        let host = self.resolve(path)?;
        self.replace(path, &host, content.as_bytes())?;
        Ok(content.len())
    }

    /// Replaces the one exact occurrence of `old` in `path` with `new`.
    pub fn edit(&self, path: &str, old: &str, new: &str) -> Result<(), Error> {
        self.check_writable(path)?;
        if old.is_empty() {
            return Err(Error::EmptyOldText { path: shown(path) });
        }
        let (host, file, meta) = self.open_file(path)?;
        let too_large = || Error::FileTooLarge { path: shown(path), limit: MAX_EDIT_BYTES };
        if meta.len() > MAX_EDIT_BYTES as u64 {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(MAX_EDIT_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(|e| io_err("read", path, e))?;
        if bytes.len() > MAX_EDIT_BYTES {
            return Err(too_large());
        }
        let text = String::from_utf8(bytes).map_err(|_| Error::NotUtf8 { path: shown(path) })?;
        match text.matches(old).count() {
            0 => return Err(Error::TextNotFound { path: shown(path) }),
            1 => {}
            count => return Err(Error::TextNotUnique { path: shown(path), count }),
        }
        self.replace(path, &host, text.replacen(old, new, 1).as_bytes())
    }

    /// The whole text of the file `path`, which must be UTF-8 and at most
    /// [`MAX_EDIT_BYTES`]: what a caller that computes a new version of a
    /// file (`apply_patch`) starts from. Opened and checked as `read` is.
    pub fn read_text(&self, path: &str) -> Result<String, Error> {
        let (_, file, meta) = self.open_file(path)?;
        let too_large = || Error::FileTooLarge { path: shown(path), limit: MAX_EDIT_BYTES };
        if meta.len() > MAX_EDIT_BYTES as u64 {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(MAX_EDIT_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(|e| io_err("read", path, e))?;
        if bytes.len() > MAX_EDIT_BYTES {
            return Err(too_large());
        }
        String::from_utf8(bytes).map_err(|_| Error::NotUtf8 { path: shown(path) })
    }

    /// Removes the file `path` names. The last component is not followed: a
    /// symlink is removed itself and its target stays. Folders are refused.
    /// The folder holding the file is opened and checked through
    /// `/proc/self/fd`, and the removal goes through that descriptor, as
    /// writes do; the folder is fsynced afterwards.
    pub fn remove(&self, path: &str) -> Result<(), Error> {
        self.check_writable(path)?;
        let (dir, name) = self.open_entry_parent(path, false)?;
        let target = fd_path(&dir).join(&name);
        match fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_dir() => return Err(Error::IsDirectory { path: shown(path) }),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::NotFound { path: shown(path) }),
            Err(e) => return Err(io_err("look up", path, e)),
        }
        fs::remove_file(&target).map_err(|e| io_err("remove", path, e))?;
        dir.sync_all().map_err(|e| io_err("sync the folder of", path, e))
    }

    /// Moves the file `from` to `to`, replacing a file already at `to` as
    /// `mv` does; the file keeps its inode, mode and owner. Missing parent
    /// folders of `to` are created (0700). As for [`Root::remove`], the last
    /// component of either path is not followed (a symlink is moved, or
    /// replaced, itself), folders are refused, and both folders are opened,
    /// checked and fsynced.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), Error> {
        self.check_writable(from)?;
        self.check_writable(to)?;
        let (src_dir, src_name) = self.open_entry_parent(from, false)?;
        let src = fd_path(&src_dir).join(&src_name);
        match fs::symlink_metadata(&src) {
            Ok(meta) if meta.is_dir() => return Err(Error::IsDirectory { path: shown(from) }),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::NotFound { path: shown(from) }),
            Err(e) => return Err(io_err("look up", from, e)),
        }
        let (dst_dir, dst_name) = self.open_entry_parent(to, true)?;
        let dst = fd_path(&dst_dir).join(&dst_name);
        match fs::symlink_metadata(&dst) {
            Ok(meta) if meta.is_dir() => return Err(Error::IsDirectory { path: shown(to) }),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("look up", to, e)),
        }
        fs::rename(&src, &dst).map_err(|e| io_err("move", from, e))?;
        dst_dir.sync_all().map_err(|e| io_err("sync the folder of", to, e))?;
        src_dir.sync_all().map_err(|e| io_err("sync the folder of", from, e))
    }

    /// Opens the folder holding the entry `user_path` names, resolved as
    /// [`Root::resolve`] does except that the last component is not followed,
    /// and checked through `/proc/self/fd`. With `create`, missing folders are
    /// made as `write` makes them; without, a missing folder is `NotFound`.
    /// Returns the folder and the entry's name in it.
    fn open_entry_parent(&self, user_path: &str, create: bool) -> Result<(File, OsString), Error> {
        let rel = self.relative(user_path)?;
        // `.`, `..`, `a/..` and the root itself name folders, not entries.
        let Some(name) = rel.file_name() else {
            return Err(Error::IsDirectory { path: shown(user_path) });
        };
        let parent = self.walk(user_path, rel.parent().unwrap_or(Path::new("")))?;
        if create {
            return Ok((self.open_parent(user_path, &parent)?, name.to_os_string()));
        }
        let not_found = || Error::NotFound { path: shown(user_path) };
        let dir = open_nonblocking(&parent).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => not_found(),
            _ => io_err("open the folder of", user_path, e),
        })?;
        self.check_opened(&dir, user_path)?;
        if !dir.metadata().map_err(|e| io_err("inspect the folder of", user_path, e))?.is_dir() {
            return Err(not_found());
        }
        Ok((dir, name.to_os_string()))
    }

    /// Checks the text of `user_path` and makes it relative to the root.
    fn relative(&self, user_path: &str) -> Result<PathBuf, Error> {
        let invalid = |reason| Err(Error::InvalidPath { path: shown(user_path), reason });
        if user_path.is_empty() {
            return invalid("the path is empty");
        }
        if user_path.contains('\0') {
            return invalid("it contains a NUL byte");
        }
        if user_path.len() > MAX_PATH_BYTES {
            return invalid("it is longer than 4096 bytes");
        }
        if user_path.contains('\\') && user_path.split(['/', '\\']).any(|part| part == "..") {
            return invalid("it has `..` next to a backslash; separate folders with `/`");
        }
        if user_path.starts_with('~') {
            return invalid("`~` is not expanded; give a path relative to the workspace (`./~name` for a file so named)");
        }
        let p = Path::new(user_path);
        if !p.is_absolute() {
            return Ok(p.to_path_buf());
        }
        self.strip_root(p).ok_or_else(|| self.escapes(user_path))
    }

    /// `abs` relative to the root, when it starts with the root or the container workdir.
    fn strip_root(&self, abs: &Path) -> Option<PathBuf> {
        [Some(&self.root), Some(&self.given), self.container_dir.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|base| abs.strip_prefix(base).ok())
            .map(Path::to_path_buf)
    }

    /// Follows `rel` from the root component by component (see "Symlinks").
    fn walk(&self, user_path: &str, rel: &Path) -> Result<PathBuf, Error> {
        let mut cur = self.root.clone();
        // Components still to apply, the next one last.
        let mut pending: Vec<OsString> = Vec::new();
        push_components(&mut pending, rel);
        let mut links = 0;
        while let Some(name) = pending.pop() {
            if name == ".." {
                if cur == self.root {
                    return Err(self.escapes(user_path));
                }
                cur.pop();
                continue;
            }
            let next = cur.join(&name);
            match fs::symlink_metadata(&next) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(Error::TooManySymlinks { path: shown(user_path) });
                    }
                    let target = fs::read_link(&next).map_err(|e| io_err("read the symlink", user_path, e))?;
                    if target.is_absolute() {
                        let inside = self.strip_root(&target).ok_or_else(|| self.escapes(user_path))?;
                        cur = self.root.clone();
                        push_components(&mut pending, &inside);
                    } else {
                        push_components(&mut pending, &target);
                    }
                }
                Ok(_) => cur = next,
                Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => cur = next,
                Err(e) => return Err(io_err("look up", user_path, e)),
            }
        }
        Ok(cur)
    }

    /// Opens the regular file `user_path` names for reading, checked through `/proc/self/fd`.
    /// Returns the host path too.
    fn open_file(&self, user_path: &str) -> Result<(PathBuf, File, Metadata), Error> {
        let host = self.resolve(user_path)?;
        if let Ok(meta) = fs::symlink_metadata(&host)
            && !meta.is_file()
            && !meta.is_dir()
        {
            return Err(Error::NotRegularFile { path: shown(user_path) });
        }
        let file = open_nonblocking(&host).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound { path: shown(user_path) },
            _ => io_err("open", user_path, e),
        })?;
        self.check_opened(&file, user_path)?;
        let meta = file.metadata().map_err(|e| io_err("inspect", user_path, e))?;
        if meta.is_dir() {
            return Err(Error::IsDirectory { path: shown(user_path) });
        }
        if !meta.is_file() {
            return Err(Error::NotRegularFile { path: shown(user_path) });
        }
        Ok((host, file, meta))
    }

    /// Atomically replaces the file at `host` (from [`Root::resolve`]) with `bytes`.
    fn replace(&self, user_path: &str, host: &Path, bytes: &[u8]) -> Result<(), Error> {
        let (Some(parent), Some(name)) = (host.parent(), host.file_name()) else {
            return Err(Error::IsDirectory { path: shown(user_path) });
        };
        if host == self.root {
            return Err(Error::IsDirectory { path: shown(user_path) });
        }
        let dir = self.open_parent(user_path, parent)?;
        let dir_path = fd_path(&dir);
        let target = dir_path.join(name);
        let mode = match fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_dir() => return Err(Error::IsDirectory { path: shown(user_path) }),
            Ok(meta) if meta.is_file() => meta.permissions().mode() & 0o777,
            Ok(_) => 0o600,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0o600,
            Err(e) => return Err(io_err("look up", user_path, e)),
        };
        let short: String = name.to_string_lossy().chars().take(64).collect();
        let tmp = dir_path.join(format!(".{short}.tmp-{}-{}", std::process::id(), unique()));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| io_err("create a temp file for", user_path, e))?;
            self.check_opened(&f, user_path)?;
            self.give_to_owner(&f, user_path)?;
            if mode != 0o600 {
                f.set_permissions(fs::Permissions::from_mode(mode)).map_err(|e| io_err("set permissions on", user_path, e))?;
            }
            f.write_all(bytes).map_err(|e| io_err("write", user_path, e))?;
            f.sync_all().map_err(|e| io_err("sync", user_path, e))?;
            drop(f);
            fs::rename(&tmp, &target).map_err(|e| io_err("replace", user_path, e))?;
            dir.sync_all().map_err(|e| io_err("sync the folder of", user_path, e))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Gives an opened, checked file or folder to the root folder's owner
    /// (see [`Root::owner`](Root)) when it belongs to someone else.
    fn give_to_owner(&self, f: &File, user_path: &str) -> Result<(), Error> {
        use std::os::unix::fs::MetadataExt;
        let Some((uid, gid)) = self.owner else { return Ok(()) };
        let meta = f.metadata().map_err(|e| io_err("inspect", user_path, e))?;
        if (meta.uid(), meta.gid()) != (uid, gid) {
            std::os::unix::fs::fchown(f, Some(uid), Some(gid)).map_err(|e| io_err("change the owner of", user_path, e))?;
        }
        Ok(())
    }

    /// Opens the folder `parent` (inside the root, from [`Root::resolve`]),
    /// creating missing folders (0700) one level at a time inside checked,
    /// open folders.
    fn open_parent(&self, user_path: &str, parent: &Path) -> Result<File, Error> {
        let rel = parent.strip_prefix(&self.root).map_err(|_| self.escapes(user_path))?;
        let mut dir = open_nonblocking(&self.root).map_err(|e| io_err("open the workspace for", user_path, e))?;
        self.check_opened(&dir, user_path)?;
        for comp in rel.components() {
            let Component::Normal(name) = comp else {
                return Err(self.escapes(user_path));
            };
            let child = fd_path(&dir).join(name);
            ensure_private_dir(&child).map_err(|e| io_err("create a folder for", user_path, e))?;
            dir = open_nonblocking(&child).map_err(|e| io_err("open a folder of", user_path, e))?;
            self.check_opened(&dir, user_path)?;
            self.give_to_owner(&dir, user_path)?;
            let is_dir = dir.metadata().map_err(|e| io_err("inspect a folder of", user_path, e))?.is_dir();
            if !is_dir {
                let err = io::Error::new(io::ErrorKind::NotADirectory, "a parent is not a folder");
                return Err(io_err("create a folder for", user_path, err));
            }
        }
        Ok(dir)
    }

    /// Refuses `file` unless its real path (from `/proc/self/fd`) is inside the root.
    fn check_opened(&self, file: &File, user_path: &str) -> Result<(), Error> {
        let real = fs::read_link(fd_path(file)).map_err(|e| io_err("verify (via /proc/self/fd) the real path of", user_path, e))?;
        if real.starts_with(&self.root) {
            Ok(())
        } else {
            log::warn!("workspace {}: {} was swapped for a link outside while being opened", self.root.display(), shown(user_path));
            Err(self.escapes(user_path))
        }
    }

    fn check_writable(&self, user_path: &str) -> Result<(), Error> {
        match self.access {
            Access::ReadWrite => Ok(()),
            Access::ReadOnly => Err(Error::ReadOnly { path: shown(user_path) }),
        }
    }

    fn escapes(&self, user_path: &str) -> Error {
        Error::Escapes { root: self.root.clone(), path: shown(user_path) }
    }
}

/// The lines [`select_lines`] picked.
struct Selection {
    bytes: Vec<u8>,
    /// Whether any byte at or after the first wanted line was seen.
    reached: bool,
    /// Lines in the file, when it was read to the end.
    lines: usize,
    /// Where `max_bytes` cut the selection: file offset and line number.
    cut: Option<(u64, usize)>,
}

/// Streams `file`, keeping lines `start..start+limit` up to `max_bytes`.
/// Memory stays within `max_bytes` plus one buffer, whatever the line lengths.
fn select_lines(mut file: File, start: usize, limit: Option<usize>, max_bytes: usize) -> io::Result<Selection> {
    let end = limit.map(|l| start.saturating_add(l));
    let mut buf = vec![0u8; 64 * 1024];
    let mut sel = Selection { bytes: Vec::new(), reached: false, lines: 0, cut: None };
    let mut line = 1usize;
    let mut pos = 0u64;
    let mut last = None;
    'outer: loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        let mut i = 0;
        while i < n {
            if end.is_some_and(|e| line >= e) {
                break 'outer;
            }
            let seg_end = chunk[i..].iter().position(|&b| b == b'\n').map_or(n, |p| i + p + 1);
            if line >= start {
                sel.reached = true;
                let room = max_bytes - sel.bytes.len();
                if seg_end - i > room {
                    sel.bytes.extend_from_slice(&chunk[i..i + room]);
                    sel.cut = Some((pos + (i + room) as u64, line));
                    break 'outer;
                }
                sel.bytes.extend_from_slice(&chunk[i..seg_end]);
            }
            if chunk[seg_end - 1] == b'\n' {
                line += 1;
            }
            i = seg_end;
        }
        last = Some(chunk[n - 1]);
        pos += n as u64;
    }
    sel.lines = match last {
        None => 0,
        Some(b'\n') => line - 1,
        Some(_) => line,
    };
    Ok(sel)
}

/// Drops a UTF-8 sequence left unfinished at the end of `out`; returns how many bytes went.
fn trim_partial_char(out: &mut Vec<u8>) -> usize {
    for back in 1..=out.len().min(3) {
        let b = out[out.len() - back];
        if b & 0xC0 == 0x80 {
            continue;
        }
        let need = match b {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        if need > back {
            out.truncate(out.len() - back);
            return back;
        }
        return 0;
    }
    0
}

/// Pushes the components of `p` so that the first is popped first; `.` is dropped.
fn push_components(pending: &mut Vec<OsString>, p: &Path) {
    let mut comps: Vec<OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
        })
        .collect();
    comps.reverse();
    pending.extend(comps);
}

/// `O_NONBLOCK` where its value is known (0o4000 on these Linux ABIs), so
/// opening a FIFO cannot block; elsewhere 0, and only the pre-open check
/// guards against FIFOs.
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "powerpc64",
        target_arch = "s390x",
        target_arch = "loongarch64"
    )
))]
const O_NONBLOCK: i32 = 0o4000;
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "powerpc64",
        target_arch = "s390x",
        target_arch = "loongarch64"
    )
)))]
const O_NONBLOCK: i32 = 0;

/// Opens `path` read-only without blocking on FIFOs (files and folders alike).
fn open_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(O_NONBLOCK).open(path)
}

/// `/proc/self/fd/<fd>`: the open file itself, whatever its path has become.
fn fd_path(file: &File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

fn io_err(op: &'static str, user_path: &str, err: io::Error) -> Error {
    Error::Io { op, path: shown(user_path), err }
}

/// `user_path` for messages: at most 200 characters, control characters escaped.
fn shown(user_path: &str) -> String {
    let mut out = String::new();
    for (i, c) in user_path.chars().enumerate() {
        if i == 200 {
            out.push_str(&format!("… ({} bytes)", user_path.len()));
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    (u64::from(nanos) << 16) ^ COUNTER.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    use crate::fsutil::TestDir as TempDir;

    /// A workspace folder and a sibling "outside" folder, both temporary.
    fn setup(tag: &str) -> (TempDir, Root, PathBuf) {
        let t = TempDir::new(tag);
        let ws = t.0.join("ws");
        let outside = t.0.join("outside");
        ensure_private_dir(&ws).unwrap();
        ensure_private_dir(&outside).unwrap();
        let root = Root::open(&ws, Access::ReadWrite, Some("/workspace")).unwrap();
        (t, root, outside)
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn open_needs_an_existing_folder() {
        let t = TempDir::new("workspace-open");
        assert!(matches!(Root::open(&t.0.join("missing"), Access::ReadWrite, None), Err(Error::RootNotDir { .. })));
        fs::write(t.0.join("file"), "x").unwrap();
        assert!(matches!(Root::open(&t.0.join("file"), Access::ReadWrite, None), Err(Error::RootNotDir { .. })));
        assert!(matches!(Root::open(&t.0, Access::ReadWrite, Some("workspace")), Err(Error::BadContainerDir { .. })));
        assert!(matches!(Root::open(&t.0, Access::ReadWrite, Some("/a/../b")), Err(Error::BadContainerDir { .. })));
        let root = Root::open(&t.0, Access::ReadOnly, None).unwrap();
        assert_eq!(root.path(), fs::canonicalize(&t.0).unwrap());
        assert_eq!(root.access(), Access::ReadOnly);
    }

    #[test]
    fn hostile_path_texts_are_refused() {
        let (_t, root, _) = setup("texts");
        let long = "a/".repeat(32 * 1024);
        for (path, escape) in [
            ("../../etc/passwd", true),
            ("/etc/shadow", true),
            ("sub/../../x", true),
            ("/workspace/../etc/passwd", true),
            ("/workspacefoo/x", true),
            ("~/.ssh/id_rsa", false),
            ("~root/.ssh/id_rsa", false),
            ("..\\..\\x", false),
            ("a\\..\\..\\x", false),
            ("a\0b", false),
            ("", false),
            (long.as_str(), false),
        ] {
            for result in [root.read(path, None, None, 100).map(|_| ()), root.write(path, "pwned").map(|_| ())] {
                let err = result.unwrap_err();
                match (escape, &err) {
                    (true, Error::Escapes { .. }) | (false, Error::InvalidPath { .. }) => {}
                    _ => panic!("{path:.40?}: unexpected {err:?}"),
                }
                assert!(err.to_string().len() < 600, "message stays short: {err}");
            }
        }
        let err = root.read("../../etc/passwd", None, None, 100).unwrap_err().to_string();
        assert!(err.starts_with(&format!("Path escapes sandbox root ({}): ../../etc/passwd", root.path().display())), "{err}");
        assert!(root.read("a\0b", None, None, 1).unwrap_err().to_string().contains("a\\u{0}b"));
        // Nothing was created by the refused writes.
        assert!(names(root.path()).is_empty());
    }

    #[test]
    fn ordinary_names_with_odd_characters_are_files() {
        let (_t, root, _) = setup("odd");
        root.write("./~notes", "a").unwrap();
        root.write("a\\b.txt", "b").unwrap();
        root.write("sub/../c.txt", "c").unwrap();
        root.write("x/./y/../z.txt", "d").unwrap();
        assert_eq!(names(root.path()), ["a\\b.txt", "c.txt", "x", "~notes"]);
        // `..` after a folder that does not exist is applied lexically.
        assert_eq!(names(&root.path().join("x")), ["z.txt"]);
        assert_eq!(root.resolve(".").unwrap(), root.path());
    }

    #[test]
    fn absolute_paths_under_root_or_container_dir_map_in() {
        let (_t, root, _) = setup("alias");
        root.write("/workspace/sub/f", "via alias").unwrap();
        assert_eq!(fs::read_to_string(root.path().join("sub/f")).unwrap(), "via alias");
        let abs = root.path().join("sub/f");
        assert_eq!(root.read(abs.to_str().unwrap(), None, None, 100).unwrap(), "via alias");
        assert_eq!(root.resolve("/workspace").unwrap(), root.path());
        // Without a container workdir, /workspace is just another outside path.
        let plain = Root::open(root.path(), Access::ReadWrite, None).unwrap();
        assert!(matches!(plain.read("/workspace/sub/f", None, None, 100), Err(Error::Escapes { .. })));
    }

    #[test]
    fn symlink_to_etc_passwd_is_refused() {
        let (_t, root, _) = setup("passwd");
        symlink("/etc/passwd", root.path().join("passwd")).unwrap();
        symlink("../../../../../../../../etc/passwd", root.path().join("rel")).unwrap();
        for path in ["passwd", "rel"] {
            assert!(matches!(root.read(path, None, None, 100), Err(Error::Escapes { .. })), "{path}");
            assert!(matches!(root.edit(path, "root", "toor"), Err(Error::Escapes { .. })), "{path}");
        }
    }

    #[test]
    fn symlink_to_outside_file_refuses_writes() {
        let (_t, root, outside) = setup("outfile");
        let target = outside.join("target.txt");
        fs::write(&target, "original").unwrap();
        symlink(&target, root.path().join("link")).unwrap();
        assert!(matches!(root.write("link", "pwned"), Err(Error::Escapes { .. })));
        assert!(matches!(root.edit("link", "original", "pwned"), Err(Error::Escapes { .. })));
        assert!(matches!(root.read("link", None, None, 100), Err(Error::Escapes { .. })));
        assert_eq!(fs::read_to_string(&target).unwrap(), "original");
        assert!(fs::symlink_metadata(root.path().join("link")).unwrap().file_type().is_symlink());
    }

    #[test]
    fn dangling_symlink_outside_is_refused() {
        let (_t, root, outside) = setup("dangling");
        symlink(outside.join("new.txt"), root.path().join("dangle")).unwrap();
        symlink(outside.join("nodir/new.txt"), root.path().join("dangle2")).unwrap();
        assert!(matches!(root.write("dangle", "pwned"), Err(Error::Escapes { .. })));
        assert!(matches!(root.write("dangle2", "pwned"), Err(Error::Escapes { .. })));
        assert!(matches!(root.read("dangle", None, None, 100), Err(Error::Escapes { .. })));
        assert!(names(&outside).is_empty(), "nothing created outside");
    }

    #[test]
    fn symlinked_parent_outside_is_refused() {
        let (_t, root, outside) = setup("parent");
        fs::write(outside.join("secret.txt"), "secret").unwrap();
        symlink(&outside, root.path().join("sub")).unwrap();
        assert!(matches!(root.read("sub/secret.txt", None, None, 100), Err(Error::Escapes { .. })));
        assert!(matches!(root.write("sub/new.txt", "pwned"), Err(Error::Escapes { .. })));
        assert!(matches!(root.write("sub/deep/new.txt", "pwned"), Err(Error::Escapes { .. })));
        assert!(matches!(root.write("/workspace/sub/new.txt", "pwned"), Err(Error::Escapes { .. })));
        assert_eq!(names(&outside), ["secret.txt"]);
        // A `..` after a symlink applies to the real folder, as the kernel does.
        symlink(root.path().join("sub"), root.path().join("sub2")).unwrap();
        assert!(matches!(root.read("sub2/../outside/secret.txt", None, None, 100), Err(Error::Escapes { .. })));
    }

    #[test]
    fn symlinks_inside_root_are_followed() {
        let (_t, root, _) = setup("inside");
        root.write("real/file.txt", "one").unwrap();
        symlink("real/file.txt", root.path().join("alias")).unwrap();
        symlink("real", root.path().join("dirlink")).unwrap();
        symlink("/workspace/real/file.txt", root.path().join("container_abs")).unwrap();
        symlink(root.path().join("real/file.txt"), root.path().join("host_abs")).unwrap();
        for path in ["alias", "dirlink/file.txt", "container_abs", "host_abs"] {
            assert_eq!(root.read(path, None, None, 100).unwrap(), "one", "{path}");
        }
        root.write("alias", "two").unwrap();
        assert_eq!(fs::read_to_string(root.path().join("real/file.txt")).unwrap(), "two");
        assert!(fs::symlink_metadata(root.path().join("alias")).unwrap().file_type().is_symlink());
        root.write("dirlink/new.txt", "three").unwrap();
        assert_eq!(fs::read_to_string(root.path().join("real/new.txt")).unwrap(), "three");
        // A loop ends with a clear error.
        symlink("loop_b", root.path().join("loop_a")).unwrap();
        symlink("loop_a", root.path().join("loop_b")).unwrap();
        assert!(matches!(root.read("loop_a", None, None, 100), Err(Error::TooManySymlinks { .. })));
    }

    #[test]
    fn opened_file_outside_root_is_refused() {
        // The /proc/self/fd check that backs every open, on a file opened outside.
        let (_t, root, outside) = setup("procfd");
        fs::write(outside.join("f"), "x").unwrap();
        let f = File::open(outside.join("f")).unwrap();
        assert!(matches!(root.check_opened(&f, "f"), Err(Error::Escapes { .. })));
        fs::write(root.path().join("g"), "x").unwrap();
        let g = File::open(root.path().join("g")).unwrap();
        root.check_opened(&g, "g").unwrap();
    }

    /// Runs `swap` in a loop on another thread while `work` runs.
    fn racing(swap: impl Fn() + Send + 'static, work: impl FnOnce()) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let swapper = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                swap();
            }
        });
        /// Stops the swapper also when `work` panics, before the temp folder goes.
        struct Stop(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);
        impl Drop for Stop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
                if let Some(h) = self.1.take() {
                    let _ = h.join();
                }
            }
        }
        let _stop = Stop(stop, Some(swapper));
        work();
    }

    #[test]
    fn racing_swaps_never_reach_outside() {
        let (_t, root, outside) = setup("race");
        let ws = root.path().to_path_buf();
        fs::write(outside.join("secret"), "SECRET").unwrap();
        ensure_private_dir(&ws.join("d")).unwrap();
        fs::write(ws.join("f"), "safe").unwrap();
        let (w, o) = (ws.clone(), outside.clone());
        racing(
            move || {
                // Swap the folder `d` for a symlink to outside and back, and
                // the file `f` for a symlink to the secret and back.
                let _ = fs::rename(w.join("d"), w.join("d_real"));
                let _ = symlink(&o, w.join("d"));
                let _ = fs::rename(w.join("f"), w.join("f_real"));
                let _ = symlink(o.join("secret"), w.join("f"));
                let _ = fs::remove_file(w.join("d"));
                let _ = fs::rename(w.join("d_real"), w.join("d"));
                let _ = fs::remove_file(w.join("f"));
                let _ = fs::rename(w.join("f_real"), w.join("f"));
            },
            || {
                for i in 0..1000 {
                    let _ = root.write("d/f.txt", "pwned");
                    let _ = root.write(&format!("d/n{i}/f.txt"), "pwned");
                    if let Ok(text) = root.read("f", None, None, 100) {
                        assert_eq!(text, "safe");
                    }
                }
            },
        );
        assert_eq!(names(&outside), ["secret"], "nothing was created outside");
        assert_eq!(fs::read_to_string(outside.join("secret")).unwrap(), "SECRET");
    }

    #[test]
    fn read_only_refuses_changes() {
        let (_t, rw, _) = setup("ro");
        rw.write("f.txt", "hello").unwrap();
        let ro = Root::open(rw.path(), Access::ReadOnly, Some("/workspace")).unwrap();
        assert_eq!(ro.read("f.txt", None, None, 100).unwrap(), "hello");
        for err in [ro.write("f.txt", "x").map(|_| ()).unwrap_err(), ro.edit("f.txt", "hello", "x").unwrap_err()] {
            let msg = err.to_string();
            assert!(matches!(err, Error::ReadOnly { .. }));
            assert!(msg.contains("read-only (workspaceAccess: \"ro\")") && msg.contains("\"rw\""), "{msg}");
        }
        assert_eq!(fs::read_to_string(rw.path().join("f.txt")).unwrap(), "hello");
    }

    #[test]
    fn read_honours_offset_and_limit() {
        let (_t, root, _) = setup("lines");
        root.write("f", "1\n2\n3\n4\n5\n").unwrap();
        root.write("g", "a\nb").unwrap();
        root.write("empty", "").unwrap();
        assert_eq!(root.read("f", None, None, 100).unwrap(), "1\n2\n3\n4\n5\n");
        assert_eq!(root.read("f", Some(2), Some(2), 100).unwrap(), "2\n3\n");
        assert_eq!(root.read("f", Some(4), None, 100).unwrap(), "4\n5\n");
        assert_eq!(root.read("f", None, Some(1), 100).unwrap(), "1\n");
        assert_eq!(root.read("f", Some(5), Some(10), 100).unwrap(), "5\n");
        assert_eq!(root.read("g", Some(2), None, 100).unwrap(), "b");
        assert_eq!(root.read("empty", None, None, 100).unwrap(), "");
        match root.read("f", Some(6), None, 100) {
            Err(Error::OffsetBeyondEnd { offset: 6, lines: 5, .. }) => {}
            other => panic!("{other:?}"),
        }
        assert!(matches!(root.read("g", Some(3), None, 100), Err(Error::OffsetBeyondEnd { lines: 2, .. })));
    }

    #[test]
    fn read_caps_bytes_with_a_marker() {
        let (_t, root, _) = setup("cap");
        root.write("x", &"x".repeat(100)).unwrap();
        assert_eq!(root.read("x", None, None, 10).unwrap(), "xxxxxxxxxx\n[... truncated: 90 more bytes in the file; continue with offset=1]");
        root.write("lines", "aaaa\nbbbb\ncccc\n").unwrap();
        assert_eq!(root.read("lines", None, None, 7).unwrap(), "aaaa\nbb\n[... truncated: 8 more bytes in the file; continue with offset=2]");
        assert_eq!(root.read("lines", Some(2), None, 5).unwrap(), "bbbb\n[... truncated: 5 more bytes in the file; continue with offset=3]");
        assert_eq!(root.read("lines", Some(2), Some(1), 5).unwrap(), "bbbb\n");
        // A cut never splits a character: "é" is 2 bytes.
        root.write("e", &"é".repeat(10)).unwrap();
        assert_eq!(root.read("e", None, None, 5).unwrap(), "éé\n[... truncated: 16 more bytes in the file; continue with offset=1]");
        // Invalid UTF-8 is shown lossily, not refused.
        fs::write(root.path().join("bin"), b"a\xffb").unwrap();
        assert_eq!(root.read("bin", None, None, 100).unwrap(), "a\u{fffd}b");
        // Lines longer than the read buffer are streamed.
        let big = format!("{}\nend\n", "z".repeat(200 * 1024));
        root.write("big", &big).unwrap();
        assert_eq!(root.read("big", Some(2), None, 100).unwrap(), "end\n");
        let capped = root.read("big", None, None, 1000).unwrap();
        assert!(capped.ends_with(&format!("[... truncated: {} more bytes in the file; continue with offset=1]", big.len() - 1000)));
    }

    #[test]
    fn read_refuses_folders_missing_files_and_fifos() {
        let (_t, root, _) = setup("kinds");
        ensure_private_dir(&root.path().join("d")).unwrap();
        assert!(matches!(root.read("d", None, None, 100), Err(Error::IsDirectory { .. })));
        assert!(matches!(root.read(".", None, None, 100), Err(Error::IsDirectory { .. })));
        assert!(matches!(root.read("nope", None, None, 100), Err(Error::NotFound { .. })));
        assert!(matches!(root.write("d", "x"), Err(Error::IsDirectory { .. })));
        assert!(matches!(root.write(".", "x"), Err(Error::IsDirectory { .. })));
        assert!(matches!(root.write("/workspace", "x"), Err(Error::IsDirectory { .. })));
        let fifo = root.path().join("fifo");
        if std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
            assert!(matches!(root.read("fifo", None, None, 100), Err(Error::NotRegularFile { .. })));
            let f = open_nonblocking(&fifo).expect("a FIFO opens without blocking");
            drop(f);
        }
    }

    #[test]
    fn edit_needs_one_exact_match() {
        let (_t, root, _) = setup("edit");
        root.write("f.txt", "alpha beta\ngamma beta\n").unwrap();
        root.edit("f.txt", "alpha", "ALPHA").unwrap();
        assert_eq!(fs::read_to_string(root.path().join("f.txt")).unwrap(), "ALPHA beta\ngamma beta\n");
        let p = root.path().display().to_string();
        assert!(!p.is_empty());
        assert_eq!(
            root.edit("f.txt", "delta", "x").unwrap_err().to_string(),
            "Could not find the exact text in f.txt. The old text must match exactly including all whitespace and newlines."
        );
        assert_eq!(
            root.edit("f.txt", "beta", "x").unwrap_err().to_string(),
            "Found 2 occurrences of the text in f.txt. The text must be unique. Please provide more context to make it unique."
        );
        assert!(matches!(root.edit("f.txt", "", "x"), Err(Error::EmptyOldText { .. })));
        assert!(matches!(root.edit("missing.txt", "a", "b"), Err(Error::NotFound { .. })));
        root.edit("f.txt", "gamma beta\n", "").unwrap();
        assert_eq!(fs::read_to_string(root.path().join("f.txt")).unwrap(), "ALPHA beta\n");
        fs::write(root.path().join("bin"), b"a\xffb").unwrap();
        assert!(matches!(root.edit("bin", "a", "b"), Err(Error::NotUtf8 { .. })));
        assert_eq!(names(root.path()), ["bin", "f.txt"], "no temp files left");
    }

    #[test]
    fn write_creates_private_parents_and_replaces_atomically() {
        let (_t, root, _) = setup("write");
        assert_eq!(root.write("a/b/c.txt", "hello").unwrap(), 5);
        let file = root.path().join("a/b/c.txt");
        assert_eq!(fs::read_to_string(&file).unwrap(), "hello");
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&root.path().join("a/b")), 0o700);
        assert_eq!(mode(&file), 0o600);
        root.write("a/b/c.txt", "bye").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "bye");
        assert_eq!(names(&root.path().join("a/b")), ["c.txt"], "no temp files left");
        // A replaced file keeps its permission bits.
        fs::set_permissions(&file, fs::Permissions::from_mode(0o750)).unwrap();
        root.write("a/b/c.txt", "#!/bin/sh\n").unwrap();
        assert_eq!(mode(&file), 0o750);
        // A file where a folder is needed fails cleanly.
        assert!(matches!(root.write("a/b/c.txt/d", "x"), Err(Error::Io { .. })));
        assert_eq!(names(&root.path().join("a/b")), ["c.txt"]);
    }

    #[test]
    fn shown_paths_are_short_and_escaped() {
        assert_eq!(shown("a\nb"), "a\\nb");
        let long = shown(&"x".repeat(5000));
        assert!(long.len() < 230 && long.ends_with("(5000 bytes)"), "{long}");
    }

    #[test]
    fn read_text_reads_whole_utf8_files_only() {
        let (_t, root, outside) = setup("read_text");
        root.write("f.txt", "one\ntwo\n").unwrap();
        assert_eq!(root.read_text("f.txt").unwrap(), "one\ntwo\n");
        fs::write(root.path().join("bin"), b"a\xffb").unwrap();
        assert!(matches!(root.read_text("bin"), Err(Error::NotUtf8 { .. })));
        assert!(matches!(root.read_text("nope"), Err(Error::NotFound { .. })));
        assert!(matches!(root.read_text("."), Err(Error::IsDirectory { .. })));
        // Too large is decided from the size, without reading (a sparse file).
        let big = File::create(root.path().join("big")).unwrap();
        big.set_len(MAX_EDIT_BYTES as u64 + 1).unwrap();
        assert!(matches!(root.read_text("big"), Err(Error::FileTooLarge { .. })));
        fs::write(outside.join("secret"), "s").unwrap();
        symlink(outside.join("secret"), root.path().join("link")).unwrap();
        assert!(matches!(root.read_text("link"), Err(Error::Escapes { .. })));
        assert!(matches!(root.read_text("../outside/secret"), Err(Error::Escapes { .. })));
    }

    #[test]
    fn remove_deletes_files_and_links_not_targets() {
        let (_t, root, outside) = setup("remove");
        root.write("a/f.txt", "x").unwrap();
        root.remove("a/f.txt").unwrap();
        assert!(names(&root.path().join("a")).is_empty());
        assert!(matches!(root.remove("a/f.txt"), Err(Error::NotFound { .. })));
        assert!(matches!(root.remove("nodir/f.txt"), Err(Error::NotFound { .. })));
        assert!(matches!(root.remove("a"), Err(Error::IsDirectory { .. })));
        assert!(matches!(root.remove("a/.."), Err(Error::IsDirectory { .. })));
        assert!(matches!(root.remove("/workspace"), Err(Error::IsDirectory { .. })));
        // A symlink is removed itself, also one pointing outside; its target stays.
        fs::write(outside.join("target"), "keep").unwrap();
        symlink(outside.join("target"), root.path().join("out_link")).unwrap();
        root.remove("out_link").unwrap();
        assert_eq!(fs::read_to_string(outside.join("target")).unwrap(), "keep");
        root.write("real.txt", "r").unwrap();
        symlink("real.txt", root.path().join("in_link")).unwrap();
        root.remove("/workspace/in_link").unwrap();
        assert_eq!(names(root.path()), ["a", "real.txt"]);
        // Nothing outside is reached, through `..`, absolute paths or a symlinked folder.
        symlink(&outside, root.path().join("sub")).unwrap();
        for path in ["../outside/target", "sub/target", outside.join("target").to_str().unwrap()] {
            assert!(matches!(root.remove(path), Err(Error::Escapes { .. })), "{path}");
        }
        assert!(matches!(root.remove("a\0b"), Err(Error::InvalidPath { .. })));
        assert_eq!(names(&outside), ["target"]);
        let ro = Root::open(root.path(), Access::ReadOnly, None).unwrap();
        assert!(matches!(ro.remove("real.txt"), Err(Error::ReadOnly { .. })));
        assert_eq!(names(root.path()), ["a", "real.txt", "sub"]);
    }

    #[test]
    fn rename_moves_files_inside_the_root() {
        let (_t, root, outside) = setup("rename");
        root.write("a.sh", "#!/bin/sh\n").unwrap();
        fs::set_permissions(root.path().join("a.sh"), fs::Permissions::from_mode(0o750)).unwrap();
        root.rename("a.sh", "bin/deep/b.sh").unwrap();
        assert_eq!(fs::read_to_string(root.path().join("bin/deep/b.sh")).unwrap(), "#!/bin/sh\n");
        assert_eq!(mode(&root.path().join("bin/deep/b.sh")), 0o750, "mode kept");
        assert_eq!(mode(&root.path().join("bin/deep")), 0o700, "new folders are private");
        assert_eq!(names(root.path()), ["bin"]);
        // An existing file at the destination is replaced, as `mv` does.
        root.write("c.txt", "new").unwrap();
        root.write("d.txt", "old").unwrap();
        root.rename("c.txt", "/workspace/d.txt").unwrap();
        assert_eq!(fs::read_to_string(root.path().join("d.txt")).unwrap(), "new");
        assert!(matches!(root.rename("missing", "x"), Err(Error::NotFound { .. })));
        assert!(matches!(root.rename("bin", "x"), Err(Error::IsDirectory { .. })));
        assert!(matches!(root.rename("d.txt", "bin/deep"), Err(Error::IsDirectory { .. })));
        // Neither end may lead outside.
        fs::write(outside.join("secret"), "s").unwrap();
        symlink(&outside, root.path().join("sub")).unwrap();
        for (from, to) in [("d.txt", "../outside/d.txt"), ("d.txt", "sub/d.txt"), ("d.txt", "sub/new/d.txt"), ("sub/secret", "stolen"), ("../outside/secret", "stolen")] {
            assert!(matches!(root.rename(from, to), Err(Error::Escapes { .. })), "{from} -> {to}");
        }
        assert_eq!(names(&outside), ["secret"]);
        let ro = Root::open(root.path(), Access::ReadOnly, None).unwrap();
        assert!(matches!(ro.rename("d.txt", "e.txt"), Err(Error::ReadOnly { .. })));
        assert_eq!(names(root.path()), ["bin", "d.txt", "sub"]);
    }
}
