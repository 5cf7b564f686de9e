//! Opaque tokens (refresh tokens, email-verification, password-reset and deletion links).
//!
//! A token is 256 bits from the OS's CSPRNG, shown to the client once as URL-safe base64 and
//! stored only as its SHA-256 digest. Because the token has full entropy, a plain (unsalted,
//! fast) hash is enough: the digest is the primary key, so lookup is one index probe.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Bytes of randomness per token.
pub const TOKEN_BYTES: usize = 32;
/// Length of the encoded token (43 characters of URL-safe base64 without padding).
pub const ENCODED_LEN: usize = 43;

/// SHA-256 digest of a token, as stored in the database.
pub type TokenHash = [u8; 32];

/// A freshly issued token: the secret for the client, the digest for the database.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// Sent to the client (cookie or mail link); never stored or logged.
    pub secret: String,
    /// Stored and used for lookup.
    pub hash: TokenHash,
}

/// The OS random source failed; nothing can be issued safely.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomnessError;

/// Issues a new random token.
pub fn issue() -> Result<IssuedToken, RandomnessError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|_| RandomnessError)?;
    Ok(from_key_material(bytes))
}

/// A token made from 256 bits of key material instead of fresh randomness: an HMAC output, so the
/// server can compute the same token again later without storing it.
pub fn from_key_material(bytes: [u8; TOKEN_BYTES]) -> IssuedToken {
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&secret);
    IssuedToken { secret, hash }
}

/// The digest to look a presented token up by.
pub fn hash(secret: &str) -> TokenHash {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(&digest);
    out
}

/// A mailed token as a client may paste it, cleaned as the seed cleans it: control characters
/// removed and surrounding whitespace trimmed, so a stray newline does not spoil a good link.
pub fn clean(presented: &str) -> String {
    presented.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_owned()
}

/// True when `presented` has the shape of one of our tokens; anything else can be rejected
/// without touching the database.
pub fn is_well_formed(presented: &str) -> bool {
    presented.len() == ENCODED_LEN && presented.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_tokens_lose_control_characters_and_surrounding_space() {
        let token = issue().expect("token").secret;
        assert_eq!(clean(&format!("  {token}\r\n")), token);
        assert_eq!(clean(&format!("{}\u{0}{}", &token[..5], &token[5..])), token);
        assert!(is_well_formed(&clean(&format!("\t{token} "))));
    }

    #[test]
    fn issued_tokens_are_url_safe_unique_and_hash_to_their_digest() {
        let first = issue().expect("token");
        let second = issue().expect("token");
        assert_ne!(first.secret, second.secret);
        assert!(is_well_formed(&first.secret), "{}", first.secret);
        assert_eq!(hash(&first.secret), first.hash);
        assert_ne!(first.hash, second.hash);
    }

    #[test]
    fn the_digest_is_sha256_of_the_encoded_secret() {
        // SHA-256("abc"), a published test vector
        assert_eq!(hash("abc")[..4], [0xba, 0x78, 0x16, 0xbf]);
    }

    #[test]
    fn malformed_tokens_are_recognised_without_a_lookup() {
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed(&"a".repeat(44)));
        assert!(!is_well_formed(&format!("{}=", "a".repeat(42))));
        assert!(!is_well_formed(&format!("{}\0", "a".repeat(42))));
    }
}
