//! The sandbox config hash (reference §3.4): what a container was created
//! from, stored in its `openclaw.configHash` label and compared on every
//! ensure to decide whether it must be recreated.
//!
//! The input is `{createEpoch, docker, workspaceAccess, workspaceDir,
//! agentWorkspaceDir}`, where `docker` is the resolved [`DockerConfig`] as it
//! serializes (camelCase) and `workspaceDir` is the host folder mounted at the
//! container's workdir. It is written as canonical JSON (object keys sorted
//! at every depth, arrays in order, nulls dropped, no spaces) and hashed with
//! SHA-256 (hex). [`CREATE_EPOCH`] stands for the parts of the create request
//! that come from this code rather than from the config: bump it whenever
//! `spec.rs` changes what a container gets, so existing sandboxes are
//! recreated (idle ones at once, hot ones on `openclaw sandbox recreate`).
//!
//! The seccomp profile enters by its path only: editing the profile file
//! does not change the hash (recreate to apply it).

use std::path::Path;

use serde_json::Value;

use crate::config::sandbox::{DockerConfig, WorkspaceAccess};
use crate::crypto;

/// The version of our own create arguments (init, no-new-privileges, tmpfs
/// size caps, the seccomp profile's contents instead of its path).
pub const CREATE_EPOCH: &str = "2026-11-24-hardened-create-1";

/// The config hash of a sandbox container. `host_binds` are the create's
/// binds in host terms when this process runs in a container
/// (`hostpath::host_binds`); `None` on the host leaves them out, so the hash
/// of a gateway on the host is the same as before they existed.
pub fn config_hash(
    docker: &DockerConfig,
    access: WorkspaceAccess,
    workspace_dir: &Path,
    agent_workspace_dir: &Path,
    host_binds: Option<&[String]>,
) -> String {
    let docker = serde_json::to_value(docker).expect("DockerConfig serializes to JSON");
    let input = serde_json::json!({
        "createEpoch": CREATE_EPOCH,
        "docker": docker,
        "workspaceAccess": access.as_str(),
        "workspaceDir": workspace_dir.to_string_lossy(),
        "agentWorkspaceDir": agent_workspace_dir.to_string_lossy(),
        "hostBinds": host_binds,
    });
    hash_value(&input)
}

/// SHA-256 (hex) of the canonical JSON of `value`.
pub fn hash_value(value: &Value) -> String {
    let mut out = String::new();
    canonical_json(value, &mut out);
    crypto::hex(&crypto::sha256(out.as_bytes()))
}

/// Writes `value` as canonical JSON: object keys sorted (by bytes) at every
/// depth, object members whose value is null left out, arrays in order.
pub fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().filter(|(_, v)| !v.is_null()).collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use serde_json::json;

    use super::*;
    use crate::config::sandbox::{self, BindMount, SandboxSettings, Ulimit};

    fn base() -> DockerConfig {
        sandbox::resolve(&SandboxSettings::default(), None, Path::new("/s"), Path::new("/h")).docker
    }

    fn hash(d: &DockerConfig) -> String {
        config_hash(d, WorkspaceAccess::None, Path::new("/s/sandboxes/x"), Path::new("/s/workspace"), None)
    }

    #[test]
    fn canonical_form_ignores_key_order_and_nulls() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":[3,1],"x":null,"z":"s"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"z":"s","y":[3,1]},"b":1}"#).unwrap();
        let mut text = String::new();
        canonical_json(&a, &mut text);
        assert_eq!(text, r#"{"a":{"y":[3,1],"z":"s"},"b":1}"#);
        assert_eq!(hash_value(&a), hash_value(&b));
        assert_ne!(hash_value(&json!({"a": [1, 3]})), hash_value(&json!({"a": [3, 1]})), "array order matters");
        assert_eq!(hash_value(&a).len(), 64);
    }

    #[test]
    fn stable_for_the_same_config() {
        assert_eq!(hash(&base()), hash(&base()));
    }

    #[test]
    fn every_knob_changes_the_hash() {
        let d = base();
        let h0 = hash(&d);
        let bind = BindMount { source: PathBuf::from("/srv/p"), target: "/p".into(), read_only: true };
        type Change = Box<dyn Fn(&mut DockerConfig)>;
        let changes: Vec<(&str, Change)> = vec![
            ("image", Box::new(|d| d.image = "other:1".into())),
            ("containerPrefix", Box::new(|d| d.container_prefix = "x-".into())),
            ("workdir", Box::new(|d| d.workdir = "/w".into())),
            ("readOnlyRoot", Box::new(|d| d.read_only_root = false)),
            ("tmpfs", Box::new(|d| d.tmpfs.push("/cache".into()))),
            ("network", Box::new(|d| d.network = "bridge".into())),
            ("user", Box::new(|d| d.user = Some("1000:1000".into()))),
            ("capDrop", Box::new(|d| d.cap_drop = vec!["NET_RAW".into()])),
            ("env", Box::new(|d| d.env = BTreeMap::from([("LANG".into(), "C".into())]))),
            ("setupCommand", Box::new(|d| d.setup_command = Some("true".into()))),
            ("pidsLimit", Box::new(|d| d.pids_limit = Some(100))),
            ("memory", Box::new(|d| d.memory = None)),
            ("memorySwap", Box::new(|d| d.memory_swap = Some(-1))),
            ("cpus", Box::new(|d| d.cpus = Some(2.0))),
            ("ulimits", Box::new(|d| d.ulimits = BTreeMap::from([("nofile".into(), Ulimit { soft: 1, hard: 2 })]))),
            ("seccompProfile", Box::new(|d| d.seccomp_profile = Some("/p.json".into()))),
            ("apparmorProfile", Box::new(|d| d.apparmor_profile = Some("prof".into()))),
            ("dns", Box::new(|d| d.dns = vec!["1.1.1.1".into()])),
            ("extraHosts", Box::new(|d| d.extra_hosts = vec!["a:1.2.3.4".into()])),
            ("binds", Box::new(move |d| d.binds = vec![bind.clone()])),
        ];
        for (knob, change) in changes {
            let mut changed = d.clone();
            change(&mut changed);
            assert_ne!(hash(&changed), h0, "changing {knob} must change the hash");
        }
        let ws = |access, dir: &str, agent: &str| config_hash(&d, access, Path::new(dir), Path::new(agent), None);
        assert_eq!(ws(WorkspaceAccess::None, "/s/sandboxes/x", "/s/workspace"), h0);
        assert_ne!(ws(WorkspaceAccess::Ro, "/s/sandboxes/x", "/s/workspace"), h0);
        assert_ne!(ws(WorkspaceAccess::None, "/s/sandboxes/y", "/s/workspace"), h0);
        assert_ne!(ws(WorkspaceAccess::None, "/s/sandboxes/x", "/s/workspace-2"), h0);
    }

    #[test]
    fn host_binds_enter_only_in_a_container() {
        let d = base();
        let without = json!({
            "createEpoch": CREATE_EPOCH,
            "docker": serde_json::to_value(&d).unwrap(),
            "workspaceAccess": "none",
            "workspaceDir": "/s/sandboxes/x",
            "agentWorkspaceDir": "/s/workspace",
        });
        assert_eq!(hash(&d), hash_value(&without), "on the host the input is as before host binds existed");
        let in_container = |binds: &[&str]| {
            let binds: Vec<String> = binds.iter().map(|b| b.to_string()).collect();
            config_hash(&d, WorkspaceAccess::None, Path::new("/s/sandboxes/x"), Path::new("/s/workspace"), Some(&binds))
        };
        let a = in_container(&["/srv/a/sandboxes/x:/workspace:rw"]);
        assert_ne!(a, hash(&d));
        assert_eq!(a, in_container(&["/srv/a/sandboxes/x:/workspace:rw"]));
        assert_ne!(a, in_container(&["/srv/b/sandboxes/x:/workspace:rw"]), "moved host folders recreate the sandbox");
    }
}
