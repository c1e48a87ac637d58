//! Changing `openclaw.json`: every write is validated first, keeps the
//! previous text in `openclaw.json.bak`, is atomic (through `fsutil`) and
//! happens under the file's advisory lock. A file that does not parse is
//! never rewritten. Used by `config set|unset`, the gateway's `config.set`
//! and its first-start token generation.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Error as ConfigError, Loaded, edit, source};
use crate::fsutil;
use crate::paths::{Env, Paths};

#[derive(Debug)]
pub enum Error {
    Io { path: PathBuf, err: std::io::Error },
    /// The current file is not JSON5, so it cannot be changed key by key.
    NotJson5 { path: PathBuf, message: String, pos: source::Pos },
    Edit(edit::Error),
    /// The result would not be a valid config; nothing was written.
    Invalid(ConfigError),
    /// `config.set` with a `baseHash` that no longer matches the file.
    Changed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, err } => write!(f, "cannot write {}: {err}", path.display()),
            Error::NotJson5 { path, message, pos } => write!(
                f,
                "Cannot change {}: it is not valid JSON5 ({message}, {pos}). Fix the file by hand first; it was not changed.",
                path.display()
            ),
            Error::Edit(e) => write!(f, "{e}"),
            Error::Invalid(e) => write!(f, "{e}\nNothing was written."),
            Error::Changed => write!(f, "config changed since it was read; reload it and apply your edit again"),
        }
    }
}

impl std::error::Error for Error {}

/// The hex SHA-256 of the file text, `""` when there is no file: the
/// `baseHash` of `config.get`/`config.set`.
pub fn text_hash(text: Option<&str>) -> String {
    text.map(|t| crate::crypto::hex(&crate::crypto::sha256(t.as_bytes()))).unwrap_or_default()
}

/// Reads the file's text (`None` when missing).
pub fn read_text(path: &Path) -> Result<Option<String>, Error> {
    match source::read(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Error::Io { path: path.to_path_buf(), err }),
    }
}

/// Changes the parsed file with `change` and writes it back as 2-space JSON.
pub fn update<T>(paths: &Paths, env: &Env, cwd: Option<&Path>, change: impl FnOnce(&mut Value) -> Result<T, edit::Error>) -> Result<T, Error> {
    let file = &paths.config_path;
    let _lock = fsutil::Lock::exclusive(file).map_err(|err| Error::Io { path: file.clone(), err })?;
    let old_text = read_text(file)?;
    let mut root = match &old_text {
        Some(t) => source::parse(t).map_err(|e| Error::NotJson5 { path: file.clone(), message: e.message, pos: e.pos })?,
        None => json!({}),
    };
    let out = change(&mut root).map_err(Error::Edit)?;
    super::check_candidate(root.clone(), paths, env, cwd).map_err(Error::Invalid)?;
    let mut text = serde_json::to_string_pretty(&root).unwrap_or_default();
    text.push('\n');
    replace(file, old_text.as_deref(), &text)?;
    Ok(out)
}

/// Replaces the file with `text` as given (comments kept) after validating
/// it with positions; `base_hash`, when given, must match the current file.
pub fn replace_text(paths: &Paths, env: &Env, cwd: Option<&Path>, text: &str, base_hash: Option<&str>) -> Result<Loaded, Error> {
    let file = &paths.config_path;
    let _lock = fsutil::Lock::exclusive(file).map_err(|err| Error::Io { path: file.clone(), err })?;
    let old_text = read_text(file)?;
    if let Some(base) = base_hash
        && base != text_hash(old_text.as_deref())
    {
        return Err(Error::Changed);
    }
    let loaded = super::check_text(text, paths, env, cwd).map_err(Error::Invalid)?;
    replace(file, old_text.as_deref(), text)?;
    Ok(loaded)
}

fn replace(file: &Path, old_text: Option<&str>, text: &str) -> Result<(), Error> {
    if let Some(old) = old_text {
        let bak = file.with_file_name(format!("{}.bak", file.file_name().unwrap_or_default().to_string_lossy()));
        fsutil::write_atomic(&bak, old.as_bytes()).map_err(|err| Error::Io { path: bak.clone(), err })?;
    }
    fsutil::write_atomic(file, text.as_bytes()).map_err(|err| Error::Io { path: file.to_path_buf(), err })
}
