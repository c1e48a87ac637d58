//! Which container this process runs in, if any: the question behind
//! Docker-out-of-Docker, where a containerized gateway talks to the host's
//! engine through a mounted socket and must describe bind sources in the
//! host's terms.
//!
//! `/.dockerenv` is not used: it proves nothing (hosts have it too, and
//! Podman does not write it). Instead the candidates come from
//! `/proc/self/mountinfo`: Docker bind-mounts the container's
//! `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` from
//! `…/containers/<64-hex id>/…` (Podman from
//! `…/overlay-containers/<id>/userdata/…`), and the root column of those
//! lines names the id whatever the cgroup version or namespace setup. The
//! `/etc/hostname` line comes first: under `--network container:<other>`
//! the other two files belong to the other container. The hostname (Docker's
//! default is the id's first 12 hex digits) is the last candidate. Each
//! candidate is only a guess until the engine, asked for it by id, answers
//! with a container whose id starts with it (see `Docker::own_container`).
//!
//! `OPENCLAW_CONTAINER` overrides the guess: a container id or name, or
//! `none` for "not in a container" (no translation at all).

/// How `Docker::own_container` finds this process's container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OwnHint {
    /// Guess from `/proc/self/mountinfo` and the hostname, verified by the
    /// engine.
    #[default]
    Detect,
    /// `OPENCLAW_CONTAINER=none`: treat this process as running on the host.
    Host,
    /// `OPENCLAW_CONTAINER=<id or name>`: this container, which must exist.
    Named(String),
}

/// The environment variable that overrides detection.
pub const OVERRIDE_VAR: &str = "OPENCLAW_CONTAINER";

impl OwnHint {
    /// The hint an `OPENCLAW_CONTAINER` value gives (unset or empty: detect).
    pub fn from_value(value: Option<&str>) -> OwnHint {
        match value.map(str::trim) {
            None | Some("") => OwnHint::Detect,
            Some(v) if v.eq_ignore_ascii_case("none") => OwnHint::Host,
            Some(v) => OwnHint::Named(v.to_string()),
        }
    }
}

/// Container ids this process may run in, most likely first: from the
/// mountinfo lines of `/etc/hostname`, then `/etc/hosts` and
/// `/etc/resolv.conf`, then `hostname` when it looks like a short id
/// (12 to 64 lowercase hex digits). No duplicates.
pub fn candidates(mountinfo: &str, hostname: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for target in ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"] {
        for line in mountinfo.lines() {
            // "<id> <parent> <major:minor> <root> <mount point> …"
            let mut fields = line.split_whitespace();
            let (Some(root), Some(point)) = (fields.nth(3), fields.next()) else { continue };
            if point == target
                && let Some(id) = container_id_in(root)
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
    }
    let hostname = hostname.trim();
    if (12..=64).contains(&hostname.len()) && is_lower_hex(hostname) && !ids.iter().any(|id| id.starts_with(hostname)) {
        ids.push(hostname.to_string());
    }
    ids
}

/// The 64-hex component of `path` that follows a `containers` or
/// `overlay-containers` component.
fn container_id_in(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').collect();
    parts.windows(2).find_map(|w| {
        let parent_ok = w[0] == "containers" || w[0] == "overlay-containers";
        (parent_ok && w[1].len() == 64 && is_lower_hex(w[1])).then(|| w[1].to_string())
    })
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4e8a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccdd0";
    const OTHER: &str = "aaaa8a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccdd1";

    fn docker_mountinfo(hostname_id: &str, net_id: &str) -> String {
        format!(
            "612 540 0:52 / / rw,relatime master:301 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X:/var/lib/docker/overlay2/l/Y\n\
             613 612 0:55 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n\
             620 612 254:0 /var/lib/docker/containers/{net_id}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw\n\
             621 612 254:0 /var/lib/docker/containers/{hostname_id}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw\n\
             622 612 254:0 /var/lib/docker/containers/{net_id}/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw\n\
             623 612 254:0 /tmp/state /home/node/.openclaw rw,relatime - ext4 /dev/vda rw\n"
        )
    }

    #[test]
    fn docker_ids_from_mountinfo() {
        assert_eq!(candidates(&docker_mountinfo(ID, ID), "3f4e8a1b2c3d"), vec![ID.to_string()], "hostname adds nothing new");
        // --network container:<other>: hosts and resolv.conf are the other's.
        assert_eq!(candidates(&docker_mountinfo(ID, OTHER), "web"), vec![ID.to_string(), OTHER.to_string()]);
    }

    #[test]
    fn docker_data_root_on_its_own_filesystem() {
        // The root column is relative to the mounted file system.
        let line = format!("700 612 8:17 /containers/{ID}/hostname /etc/hostname rw - ext4 /dev/sdb1 rw\n");
        assert_eq!(candidates(&line, ""), vec![ID.to_string()]);
    }

    #[test]
    fn podman_ids_from_mountinfo() {
        let rootful = format!("9 1 0:30 /containers/storage/overlay-containers/{ID}/userdata/hostname /etc/hostname rw - tmpfs tmpfs rw\n");
        assert_eq!(candidates(&rootful, ""), vec![ID.to_string()]);
        let rootless = format!(
            "9 1 0:30 /user/1000/containers/overlay-containers/{ID}/userdata/hostname /etc/hostname rw - tmpfs tmpfs rw\n"
        );
        assert_eq!(candidates(&rootless, ""), vec![ID.to_string()]);
    }

    #[test]
    fn a_host_has_no_candidates() {
        let host = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
                    27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
                    42 27 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw\n";
        assert!(candidates(host, "vm").is_empty());
        assert!(candidates(host, "my-laptop").is_empty());
        assert!(candidates("", "").is_empty());
        // A hostname mount from elsewhere, or an id that is not 64 hex digits.
        let odd = format!("1 1 0:1 /srv/hostname /etc/hostname rw - ext4 x rw\n2 1 0:1 /containers/{}/hosts /etc/hosts rw - ext4 x rw\n", &ID[..60]);
        assert!(candidates(&odd, "").is_empty());
        // Broken lines are skipped.
        assert!(candidates("1 2 3\n\n", "").is_empty());
    }

    #[test]
    fn hostname_is_the_last_candidate() {
        assert_eq!(candidates("", "3f4e8a1b2c3d"), vec!["3f4e8a1b2c3d".to_string()]);
        assert_eq!(candidates("", ID), vec![ID.to_string()]);
        for not_an_id in ["3f4e8a1b2c3", "3F4E8A1B2C3D", "openclaw-gw-1", "3f4e8a1b2c3g"] {
            assert!(candidates("", not_an_id).is_empty(), "{not_an_id}");
        }
    }

    #[test]
    fn override_values() {
        assert_eq!(OwnHint::from_value(None), OwnHint::Detect);
        assert_eq!(OwnHint::from_value(Some(" ")), OwnHint::Detect);
        assert_eq!(OwnHint::from_value(Some("none")), OwnHint::Host);
        assert_eq!(OwnHint::from_value(Some("NONE")), OwnHint::Host);
        assert_eq!(OwnHint::from_value(Some("openclaw-gateway-1")), OwnHint::Named("openclaw-gateway-1".into()));
    }
}
