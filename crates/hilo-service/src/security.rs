//! Account security: two-factor auth, password changes, session sweeps, the audit log and
//! the administrators' user management.
//!
//! Every security-relevant act is recorded in the audit log with where it came from (IP
//! and device), never with a secret: no password, code or token reaches the log or the
//! audit entry.

use data_encoding::BASE32_NOPAD;
use hilo_core::{SessionId, User, UserId};
use hilo_proto::Event;
use hilo_store::{AuditEvent, Delivery, TwoFactor};
use rand::RngCore;

use crate::{Caller, Error, Hilo, Result, totp};

/// Recovery codes made at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// Longest second-factor input looked at (a recovery code with separators fits easily).
const CODE_INPUT_MAX: usize = 64;
/// Longest User-Agent header looked at.
const USER_AGENT_MAX: usize = 512;

/// Where a request comes from, for sessions, the audit log and login alerts.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// Peer address.
    pub ip: Option<String>,
    /// The User-Agent header, if any.
    pub user_agent: Option<String>,
}

impl Client {
    /// A short device description from the User-Agent: "Firefox on Linux", "curl".
    pub fn device(&self) -> Option<String> {
        self.user_agent.as_deref().and_then(device_from_user_agent)
    }
}

/// Names a device after its User-Agent: a browser and its system for browsers, the product
/// token (`curl`, `okhttp`) otherwise; `None` when there is nothing usable.
pub fn device_from_user_agent(user_agent: &str) -> Option<String> {
    if user_agent.len() > USER_AGENT_MAX {
        return None;
    }
    let has = |token: &str| user_agent.contains(token);
    let system = if has("iPhone") {
        Some("iPhone")
    } else if has("iPad") {
        Some("iPad")
    } else if has("Android") {
        Some("Android")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Windows") {
        Some("Windows")
    } else if has("Mac OS X") || has("Macintosh") {
        Some("macOS")
    } else if has("Linux") || has("X11") {
        Some("Linux")
    } else {
        None
    };
    let browser = if has("Edg/") || has("EdgA/") || has("EdgiOS/") {
        Some("Edge")
    } else if has("OPR/") {
        Some("Opera")
    } else if has("Firefox/") || has("FxiOS/") {
        Some("Firefox")
    } else if has("Chrome/") || has("CriOS/") || has("Chromium/") {
        Some("Chrome")
    } else if has("Safari/") && has("Version/") {
        Some("Safari")
    } else {
        None
    };
    match (browser, system) {
        (Some(browser), Some(system)) => Some(format!("{browser} on {system}")),
        (Some(browser), None) => Some(browser.to_owned()),
        (None, _) => {
            let product: String = user_agent
                .split(['/', ' '])
                .next()
                .unwrap_or_default()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
                .take(40)
                .collect();
            match (product.is_empty(), system) {
                (true, Some(system)) => Some(system.to_owned()),
                (true, None) => None,
                (false, Some(system)) => Some(format!("{product} on {system}")),
                (false, None) => Some(product),
            }
        }
    }
}

/// The network of an address, for login alerts: the /24 of an IPv4 address, the /48 of an
/// IPv6 one (an IPv4-mapped IPv6 address counts as IPv4).
pub fn network_of(ip: &str) -> Option<String> {
    match ip.parse::<std::net::IpAddr>().ok()?.to_canonical() {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(format!("{a}.{b}.{c}.0/24"))
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]))
        }
    }
}

/// The username of the account that sends security notices: a `-` keeps it out of reach
/// of sign-up, and it is suspended and listed nowhere.
pub const NOTICES_USERNAME: &str = "hilo-security";

/// A new recovery code: 80 random bits as 16 base32 letters, grouped by four.
fn new_recovery_code() -> String {
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    let letters = BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
    letters
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// A recovery code as typed, in its canonical form (no separators, lower case), when it
/// has the shape of one.
fn normalize_recovery_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let base32 = |c: char| c.is_ascii_lowercase() || ('2'..='7').contains(&c);
    (code.len() == 16 && code.chars().all(base32)).then_some(code)
}

/// What starting an enrolment gives the user to scan.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// The secret, base32, for typing in by hand.
    pub secret: String,
    /// The `otpauth://` URI.
    pub otpauth_uri: String,
    /// The URI as a QR code (SVG).
    pub qr_svg: String,
}

/// Which second factor a login used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecondFactor {
    Totp,
    RecoveryCode,
}

/// An audit entry being written.
pub(crate) struct Audit<'a> {
    pub(crate) kind: &'static str,
    pub(crate) user: Option<&'a User>,
    pub(crate) actor: Option<&'a UserId>,
    pub(crate) client: &'a Client,
    pub(crate) device: Option<String>,
    pub(crate) detail: String,
}

impl<'a> Audit<'a> {
    /// An act of `user` (or on their account) from `client`.
    pub(crate) fn of(kind: &'static str, user: &'a User, client: &'a Client) -> Self {
        Audit {
            kind,
            user: Some(user),
            actor: None,
            client,
            device: client.device(),
            detail: String::new(),
        }
    }

    /// An act naming no account (a failed login with an unknown username).
    pub(crate) fn of_anyone(kind: &'static str, client: &'a Client) -> Self {
        Audit {
            kind,
            user: None,
            actor: None,
            client,
            device: client.device(),
            detail: String::new(),
        }
    }

    pub(crate) fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

impl Hilo {
    /// Creates (or finds) the account that sends security notices; `app::build` calls it
    /// once at start.
    pub async fn prepare(&self) -> Result<()> {
        let id = self
            .inner
            .store
            .system_account(
                &UserId::new(self.inner.ids.new_id()),
                NOTICES_USERNAME,
                "Security",
                self.inner.clock.now(),
            )
            .await?;
        let _ = self.inner.notices.set(id);
        Ok(())
    }

    /// Whether `user` is the account that sends security notices (nobody may write to it).
    pub(crate) fn is_notices_account(&self, user: &UserId) -> bool {
        self.inner.notices.get() == Some(user)
    }

    /// What a login from `client` is, compared with the account's earlier sessions: a new
    /// device, a new network; `None` with nothing to compare with.
    pub(crate) async fn novelty(
        &self,
        user: &UserId,
        client: &Client,
    ) -> Result<Option<(bool, bool)>> {
        let network = client.ip.as_deref().and_then(network_of);
        let known = self
            .inner
            .store
            .known_client(user, client.device().as_deref(), network.as_deref())
            .await?;
        Ok(known
            .map(|(agent_seen, network_seen)| (!agent_seen, network.is_some() && !network_seen)))
    }

    /// Tells `user`, in their "Security" conversation, of a login from a new device or
    /// network: when, which device, from where, and how to end that session if it was not
    /// them. The message is a `system` one from the notices account, so every device of
    /// theirs gets it as `message.created`.
    pub(crate) async fn login_alert(
        &self,
        user: &User,
        session: &hilo_core::Session,
        new_device: bool,
        new_network: bool,
    ) -> Result<()> {
        let Some(notices) = self.inner.notices.get().cloned() else {
            return Ok(());
        };
        let now = self.inner.clock.now();
        let conversation = self.direct_between(&user.id, &notices).await?;
        let what = match (new_device, new_network) {
            (true, true) => "a new device and network",
            (true, false) => "a new device",
            _ => "a new network",
        };
        let text = format!(
            "New login to your account from {what}: {device}, {ip}, at {at}.\n\
             If this wasn't you, end that session (Settings → Sessions, or DELETE \
             /api/v1/sessions/{id}) and change your password.\n\
             session: {id}",
            device = session
                .device_name
                .as_deref()
                .unwrap_or("an unknown device"),
            ip = session.ip.as_deref().unwrap_or("an unknown address"),
            at = hilo_proto::rfc3339(session.created_at),
            id = session.id,
        );
        self.append_notice(hilo_store::NewMessage {
            channel: hilo_core::Channel::System,
            ..hilo_store::NewMessage::text(
                hilo_core::MessageId::new(self.inner.ids.new_id()),
                conversation,
                notices,
                text,
                format!("login-alert-{}", session.id),
                now,
            )
        })
        .await
    }

    /// Appends to the audit log.
    pub(crate) async fn audit(&self, entry: Audit<'_>) -> Result<()> {
        let event = AuditEvent {
            id: self.inner.ids.new_id(),
            user_id: entry.user.map(|u| u.id.clone()),
            username: entry.user.map(|u| u.username.clone()),
            actor_id: entry.actor.cloned(),
            kind: entry.kind.to_owned(),
            at: self.inner.clock.now(),
            ip: entry.client.ip.clone(),
            device: entry.device,
            detail: entry.detail,
        };
        self.inner.store.record_audit(&event).await?;
        Ok(())
    }

    /// Publishes `session.revoked` for each revoked session.
    pub(crate) async fn publish_revoked(&self, revoked: Vec<(SessionId, Delivery)>) {
        for (session, delivery) in revoked {
            let event = Event::SessionRevoked {
                session_id: session.to_string(),
            };
            self.publish_revocations(vec![(session, delivery)], &event)
                .await;
        }
    }

    /// Revokes every live session of `user` but `keep` and closes their streams; how many.
    async fn end_sessions(&self, user: &UserId, keep: Option<&SessionId>) -> Result<usize> {
        let now = self.inner.clock.now();
        let revoked = self
            .inner
            .store
            .revoke_sessions_except(user, keep, now)
            .await?;
        let count = revoked.len();
        self.publish_revoked(revoked).await;
        Ok(count)
    }

    /// Whether `password` is the caller's; 403 `invalid_password` otherwise (for acts that
    /// ask for it again: 2FA off, password change, account deletion).
    async fn check_password(&self, user: &User, password: &str) -> Result<String> {
        let tries = format!("reauth-try:{}", user.id);
        self.try_counted(&tries, "wrong passwords").await?;
        let credentials = if password.chars().count() <= hilo_core::validate::PASSWORD_MAX {
            self.inner.store.credentials(&user.username).await?
        } else {
            None
        };
        let hash = credentials.map(|(_, hash)| hash);
        if self.inner.hasher.verify(password, hash.as_deref()).await {
            self.try_succeeded(&tries).await?;
            Ok(hash.unwrap_or_default())
        } else {
            Err(Error::forbidden(
                "invalid_password",
                "the password is not this account's",
            ))
        }
    }

    /// Checks a second factor of `user` with 2FA on and spends it: a TOTP code's step, or
    /// one recovery code. `None` when it is not valid (wrong, or already used).
    async fn spend_second_factor(
        &self,
        user: &UserId,
        secret: &str,
        recovery: &[(i64, String)],
        input: &str,
    ) -> Result<Option<SecondFactor>> {
        if input.len() > CODE_INPUT_MAX {
            return Ok(None);
        }
        // Counted per account up front, so neither parallel requests nor many addresses
        // give more than a few guesses at six digits.
        let tries = format!("code-try:{user}");
        self.try_counted(&tries, "wrong codes").await?;
        let spent = self.spend_checked(user, secret, recovery, input).await?;
        if spent.is_some() {
            self.try_succeeded(&tries).await?;
        }
        Ok(spent)
    }

    async fn spend_checked(
        &self,
        user: &UserId,
        secret: &str,
        recovery: &[(i64, String)],
        input: &str,
    ) -> Result<Option<SecondFactor>> {
        if let Some(code) = totp::parse_code(input) {
            let now = self.inner.clock.now().millis();
            let Some(step) = totp::matching_step(secret, code, now) else {
                return Ok(None);
            };
            let fresh = self.inner.store.claim_totp_step(user, step).await?;
            return Ok(fresh.then_some(SecondFactor::Totp));
        }
        let Some(code) = normalize_recovery_code(input) else {
            return Ok(None);
        };
        for (n, hash) in recovery {
            if self.inner.hasher.verify(&code, Some(hash)).await {
                let now = self.inner.clock.now();
                let unused = self.inner.store.use_recovery_code(user, *n, now).await?;
                return Ok(unused.then_some(SecondFactor::RecoveryCode));
            }
        }
        Ok(None)
    }

    /// The login step after the password: with 2FA on, `code` must be a fresh TOTP code or
    /// an unused recovery code (401 `totp_required` otherwise).
    pub(crate) async fn second_factor(
        &self,
        user: &User,
        code: Option<&str>,
        client: &Client,
    ) -> Result<()> {
        let TwoFactor {
            secret, recovery, ..
        } = self.inner.store.two_factor(&user.id).await?;
        let Some(secret) = secret else {
            return Ok(());
        };
        let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
            return Err(Error::TotpRequired);
        };
        match self
            .spend_second_factor(&user.id, &secret, &recovery, code)
            .await?
        {
            Some(SecondFactor::Totp) => Ok(()),
            Some(SecondFactor::RecoveryCode) => {
                let left = recovery.len().saturating_sub(1);
                self.audit(
                    Audit::of("recovery_code_used", user, client)
                        .detail(format!("{left} recovery codes left")),
                )
                .await
            }
            None => {
                self.audit(
                    Audit::of("login_failed", user, client)
                        .detail("wrong or reused two-factor code"),
                )
                .await?;
                Err(Error::TotpRequired)
            }
        }
    }

    /// Whether 2FA is on for the caller, and how many recovery codes are left unused.
    pub async fn two_factor_status(&self, caller: &Caller) -> Result<(bool, usize)> {
        let state = self.inner.store.two_factor(&caller.user.id).await?;
        let enabled = state.secret.is_some();
        Ok((enabled, if enabled { state.recovery.len() } else { 0 }))
    }

    /// Starts 2FA enrolment: a new secret, as an `otpauth://` URI and a QR code. Calling it
    /// again replaces an unconfirmed enrolment; 409 `totp_enabled` when 2FA is on.
    pub async fn start_two_factor(&self, caller: &Caller) -> Result<Enrolment> {
        let state = self.inner.store.two_factor(&caller.user.id).await?;
        if state.secret.is_some() {
            return Err(Error::conflict(
                "totp_enabled",
                "two-factor authentication is already on; turn it off first",
            ));
        }
        let secret = totp::new_secret();
        let account = format!("{}@{}", caller.user.username, self.inner.config.mail_domain);
        let otpauth_uri = totp::otpauth_uri("hilo", &account, &secret);
        let qr_svg = totp::qr_svg(&otpauth_uri).ok_or_else(|| {
            Error::Store(hilo_store::StoreError::Other(
                "the enrolment URI does not fit a QR code".into(),
            ))
        })?;
        self.inner
            .store
            .set_totp_pending(&caller.user.id, &secret)
            .await?;
        Ok(Enrolment {
            secret,
            otpauth_uri,
            qr_svg,
        })
    }

    /// Confirms enrolment with a first code, turning 2FA on; returns the recovery codes
    /// (shown once, stored hashed).
    pub async fn confirm_two_factor(&self, caller: &Caller, code: &str) -> Result<Vec<String>> {
        let state = self.inner.store.two_factor(&caller.user.id).await?;
        let Some(pending) = state.pending else {
            return Err(if state.secret.is_some() {
                Error::conflict("totp_enabled", "two-factor authentication is already on")
            } else {
                Error::conflict(
                    "totp_not_started",
                    "start enrolment first (POST /api/v1/me/2fa)",
                )
            });
        };
        let now = self.inner.clock.now().millis();
        let step = totp::parse_code(code)
            .filter(|_| code.len() <= CODE_INPUT_MAX)
            .and_then(|code| totp::matching_step(&pending, code, now))
            .ok_or_else(invalid_code)?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let mut hashes = Vec::with_capacity(codes.len());
        for code in &codes {
            hashes.push(self.hash_secret(&code.replace('-', "")).await?);
        }
        if !self
            .inner
            .store
            .enable_totp(&caller.user.id, &pending, step, &hashes)
            .await?
        {
            return Err(Error::conflict(
                "totp_not_started",
                "the enrolment changed meanwhile; start again",
            ));
        }
        self.audit(Audit::of("2fa_enabled", &caller.user, &caller.client))
            .await?;
        tracing::info!(user = %caller.user.id, "two-factor authentication on");
        Ok(codes)
    }

    /// Turns 2FA off; needs the password and a current code (or a recovery code).
    pub async fn disable_two_factor(
        &self,
        caller: &Caller,
        password: &str,
        code: &str,
    ) -> Result<()> {
        self.check_password(&caller.user, password).await?;
        let state = self.inner.store.two_factor(&caller.user.id).await?;
        let Some(secret) = state.secret else {
            return Err(Error::conflict(
                "totp_not_enabled",
                "two-factor authentication is off",
            ));
        };
        if self
            .spend_second_factor(&caller.user.id, &secret, &state.recovery, code)
            .await?
            .is_none()
        {
            return Err(invalid_code());
        }
        self.inner.store.disable_totp(&caller.user.id).await?;
        self.audit(Audit::of("2fa_disabled", &caller.user, &caller.client))
            .await?;
        tracing::info!(user = %caller.user.id, "two-factor authentication off");
        Ok(())
    }

    /// Changes the caller's password and revokes every other session of theirs.
    pub async fn change_password(&self, caller: &Caller, current: &str, new: &str) -> Result<()> {
        self.check_password(&caller.user, current).await?;
        hilo_core::validate::password(new)?;
        let hash = self.hash_secret(new).await?;
        let revoked = self
            .inner
            .store
            .set_password(
                &caller.user.id,
                &hash,
                Some(&caller.session_id),
                self.inner.clock.now(),
            )
            .await?;
        let others = revoked.len();
        self.publish_revoked(revoked).await;
        self.audit(
            Audit::of("password_changed", &caller.user, &caller.client)
                .detail(format!("{others} other sessions signed out")),
        )
        .await
    }

    /// Revokes every session of the caller's but the current one; how many.
    pub async fn revoke_other_sessions(&self, caller: &Caller) -> Result<usize> {
        let count = self
            .end_sessions(&caller.user.id, Some(&caller.session_id))
            .await?;
        self.audit(
            Audit::of("sessions_revoked", &caller.user, &caller.client)
                .detail(format!("{count} other sessions signed out")),
        )
        .await?;
        Ok(count)
    }

    /// The caller's own audit entries, newest first.
    pub async fn my_audit(
        &self,
        caller: &Caller,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        let before = audit_cursor(before)?;
        let mut events = self
            .inner
            .store
            .audit_events(Some(&caller.user.id), before, limit)
            .await?;
        // What an administrator did to the account shows without the administrator's
        // address and device.
        for event in &mut events {
            if event
                .actor_id
                .as_ref()
                .is_some_and(|a| *a != caller.user.id)
            {
                event.ip = None;
                event.device = None;
            }
        }
        Ok(events)
    }

    /// Everyone's audit entries, newest first (admins only).
    pub async fn admin_audit(
        &self,
        caller: &Caller,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        require_admin(caller)?;
        let before = audit_cursor(before)?;
        Ok(self.inner.store.audit_events(None, before, limit).await?)
    }

    /// Accounts for administrators, suspended ones included, by username after `after`;
    /// those whose username or display name contains `query` when given.
    pub async fn admin_users(
        &self,
        caller: &Caller,
        query: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<User>> {
        require_admin(caller)?;
        let query = query.map(str::trim).filter(|q| !q.is_empty());
        if query.is_some_and(|q| q.chars().count() > crate::accounts::SEARCH_QUERY_MAX)
            || after.is_some_and(|a| a.len() > hilo_core::validate::USERNAME_MAX)
        {
            return Err(Error::bad_request(
                "invalid_query",
                "q has at most 64 characters and after is a username",
            ));
        }
        Ok(self.inner.store.list_users(query, after, limit).await?)
    }

    /// Suspends or reinstates an account (admins only). Suspending revokes every session
    /// of theirs and refuses their logins with 403 `account_suspended`.
    pub async fn admin_set_suspended(
        &self,
        caller: &Caller,
        username: &str,
        suspended: bool,
    ) -> Result<User> {
        require_admin(caller)?;
        let subject = self.existing_user(username).await?;
        if subject.id == caller.user.id {
            return Err(Error::bad_request(
                "invalid_action",
                "you cannot suspend yourself",
            ));
        }
        let now = self.inner.clock.now();
        let revoked = self
            .inner
            .store
            .set_suspended(&subject.id, suspended, now)
            .await?;
        self.publish_revoked(revoked).await;
        let kind = if suspended {
            "account_suspended"
        } else {
            "account_unsuspended"
        };
        self.audit(Audit {
            actor: Some(&caller.user.id),
            ..Audit::of(kind, &subject, &caller.client)
                .detail(format!("by {}", caller.user.username))
        })
        .await?;
        tracing::info!(user = %subject.id, admin = %caller.user.id, suspended, "suspension changed");
        self.existing_user(username).await
    }

    /// Revokes every session of an account (admins only); how many.
    pub async fn admin_force_logout(&self, caller: &Caller, username: &str) -> Result<usize> {
        require_admin(caller)?;
        let subject = self.existing_user(username).await?;
        let count = self.end_sessions(&subject.id, None).await?;
        self.audit(Audit {
            actor: Some(&caller.user.id),
            ..Audit::of("sessions_revoked", &subject, &caller.client).detail(format!(
                "{count} sessions signed out by {}",
                caller.user.username
            ))
        })
        .await?;
        Ok(count)
    }

    /// Deletes the caller's account (the password again, as for any such act): every
    /// session ends, relations and secrets go, and their messages stay for the others as
    /// a "Deleted user"'s.
    pub async fn delete_account(&self, caller: &Caller, password: &str) -> Result<()> {
        self.check_password(&caller.user, password).await?;
        self.delete_user(&caller.user, None, &caller.client).await
    }

    /// Deletes an account (admins only; not their own, which goes through
    /// [`Hilo::delete_account`] with the password).
    pub async fn admin_delete_user(&self, caller: &Caller, username: &str) -> Result<()> {
        require_admin(caller)?;
        let subject = self.existing_user(username).await?;
        if subject.id == caller.user.id {
            return Err(Error::bad_request(
                "invalid_action",
                "delete your own account with DELETE /api/v1/me",
            ));
        }
        self.delete_user(&subject, Some(&caller.user), &caller.client)
            .await
    }

    async fn delete_user(&self, user: &User, admin: Option<&User>, client: &Client) -> Result<()> {
        let revoked = match self
            .inner
            .store
            .delete_account(&user.id, self.inner.clock.now())
            .await
        {
            Err(hilo_store::StoreError::NotFound) => return Err(Error::NotFound("user")),
            other => other?,
        };
        self.publish_revoked(revoked).await;
        let detail = match admin {
            Some(admin) => format!("by {}", admin.username),
            None => "by its owner".to_owned(),
        };
        self.audit(Audit {
            actor: admin.map(|a| &a.id),
            ..Audit::of("account_deleted", user, client).detail(detail)
        })
        .await?;
        // Unsent uploads were doomed with the account: their bytes go now.
        self.sweep_soon();
        tracing::info!(user = %user.id, by_admin = admin.is_some(), "account deleted");
        Ok(())
    }

    /// Hashes a secret with the password hasher.
    async fn hash_secret(&self, secret: &str) -> Result<String> {
        self.inner
            .hasher
            .hash(secret)
            .await
            .map_err(|e| Error::Store(hilo_store::StoreError::Other(e.into())))
    }
}

fn invalid_code() -> Error {
    Error::bad_request(
        "invalid_code",
        "that code is not valid now (wrong, expired or already used)",
    )
}

fn require_admin(caller: &Caller) -> Result<()> {
    if caller.user.is_admin {
        Ok(())
    } else {
        Err(Error::forbidden("admin_only", "administrators only"))
    }
}

/// A `before` cursor of the audit log: an entry id (a UUID).
fn audit_cursor(before: Option<&str>) -> Result<Option<&str>> {
    match before {
        Some(id) if uuid::Uuid::try_parse(id).is_err() => Err(Error::bad_request(
            "invalid_cursor",
            "before is the id of an audit entry",
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_named_after_their_user_agents() {
        for (agent, device) in [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                Some("Firefox on Linux"),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
                Some("Edge on Windows"),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                Some("Safari on iPhone"),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
                Some("Chrome on Android"),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                Some("Safari on macOS"),
            ),
            ("curl/8.5.0", Some("curl")),
            ("<script>/1", Some("script")),
            ("", None),
        ] {
            assert_eq!(device_from_user_agent(agent).as_deref(), device, "{agent}");
        }
        assert_eq!(device_from_user_agent(&"a".repeat(600)), None);
    }

    #[test]
    fn recovery_codes_have_80_bits_and_read_back_however_typed() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 19, "{code}");
        let canonical = code.replace('-', "");
        assert_eq!(canonical.len() * 5, 80);
        assert_eq!(normalize_recovery_code(&code), Some(canonical.clone()));
        assert_eq!(
            normalize_recovery_code(&code.to_uppercase().replace('-', " ")),
            Some(canonical)
        );
        assert_eq!(normalize_recovery_code("123456"), None);
        assert_eq!(normalize_recovery_code("abcd-efgh-ijkl-mno1"), None);
        assert_ne!(new_recovery_code(), new_recovery_code());
    }
}
