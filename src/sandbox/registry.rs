//! The sandbox container registry, `<state>/sandbox/containers.json`
//! (reference §3.5): which containers we made, for which scope, when, and
//! from which config hash. Ensure reads it for the hot-window rule and
//! updates it after every use; prune and `sandbox list` read it.
//!
//! The file is upstream's legacy format, `{"entries": [{containerName,
//! sessionKey, createdAtMs, lastUsedAtMs, image, configHash?}]}`, so a state
//! folder moves between the two implementations. Every change is a
//! read-modify-write under an advisory [`Lock`] on `containers.json.lock`,
//! written with [`write_atomic`]; readers take the same lock, so they never
//! see a file another process is about to replace. A missing file is an
//! empty registry; so is a file that does not parse, which is kept aside as
//! `containers.json.invalid-<ms>` with a warning rather than overwritten.
//!
//! It does not talk to Docker: an entry is a record, not proof that the
//! container exists.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::{Lock, write_atomic};

/// One container record. `createdAtMs`, `image` and `configHash` are
/// optional so an [`Registry::upsert`] can leave them as they were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub container_name: String,
    /// The scope key (`agent:main`, a session key, `shared`).
    pub session_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at_ms: Option<u64>,
    #[serde(default)]
    pub last_used_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
}

/// The registry file of one state folder.
#[derive(Debug, Clone)]
pub struct Registry {
    path: PathBuf,
}

/// A registry read or write failed.
#[derive(Debug)]
pub struct Error {
    pub path: PathBuf,
    pub op: &'static str,
    pub source: io::Error,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    entries: Vec<Entry>,
}

impl Registry {
    /// The registry of the state folder `state_dir`
    /// (`<state>/sandbox/containers.json`).
    pub fn new(state_dir: &Path) -> Registry {
        Registry { path: state_dir.join("sandbox").join("containers.json") }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> Result<Vec<Entry>, Error> {
        let _lock = self.lock()?;
        Ok(self.load()?.entries)
    }

    /// The entry for `container_name`, if any.
    pub fn get(&self, container_name: &str) -> Result<Option<Entry>, Error> {
        Ok(self.entries()?.into_iter().find(|e| e.container_name == container_name))
    }

    /// Adds `entry`, or replaces the entry with its `containerName` (moved
    /// to the end). Fields `entry` leaves as `None` keep their old values.
    pub fn upsert(&self, entry: Entry) -> Result<(), Error> {
        self.modify(|entries| {
            let old = entries.iter().position(|e| e.container_name == entry.container_name).map(|i| entries.remove(i));
            let merged = match old {
                Some(old) => Entry {
                    created_at_ms: entry.created_at_ms.or(old.created_at_ms),
                    image: entry.image.or(old.image),
                    config_hash: entry.config_hash.or(old.config_hash),
                    ..entry
                },
                None => entry,
            };
            entries.push(merged);
        })
    }

    /// Removes the entry for `container_name`; true if there was one.
    pub fn remove(&self, container_name: &str) -> Result<bool, Error> {
        let mut removed = false;
        self.modify(|entries| {
            let before = entries.len();
            entries.retain(|e| e.container_name != container_name);
            removed = entries.len() != before;
        })?;
        Ok(removed)
    }

    fn modify(&self, change: impl FnOnce(&mut Vec<Entry>)) -> Result<(), Error> {
        let _lock = self.lock()?;
        let mut file = self.load()?;
        change(&mut file.entries);
        let mut text = serde_json::to_string_pretty(&file).map_err(|e| self.err("encode", io::Error::other(e)))?;
        text.push('\n');
        write_atomic(&self.path, text.as_bytes()).map_err(|e| self.err("write", e))
    }

    fn lock(&self) -> Result<Lock, Error> {
        Lock::exclusive(&self.path).map_err(|e| self.err("lock", e))
    }

    /// Reads the file; the caller holds the lock.
    fn load(&self) -> Result<File, Error> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(File::default()),
            Err(e) => return Err(self.err("read", e)),
        };
        match serde_json::from_slice::<File>(&bytes) {
            Ok(file) => Ok(file),
            Err(e) => {
                let aside = self.path.with_file_name(format!("containers.json.invalid-{}", super::now_ms()));
                match std::fs::rename(&self.path, &aside) {
                    Ok(()) => log::warn!(
                        "sandbox registry {} does not parse ({e}); starting empty, the old file is kept as {}",
                        self.path.display(),
                        aside.display()
                    ),
                    Err(re) => log::warn!(
                        "sandbox registry {} does not parse ({e}) and could not be moved aside ({re}); starting empty",
                        self.path.display()
                    ),
                }
                Ok(File::default())
            }
        }
    }

    fn err(&self, op: &'static str, source: io::Error) -> Error {
        Error { path: self.path.clone(), op, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} the sandbox registry {}: check that the state folder is writable by this user",
            self.op,
            self.path.display()
        )
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    use crate::fsutil::TestDir as Temp;

    fn entry(name: &str, used: u64) -> Entry {
        Entry {
            container_name: name.into(),
            session_key: "agent:main".into(),
            created_at_ms: Some(100),
            last_used_at_ms: used,
            image: Some("img:1".into()),
            config_hash: Some("h1".into()),
        }
    }

    #[test]
    fn missing_file_is_empty() {
        let t = Temp::new("registry-missing");
        let r = Registry::new(&t.0);
        assert_eq!(r.path(), t.0.join("sandbox/containers.json"));
        assert!(r.entries().unwrap().is_empty());
        assert_eq!(r.get("x").unwrap(), None);
        assert!(!r.remove("x").unwrap());
    }

    #[test]
    fn upsert_replaces_by_name_and_keeps_what_the_new_entry_lacks() {
        let t = Temp::new("registry-upsert");
        let r = Registry::new(&t.0);
        r.upsert(entry("a", 1)).unwrap();
        r.upsert(entry("b", 2)).unwrap();
        r.upsert(Entry { created_at_ms: None, image: None, config_hash: None, ..entry("a", 3) }).unwrap();
        let all = r.entries().unwrap();
        assert_eq!(all.iter().map(|e| e.container_name.as_str()).collect::<Vec<_>>(), vec!["b", "a"]);
        assert_eq!(all[1], entry("a", 3), "createdAtMs, image and configHash kept");
        r.upsert(Entry { created_at_ms: Some(200), config_hash: Some("h2".into()), ..entry("a", 4) }).unwrap();
        let a = r.get("a").unwrap().unwrap();
        assert_eq!((a.created_at_ms, a.config_hash.as_deref(), a.last_used_at_ms), (Some(200), Some("h2"), 4));
        assert!(r.remove("a").unwrap());
        assert_eq!(r.entries().unwrap(), vec![entry("b", 2)]);
    }

    #[test]
    fn file_format_is_upstreams() {
        let t = Temp::new("registry-format");
        let r = Registry::new(&t.0);
        r.upsert(Entry { config_hash: None, ..entry("a", 5) }).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(r.path()).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"entries": [{
                "containerName": "a", "sessionKey": "agent:main", "createdAtMs": 100,
                "lastUsedAtMs": 5, "image": "img:1"
            }]})
        );
        let mode = std::fs::metadata(r.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // An upstream file with extra fields reads.
        std::fs::write(
            r.path(),
            r#"{"entries":[{"containerName":"u","sessionKey":"s","createdAtMs":1,"lastUsedAtMs":2,"image":"i","configHash":"h","backendId":"docker"}]}"#,
        )
        .unwrap();
        assert_eq!(r.get("u").unwrap().unwrap().config_hash.as_deref(), Some("h"));
    }

    #[test]
    fn unparsable_file_is_kept_aside_and_empty() {
        let t = Temp::new("registry-invalid");
        let r = Registry::new(&t.0);
        std::fs::create_dir_all(t.0.join("sandbox")).unwrap();
        std::fs::write(r.path(), "{not json").unwrap();
        assert!(r.entries().unwrap().is_empty());
        let aside: Vec<String> = std::fs::read_dir(t.0.join("sandbox"))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("containers.json.invalid-"))
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert_eq!(std::fs::read_to_string(t.0.join("sandbox").join(&aside[0])).unwrap(), "{not json");
        r.upsert(entry("a", 1)).unwrap();
        assert_eq!(r.entries().unwrap().len(), 1);
    }

    #[test]
    fn concurrent_upserts_lose_nothing() {
        let t = Temp::new("registry-concurrent");
        let r = Registry::new(&t.0);
        std::thread::scope(|s| {
            for i in 0..8 {
                let r = r.clone();
                s.spawn(move || {
                    for j in 0..5 {
                        r.upsert(entry(&format!("c{i}-{j}"), j)).unwrap();
                    }
                });
            }
        });
        assert_eq!(r.entries().unwrap().len(), 40);
    }
}
