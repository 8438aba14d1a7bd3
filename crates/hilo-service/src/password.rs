//! Password hashing with Argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1).
//!
//! Hashing is deliberately slow, so it runs on blocking threads behind a semaphore sized to
//! the CPU count: a flood of logins queues up instead of starving message delivery.
//!
//! Each hash needs 19 MiB of working memory. Allocated per hash, that memory lands in
//! whichever allocator arena the blocking thread uses and is not given back: 64 sign-ups
//! left the server at 650 MiB resident. So the working memory is allocated once per permit
//! and reused: hashing holds at most `permits × 19 MiB`, for the life of the process.

use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Argon2 working memory, one buffer per permit at most, taken by a job for its run.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    params: Params,
    /// A hash of a random password, verified against when the username is unknown so that
    /// unknown users and wrong passwords take the same time.
    dummy: Arc<String>,
}

/// Runs Argon2id with `params` in `memory` (grown if they need more) and returns the PHC
/// hash.
fn hash_in<'a>(
    params: &Params,
    password: &[u8],
    salt: Salt<'a>,
    memory: &mut Vec<Block>,
) -> argon2::password_hash::Result<PasswordHash<'a>> {
    let mut raw_salt = [0u8; 64];
    let raw_salt = salt.decode_b64(&mut raw_salt)?;
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = Output::init_with(output_len, |out| {
        argon
            .hash_password_into_with_memory(password, raw_salt, out, &mut memory[..])
            .map_err(Into::into)
    })?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: params.try_into()?,
        salt: Some(salt),
        hash: Some(output),
    })
}

/// Whether `password` hashes to `stored` with the stored hash's own parameters (an
/// Argon2id hash only). The comparison is constant-time ([`Output`]'s equality).
fn verify_in(password: &[u8], stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    if Algorithm::try_from(parsed.algorithm) != Ok(Algorithm::Argon2id)
        || parsed.version != Some(Version::V0x13.into())
    {
        return false;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    hash_in(&params, password, salt, memory)
        .is_ok_and(|computed| computed.hash.is_some_and(|output| output == expected))
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
        let salt = SaltString::generate(&mut OsRng);
        let mut memory = Vec::new();
        let dummy = hash_in(
            &params,
            uuid::Uuid::now_v7().to_string().as_bytes(),
            salt.as_salt(),
            &mut memory,
        )
        .map(|hash| hash.to_string())
        .unwrap_or_default();
        PasswordHasher {
            permits: Arc::new(Semaphore::new(cores)),
            memory: Arc::new(Mutex::new(vec![memory])),
            params,
            dummy: Arc::new(dummy),
        }
    }

    /// Runs `job` on a blocking thread with a permit and a working-memory buffer, both
    /// held until it ends even if the caller goes away.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Option<T> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // With a permit held there is a buffer free, or fewer buffers than permits yet.
            let mut memory = pool
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()
                .unwrap_or_default();
            let result = job(&mut memory);
            pool.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(memory);
            result
        })
        .await
        .ok()
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, String> {
        let (params, password) = (self.params.clone(), password.to_owned());
        self.run(move |memory| {
            let salt = SaltString::generate(&mut OsRng);
            hash_in(&params, password.as_bytes(), salt.as_salt(), memory)
                .map(|h| h.to_string())
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|| Err("password hashing stopped".to_owned()))
    }

    /// Whether `stored` was made with other parameters than today's (or another
    /// algorithm), so the password should be hashed again once it is known.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return true;
        };
        Algorithm::try_from(parsed.algorithm) != Ok(Algorithm::Argon2id)
            || parsed.version != Some(Version::V0x13.into())
            || Params::try_from(&parsed).map_or(true, |params| {
                (params.m_cost(), params.t_cost(), params.p_cost())
                    != (
                        self.params.m_cost(),
                        self.params.t_cost(),
                        self.params.p_cost(),
                    )
            })
    }

    /// Verifies a password against a PHC string; `None` verifies against a dummy hash and
    /// always fails, taking the same time.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let known = hash.is_some();
        let hash = hash
            .map(str::to_owned)
            .unwrap_or_else(|| self.dummy.as_ref().clone());
        let password = password.to_owned();
        let verified = self
            .run(move |memory| verify_in(password.as_bytes(), &hash, memory))
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

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    #[tokio::test]
    async fn verifies_the_right_password_only() {
        let hasher = PasswordHasher::for_tests();
        let hash = hasher.hash("correct horse").await.expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{hash}");
        assert!(hasher.verify("correct horse", Some(&hash)).await);
        assert!(!hasher.verify("correct horsf", Some(&hash)).await);
        assert!(!hasher.verify("correct horse", None).await);
        assert!(!hasher.verify("correct horse", Some("not a hash")).await);
    }

    #[test]
    fn hashes_are_interchangeable_with_the_argon2_crate() {
        // Hashes stored before the working memory was pooled must still verify, and the
        // pooled ones must verify with the crate's own verifier.
        let params = Params::new(256, 1, 1, None).expect("params");
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = argon
            .hash_password(b"pa55word", &salt)
            .expect("hash")
            .to_string();
        let mut memory = Vec::new();
        assert!(verify_in(b"pa55word", &theirs, &mut memory));
        assert!(!verify_in(b"pa55worc", &theirs, &mut memory));
        let ours = hash_in(&params, b"pa55word", salt.as_salt(), &mut memory)
            .expect("hash")
            .to_string();
        assert_eq!(ours, theirs, "same salt and parameters, same PHC string");
        let parsed = PasswordHash::new(&ours).expect("parse");
        assert!(argon.verify_password(b"pa55word", &parsed).is_ok());
    }

    #[tokio::test]
    async fn hashes_made_with_other_parameters_need_rehashing() {
        let old = PasswordHasher::with_params(Params::new(128, 1, 1, None).expect("params"));
        let new = PasswordHasher::for_tests();
        let old_hash = old.hash("pa55word").await.expect("hash");
        let new_hash = new.hash("pa55word").await.expect("hash");
        assert!(new.needs_rehash(&old_hash));
        assert!(!new.needs_rehash(&new_hash));
        assert!(new.needs_rehash("not a hash"));
        assert!(
            new.verify("pa55word", Some(&old_hash)).await,
            "old hashes still verify"
        );
    }

    #[test]
    fn only_argon2id_hashes_verify() {
        let params = Params::new(256, 1, 1, None).expect("params");
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let hash = argon2i
            .hash_password(b"pa55word", &salt)
            .expect("hash")
            .to_string();
        assert!(!verify_in(b"pa55word", &hash, &mut Vec::new()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn working_memory_is_reused_not_reallocated() {
        let hasher = PasswordHasher::for_tests();
        let permits = hasher.permits.available_permits();
        let mut jobs = tokio::task::JoinSet::new();
        for i in 0..40 {
            let hasher = hasher.clone();
            jobs.spawn(async move { hasher.hash(&format!("password {i}")).await });
        }
        while let Some(hash) = jobs.join_next().await {
            assert!(hash.expect("job").is_ok());
        }
        let pool = hasher.memory.lock().expect("pool");
        assert!(
            pool.len() <= permits,
            "{} buffers for {permits} permits",
            pool.len()
        );
        let blocks = hasher.params.block_count();
        assert!(pool.iter().all(|m| m.len() == blocks));
    }
}
