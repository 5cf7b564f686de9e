//! Password hashing with argon2id at OWASP's recommended cost (m = 19 MiB, t = 2, p = 1).
//!
//! Hashing is deliberately slow (tens of milliseconds of CPU), so it runs off the async executor and
//! never stalls it. Hashes are PHC strings, so stored parameters travel with each
//! hash and older, weaker hashes can be recognised and upgraded at login.
//!
//! Hashes run on a small pool of dedicated threads, one per CPU, so a burst of logins
//! queues here instead of starving every other request of CPU. Each thread keeps its 19 MiB of
//! argon2 memory for its whole life instead of allocating it per hash: with a fresh allocation
//! each time, glibc kept the freed buffers around, and 32 concurrent registrations left the
//! devserver at 936 MiB (455 MiB even with the hashing threads alone). Now memory stays at one
//! buffer per thread. On Lambda, with one request per instance, the pool never queues.

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, LazyLock, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use secrecy::{ExposeSecret, SecretString};

thread_local! {
    /// This thread's argon2 memory, grown to the largest cost it has run and then reused.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

type HashJob = Box<dyn FnOnce() + Send>;

/// The hashing threads' queue; `None` if no thread could be started.
static HASHING: LazyLock<Option<Sender<HashJob>>> = LazyLock::new(|| {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let (sender, receiver) = channel::<HashJob>();
    let receiver = Arc::new(Mutex::new(receiver));
    let mut started = 0;
    for index in 0..cpus {
        let receiver = receiver.clone();
        let spawned = std::thread::Builder::new().name(format!("argon2-{index}")).spawn(move || {
            loop {
                let job = match receiver.lock() {
                    Ok(queue) => queue.recv(),
                    Err(_poisoned) => return,
                };
                let Ok(job) = job else { return };
                // A panicking hash fails its own caller (its answer channel is dropped), not the thread.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            }
        });
        started += usize::from(spawned.is_ok());
    }
    (started > 0).then_some(sender)
});

/// Runs `work` on a hashing thread and waits for its result without blocking the executor. The
/// work runs to the end even if the caller stops waiting.
async fn on_hashing_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: HashJob = Box::new(move || {
        let _ = answer.send(work());
    });
    let queued = HASHING.as_ref().is_some_and(|queue| queue.send(job).is_ok());
    if !queued {
        return Err(PasswordError::Unavailable);
    }
    answered.await.map_err(|_| PasswordError::Unavailable)
}

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
    /// No hashing thread could take the work, or it panicked.
    #[error("password hashing threads are unavailable")]
    Unavailable,
}

fn params() -> Result<Params, PasswordError> {
    Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Computes the raw argon2 output for `password` and `salt` into `out`, in this thread's reused
/// memory.
fn compute(
    argon2: &Argon2<'_>,
    blocks: usize,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

/// Hashes a password with a fresh random salt, off the async executor. No truncation: every
/// character of the password counts.
pub async fn hash(password: SecretString) -> Result<String, PasswordError> {
    on_hashing_thread(move || hash_blocking(&password)).await?
}

/// The synchronous core of [`hash`], for code that is already on a blocking thread.
pub fn hash_blocking(password: &SecretString) -> Result<String, PasswordError> {
    let failed = |e: &dyn std::fmt::Display| PasswordError::Hash(e.to_string());
    let params = params()?;
    let salt = argon2::password_hash::try_generate_salt().map_err(|e| failed(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    compute(&argon2, params.block_count(), password.expose_secret().as_bytes(), &salt, &mut out)
        .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// Checks a password against a stored PHC hash, off the async executor. `Ok(false)` means the
/// password is wrong (or the hash uses something other than argon2); errors mean the hash could
/// not be read at all.
pub async fn verify(password: SecretString, stored_hash: String) -> Result<bool, PasswordError> {
    on_hashing_thread(move || {
        let parsed = PasswordHash::new(&stored_hash).map_err(|_| PasswordError::MalformedHash)?;
        Ok(matches_stored(password.expose_secret().as_bytes(), &parsed).unwrap_or(false))
    })
    .await?
}

/// Recomputes the stored hash's output with its own algorithm, version, parameters and salt, and
/// compares in constant time. `None` when the hash cannot be recomputed.
fn matches_stored(password: &[u8], stored: &PasswordHash) -> Option<bool> {
    let (salt, expected) = (stored.salt.as_ref()?, stored.hash.as_ref()?);
    let algorithm = Algorithm::try_from(stored.algorithm.as_str()).ok()?;
    let version = stored.version.map(Version::try_from).transpose().ok()?.unwrap_or_default();
    let params = Params::try_from(stored).ok()?;
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    compute(&argon2, params.block_count(), password, salt, &mut out).ok()?;
    Some(Output::new(&out).ok()? == *expected)
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

    #[tokio::test]
    async fn hashes_are_interchangeable_with_the_argon2_crates_own() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let password = b"interchangeable";
        let ours = hash(SecretString::from("interchangeable")).await.expect("hash");
        let parsed = PasswordHash::new(&ours).expect("phc");
        assert!(Argon2::default().verify_password(password, &parsed).is_ok(), "the crate verifies ours");

        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params().expect("params"))
            .hash_password(password)
            .expect("hash")
            .to_string();
        assert!(verify(SecretString::from("interchangeable"), theirs.clone()).await.expect("verify"));
        assert!(!verify(SecretString::from("interchangeable!"), theirs).await.expect("verify"));
        // A weaker legacy hash (other memory cost, argon2i) still verifies, in the same reused memory.
        let legacy = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::new(4096, 1, 1, None).expect("params"))
            .hash_password(password)
            .expect("hash")
            .to_string();
        assert!(verify(SecretString::from("interchangeable"), legacy).await.expect("verify"));
    }

    #[test]
    fn weaker_or_foreign_hashes_need_rehash() {
        let weak = "$argon2id$v=19$m=4096,t=1,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        assert!(needs_rehash(weak));
        assert!(needs_rehash("$2b$12$abcdefghijklmnopqrstuv"));
        assert!(needs_rehash("garbage"));
    }
}
