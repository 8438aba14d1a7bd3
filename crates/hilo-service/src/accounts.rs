//! Accounts, sessions, profiles and invites.

use base64::Engine;
use hilo_core::{Session, SessionId, Timestamp, User, UserId, validate};
use hilo_proto::{Event, MeDto, PartyDto, SettingsPatch};
use hilo_store::{CreateUserOutcome, NewSession, NewUser, ProfilePatch};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::security::Audit;
use crate::{Caller, Client, Error, Hilo, RegistrationPolicy, Result};

/// Activity on a session is written at most this often (milliseconds), so an active client
/// does not cost a write per request.
const TOUCH_INTERVAL_MS: i64 = 60_000;
/// How long an invite code stays valid.
const INVITE_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
/// Most results of a people search.
const SEARCH_LIMIT: i64 = 50;
/// Longest people-search query, in characters as sent.
pub const SEARCH_QUERY_MAX: usize = 64;

/// A new account request.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    /// Username as typed.
    pub username: String,
    /// Password.
    pub password: String,
    /// Display name; defaults to the username.
    pub display_name: Option<String>,
    /// Invite code, when required.
    pub invite_code: Option<String>,
    /// Device name for the first session (else one from the User-Agent).
    pub device_name: Option<String>,
    /// Where the request comes from.
    pub client: Client,
}

/// A login request.
#[derive(Debug, Clone, Default)]
pub struct LoginAttempt {
    /// Username, any case.
    pub username: String,
    /// Password.
    pub password: String,
    /// With 2FA on: a current TOTP code or an unused recovery code.
    pub totp_code: Option<String>,
    /// Device name for the session (else one from the User-Agent).
    pub device_name: Option<String>,
    /// Where the request comes from.
    pub client: Client,
}

/// Another user as the caller may see them.
#[derive(Debug, Clone)]
pub struct UserProfile {
    /// The account.
    pub user: User,
    /// `self`, `friend`, `request_sent`, `request_received`, `blocked` or `none`.
    pub relationship: &'static str,
    /// Online now, where the user's visibility setting allows the caller.
    pub online: Option<bool>,
    /// Last activity, where allowed.
    pub last_seen_at: Option<Timestamp>,
}

/// A fresh bearer token: 256 random bits, URL-safe.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "hilo_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Tokens and invite codes are high-entropy, so a fast hash is enough: the database never
/// holds anything that would let a reader of it authenticate.
pub(crate) fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Hilo {
    /// Creates an account and its first session. Returns the account, the session and the
    /// bearer token (shown once).
    pub async fn register(&self, request: Registration) -> Result<(User, Session, String)> {
        let policy = self.inner.config.registration;
        if policy == RegistrationPolicy::Closed && self.inner.store.count_users().await? > 0 {
            return Err(Error::RegistrationClosed);
        }
        self.registration_allowed(request.client.ip.as_deref())
            .await?;
        // The account and its first session are one write: a failure cannot leave an account
        // nobody is logged into (with its invite spent).
        let (user, session) = self
            .create_user(request, policy == RegistrationPolicy::Invite, false, true)
            .await?;
        let (session, token) = session.ok_or(Error::Unauthenticated)?;
        Ok((user, session, token))
    }

    /// Creates an account for operators (`hilo admin create-user`): no policy, no session.
    pub async fn admin_create_user(
        &self,
        username: &str,
        password: &str,
        admin: bool,
    ) -> Result<User> {
        let request = Registration {
            username: username.into(),
            password: password.into(),
            ..Default::default()
        };
        Ok(self.create_user(request, false, admin, false).await?.0)
    }

    async fn create_user(
        &self,
        request: Registration,
        invite_required: bool,
        force_admin: bool,
        with_session: bool,
    ) -> Result<(User, Option<(Session, String)>)> {
        let username = validate::username(&request.username)?;
        let display_name = match &request.display_name {
            Some(name) => validate::display_name(name)?,
            None => username.clone(),
        };
        validate::password(&request.password)?;
        if invite_required
            && request.invite_code.as_deref().is_none_or(str::is_empty)
            && self.inner.store.count_users().await? > 0
        {
            return Err(Error::InviteRequired);
        }
        let id = UserId::new(self.inner.ids.new_id());
        let session = if with_session {
            Some(self.new_session(&id, request.device_name, &request.client)?)
        } else {
            None
        };
        let password_hash = self.hash_password(&request.password).await?;
        let outcome = self
            .inner
            .store
            .create_user(NewUser {
                id,
                username,
                display_name,
                password_hash,
                force_admin,
                invite_hash: request
                    .invite_code
                    .as_deref()
                    .map(|code| secret_hash(code.trim())),
                invite_required,
                session: session.as_ref().map(|(new, _)| new.clone()),
                now: self.inner.clock.now(),
            })
            .await?;
        match outcome {
            CreateUserOutcome::Created(user) => {
                tracing::info!(user = %user.id, username = %user.username, admin = user.is_admin, "account created");
                Ok((
                    user,
                    session.map(|(new, token)| (new.into_session(), token)),
                ))
            }
            CreateUserOutcome::UsernameTaken => Err(Error::UsernameTaken),
            CreateUserOutcome::InviteInvalid => Err(Error::InviteRequired),
        }
    }

    /// A session to store for `user` and its bearer token (shown once, stored hashed). The
    /// device is named as given, else after the client's User-Agent.
    fn new_session(
        &self,
        user: &UserId,
        device_name: Option<String>,
        client: &Client,
    ) -> Result<(NewSession, String)> {
        let agent = client.device();
        let device_name = match device_name.as_deref() {
            Some(name) => Some(validate::device_name(name)?),
            None => agent.clone(),
        };
        let ip = client.ip.clone();
        let network = ip.as_deref().and_then(crate::security::network_of);
        let token = new_token();
        let session = NewSession {
            id: SessionId::new(self.inner.ids.new_id()),
            user_id: user.clone(),
            token_hash: secret_hash(&token),
            device_name,
            ip,
            agent,
            network,
            now: self.inner.clock.now(),
        };
        Ok((session, token))
    }

    /// Logs in. Unknown users and wrong passwords get the same error after the same work;
    /// with 2FA on, a valid second factor is needed too. Every outcome is audited.
    pub async fn login(&self, attempt: LoginAttempt) -> Result<(User, Session, String)> {
        let LoginAttempt {
            username,
            password,
            totp_code,
            device_name,
            client,
        } = attempt;
        let username = username.to_ascii_lowercase();
        let plausible = username.len() <= validate::USERNAME_MAX
            && password.chars().count() <= validate::PASSWORD_MAX;
        // A name no account can have gets the answer of a wrong password, without a
        // counter of its own.
        let ip = client.ip.as_deref();
        let throttled_name = if plausible { username.as_str() } else { "-" };
        self.login_gate(throttled_name, ip).await?;
        // Per-username guessing limits are one setting: off, both are off.
        let tries = (self.inner.config.limits.login_free_failures > 0)
            .then(|| crate::limits::login_tries_key(throttled_name, ip));
        if let Some(tries) = &tries {
            self.try_counted(tries, "failed logins").await?;
        }
        let credentials = if plausible {
            self.inner.store.credentials(&username).await?
        } else {
            None
        };
        let hash = credentials.as_ref().map(|(_, hash)| hash.as_str());
        if !self.inner.hasher.verify(&password, hash).await {
            self.login_failed(throttled_name, ip).await?;
            // The attempted username is not recorded for unknown accounts: people type
            // their password into the username field.
            let user = credentials.as_ref().map(|(user, _)| user);
            self.audit(Audit {
                user,
                ..Audit::of_anyone("login_failed", &client).detail("wrong username or password")
            })
            .await?;
            return Err(Error::InvalidCredentials);
        }
        let Some((user, hash)) = credentials else {
            return Err(Error::InvalidCredentials);
        };
        if user.suspended {
            self.audit(Audit::of("login_failed", &user, &client).detail("account suspended"))
                .await?;
            return Err(Error::AccountSuspended);
        }
        if let Err(error) = self
            .second_factor(&user, totp_code.as_deref(), &client)
            .await
        {
            // A wrong or missing code counts as a failure: six digits are guessable.
            if totp_code.is_some() {
                self.login_failed(throttled_name, ip).await?;
            }
            return Err(error);
        }
        self.login_succeeded(throttled_name, ip).await?;
        if let Some(tries) = &tries {
            self.try_succeeded(tries).await?;
        }
        if self.inner.hasher.needs_rehash(&hash) {
            // The same password under today's parameters; a failure only postpones it.
            match self.inner.hasher.hash(&password).await {
                Ok(new) => {
                    self.inner
                        .store
                        .rehash_password(&user.id, &hash, &new)
                        .await?
                }
                Err(error) => tracing::warn!(%error, "could not rehash a password"),
            }
        }
        let novelty = self.novelty(&user.id, &client).await?;
        let (new, token) = self.new_session(&user.id, device_name, &client)?;
        let session = self.inner.store.create_session(new).await?;
        self.audit(Audit {
            device: session.device_name.clone(),
            ..Audit::of("login", &user, &client)
        })
        .await?;
        if let Some((new_device, new_network)) = novelty
            && (new_device || new_network)
            && let Err(error) = self
                .login_alert(&user, &session, new_device, new_network)
                .await
        {
            // The login stands; the alert is also in the audit log.
            tracing::warn!(%error, user = %user.id, "could not send a login alert");
        }
        Ok((user, session, token))
    }

    /// Resolves a bearer token to its caller; `None` for unknown or revoked tokens.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Caller>> {
        if token.is_empty() || token.len() > 256 {
            return Ok(None);
        }
        let Some((session, user)) = self
            .inner
            .store
            .session_by_token(&secret_hash(token))
            .await?
        else {
            return Ok(None);
        };
        if user.suspended {
            return Ok(None);
        }
        let now = self.inner.clock.now();
        if now.millis() - session.last_seen_at.millis() > TOUCH_INTERVAL_MS {
            // Off the request path: losing this write costs nothing but an older timestamp.
            let (store, id) = (self.inner.store.clone(), session.id.clone());
            tokio::spawn(async move {
                if let Err(error) = store.touch_session(&id, now).await {
                    tracing::debug!(%error, "could not record session activity");
                }
            });
        }
        Ok(Some(Caller {
            user,
            session_id: session.id,
            client: Client::default(),
        }))
    }

    /// The caller's live sessions.
    pub async fn sessions(&self, caller: &Caller) -> Result<Vec<Session>> {
        Ok(self.inner.store.sessions(&caller.user.id).await?)
    }

    /// Revokes one of the caller's sessions: its token stops working at once and its open
    /// event streams close.
    pub async fn revoke_session(&self, caller: &Caller, session: &SessionId) -> Result<()> {
        let now = self.inner.clock.now();
        let Some(delivery) = self
            .inner
            .store
            .revoke_session(&caller.user.id, session, now)
            .await?
        else {
            return Err(Error::NotFound("session"));
        };
        self.publish_revoked(vec![(session.clone(), delivery)])
            .await;
        let detail = if *session == caller.session_id {
            "signed out".to_owned()
        } else {
            format!("session {session}")
        };
        self.audit(Audit::of("session_revoked", &caller.user, &caller.client).detail(detail))
            .await
    }

    /// The caller's account, fresh from the store.
    pub async fn me(&self, caller: &Caller) -> Result<User> {
        self.inner
            .store
            .user(&caller.user.id)
            .await?
            .ok_or(Error::Unauthenticated)
    }

    /// Changes the caller's display name and/or settings.
    pub async fn update_me(
        &self,
        caller: &Caller,
        display_name: Option<&str>,
        settings: Option<&SettingsPatch>,
    ) -> Result<User> {
        let mut patch = ProfilePatch::default();
        if let Some(name) = display_name {
            patch.display_name = Some(validate::display_name(name)?);
        }
        if let Some(settings_patch) = settings {
            let mut merged = self.me(caller).await?.settings;
            settings_patch.apply(&mut merged).map_err(|field| {
                Error::bad_request(
                    "invalid_settings",
                    format!("unknown value for settings.{field}"),
                )
            })?;
            patch.settings = Some(merged);
        }
        let (user, deliveries) = self
            .inner
            .store
            .update_profile(&caller.user.id, patch, self.inner.clock.now())
            .await?;
        self.publish_user_updated(&user, &deliveries).await;
        Ok(user)
    }

    /// Publishes `user.updated`: the owner's streams get their whole account, the others
    /// what anyone may see of it.
    async fn publish_user_updated(&self, user: &User, deliveries: &[hilo_store::Delivery]) {
        let (own, others): (Vec<_>, Vec<_>) = deliveries
            .iter()
            .cloned()
            .partition(|d| d.user_id == user.id);
        let public = Event::UserUpdated {
            user: PartyDto::from(user),
            me: None,
        };
        self.publish(&others, &public).await;
        let private = Event::UserUpdated {
            user: PartyDto::from(user),
            me: Some(MeDto::new(user, &self.inner.config.mail_domain)),
        };
        self.publish(&own, &private).await;
    }

    /// Another user's profile as the caller may see it.
    pub async fn user_profile(&self, caller: &Caller, username: &str) -> Result<UserProfile> {
        let username = username.to_ascii_lowercase();
        let user = match self.inner.store.user_by_username(&username).await? {
            Some(user) if !user.suspended || user.id == caller.user.id => user,
            _ => return Err(Error::NotFound("user")),
        };
        self.profile(caller, user).await
    }

    async fn profile(&self, caller: &Caller, user: User) -> Result<UserProfile> {
        let relation = if user.id == caller.user.id {
            hilo_core::Relation::default()
        } else {
            self.inner.store.relation(&caller.user.id, &user.id).await?
        };
        self.profile_with(caller, user, relation).await
    }

    /// `user` as the caller sees them, given the caller's relation to them.
    pub(crate) async fn profile_with(
        &self,
        caller: &Caller,
        user: User,
        relation: hilo_core::Relation,
    ) -> Result<UserProfile> {
        let is_self = user.id == caller.user.id;
        let visible = is_self || relation.sees_presence(user.settings.last_seen_visibility);
        let (online, last_seen_at) = if visible {
            let sessions = self.inner.store.sessions(&user.id).await?;
            (
                Some(
                    self.inner.presence.is_online(&user.id)
                        || self
                            .inner
                            .store
                            .has_stream(&user.id, self.inner.clock.now())
                            .await?,
                ),
                sessions.iter().map(|s| s.last_seen_at).max(),
            )
        } else {
            (None, None)
        };
        Ok(UserProfile {
            relationship: if is_self {
                hilo_core::Relationship::Myself
            } else {
                relation.relationship()
            }
            .as_str(),
            online,
            last_seen_at,
            user,
        })
    }

    /// People search by username or display name.
    pub async fn search_users(&self, caller: &Caller, query: &str) -> Result<Vec<UserProfile>> {
        if query.trim().is_empty() || query.chars().count() > SEARCH_QUERY_MAX {
            return Err(Error::bad_request(
                "invalid_query",
                "q must have 1 to 64 characters",
            ));
        }
        let mut profiles = Vec::new();
        let query = query.trim();
        // Whoever blocks the caller cannot be found by them.
        let blockers = self.inner.store.blockers_of(&caller.user.id).await?;
        for user in self.inner.store.search_users(query, SEARCH_LIMIT).await? {
            if !blockers.contains(&user.id) {
                profiles.push(self.profile(caller, user).await?);
            }
        }
        Ok(profiles)
    }

    /// Makes a single-use invite code valid for 7 days (admins only).
    pub async fn create_invite(&self, caller: Option<&Caller>) -> Result<(String, Timestamp)> {
        if let Some(caller) = caller
            && !caller.user.is_admin
        {
            return Err(Error::forbidden(
                "admin_only",
                "only administrators can create invites",
            ));
        }
        let mut bytes = [0u8; 12];
        rand::rng().fill_bytes(&mut bytes);
        let code: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = self.inner.clock.now();
        let expires_at = now.plus_millis(INVITE_TTL_MS);
        self.inner
            .store
            .create_invite(
                &secret_hash(&code),
                caller.map(|c| &c.user.id),
                now,
                expires_at,
            )
            .await?;
        Ok((code, expires_at))
    }

    /// An existing account by username (any case), or `NotFound("user")`.
    pub(crate) async fn existing_user(&self, username: &str) -> Result<User> {
        self.inner
            .store
            .user_by_username(&username.to_ascii_lowercase())
            .await?
            .ok_or(Error::NotFound("user"))
    }

    async fn hash_password(&self, password: &str) -> Result<String> {
        self.inner
            .hasher
            .hash(password)
            .await
            .map_err(|e| Error::Store(hilo_store::StoreError::Other(e.into())))
    }

    /// Grants admin rights (`hilo admin make-admin`).
    pub async fn admin_make_admin(&self, username: &str) -> Result<User> {
        let user = self.existing_user(username).await?;
        self.inner.store.set_admin(&user.id, true).await?;
        self.inner
            .store
            .user(&user.id)
            .await?
            .ok_or(Error::NotFound("user"))
    }

    /// Sets a new password and revokes every session (`hilo admin reset-password`).
    pub async fn admin_reset_password(&self, username: &str, password: &str) -> Result<User> {
        let user = self.existing_user(username).await?;
        validate::password(password)?;
        let hash = self.hash_password(password).await?;
        let revoked = self
            .inner
            .store
            .set_password(&user.id, &hash, None, self.inner.clock.now())
            .await?;
        self.publish_revoked(revoked).await;
        self.audit(
            Audit::of("password_changed", &user, &Client::default())
                .detail("reset by an operator; every session signed out"),
        )
        .await?;
        Ok(user)
    }
}
