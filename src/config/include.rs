//! `$include`: splicing other files into the config.
//!
//! An object with an `"$include"` key (a path or a list of paths, relative to
//! the including file) is replaced by the included files deep-merged in
//! order, with the object's other keys merged over them. Included files may
//! include others up to [`MAX_DEPTH`] levels; a file that includes itself,
//! directly or not, is an error naming the chain. Every file read is recorded
//! as a [`Source`] so problems can be traced back to a line and column.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::source::{self, Locations, SyntaxError};

pub const MAX_DEPTH: usize = 10;

/// A file that contributed to the config, and where in the tree it sits.
#[derive(Debug)]
pub struct Source {
    pub file: PathBuf,
    /// The dotted path its root was spliced into ("" for the main file).
    pub prefix: String,
    pub locations: Locations,
}

#[derive(Debug)]
pub enum Error {
    Read { file: PathBuf, from: PathBuf, path: String, err: std::io::Error },
    Syntax { file: PathBuf, err: SyntaxError },
    Cycle { chain: Vec<PathBuf> },
    TooDeep { file: PathBuf },
    BadValue { file: PathBuf, path: String, message: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { file, from, path, err } => write!(
                f,
                "{path}: cannot read included file {} (from {}): {err}",
                file.display(),
                from.display()
            ),
            Error::Syntax { file, err } => write!(f, "{}: {} ({})", file.display(), err.message, err.pos),
            Error::Cycle { chain } => {
                let names: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
                write!(f, "circular $include: {}", names.join(" -> "))
            }
            Error::TooDeep { file } => {
                write!(f, "$include nested more than {MAX_DEPTH} levels deep at {}", file.display())
            }
            Error::BadValue { file, path, message } => write!(f, "{path}: {message} (in {})", file.display()),
        }
    }
}

impl std::error::Error for Error {}

/// Resolves every `$include` in `value`, which was read from `file`.
pub fn resolve(value: Value, file: &Path, sources: &mut Vec<Source>) -> Result<Value, Error> {
    let mut stack = vec![canonical(file)];
    walk(value, file, "", &mut stack, sources)
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn walk(value: Value, file: &Path, path: &str, stack: &mut Vec<PathBuf>, sources: &mut Vec<Source>) -> Result<Value, Error> {
    match value {
        Value::Object(mut map) => {
            let include = map.remove("$include");
            let mut merged = Map::new();
            for (k, v) in map {
                let child = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                merged.insert(k, walk(v, file, &child, stack, sources)?);
            }
            let Some(include) = include else { return Ok(Value::Object(merged)) };
            let names = match include {
                Value::String(s) => vec![s],
                Value::Array(items) => items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s),
                        _ => Err(bad(file, path, "$include must be a path or a list of paths")),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(bad(file, path, "$include must be a path or a list of paths")),
            };
            let mut base: Option<Value> = None;
            for name in names {
                let included = load(&name, file, path, stack, sources)?;
                base = Some(match base {
                    None => included,
                    Some(b) => merge(b, included),
                });
            }
            let base = base.unwrap_or(Value::Object(Map::new()));
            if merged.is_empty() {
                return Ok(base);
            }
            if !base.is_object() {
                return Err(bad(file, path, "an included file must hold an object when the including object has other keys"));
            }
            Ok(merge(base, Value::Object(merged)))
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.into_iter().enumerate() {
                out.push(walk(v, file, &format!("{path}[{i}]"), stack, sources)?);
            }
            Ok(Value::Array(out))
        }
        other => Ok(other),
    }
}

fn bad(file: &Path, path: &str, message: &str) -> Error {
    let path = if path.is_empty() { "<root>".to_string() } else { path.to_string() };
    Error::BadValue { file: file.to_path_buf(), path, message: message.to_string() }
}

fn load(name: &str, from: &Path, path: &str, stack: &mut Vec<PathBuf>, sources: &mut Vec<Source>) -> Result<Value, Error> {
    let dir = from.parent().unwrap_or(Path::new("."));
    // `./x.json5` reads better in messages as `x.json5`.
    let target: PathBuf = dir.join(name).components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect();
    let key = canonical(&target);
    if stack.contains(&key) {
        let mut chain = stack.clone();
        chain.push(key);
        return Err(Error::Cycle { chain });
    }
    if stack.len() > MAX_DEPTH {
        return Err(Error::TooDeep { file: target });
    }
    let text = source::read(&target).map_err(|err| Error::Read {
        file: target.clone(),
        from: from.to_path_buf(),
        path: if path.is_empty() { "$include".to_string() } else { format!("{path}.$include") },
        err,
    })?;
    let value = source::parse(&text).map_err(|err| Error::Syntax { file: target.clone(), err })?;
    sources.push(Source { file: target.clone(), prefix: path.to_string(), locations: source::scan(&text) });
    stack.push(key);
    let out = walk(value, &target, path, stack, sources);
    stack.pop();
    out
}

/// Deep-merges `over` into `base`: objects merge key by key, anything else
/// in `over` replaces what `base` had.
pub fn merge(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Object(mut b), Value::Object(o)) => {
            for (k, v) in o {
                let merged = match b.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                b.insert(k, merged);
            }
            Value::Object(b)
        }
        (_, over) => over,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_is_deep_and_later_wins() {
        let m = merge(json!({"a": {"b": 1, "c": [1]}, "d": 1}), json!({"a": {"c": [2], "e": 3}}));
        assert_eq!(m, json!({"a": {"b": 1, "c": [2], "e": 3}, "d": 1}));
    }
}
