//! Recovery codes: the single-use way into an account whose second factor is lost.
//!
//! Ten codes of ten base32 characters (50 bits each), shown once as `xxxxx-xxxxx`. They are
//! stored as digests keyed by their factor's TOTP secret (itself kept sealed), so a copy of the
//! table alone cannot be searched for them; the key does not change when the JWT or sealing keys
//! rotate. They are compared by digest, whatever the case or dashes the user types.

use super::server_key::{Purpose, ServerKey};
use super::tokens::RandomnessError;

/// Codes issued at once.
pub const COUNT: usize = 10;

/// Characters per code (without the dash).
const LENGTH: usize = 10;

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// `COUNT` fresh codes, formatted for display.
pub fn generate() -> Result<Vec<String>, RandomnessError> {
    (0..COUNT).map(|_| one()).collect()
}

fn one() -> Result<String, RandomnessError> {
    let mut bytes = [0u8; LENGTH];
    getrandom::fill(&mut bytes).map_err(|_| RandomnessError)?;
    // 32 divides 256, so taking each byte modulo 32 keeps the characters uniform.
    let characters: String = bytes.iter().map(|byte| char::from(ALPHABET[usize::from(byte % 32)])).collect();
    Ok(format!("{}-{}", &characters[..LENGTH / 2], &characters[LENGTH / 2..]))
}

/// The code as stored: lowercase, without dashes or spaces; `None` if it cannot be a code.
pub fn normalize(typed: &str) -> Option<String> {
    let code: String =
        typed.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_lowercase()).collect();
    (code.len() == LENGTH && code.bytes().all(|byte| ALPHABET.contains(&byte))).then_some(code)
}

/// The stored form of a normalized code.
pub fn digest(factor_secret: &[u8], normalized: &str) -> [u8; 32] {
    ServerKey::derive_from(factor_secret).digest(Purpose::RecoveryCode, normalized.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_read_back_whatever_the_typing() {
        let codes = generate().expect("random");
        assert_eq!(codes.len(), COUNT);
        let distinct: std::collections::HashSet<&String> = codes.iter().collect();
        assert_eq!(distinct.len(), COUNT);
        for code in &codes {
            assert_eq!(code.len(), LENGTH + 1);
            assert_eq!(&code[5..6], "-");
            let plain = normalize(code).expect("a code");
            assert_eq!(normalize(&code.to_uppercase()), Some(plain.clone()));
            assert_eq!(normalize(&format!(" {plain} ")), Some(plain));
        }
    }

    #[test]
    fn other_input_is_not_a_code() {
        for bad in ["", "abcde", "abcde-fghij-k", "abcde-fghi1", "abcde-fghi!"] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn digests_are_keyed() {
        let (key, other) = (b"a factor secret of 20".as_slice(), b"another factor's one".as_slice());
        assert_ne!(digest(key, "abcdefghij"), digest(other, "abcdefghij"));
        assert_ne!(digest(key, "abcdefghij"), digest(key, "abcdefghik"));
    }
}
