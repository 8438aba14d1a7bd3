//! Password hashing with Argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1).
//!
//! Hashing is deliberately slow, so it runs on blocking threads behind a semaphore sized to
//! the CPU count: a flood of logins queues up instead of starving message delivery.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    params: Params,
    /// A hash of a random password, verified against when the username is unknown so that
    /// unknown users and wrong passwords take the same time.
    dummy: Arc<String>,
}

impl PasswordHasher {
    /// The production parameters.
    pub fn new() -> PasswordHasher {
        // m = 19456 KiB, t = 2, p = 1 are valid by construction; the fallback never runs.
        let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
        Self::with_params(params)
    }

    /// Cheaper parameters, for tests only.
    pub fn for_tests() -> PasswordHasher {
        Self::with_params(Params::new(256, 1, 1, None).unwrap_or_default())
    }

    fn with_params(params: Params) -> PasswordHasher {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let salt = SaltString::generate(&mut OsRng);
        let dummy = argon
            .hash_password(uuid::Uuid::now_v7().to_string().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .unwrap_or_default();
        PasswordHasher {
            permits: Arc::new(Semaphore::new(cores)),
            params,
            dummy: Arc::new(dummy),
        }
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, String> {
        // The permit moves into the blocking job: if the request is dropped, the hash still
        // runs to the end, and the permit is held until it does.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let (argon, password) = (self.argon(), password.to_owned());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let salt = SaltString::generate(&mut OsRng);
            argon
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Verifies a password against a PHC string; `None` verifies against a dummy hash and
    /// always fails, taking the same time.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return false;
        };
        let known = hash.is_some();
        let hash = hash
            .map(str::to_owned)
            .unwrap_or_else(|| self.dummy.as_ref().clone());
        let (argon, password) = (self.argon(), password.to_owned());
        let verified = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            PasswordHash::new(&hash)
                .is_ok_and(|parsed| argon.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .unwrap_or(false);
        known && verified
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}
