//! Where state lives: the state folder, the config file, and `~` expansion.
//!
//! Resolution follows upstream: `OPENCLAW_STATE_DIR` wins, then `--profile
//! <name>` (`~/.openclaw-<name>`), then `~/.openclaw`; the config file is
//! `OPENCLAW_CONFIG_PATH` or `<state>/openclaw.json`. The environment is
//! passed in as a map so the rules are testable; nothing here touches disk.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A snapshot of environment variables. Read once in `main`, then passed down.
pub type Env = BTreeMap<String, String>;

/// Reads the process environment (values that are not UTF-8 are skipped).
pub fn process_env() -> Env {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

/// The resolved state folder and config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Paths {
    pub home: PathBuf,
    pub state_dir: PathBuf,
    pub config_path: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    NoHome,
    BadProfile(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoHome => write!(f, "HOME is not set; set HOME or OPENCLAW_STATE_DIR"),
            Error::BadProfile(p) => {
                write!(f, "invalid profile name {p:?}: use letters, digits, '-' and '_' only")
            }
        }
    }
}

impl std::error::Error for Error {}

impl Paths {
    pub fn resolve(env: &Env, profile: Option<&str>) -> Result<Paths, Error> {
        let home = env.get("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        if let Some(p) = profile
            && (p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
                return Err(Error::BadProfile(p.to_string()));
            }
        let state_override = env.get("OPENCLAW_STATE_DIR").filter(|s| !s.is_empty());
        let home = match (home, state_override) {
            (Some(h), _) => h,
            // Without HOME, an explicit state dir is still enough.
            (None, Some(s)) => PathBuf::from(s),
            (None, None) => return Err(Error::NoHome),
        };
        let state_dir = match state_override {
            Some(s) => expand_home(s, &home),
            None => match profile {
                Some(p) if p != "default" => home.join(format!(".openclaw-{p}")),
                _ => home.join(".openclaw"),
            },
        };
        let config_path = match env.get("OPENCLAW_CONFIG_PATH").filter(|s| !s.is_empty()) {
            Some(c) => expand_home(c, &home),
            None => state_dir.join("openclaw.json"),
        };
        Ok(Paths { home, state_dir, config_path })
    }

    /// The default agent workspace, `<state>/workspace`.
    pub fn default_workspace(&self) -> PathBuf {
        self.state_dir.join("workspace")
    }
}

/// Expands a leading `~` or `~/` to `home`. Other paths are returned as is.
pub fn expand_home(p: &str, home: &Path) -> PathBuf {
    if p == "~" {
        home.to_path_buf()
    } else if let Some(rest) = p.strip_prefix("~/") {
        home.join(rest)
    } else {
        PathBuf::from(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_profile_and_overrides() {
        let p = Paths::resolve(&env(&[("HOME", "/h")]), None).unwrap();
        assert_eq!(p.state_dir, PathBuf::from("/h/.openclaw"));
        assert_eq!(p.config_path, PathBuf::from("/h/.openclaw/openclaw.json"));
        let p = Paths::resolve(&env(&[("HOME", "/h")]), Some("work")).unwrap();
        assert_eq!(p.state_dir, PathBuf::from("/h/.openclaw-work"));
        let p = Paths::resolve(
            &env(&[("HOME", "/h"), ("OPENCLAW_STATE_DIR", "~/s"), ("OPENCLAW_CONFIG_PATH", "/c.json5")]),
            Some("work"),
        )
        .unwrap();
        assert_eq!(p.state_dir, PathBuf::from("/h/s"));
        assert_eq!(p.config_path, PathBuf::from("/c.json5"));
        assert_eq!(Paths::resolve(&env(&[]), None), Err(Error::NoHome));
        assert!(matches!(Paths::resolve(&env(&[("HOME", "/h")]), Some("../x")), Err(Error::BadProfile(_))));
    }
}
