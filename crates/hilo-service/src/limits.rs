//! Rate limits: failed logins per address, back-off per username and address,
//! registrations per address and messages per person. The counters live in the store, so
//! every node of a cluster sees the same; a refusal is [`Error::RateLimited`] with how long
//! to wait (429 and `Retry-After` on HTTP).

use std::time::Duration;

use hilo_core::{Timestamp, UserId};

use crate::{Error, Hilo, Result};

/// The window of [`Limits::login_failures_per_ip`].
const LOGIN_IP_WINDOW_MS: i64 = 10 * 60 * 1000;
/// Tries counted up front (and given back when they succeed), so that requests sent in
/// parallel cannot all slip past a check that reads a counter before any of them is
/// counted: at most this many wrong passwords per username and address, wrong 2FA codes
/// per account, or wrong passwords re-entered per account, per [`TRIES_WINDOW_MS`].
const TRIES: u32 = 10;
/// The window of [`TRIES`].
const TRIES_WINDOW_MS: i64 = 15 * 60 * 1000;
/// A run of login failures is forgotten after this long without one.
const FAILURE_MEMORY_MS: i64 = 24 * 3600 * 1000;
/// Counters are swept when their time is older than this.
pub(crate) const COUNTER_TTL_MS: i64 = FAILURE_MEMORY_MS;

/// The limits; 0 turns one off. The defaults are generous: they stop floods and password
/// guessing, never a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failed logins one address may make per 10 minutes, whatever the usernames.
    pub login_failures_per_ip: u32,
    /// Failed logins to one username from one address before each further try must
    /// wait: 1 s after the last failure, doubling with each failure after that.
    pub login_free_failures: u32,
    /// The longest such wait. Waits are per address and end, so a guesser elsewhere can
    /// never lock the owner out, and nobody is locked out for good.
    pub login_backoff_max: Duration,
    /// Accounts one address may create per hour.
    pub registrations_per_ip: u32,
    /// Messages one person may send per minute.
    pub messages_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            login_failures_per_ip: 100,
            login_free_failures: 5,
            login_backoff_max: Duration::from_secs(15 * 60),
            registrations_per_ip: 300,
            messages_per_minute: 3000,
        }
    }
}

impl Limits {
    /// The wait after the `failures`-th failure in a row (0 while still free).
    pub fn backoff(&self, failures: i64) -> Duration {
        let free = i64::from(self.login_free_failures);
        if self.login_free_failures == 0 || failures < free {
            return Duration::ZERO;
        }
        let doublings = u32::try_from(failures - free).unwrap_or(u32::MAX).min(30);
        Duration::from_secs(1u64 << doublings).min(self.login_backoff_max)
    }
}

fn limited(until: Timestamp, now: Timestamp, what: &str) -> Error {
    let wait_ms = (until.millis() - now.millis()).max(1);
    Error::RateLimited {
        retry_after_secs: u64::try_from((wait_ms + 999) / 1000).unwrap_or(1),
        message: format!("too many {what}; try again later"),
    }
}

/// The address part of a counter key: the address, or for IPv6 its /64 (one subscriber's
/// block: anyone holding one has billions of addresses).
fn address(ip: Option<&str>) -> String {
    match ip.map(|ip| ip.parse::<std::net::IpAddr>().map(|a| a.to_canonical())) {
        Some(Ok(std::net::IpAddr::V6(v6))) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(Ok(std::net::IpAddr::V4(v4))) => v4.to_string(),
        Some(Err(_)) | None => "-".to_owned(),
    }
}

/// A username as it appears in a counter key: hashed, since what people type there is
/// sometimes their password.
fn name_key(username: &str) -> String {
    crate::accounts::secret_hash(username)[..24].to_owned()
}

impl Hilo {
    /// Counts one event of `key` in a fixed window; refuses it past `limit`.
    pub(crate) async fn within(
        &self,
        key: String,
        limit: u32,
        window_ms: i64,
        what: &str,
    ) -> Result<()> {
        if limit == 0 {
            return Ok(());
        }
        let now = self.inner.clock.now();
        let (count, started) = self.inner.store.bump(&key, window_ms, false, now).await?;
        if count > i64::from(limit) {
            return Err(limited(started.plus_millis(window_ms), now, what));
        }
        Ok(())
    }

    /// Counts a try of `key` before it is checked, refusing it past [`TRIES`] in the
    /// window; [`Hilo::try_succeeded`] gives it back.
    pub(crate) async fn try_counted(&self, key: &str, what: &str) -> Result<()> {
        self.within(key.to_owned(), TRIES, TRIES_WINDOW_MS, what)
            .await
    }

    /// A try counted by [`Hilo::try_counted`] succeeded: it does not count.
    pub(crate) async fn try_succeeded(&self, key: &str) -> Result<()> {
        Ok(self.inner.store.refund(key).await?)
    }

    /// Before a password is checked: refuses an address with too many recent failures,
    /// and a username and address still waiting out their back-off.
    pub(crate) async fn login_gate(&self, username: &str, ip: Option<&str>) -> Result<()> {
        let limits = self.inner.config.limits;
        let now = self.inner.clock.now();
        if limits.login_failures_per_ip > 0
            && let Some((count, started)) = self
                .inner
                .store
                .counter(&format!("login-ip:{}", address(ip)))
                .await?
        {
            let until = started.plus_millis(LOGIN_IP_WINDOW_MS);
            if count >= i64::from(limits.login_failures_per_ip) && until > now {
                return Err(limited(until, now, "failed logins from this address"));
            }
        }
        if let Some((failures, last)) = self.inner.store.counter(&login_key(username, ip)).await? {
            let wait = limits.backoff(failures);
            let until = last.plus_millis(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
            if !wait.is_zero() && until > now {
                return Err(limited(until, now, "failed logins"));
            }
        }
        Ok(())
    }

    /// Counts a failed login (a wrong password or second factor).
    pub(crate) async fn login_failed(&self, username: &str, ip: Option<&str>) -> Result<()> {
        let now = self.inner.clock.now();
        let store = &self.inner.store;
        store
            .bump(
                &format!("login-ip:{}", address(ip)),
                LOGIN_IP_WINDOW_MS,
                false,
                now,
            )
            .await?;
        store
            .bump(&login_key(username, ip), FAILURE_MEMORY_MS, true, now)
            .await?;
        Ok(())
    }

    /// A login succeeded: the username's run of failures from this address ends.
    pub(crate) async fn login_succeeded(&self, username: &str, ip: Option<&str>) -> Result<()> {
        Ok(self
            .inner
            .store
            .forget_counter(&login_key(username, ip))
            .await?)
    }

    /// Counts a registration from `ip`; refused past the hourly limit.
    pub(crate) async fn registration_allowed(&self, ip: Option<&str>) -> Result<()> {
        let limit = self.inner.config.limits.registrations_per_ip;
        let key = format!("register-ip:{}", address(ip));
        self.within(
            key,
            limit,
            3600 * 1000,
            "accounts created from this address",
        )
        .await
    }

    /// Counts a message of `sender`; refused past the per-minute limit.
    pub(crate) async fn send_allowed(&self, sender: &UserId) -> Result<()> {
        let limit = self.inner.config.limits.messages_per_minute;
        self.within(format!("send:{sender}"), limit, 60 * 1000, "messages")
            .await
    }

    /// Forgets counters nobody has touched for a day.
    pub(crate) async fn sweep_counters(&self) -> Result<u64> {
        let before = self.inner.clock.now().plus_millis(-COUNTER_TTL_MS);
        Ok(self.inner.store.sweep_counters(before).await?)
    }
}

fn login_key(username: &str, ip: Option<&str>) -> String {
    format!("login:{}:{}", name_key(username), address(ip))
}

/// The key of the up-front count of logins to `username` from `ip`.
pub(crate) fn login_tries_key(username: &str, ip: Option<&str>) -> String {
    format!("login-try:{}:{}", name_key(username), address(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_keyed_by_address_or_ipv6_block() {
        assert_eq!(address(Some("192.0.2.7")), "192.0.2.7");
        assert_eq!(address(Some("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
        assert_eq!(address(Some("2001:db8:1:2::9")), "2001:db8:1:2::/64");
        assert_eq!(address(Some("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(address(None), "-");
        assert!(!login_key("correct horse", None).contains("horse"));
    }

    #[test]
    fn the_backoff_starts_after_the_free_failures_doubles_and_stops_at_the_cap() {
        let limits = Limits::default();
        let waits: Vec<u64> = (0..16).map(|n| limits.backoff(n).as_secs()).collect();
        assert_eq!(
            waits,
            [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900]
        );
        assert_eq!(limits.backoff(i64::MAX).as_secs(), 900);
        let off = Limits {
            login_free_failures: 0,
            ..limits
        };
        assert_eq!(off.backoff(100), Duration::ZERO);
    }
}
