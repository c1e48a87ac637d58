//! The Engine API's JSON, as serde types with the Engine's PascalCase names
//! (API 1.41), and their conversion from and to the domain types in
//! `mod.rs`.
//!
//! These types never leave `docker/`. Response types are lenient on purpose:
//! every field is optional and unknown fields are ignored, so the same code
//! reads Docker 20.10+ and Podman's compatible API (which omits or nulls some
//! Docker-only fields). Request types send only what a caller set. This file
//! does no I/O and decides nothing about errors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    ContainerInfo, ContainerSummary, CreateSpec, EngineVersion, ExecInfo, ExecSpec, HostConfigInfo, ImageInfo, Mount,
    Ulimit,
};

// ---------------------------------------------------------------------------
// Request bodies.

/// `POST /containers/create`: the container `Config` with `HostConfig`
/// nested in it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateBody<'a> {
    image: &'a str,
    #[serde(skip_serializing_if = "is_empty")]
    cmd: &'a [String],
    #[serde(skip_serializing_if = "is_empty")]
    env: &'a [String],
    labels: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<&'a str>,
    host_config: HostConfigBody<'a>,
}

/// The `HostConfig` of a create request. Field names are the Engine's.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct HostConfigBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    network_mode: Option<&'a str>,
    readonly_rootfs: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tmpfs: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_empty")]
    cap_drop: &'a [String],
    #[serde(skip_serializing_if = "is_empty")]
    security_opt: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pids_limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_swap: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nano_cpus: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ulimits: Vec<UlimitJson>,
    #[serde(skip_serializing_if = "is_empty")]
    dns: &'a [String],
    #[serde(skip_serializing_if = "is_empty")]
    extra_hosts: &'a [String],
    #[serde(skip_serializing_if = "is_empty")]
    binds: &'a [String],
    init: bool,
    auto_remove: bool,
}

/// One entry of `HostConfig.Ulimits`, both ways.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct UlimitJson {
    name: String,
    soft: i64,
    hard: i64,
}

/// `POST /containers/{id}/exec`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ExecCreateBody<'a> {
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    tty: bool,
    cmd: &'a [String],
    #[serde(skip_serializing_if = "is_empty")]
    env: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
}

/// `POST /exec/{id}/start`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ExecStartBody {
    pub detach: bool,
    pub tty: bool,
}

// ---------------------------------------------------------------------------
// Response bodies.

/// An error body: Docker sends `{"message": …}`, Podman adds `cause` and
/// `response`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ErrorBody {
    pub message: Option<String>,
}

/// `GET /version`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct VersionBody {
    version: Option<String>,
    api_version: Option<String>,
    #[serde(rename = "MinAPIVersion")]
    min_api_version: Option<String>,
    os: Option<String>,
    arch: Option<String>,
    kernel_version: Option<String>,
}

/// `{"Id": …}` answers (exec create), and container create's `Warnings`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct IdBody {
    pub id: Option<String>,
    pub warnings: Option<Vec<String>>,
}

/// `POST /containers/{id}/wait`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct WaitBody {
    pub status_code: Option<i64>,
    pub error: Option<WaitError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct WaitError {
    pub message: Option<String>,
}

/// `GET /images/{name}/json`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct ImageBody {
    id: Option<String>,
    repo_tags: Option<Vec<String>>,
    created: Option<String>,
    config: Option<ImageConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ImageConfig {
    user: Option<String>,
    env: Option<Vec<String>>,
    working_dir: Option<String>,
    labels: Option<BTreeMap<String, String>>,
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct ContainerBody {
    id: Option<String>,
    name: Option<String>,
    created: Option<String>,
    config: Option<ContainerConfig>,
    state: Option<StateBody>,
    host_config: Option<HostConfigRead>,
    mounts: Option<Vec<MountBody>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ContainerConfig {
    image: Option<String>,
    user: Option<String>,
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StateBody {
    status: Option<String>,
    running: Option<bool>,
    #[serde(rename = "OOMKilled")]
    oom_killed: Option<bool>,
    pid: Option<i64>,
    exit_code: Option<i64>,
    started_at: Option<String>,
    finished_at: Option<String>,
}

/// `HostConfig` as inspect returns it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct HostConfigRead {
    network_mode: Option<String>,
    readonly_rootfs: Option<bool>,
    tmpfs: Option<BTreeMap<String, String>>,
    cap_drop: Option<Vec<String>>,
    security_opt: Option<Vec<String>>,
    pids_limit: Option<i64>,
    memory: Option<i64>,
    memory_swap: Option<i64>,
    nano_cpus: Option<i64>,
    ulimits: Option<Vec<UlimitJson>>,
    dns: Option<Vec<String>>,
    extra_hosts: Option<Vec<String>>,
    binds: Option<Vec<String>>,
    init: Option<bool>,
    auto_remove: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct MountBody {
    #[serde(rename = "Type")]
    kind: Option<String>,
    source: Option<String>,
    destination: Option<String>,
    #[serde(rename = "RW")]
    rw: Option<bool>,
}

/// One element of `GET /containers/json`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct SummaryBody {
    id: Option<String>,
    names: Option<Vec<String>>,
    image: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    state: Option<String>,
    status: Option<String>,
    created: Option<i64>,
}

/// `GET /exec/{id}/json`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct ExecBody {
    exit_code: Option<i64>,
    running: Option<bool>,
    pid: Option<i64>,
}

// ---------------------------------------------------------------------------
// Conversions.

impl<'a> CreateBody<'a> {
    pub(super) fn new(spec: &'a CreateSpec) -> CreateBody<'a> {
        CreateBody {
            image: &spec.image,
            cmd: &spec.cmd,
            env: &spec.env,
            labels: &spec.labels,
            user: spec.user.as_deref(),
            working_dir: spec.workdir.as_deref(),
            hostname: spec.hostname.as_deref(),
            host_config: HostConfigBody {
                network_mode: spec.network_mode.as_deref(),
                readonly_rootfs: spec.read_only_root,
                tmpfs: &spec.tmpfs,
                cap_drop: &spec.cap_drop,
                security_opt: &spec.security_opt,
                pids_limit: spec.pids_limit,
                memory: spec.memory,
                memory_swap: spec.memory_swap,
                nano_cpus: spec.nano_cpus,
                ulimits: spec
                    .ulimits
                    .iter()
                    .map(|u| UlimitJson { name: u.name.clone(), soft: u.soft, hard: u.hard })
                    .collect(),
                dns: &spec.dns,
                extra_hosts: &spec.extra_hosts,
                binds: &spec.binds,
                init: spec.init,
                auto_remove: spec.auto_remove,
            },
        }
    }
}

impl<'a> ExecCreateBody<'a> {
    pub(super) fn new(spec: &'a ExecSpec, attach_stdin: bool) -> ExecCreateBody<'a> {
        ExecCreateBody {
            attach_stdin,
            attach_stdout: true,
            attach_stderr: true,
            tty: spec.tty,
            cmd: &spec.cmd,
            env: &spec.env,
            working_dir: spec.workdir.as_deref(),
            user: spec.user.as_deref(),
        }
    }
}

impl VersionBody {
    pub(super) fn into_domain(self) -> EngineVersion {
        EngineVersion {
            version: self.version.unwrap_or_default(),
            api_version: self.api_version.unwrap_or_default(),
            min_api_version: self.min_api_version.unwrap_or_default(),
            os: self.os.unwrap_or_default(),
            arch: self.arch.unwrap_or_default(),
            kernel_version: self.kernel_version.unwrap_or_default(),
        }
    }
}

impl ImageBody {
    pub(super) fn into_domain(self) -> ImageInfo {
        let config = self.config.unwrap_or_default();
        ImageInfo {
            id: self.id.unwrap_or_default(),
            repo_tags: self.repo_tags.unwrap_or_default(),
            created: self.created.filter(|c| !c.is_empty()),
            user: config.user.unwrap_or_default(),
            working_dir: config.working_dir.unwrap_or_default(),
            env: config.env.unwrap_or_default(),
            labels: config.labels.unwrap_or_default(),
        }
    }
}

impl ContainerBody {
    pub(super) fn into_domain(self) -> ContainerInfo {
        let config = self.config.unwrap_or_default();
        let state = self.state.unwrap_or_default();
        let hc = self.host_config.unwrap_or_default();
        ContainerInfo {
            id: self.id.unwrap_or_default(),
            name: strip_slash(self.name.unwrap_or_default()),
            created: self.created.unwrap_or_default(),
            image: config.image.unwrap_or_default(),
            user: config.user.unwrap_or_default(),
            labels: config.labels.unwrap_or_default(),
            running: state.running.unwrap_or(false),
            status: state.status.unwrap_or_default(),
            exit_code: state.exit_code.unwrap_or(0),
            oom_killed: state.oom_killed.unwrap_or(false),
            pid: state.pid.unwrap_or(0),
            started_at: state.started_at.unwrap_or_default(),
            finished_at: state.finished_at.unwrap_or_default(),
            mounts: self
                .mounts
                .unwrap_or_default()
                .into_iter()
                .map(|m| Mount {
                    kind: m.kind.unwrap_or_default(),
                    source: m.source.unwrap_or_default(),
                    destination: m.destination.unwrap_or_default(),
                    rw: m.rw.unwrap_or(false),
                })
                .collect(),
            host_config: HostConfigInfo {
                network_mode: hc.network_mode.unwrap_or_default(),
                read_only_root: hc.readonly_rootfs.unwrap_or(false),
                tmpfs: hc.tmpfs.unwrap_or_default(),
                cap_drop: hc.cap_drop.unwrap_or_default(),
                security_opt: hc.security_opt.unwrap_or_default(),
                pids_limit: hc.pids_limit.filter(|&p| p > 0),
                memory: hc.memory.unwrap_or(0),
                memory_swap: hc.memory_swap.unwrap_or(0),
                nano_cpus: hc.nano_cpus.unwrap_or(0),
                ulimits: hc
                    .ulimits
                    .unwrap_or_default()
                    .into_iter()
                    .map(|u| Ulimit { name: u.name, soft: u.soft, hard: u.hard })
                    .collect(),
                dns: hc.dns.unwrap_or_default(),
                extra_hosts: hc.extra_hosts.unwrap_or_default(),
                binds: hc.binds.unwrap_or_default(),
                init: hc.init,
                auto_remove: hc.auto_remove.unwrap_or(false),
            },
        }
    }
}

impl SummaryBody {
    pub(super) fn into_domain(self) -> ContainerSummary {
        ContainerSummary {
            id: self.id.unwrap_or_default(),
            names: self.names.unwrap_or_default().into_iter().map(strip_slash).collect(),
            image: self.image.unwrap_or_default(),
            labels: self.labels.unwrap_or_default(),
            state: self.state.unwrap_or_default(),
            status: self.status.unwrap_or_default(),
            created: self.created.unwrap_or(0),
        }
    }
}

impl ExecBody {
    pub(super) fn into_domain(self) -> ExecInfo {
        ExecInfo { exit_code: self.exit_code, running: self.running.unwrap_or(false), pid: self.pid.unwrap_or(0) }
    }
}

fn strip_slash(name: String) -> String {
    match name.strip_prefix('/') {
        Some(rest) => rest.to_string(),
        None => name,
    }
}

fn is_empty(s: &&[String]) -> bool {
    s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn full_spec() -> CreateSpec {
        CreateSpec {
            image: "openclaw-sandbox:bookworm-slim".into(),
            cmd: vec!["sleep".into(), "infinity".into()],
            env: vec!["LANG=C.UTF-8".into()],
            labels: BTreeMap::from([("openclaw.sandbox".into(), "1".into())]),
            user: Some("1000:1000".into()),
            workdir: Some("/workspace".into()),
            hostname: Some("sbx".into()),
            network_mode: Some("none".into()),
            read_only_root: true,
            tmpfs: BTreeMap::from([("/tmp".into(), "rw,nosuid,size=64m".into())]),
            cap_drop: vec!["ALL".into()],
            security_opt: vec!["no-new-privileges".into()],
            pids_limit: Some(256),
            memory: Some(1 << 30),
            memory_swap: Some(2 << 30),
            nano_cpus: Some(1_000_000_000),
            ulimits: vec![Ulimit { name: "nofile".into(), soft: 1024, hard: 2048 }],
            dns: vec!["1.1.1.1".into()],
            extra_hosts: vec!["host.docker.internal:host-gateway".into()],
            binds: vec!["/srv/ws:/workspace:ro".into()],
            init: true,
            auto_remove: false,
        }
    }

    #[test]
    fn create_body_uses_engine_field_names() {
        let value = serde_json::to_value(CreateBody::new(&full_spec())).unwrap();
        assert_eq!(
            value,
            json!({
                "Image": "openclaw-sandbox:bookworm-slim",
                "Cmd": ["sleep", "infinity"],
                "Env": ["LANG=C.UTF-8"],
                "Labels": {"openclaw.sandbox": "1"},
                "User": "1000:1000",
                "WorkingDir": "/workspace",
                "Hostname": "sbx",
                "HostConfig": {
                    "NetworkMode": "none",
                    "ReadonlyRootfs": true,
                    "Tmpfs": {"/tmp": "rw,nosuid,size=64m"},
                    "CapDrop": ["ALL"],
                    "SecurityOpt": ["no-new-privileges"],
                    "PidsLimit": 256,
                    "Memory": 1073741824,
                    "MemorySwap": 2147483648u64,
                    "NanoCpus": 1000000000,
                    "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                    "Dns": ["1.1.1.1"],
                    "ExtraHosts": ["host.docker.internal:host-gateway"],
                    "Binds": ["/srv/ws:/workspace:ro"],
                    "Init": true,
                    "AutoRemove": false
                }
            })
        );
    }

    #[test]
    fn create_body_omits_unset_knobs() {
        let spec = CreateSpec { image: "img".into(), ..CreateSpec::default() };
        let value = serde_json::to_value(CreateBody::new(&spec)).unwrap();
        assert_eq!(
            value,
            json!({
                "Image": "img",
                "Labels": {},
                "HostConfig": {"ReadonlyRootfs": false, "Init": false, "AutoRemove": false}
            })
        );
    }

    #[test]
    fn exec_bodies() {
        let spec = ExecSpec {
            cmd: vec!["sh".into(), "-lc".into(), "ls".into()],
            env: vec![],
            workdir: Some("/workspace".into()),
            user: None,
            tty: false,
            attach_stdin: false,
        };
        let value = serde_json::to_value(ExecCreateBody::new(&spec, true)).unwrap();
        assert_eq!(
            value,
            json!({"AttachStdin": true, "AttachStdout": true, "AttachStderr": true, "Tty": false,
                   "Cmd": ["sh", "-lc", "ls"], "WorkingDir": "/workspace"})
        );
        let value = serde_json::to_value(ExecStartBody { detach: false, tty: true }).unwrap();
        assert_eq!(value, json!({"Detach": false, "Tty": true}));
    }

    #[test]
    fn reads_docker_container_inspect() {
        let body = r#"{
            "Id": "abc123", "Created": "2026-01-01T00:00:00Z", "Name": "/openclaw-sbx-x", "Image": "sha256:ff",
            "State": {"Status": "exited", "Running": false, "OOMKilled": true, "Pid": 0, "ExitCode": 137,
                      "StartedAt": "2026-01-01T00:00:01Z", "FinishedAt": "2026-01-01T00:00:02Z"},
            "HostConfig": {"Binds": ["/a:/b:ro"], "NetworkMode": "none", "ReadonlyRootfs": true,
                           "Tmpfs": {"/tmp": "size=1m"}, "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges"],
                           "PidsLimit": 64, "Memory": 67108864, "MemorySwap": 134217728, "NanoCpus": 500000000,
                           "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}], "Dns": [], "ExtraHosts": null,
                           "Init": true, "AutoRemove": false, "Unknown": 1},
            "Mounts": [{"Type": "bind", "Source": "/a", "Destination": "/b", "Mode": "ro", "RW": false}],
            "Config": {"Image": "debian:bookworm-slim", "User": "1000", "Labels": {"k": "v"}}
        }"#;
        let info = serde_json::from_str::<ContainerBody>(body).unwrap().into_domain();
        assert_eq!(info.id, "abc123");
        assert_eq!(info.name, "openclaw-sbx-x");
        assert_eq!(info.image, "debian:bookworm-slim");
        assert_eq!((info.running, info.oom_killed, info.exit_code), (false, true, 137));
        assert_eq!(info.labels.get("k").map(String::as_str), Some("v"));
        assert_eq!(
            info.mounts,
            vec![Mount { kind: "bind".into(), source: "/a".into(), destination: "/b".into(), rw: false }]
        );
        let hc = &info.host_config;
        assert!(hc.read_only_root);
        assert_eq!(hc.pids_limit, Some(64));
        assert_eq!(hc.init, Some(true));
        assert_eq!(hc.ulimits, vec![Ulimit { name: "nofile".into(), soft: 10, hard: 20 }]);
        assert!(hc.extra_hosts.is_empty());
    }

    #[test]
    fn reads_sparse_podman_style_bodies() {
        // Podman omits or nulls several Docker-only fields.
        let info = serde_json::from_str::<ContainerBody>(
            r#"{"Id": "p1", "Name": "web", "State": {"Running": true, "Pid": 42}, "HostConfig": null, "Mounts": null}"#,
        )
        .unwrap()
        .into_domain();
        assert_eq!((info.name.as_str(), info.running, info.pid), ("web", true, 42));
        assert_eq!(info.host_config.init, None);

        let v = serde_json::from_str::<VersionBody>(
            r#"{"Platform": {"Name": "linux/amd64/debian-12"}, "Version": "4.3.1", "ApiVersion": "1.41",
                "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64", "Components": [{"Name": "Podman Engine"}]}"#,
        )
        .unwrap()
        .into_domain();
        assert_eq!((v.version.as_str(), v.api_version.as_str(), v.min_api_version.as_str()), ("4.3.1", "1.41", "1.24"));
        assert_eq!(v.kernel_version, "");

        let img = serde_json::from_str::<ImageBody>(r#"{"Id": "sha256:1", "Config": {"User": "", "Env": null}}"#)
            .unwrap()
            .into_domain();
        assert_eq!((img.id.as_str(), img.user.as_str(), img.created), ("sha256:1", "", None));

        let list: Vec<SummaryBody> =
            serde_json::from_str(r#"[{"Id": "c", "Names": ["/a", "b"], "Labels": null, "Created": 5}]"#).unwrap();
        let s = list.into_iter().next().unwrap().into_domain();
        assert_eq!(s.names, vec!["a", "b"]);
        assert_eq!(s.created, 5);

        let exec = serde_json::from_str::<ExecBody>(r#"{"ExitCode": null, "Running": true}"#).unwrap().into_domain();
        assert_eq!(exec, ExecInfo { exit_code: None, running: true, pid: 0 });

        let e: Value = serde_json::from_str(r#"{"cause":"x","message":"no such container","response":404}"#).unwrap();
        let e: ErrorBody = serde_json::from_value(e).unwrap();
        assert_eq!(e.message.as_deref(), Some("no such container"));
    }
}
