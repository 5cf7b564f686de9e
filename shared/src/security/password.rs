//! Password hashing with argon2id at OWASP's recommended cost (m = 19 MiB, t = 2, p = 1).
//!
//! Hashing is deliberately slow (tens of milliseconds of CPU), so it runs on the blocking pool and
//! never stalls the async executor. Hashes are PHC strings, so stored parameters travel with each
//! hash and older, weaker hashes can be recognised and upgraded at login.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};

/// Memory cost in KiB (19 MiB): OWASP Password Storage Cheat Sheet's argon2id minimum.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Iterations.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const PARALLELISM: u32 = 1;

/// Why hashing or verifying could not be completed (a wrong password is not an error).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The argon2 implementation refused its input (e.g. parameters out of range).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// A stored hash is not a PHC string we can read.
    #[error("stored password hash is malformed")]
    MalformedHash,
    /// The blocking task panicked or was cancelled.
    #[error("password hashing task failed")]
    Task(#[from] tokio::task::JoinError),
}

fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with a fresh random salt, off the async executor. No truncation: every
/// character of the password counts.
pub async fn hash(password: SecretString) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

/// The synchronous core of [`hash`], for code that is already on a blocking thread.
pub fn hash_blocking(password: &SecretString) -> Result<String, PasswordError> {
    hasher()?
        .hash_password(password.expose_secret().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Checks a password against a stored PHC hash, off the async executor. `Ok(false)` means the
/// password is wrong; errors mean the hash could not be checked at all.
pub async fn verify(password: SecretString, stored_hash: String) -> Result<bool, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored_hash).map_err(|_| PasswordError::MalformedHash)?;
        Ok(Argon2::default().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok())
    })
    .await?
}

/// True when a stored hash was made with another algorithm or weaker parameters than today's,
/// so the caller should re-hash the password it just verified.
pub fn needs_rehash(stored_hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored_hash) else { return true };
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(params) => params.m_cost() < MEMORY_KIB || params.t_cost() < ITERATIONS || params.p_cost() < PARALLELISM,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_is_argon2id_with_owasp_parameters_and_verifies() {
        let stored = hash(SecretString::from("correct horse battery staple")).await.expect("hash");
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert!(verify(SecretString::from("correct horse battery staple"), stored.clone()).await.expect("verify"));
        assert!(!verify(SecretString::from("correct horse battery stapler"), stored.clone()).await.expect("verify"));
        assert!(!needs_rehash(&stored));
    }

    #[tokio::test]
    async fn same_password_gets_a_different_salt_each_time() {
        let first = hash(SecretString::from("same password")).await.expect("hash");
        let second = hash(SecretString::from("same password")).await.expect("hash");
        assert_ne!(first, second);
    }

    #[tokio::test]
    async fn long_passwords_are_not_truncated() {
        let long = "x".repeat(128);
        let stored = hash(SecretString::from(long.clone())).await.expect("hash");
        let almost = format!("{}y", &long[..127]);
        assert!(!verify(SecretString::from(almost), stored).await.expect("verify"));
    }

    #[tokio::test]
    async fn malformed_stored_hash_is_an_error_not_a_match() {
        assert!(matches!(
            verify(SecretString::from("pw"), "not-a-phc-string".into()).await,
            Err(PasswordError::MalformedHash)
        ));
    }

    #[test]
    fn weaker_or_foreign_hashes_need_rehash() {
        let weak = "$argon2id$v=19$m=4096,t=1,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        assert!(needs_rehash(weak));
        assert!(needs_rehash("$2b$12$abcdefghijklmnopqrstuv"));
        assert!(needs_rehash("garbage"));
    }
}
