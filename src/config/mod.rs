//! The config file: `openclaw.json` (JSON5) read into a validated [`Config`].
//!
//! The pipeline, in order: the effective environment (process, then `.env` in
//! the working folder and in the state folder, neither overriding what is
//! set), the file's text ([`source`]), `$include` ([`include`]), the `env`
//! block, `${VAR}` substitution ([`env`]), and finally the typed read with
//! strict validation ([`model`], [`sandbox`]). Every problem is reported with
//! its dotted path and, when it can be traced to a file, its line and column,
//! in upstream's "Config invalid" layout. A missing file means defaults.
//!
//! This module only reads. Writes go through [`edit`] and `fsutil`.

pub mod edit;
pub mod env;
pub mod include;
pub mod model;
pub mod reader;
pub mod sandbox;
pub mod source;
pub mod write;

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use model::{Config, Redacted};

use crate::paths::{Env, Paths};
use include::Source;
use source::{Pos, SyntaxError};

/// A loaded config and what came with it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub path: PathBuf,
    /// False when there is no config file and defaults apply.
    pub exists: bool,
    /// The process environment plus `.env` files and the `env` block.
    pub env: Env,
    /// The merged config before `${VAR}` substitution (what `config get` shows).
    pub raw: Value,
    pub warnings: Vec<Problem>,
}

/// One problem or warning, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: String,
    pub message: String,
    pub at: Option<At>,
}

/// A file position; `exact` is false when only an enclosing key was found.
#[derive(Debug, Clone, PartialEq)]
pub struct At {
    pub file: PathBuf,
    pub pos: Pos,
    pub exact: bool,
}

#[derive(Debug)]
pub enum Error {
    /// The config file exists but cannot be read.
    Unreadable { path: PathBuf, err: std::io::Error },
    /// The config is not valid; `problems` lists every reason.
    Invalid { path: PathBuf, problems: Vec<Problem> },
}

impl Error {
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Invalid { problems, .. } => problems,
            Error::Unreadable { .. } => &[],
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unreadable { path, err } => {
                write!(f, "Cannot read config file {}: {err}", path.display())?;
                if err.kind() == std::io::ErrorKind::PermissionDenied {
                    write!(f, "\nFix: make it readable by this user (e.g. chown $(id -u) {0} && chmod 600 {0})", path.display())?;
                }
                Ok(())
            }
            Error::Invalid { path, problems } => {
                writeln!(f, "Config invalid")?;
                writeln!(f, "File: {}", path.display())?;
                writeln!(f, "Problem:")?;
                for p in problems {
                    writeln!(f, "  - {}", p.render(path))?;
                }
                write!(f, "\nRun: openclaw doctor --fix")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Unreadable { err, .. } => Some(err),
            Error::Invalid { .. } => None,
        }
    }
}

impl Problem {
    /// `path: message (line L, column C)`; the file is named when it is not `main`.
    pub fn render(&self, main: &Path) -> String {
        let path = if self.path.is_empty() { "<root>" } else { &self.path };
        match &self.at {
            None => format!("{path}: {}", self.message),
            Some(at) if at.file == main => format!("{path}: {} ({})", self.message, at.pos),
            Some(at) => format!("{path}: {} ({}, {})", self.message, at.file.display(), at.pos),
        }
    }
}

/// Loads the config named by `paths`, with `env` as the process environment
/// and `cwd` as the folder whose `.env` is read.
pub fn load(paths: &Paths, env: &Env, cwd: Option<&Path>) -> Result<Loaded, Error> {
    let (env, mut warnings) = effective_env(paths, env, cwd);
    let path = paths.config_path.clone();
    let text = match source::read(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(Error::Unreadable { path, err }),
    };
    let exists = text.is_some();
    let (value, locations) = match &text {
        Some(t) => {
            let value = source::parse(t).map_err(|e| syntax_error(&path, &path, e))?;
            (value, source::scan(t))
        }
        None => (Value::Object(Default::default()), Default::default()),
    };
    let mut loaded = build(value, locations, paths, env)?;
    loaded.exists = exists;
    warnings.append(&mut loaded.warnings);
    loaded.warnings = warnings;
    Ok(loaded)
}

/// Validates a candidate value for the main config file (used before a
/// write), resolving its includes relative to the file's folder.
pub fn check_candidate(value: Value, paths: &Paths, env: &Env, cwd: Option<&Path>) -> Result<Loaded, Error> {
    let (env, _) = effective_env(paths, env, cwd);
    build(value, Default::default(), paths, env)
}

/// Validates candidate file text for the main config file (the Control UI's
/// raw editor): syntax errors and every other problem carry the line and
/// column in `text`.
pub fn check_text(text: &str, paths: &Paths, env: &Env, cwd: Option<&Path>) -> Result<Loaded, Error> {
    let (env, _) = effective_env(paths, env, cwd);
    let path = &paths.config_path;
    let value = source::parse(text).map_err(|e| syntax_error(path, path, e))?;
    let mut loaded = build(value, source::scan(text), paths, env)?;
    loaded.exists = true;
    Ok(loaded)
}

/// The process environment plus `.env` in `cwd` and in the state folder,
/// neither overriding what is set; bad `.env` lines become warnings.
fn effective_env(paths: &Paths, env: &Env, cwd: Option<&Path>) -> (Env, Vec<Problem>) {
    let mut env = env.clone();
    let mut warnings = Vec::new();
    for dir in cwd.into_iter().chain([paths.state_dir.as_path()]) {
        load_dotenv(&dir.join(".env"), &mut env, &mut warnings);
    }
    (env, warnings)
}

fn build(value: Value, locations: source::Locations, paths: &Paths, mut env: Env) -> Result<Loaded, Error> {
    let path = paths.config_path.clone();
    let mut sources = vec![Source { file: path.clone(), prefix: String::new(), locations }];
    let raw = include::resolve(value, &path, &mut sources).map_err(|e| include_error(&path, e))?;

    // Block variables that need no substitution are visible to `${VAR}`;
    // the others are added once substituted, after the typed read.
    env::add_missing(&mut env, env_block_vars(&raw).into_iter().filter(|(_, v)| !v.contains("${")));
    let mut value = raw.clone();
    let mut missing = Vec::new();
    env::substitute(&mut value, &env, "", &mut missing);

    let mut cx = reader::Cx::default();
    let config = model::read(&mut cx, &value, paths);
    env::add_missing(&mut env, config.env_vars.clone());

    let locate = |(p, message): (String, String)| {
        let at = locate(&sources, &p);
        Problem { path: p, message, at }
    };
    let mut problems: Vec<Problem> = missing
        .into_iter()
        .map(|m| {
            let message = format!(
                "missing environment variable ${{{}}}: set {} in the environment, in {}, or in the config's env block",
                m.name,
                m.name,
                paths.state_dir.join(".env").display()
            );
            (m.path, message)
        })
        .map(locate)
        .collect();
    problems.extend(cx.issues.into_iter().map(locate));
    if !problems.is_empty() {
        return Err(Error::Invalid { path, problems });
    }
    let warnings = cx.warnings.into_iter().map(locate).collect();
    Ok(Loaded { config, path, exists: true, env, raw, warnings })
}

/// Finds where `path` was written: the main file first (its keys win), then
/// included files, latest first.
fn locate(sources: &[Source], path: &str) -> Option<At> {
    let (main, includes) = sources.split_first()?;
    let mut best: Option<At> = None;
    for s in std::iter::once(main).chain(includes.iter().rev()) {
        let local = if s.prefix.is_empty() {
            path
        } else if path == s.prefix {
            ""
        } else if let Some(rest) = path.strip_prefix(&s.prefix) {
            match rest.strip_prefix('.') {
                Some(r) => r,
                None if rest.starts_with('[') => rest,
                None => continue,
            }
        } else {
            continue;
        };
        if let Some((pos, exact)) = s.locations.find(local) {
            let at = At { file: s.file.clone(), pos, exact };
            if exact {
                return Some(at);
            }
            best.get_or_insert(at);
        }
    }
    best
}

fn env_block_vars(raw: &Value) -> Vec<(String, String)> {
    let Some(Value::Object(block)) = raw.get("env") else { return Vec::new() };
    let mut out = Vec::new();
    for (k, v) in block {
        match (k.as_str(), v) {
            ("vars", Value::Object(vars)) => {
                out.extend(vars.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))));
            }
            ("shellEnv", _) => {}
            (k, Value::String(s)) => out.push((k.to_string(), s.clone())),
            _ => {}
        }
    }
    out
}

fn load_dotenv(file: &Path, env: &mut Env, warnings: &mut Vec<Problem>) {
    let Ok(text) = std::fs::read_to_string(file) else { return };
    let (vars, bad) = env::parse_dotenv(&text);
    for line in bad {
        warnings.push(Problem {
            path: String::new(),
            message: format!("{}: line {line} is not KEY=value; ignored", file.display()),
            at: None,
        });
    }
    env::add_missing(env, vars);
}

fn syntax_error(main: &Path, file: &Path, e: SyntaxError) -> Error {
    Error::Invalid {
        path: main.to_path_buf(),
        problems: vec![Problem {
            path: String::new(),
            message: format!("JSON5 syntax error: {}", e.message),
            at: Some(At { file: file.to_path_buf(), pos: e.pos, exact: true }),
        }],
    }
}

fn include_error(main: &Path, e: include::Error) -> Error {
    match e {
        include::Error::Syntax { file, err } => syntax_error(main, &file, err),
        other => Error::Invalid {
            path: main.to_path_buf(),
            problems: vec![Problem { path: "$include".into(), message: other.to_string(), at: None }],
        },
    }
}
