//! The two things std cannot do for us: wait for SIGTERM and SIGINT, and
//! signal a whole process group.
//!
//! The gateway blocks the termination signals in every thread (the mask is
//! inherited, so [`block_termination`] runs before any thread is spawned) and
//! one thread takes them with `sigwait`. No handler runs in signal context,
//! so nothing here has to be async-signal-safe. These libc calls are the
//! only `unsafe` code in the crate (ARCHITECTURE.md, "Signals").
//!
//! A blocked mask is inherited across `exec`, but programs are spawned only
//! through `std::process::Command` (the agent's `exec` tool on the host),
//! which empties the child's signal mask (and puts SIGPIPE back to its
//! default) before the program starts; that tool's tests check that a
//! command sees no blocked signal. [`kill_group`] is how it stops a command
//! together with its children.

#![allow(unsafe_code)]

use std::io;
use std::os::raw::c_int;

/// `sigset_t` is 1024 bits on Linux with glibc and with musl.
#[repr(C)]
#[derive(Clone, Copy)]
struct SigSet([u64; 16]);

unsafe extern "C" {
    fn sigemptyset(set: *mut SigSet) -> c_int;
    fn sigaddset(set: *mut SigSet, signum: c_int) -> c_int;
    fn pthread_sigmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn sigwait(set: *const SigSet, sig: *mut c_int) -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
}

const SIG_BLOCK: c_int = 0;
pub const SIGINT: i32 = 2;
pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;

/// The termination signals, blocked in the calling thread (and every thread
/// it spawns afterwards); [`Signals::wait`] takes the next one.
pub struct Signals {
    set: SigSet,
}

pub fn block_termination() -> io::Result<Signals> {
    let mut set = SigSet([0; 16]);
    // SAFETY: `set` is a valid, writable sigset_t-sized buffer; the calls
    // only read or write it, and the signal numbers are valid.
    let rc = unsafe {
        sigemptyset(&mut set);
        sigaddset(&mut set, SIGINT);
        sigaddset(&mut set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set, std::ptr::null_mut())
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(Signals { set })
}

impl Signals {
    /// Blocks until SIGINT or SIGTERM arrives and returns its number.
    pub fn wait(&self) -> i32 {
        loop {
            let mut sig: c_int = 0;
            // SAFETY: `self.set` is an initialised sigset_t and `sig` a valid
            // out-pointer.
            let rc = unsafe { sigwait(&self.set, &mut sig) };
            if rc == 0 {
                return sig;
            }
        }
    }
}

/// Sends `sig` to every process in the process group `pgid` (`kill(-pgid,
/// sig)`). Refuses a `pgid` below 2: 0 would be our own group, 1 init's,
/// and a negative one would turn into a single process id.
pub fn kill_group(pgid: i32, sig: i32) -> io::Result<()> {
    if pgid <= 1 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("refusing to signal process group {pgid}")));
    }
    // SAFETY: `kill` takes plain integers and touches no memory of ours; a
    // bad signal number or a group that is gone is reported through errno.
    let rc = unsafe { kill(-pgid, sig) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "signal",
    }
}
