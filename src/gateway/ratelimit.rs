//! The auth-failure limiter: per client address, at most
//! [`Policy::max_attempts`] failed authentications within a fixed
//! [`Policy::window`] (counted from the first failure); reaching it locks the
//! address out for [`Policy::lockout`].
//!
//! The caller asks [`AuthLimiter::check`] before authenticating (refuse with
//! retry-after while locked), then reports [`AuthLimiter::failure`] or
//! [`AuthLimiter::success`]. With the defaults, the 10th failure within a
//! minute is still answered "unauthorized" (its `failure` returns the
//! lockout) and the 11th attempt is refused by `check`.
//!
//! IPv6 addresses are grouped by their /64 (one host usually holds a whole
//! /64), IPv4-mapped IPv6 counts as IPv4. Memory is bounded: at most
//! [`MAX_TRACKED`] addresses; when full, expired entries go first, then the
//! least recently seen (entries not locked out before locked ones). It is
//! in memory only: a restart forgets everything.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most this many addresses are tracked.
pub const MAX_TRACKED: usize = 4096;

/// Limits for failed authentications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures within `window` that trigger a lockout (at least 1).
    pub max_attempts: u32,
    pub window: Duration,
    pub lockout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { max_attempts: 10, window: Duration::from_secs(60), lockout: Duration::from_secs(5 * 60) }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
    last_seen: Instant,
}

impl Entry {
    fn locked(&self, now: Instant) -> Option<Duration> {
        self.locked_until.filter(|&until| until > now).map(|until| until - now)
    }

    /// Nothing worth remembering: not locked and the window is over.
    fn expired(&self, policy: &Policy, now: Instant) -> bool {
        self.locked(now).is_none() && now.saturating_duration_since(self.window_start) >= policy.window
    }
}

#[derive(Debug)]
struct Inner {
    policy: Policy,
    entries: HashMap<IpAddr, Entry>,
}

/// Counts failed authentications per address; `Sync`, shared by all
/// connection threads.
#[derive(Debug)]
pub struct AuthLimiter {
    inner: Mutex<Inner>,
}

impl AuthLimiter {
    pub fn new(policy: Policy) -> Self {
        AuthLimiter { inner: Mutex::new(Inner { policy, entries: HashMap::new() }) }
    }

    /// Replaces the policy (a config reload); current counts are kept.
    pub fn set_policy(&self, policy: Policy) {
        self.lock().policy = policy;
    }

    /// Err(retry_after) if the IP is locked out.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        match self.lock().entries.get(&key(ip)).and_then(|e| e.locked(now)) {
            Some(left) => Err(left),
            None => Ok(()),
        }
    }

    /// Records a failure; returns Err(retry_after) when this failure
    /// triggers (or is inside) a lockout. The failure that reaches
    /// `max_attempts` is still answered "unauthorized"; the next attempt is
    /// refused by [`check`](Self::check) with retry-after.
    pub fn failure(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut inner = self.lock();
        let policy = inner.policy;
        let key = key(ip);
        if !inner.entries.contains_key(&key) && inner.entries.len() >= MAX_TRACKED {
            inner.evict(now);
        }
        let e = inner.entries.entry(key).or_insert(Entry { failures: 0, window_start: now, locked_until: None, last_seen: now });
        e.last_seen = now;
        if let Some(left) = e.locked(now) {
            return Err(left);
        }
        if e.locked_until.is_some() || now.saturating_duration_since(e.window_start) >= policy.window {
            *e = Entry { failures: 0, window_start: now, locked_until: None, last_seen: now };
        }
        e.failures += 1;
        if e.failures >= policy.max_attempts.max(1) {
            e.locked_until = Some(now + policy.lockout);
            return Err(policy.lockout);
        }
        Ok(())
    }

    /// Resets that IP's counter.
    pub fn success(&self, ip: IpAddr) {
        self.lock().entries.remove(&key(ip));
    }

    /// How many addresses are tracked.
    pub fn tracked(&self) -> usize {
        self.lock().entries.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the counts inconsistent: keep going.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    /// Makes room for one entry: drops expired entries, else the least
    /// recently seen (unlocked before locked).
    fn evict(&mut self, now: Instant) {
        let policy = self.policy;
        self.entries.retain(|_, e| !e.expired(&policy, now));
        if self.entries.len() >= MAX_TRACKED {
            let oldest = self.entries.iter().min_by_key(|(_, e)| (e.locked(now).is_some(), e.last_seen)).map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
    }
}

/// The address a counter is kept for: IPv4 as is (also when IPv4-mapped),
/// IPv6 by its /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 | n))
    }

    fn fail_n(l: &AuthLimiter, ip: IpAddr, n: u32, now: Instant) {
        for _ in 0..n {
            l.failure(ip, now).unwrap();
        }
    }

    #[test]
    fn ten_failures_lock_out_and_other_ips_are_unaffected() {
        let l = AuthLimiter::new(Policy::default());
        let t = Instant::now();
        let ip = v4(1);
        fail_n(&l, ip, 9, t);
        assert_eq!(l.check(ip, t), Ok(()), "the 10th attempt is allowed");
        assert_eq!(l.failure(ip, t), Err(Duration::from_secs(300)), "the 10th failure starts the lockout");
        assert_eq!(l.check(ip, t), Err(Duration::from_secs(300)), "the 11th attempt is refused");
        let later = t + Duration::from_secs(60);
        assert_eq!(l.check(ip, later), Err(Duration::from_secs(240)));
        assert_eq!(l.failure(ip, later), Err(Duration::from_secs(240)));
        assert_eq!(l.check(v4(2), later), Ok(()));
        assert_eq!(l.failure(v4(2), later), Ok(()));
    }

    #[test]
    fn success_resets_the_counter() {
        let l = AuthLimiter::new(Policy::default());
        let t = Instant::now();
        fail_n(&l, v4(1), 9, t);
        l.success(v4(1));
        fail_n(&l, v4(1), 9, t);
        assert_eq!(l.check(v4(1), t), Ok(()));
        assert!(l.failure(v4(1), t).is_err());
    }

    #[test]
    fn window_expiry_forgets_old_failures() {
        let l = AuthLimiter::new(Policy::default());
        let t = Instant::now();
        fail_n(&l, v4(1), 9, t);
        let t2 = t + Duration::from_secs(60);
        fail_n(&l, v4(1), 9, t2);
        assert_eq!(l.check(v4(1), t2), Ok(()));
        assert!(l.failure(v4(1), t2 + Duration::from_secs(59)).is_err());
    }

    #[test]
    fn lockout_expires() {
        let l = AuthLimiter::new(Policy { max_attempts: 3, window: Duration::from_secs(10), lockout: Duration::from_secs(30) });
        let t = Instant::now();
        fail_n(&l, v4(1), 2, t);
        assert_eq!(l.failure(v4(1), t), Err(Duration::from_secs(30)));
        assert!(l.check(v4(1), t + Duration::from_secs(29)).is_err());
        let after = t + Duration::from_secs(30);
        assert_eq!(l.check(v4(1), after), Ok(()));
        fail_n(&l, v4(1), 2, after);
        assert!(l.failure(v4(1), after).is_err(), "a fresh count after the lockout");
    }

    #[test]
    fn a_lockout_ending_without_check_starts_a_fresh_count() {
        let l = AuthLimiter::new(Policy { max_attempts: 2, window: Duration::from_secs(600), lockout: Duration::from_secs(30) });
        let t = Instant::now();
        l.failure(v4(1), t).unwrap();
        assert!(l.failure(v4(1), t).is_err());
        assert_eq!(l.failure(v4(1), t + Duration::from_secs(31)), Ok(()));
    }

    #[test]
    fn ipv6_is_grouped_by_64_and_mapped_ipv4_is_ipv4() {
        let l = AuthLimiter::new(Policy { max_attempts: 2, ..Policy::default() });
        let t = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        l.failure(a, t).unwrap();
        assert!(l.failure(b, t).is_err());
        assert!(l.check(a, t).is_err());
        assert_eq!(l.check(other, t), Ok(()));
        l.failure("10.0.0.7".parse().unwrap(), t).unwrap();
        assert!(l.failure("::ffff:10.0.0.7".parse().unwrap(), t).is_err());
    }

    #[test]
    fn memory_is_bounded() {
        let l = AuthLimiter::new(Policy::default());
        let t = Instant::now();
        // A locked-out address survives a flood of others.
        fail_n(&l, v4(0xff_0000), 9, t);
        assert!(l.failure(v4(0xff_0000), t).is_err());
        for n in 0..10_000 {
            l.failure(v4(n), t + Duration::from_millis(u64::from(n))).unwrap();
            assert!(l.tracked() <= MAX_TRACKED);
        }
        assert_eq!(l.tracked(), MAX_TRACKED);
        assert!(l.check(v4(0xff_0000), t + Duration::from_secs(10)).is_err());
        // Expired entries are dropped before anything else.
        let much_later = t + Duration::from_secs(3600);
        l.failure(v4(20_000), much_later).unwrap();
        assert_eq!(l.tracked(), 1);
    }

    #[test]
    fn limiter_is_sync() {
        fn assert_sync<T: Sync + Send>() {}
        assert_sync::<AuthLimiter>();
    }
}
