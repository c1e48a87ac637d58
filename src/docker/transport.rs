//! The socket layer of the Docker client: where the engine lives
//! (`DOCKER_HOST`), connecting to its Unix socket within a deadline, a stream
//! whose every read and write is bounded by the call's deadline, and turning a
//! failed connect into an error that names the fix.
//!
//! It does not speak HTTP (that is `http.rs`) and does not retry: one call is
//! one connection, and a failure is reported once. `tcp://`, `ssh://` and
//! `npipe://` hosts are refused with a clear error; only `unix://` is spoken.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Error;

/// The socket used when `DOCKER_HOST` is unset or empty.
pub(crate) const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// How many connect attempts may be stuck at once (each holds a thread until
/// the engine accepts or the process exits) before further connects are
/// refused straight away instead of piling up more threads.
const MAX_PENDING_CONNECTS: usize = 32;

static PENDING_CONNECTS: AtomicUsize = AtomicUsize::new(0);

/// The socket path for a `DOCKER_HOST` value (`None` or empty: the default).
pub(crate) fn socket_from_docker_host(host: Option<&str>) -> Result<PathBuf, Error> {
    let host = match host.map(str::trim) {
        None | Some("") => return Ok(PathBuf::from(DEFAULT_SOCKET)),
        Some(h) => h,
    };
    let bad = |reason: &'static str| Error::BadHost { host: host.to_string(), reason };
    if let Some(path) = host.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(bad("a unix:// host needs an absolute socket path, e.g. unix:///var/run/docker.sock"));
        }
        return Ok(PathBuf::from(path));
    }
    if host.starts_with("tcp://") || host.starts_with("http://") || host.starts_with("https://") {
        return Err(bad("TCP Docker hosts are not supported yet; use unix:///path/to/docker.sock"));
    }
    Err(bad("only unix:///path/to/docker.sock hosts are supported"))
}

/// A connection to the engine whose reads and writes all end by one deadline.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: UnixStream,
    deadline: Instant,
}

/// Why a connect failed: the deadline, or the OS said no.
#[derive(Debug)]
pub(crate) enum ConnectError {
    TimedOut,
    Failed(io::Error),
}

impl Conn {
    /// Connects to `path`, giving up after `timeout` or at `deadline`,
    /// whichever is first. `UnixStream::connect` has no timeout of its own
    /// (it blocks while the listener's backlog is full), so the connect runs
    /// on a short-lived helper thread that the caller stops waiting for; at
    /// most [`MAX_PENDING_CONNECTS`] such threads may be stuck at once.
    pub fn connect(path: &Path, timeout: Duration, deadline: Instant) -> Result<Conn, ConnectError> {
        let wait = timeout.min(deadline.saturating_duration_since(Instant::now()));
        if wait.is_zero() {
            return Err(ConnectError::TimedOut);
        }
        if PENDING_CONNECTS.fetch_add(1, Ordering::SeqCst) >= MAX_PENDING_CONNECTS {
            PENDING_CONNECTS.fetch_sub(1, Ordering::SeqCst);
            return Err(ConnectError::TimedOut);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let owned = path.to_path_buf();
        let spawned = std::thread::Builder::new().name("docker-connect".into()).spawn(move || {
            let result = UnixStream::connect(&owned);
            PENDING_CONNECTS.fetch_sub(1, Ordering::SeqCst);
            // The caller may have given up; the stream is then dropped here.
            let _ = tx.send(result);
        });
        if let Err(e) = spawned {
            PENDING_CONNECTS.fetch_sub(1, Ordering::SeqCst);
            return Err(ConnectError::Failed(e));
        }
        match rx.recv_timeout(wait) {
            Ok(Ok(stream)) => Ok(Conn { stream, deadline }),
            Ok(Err(e)) => Err(ConnectError::Failed(e)),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(ConnectError::TimedOut),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(ConnectError::Failed(io::Error::other("connect thread ended without a result")))
            }
        }
    }

    /// A second handle on the same socket with the same deadline (for
    /// writing stdin while this one reads).
    pub fn try_clone(&self) -> io::Result<Conn> {
        Ok(Conn { stream: self.stream.try_clone()?, deadline: self.deadline })
    }

    /// Closes our sending direction, so the peer reads end of file.
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    /// Time left before the deadline, or a `TimedOut` error when none is.
    fn remaining(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline reached"));
        }
        Ok(left)
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let left = self.remaining()?;
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(buf) {
                // A signal is no reason to give up; the deadline still holds.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            let left = self.remaining()?;
            self.stream.set_write_timeout(Some(left))?;
            match self.stream.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// True for the error kinds a timed-out socket read or write produces.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
}

/// Turns a failed connect to `path` into the error a user can act on:
/// missing socket, permission (with owner, group and our groups), or an
/// engine that does not answer.
pub(crate) fn classify_connect_error(path: &Path, err: io::Error) -> Error {
    match err.kind() {
        io::ErrorKind::NotFound => Error::SocketMissing { path: path.to_path_buf() },
        io::ErrorKind::PermissionDenied => permission_denied(path),
        _ => Error::NotAnswering { path: path.to_path_buf(), cause: err },
    }
}

/// Builds `Error::PermissionDenied` from the socket's metadata, `/etc/group`
/// and `/proc/self/status`. Any of them may be unreadable; the error then
/// says "unknown" for that part rather than failing.
fn permission_denied(path: &Path) -> Error {
    let meta = std::fs::metadata(path).ok();
    let socket_uid = meta.as_ref().map(MetadataExt::uid);
    let socket_gid = meta.as_ref().map(MetadataExt::gid);
    let socket_group = socket_gid.and_then(|gid| {
        let text = std::fs::read_to_string("/etc/group").ok()?;
        group_name(&text, gid)
    });
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let ids = parse_proc_status(&status);
    let fallback = std::fs::metadata("/proc/self").ok();
    Error::PermissionDenied {
        path: path.to_path_buf(),
        socket_uid,
        socket_gid,
        socket_group,
        uid: ids.uid.or(fallback.as_ref().map(MetadataExt::uid)).unwrap_or(u32::MAX),
        gid: ids.gid.or(fallback.as_ref().map(MetadataExt::gid)).unwrap_or(u32::MAX),
        groups: ids.groups,
    }
}

/// Our effective uid and gid and supplementary groups, as `/proc/self/status`
/// lists them.
#[derive(Debug, Default, PartialEq, Eq)]
struct ProcIds {
    uid: Option<u32>,
    gid: Option<u32>,
    groups: Vec<u32>,
}

/// Parses the `Uid:`, `Gid:` (real, effective, saved, fs: the effective one
/// is taken) and `Groups:` lines of `/proc/self/status`.
fn parse_proc_status(text: &str) -> ProcIds {
    let mut ids = ProcIds::default();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else { continue };
        let mut nums = rest.split_ascii_whitespace().filter_map(|n| n.parse::<u32>().ok());
        match key {
            "Uid" => ids.uid = nums.nth(1),
            "Gid" => ids.gid = nums.nth(1),
            "Groups" => ids.groups = nums.collect(),
            _ => {}
        }
    }
    ids
}

/// The name of group `gid` in an `/etc/group` text (`name:x:gid:members`).
fn group_name(etc_group: &str, gid: u32) -> Option<String> {
    etc_group.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == gid && !name.is_empty()).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn temp_dir(tag: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let dir = std::env::temp_dir().join(format!("openclaw-transport-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn docker_host_values() {
        assert_eq!(socket_from_docker_host(None).unwrap(), PathBuf::from("/var/run/docker.sock"));
        assert_eq!(socket_from_docker_host(Some("  ")).unwrap(), PathBuf::from("/var/run/docker.sock"));
        assert_eq!(
            socket_from_docker_host(Some("unix:///run/user/1000/podman/podman.sock")).unwrap(),
            PathBuf::from("/run/user/1000/podman/podman.sock")
        );
        for bad in ["tcp://127.0.0.1:2375", "unix://relative.sock", "ssh://host", "/var/run/docker.sock"] {
            let e = socket_from_docker_host(Some(bad)).unwrap_err();
            assert!(matches!(e, Error::BadHost { .. }), "{bad}: {e:?}");
            assert!(e.to_string().contains(bad), "{e}");
        }
        let e = socket_from_docker_host(Some("tcp://127.0.0.1:2375")).unwrap_err();
        assert!(e.to_string().contains("not supported"), "{e}");
    }

    #[test]
    fn parses_proc_status() {
        let text = "Name:\tcat\nUid:\t1000\t1001\t1000\t1000\nGid:\t100\t101\t100\t100\nGroups:\t4 24 27 998 \n";
        assert_eq!(parse_proc_status(text), ProcIds { uid: Some(1001), gid: Some(101), groups: vec![4, 24, 27, 998] });
        assert_eq!(parse_proc_status("Groups:\n"), ProcIds::default());
        assert_eq!(parse_proc_status(""), ProcIds::default());
    }

    #[test]
    fn parses_etc_group() {
        let text = "root:x:0:\nbroken\ndocker:x:998:alice,bob\n::5:\n";
        assert_eq!(group_name(text, 998).as_deref(), Some("docker"));
        assert_eq!(group_name(text, 0).as_deref(), Some("root"));
        assert_eq!(group_name(text, 5), None);
        assert_eq!(group_name(text, 12345), None);
    }

    #[test]
    fn classifies_permission_denied_with_socket_metadata() {
        let dir = temp_dir("perm");
        let path = dir.join("docker.sock");
        std::fs::write(&path, b"").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let err = classify_connect_error(&path, io::Error::from(io::ErrorKind::PermissionDenied));
        match &err {
            Error::PermissionDenied { path: p, socket_uid, socket_gid, uid, groups, .. } => {
                assert_eq!(p, &path);
                assert_eq!(*socket_uid, Some(meta.uid()));
                assert_eq!(*socket_gid, Some(meta.gid()));
                let me = std::fs::metadata("/proc/self").unwrap();
                assert_eq!(*uid, me.uid());
                let status = std::fs::read_to_string("/proc/self/status").unwrap();
                assert_eq!(groups, &parse_proc_status(&status).groups);
            }
            other => panic!("expected PermissionDenied, got {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("usermod -aG"), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn classifies_missing_and_refused() {
        let p = Path::new("/nonexistent/docker.sock");
        assert!(matches!(
            classify_connect_error(p, io::Error::from(io::ErrorKind::NotFound)),
            Error::SocketMissing { .. }
        ));
        assert!(matches!(
            classify_connect_error(p, io::Error::from(io::ErrorKind::ConnectionRefused)),
            Error::NotAnswering { .. }
        ));
    }

    #[test]
    fn connects_and_fails_by_kind() {
        let dir = temp_dir("conn");
        let far = Instant::now() + Duration::from_secs(5);
        // Missing socket.
        match Conn::connect(&dir.join("none.sock"), Duration::from_secs(2), far) {
            Err(ConnectError::Failed(e)) => assert_eq!(e.kind(), io::ErrorKind::NotFound),
            other => panic!("{other:?}"),
        }
        // A socket file nobody listens on any more.
        let stale = dir.join("stale.sock");
        drop(UnixListener::bind(&stale).unwrap());
        match Conn::connect(&stale, Duration::from_secs(2), far) {
            Err(ConnectError::Failed(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("{other:?}"),
        }
        // A deadline already passed.
        assert!(matches!(Conn::connect(&stale, Duration::from_secs(2), Instant::now()), Err(ConnectError::TimedOut)));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn reads_stop_at_the_deadline() {
        let dir = temp_dir("deadline");
        let path = dir.join("e.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let started = Instant::now();
        let mut conn = Conn::connect(&path, Duration::from_secs(2), started + Duration::from_millis(200)).unwrap();
        // accept() is not retried by std when a signal (a child of another
        // test exiting) interrupts it.
        let _held = loop {
            match listener.accept() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other.unwrap(),
            }
        };
        let mut buf = [0u8; 16];
        let err = conn.read(&mut buf).unwrap_err();
        assert!(is_timeout(&err), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        // After the deadline every call fails at once.
        let err = conn.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let err = conn.write(b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
