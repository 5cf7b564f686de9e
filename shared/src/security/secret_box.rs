//! Encryption of secrets the server must read back (TOTP seeds): AES-256-GCM with a random
//! 96-bit nonce per value, under a named key so keys can be rotated.
//!
//! Rotation: a deployment lists its keys newest first; new values are sealed with the first,
//! any listed key opens what it sealed (the stored value names its key), and a value opened with
//! an older key is sealed again with the newest by the caller. Once nothing names an old key,
//! it can be dropped from the list. The associated data binds a value to its row (the factor
//! id), so a ciphertext copied onto another row does not open.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};

/// Bytes of a key.
pub const KEY_BYTES: usize = 32;

/// A named AES-256-GCM key; `Debug` shows the name only.
pub struct NamedKey {
    id: String,
    key: RandomizedNonceKey,
}

impl NamedKey {
    /// A key named `id` (letters, digits, `-` and `_`, at most 32) from 32 bytes of key material.
    pub fn new(id: &str, material: &[u8]) -> Result<Self, KeyError> {
        let id_ok = !id.is_empty()
            && id.len() <= 32
            && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        if !id_ok {
            return Err(KeyError::BadId(id.to_owned()));
        }
        if material.len() != KEY_BYTES {
            return Err(KeyError::BadLength(id.to_owned()));
        }
        let key = RandomizedNonceKey::new(&AES_256_GCM, material).map_err(|_| KeyError::BadLength(id.to_owned()))?;
        Ok(Self { id: id.to_owned(), key })
    }
}

impl fmt::Debug for NamedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NamedKey({}, ..)", self.id)
    }
}

/// A key that cannot be used as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The name is empty, too long or has other characters than letters, digits, `-`, `_`.
    #[error("key id {0:?} must be 1-32 letters, digits, '-' or '_'")]
    BadId(String),
    /// The key material is not 32 bytes.
    #[error("key {0:?} must be 32 bytes")]
    BadLength(String),
    /// No key at all.
    #[error("at least one key is needed")]
    Empty,
    /// Two keys share a name.
    #[error("key id {0:?} appears twice")]
    Duplicate(String),
}

/// A sealed value: the name of the key that sealed it, and nonce ‖ ciphertext ‖ tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Which key opens it.
    pub key_id: String,
    /// The 12-byte nonce, then the ciphertext and its 16-byte tag.
    pub blob: Vec<u8>,
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Its key is no longer configured.
    #[error("the key {0:?} is not configured")]
    UnknownKey(String),
    /// Wrong key, other associated data, or a damaged value.
    #[error("the value does not open with its key")]
    Corrupt,
}

/// The configured keys, newest first.
#[derive(Debug)]
pub struct SecretBox {
    keys: Vec<NamedKey>,
}

impl SecretBox {
    /// The keys, newest (used for sealing) first.
    pub fn new(keys: Vec<NamedKey>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        for (index, key) in keys.iter().enumerate() {
            if keys[..index].iter().any(|earlier| earlier.id == key.id) {
                return Err(KeyError::Duplicate(key.id.clone()));
            }
        }
        Ok(Self { keys })
    }

    /// The name of the key new values are sealed with.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals `plaintext` bound to `context` with the newest key.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Sealed, OpenError> {
        let key = &self.keys[0];
        let mut in_out = plaintext.to_vec();
        let nonce =
            key.key.seal_in_place_append_tag(Aad::from(context), &mut in_out).map_err(|_| OpenError::Corrupt)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + in_out.len());
        blob.extend_from_slice(nonce.as_ref());
        blob.extend_from_slice(&in_out);
        Ok(Sealed { key_id: key.id.clone(), blob })
    }

    /// Opens `sealed`, which must have been sealed with the same `context`.
    pub fn open(&self, sealed: &Sealed, context: &[u8]) -> Result<Vec<u8>, OpenError> {
        let key = self
            .keys
            .iter()
            .find(|key| key.id == sealed.key_id)
            .ok_or_else(|| OpenError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.blob.len() < NONCE_LEN {
            return Err(OpenError::Corrupt);
        }
        let (nonce, ciphertext) = sealed.blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Corrupt)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext =
            key.key.open_in_place(nonce, Aad::from(context), &mut in_out).map_err(|_| OpenError::Corrupt)?;
        Ok(plaintext.to_vec())
    }

    /// Whether `sealed` should be sealed again: it names a key other than the newest.
    pub fn needs_resealing(&self, sealed: &Sealed) -> bool {
        sealed.key_id != self.current_key_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, fill: u8) -> NamedKey {
        NamedKey::new(id, &[fill; KEY_BYTES]).expect("key")
    }

    #[test]
    fn a_value_opens_with_its_key_and_context_only() {
        let keys = SecretBox::new(vec![key("k1", 1)]).expect("box");
        let sealed = keys.seal(b"the seed", b"factor-1").expect("sealed");

        assert_eq!(sealed.key_id, "k1");
        assert_eq!(sealed.blob.len(), NONCE_LEN + b"the seed".len() + 16);
        assert_eq!(keys.open(&sealed, b"factor-1").expect("opens"), b"the seed");
        assert_eq!(keys.open(&sealed, b"factor-2"), Err(OpenError::Corrupt), "copied onto another row");
        let mut damaged = sealed.clone();
        damaged.blob[NONCE_LEN] ^= 1;
        assert_eq!(keys.open(&damaged, b"factor-1"), Err(OpenError::Corrupt));
        let truncated = Sealed { key_id: "k1".into(), blob: vec![0; 5] };
        assert_eq!(keys.open(&truncated, b"factor-1"), Err(OpenError::Corrupt));
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let keys = SecretBox::new(vec![key("k1", 1)]).expect("box");
        let one = keys.seal(b"same", b"ctx").expect("sealed");
        let two = keys.seal(b"same", b"ctx").expect("sealed");
        assert_ne!(one.blob, two.blob);
    }

    #[test]
    fn rotation_opens_old_values_and_seals_new_ones_with_the_newest_key() {
        let old = SecretBox::new(vec![key("k1", 1)]).expect("box");
        let sealed_before = old.seal(b"seed", b"ctx").expect("sealed");
        let rotated = SecretBox::new(vec![key("k2", 2), key("k1", 1)]).expect("box");

        assert_eq!(rotated.open(&sealed_before, b"ctx").expect("opens"), b"seed");
        assert!(rotated.needs_resealing(&sealed_before));
        let resealed = rotated.seal(b"seed", b"ctx").expect("sealed");
        assert_eq!(resealed.key_id, "k2");
        assert!(!rotated.needs_resealing(&resealed));

        let dropped = SecretBox::new(vec![key("k2", 2)]).expect("box");
        assert_eq!(dropped.open(&sealed_before, b"ctx"), Err(OpenError::UnknownKey("k1".into())));
    }

    #[test]
    fn bad_keys_are_refused_and_never_shown() {
        assert_eq!(NamedKey::new("", &[0; 32]).map(drop), Err(KeyError::BadId(String::new())));
        assert_eq!(NamedKey::new("a b", &[0; 32]).map(drop), Err(KeyError::BadId("a b".into())));
        assert_eq!(NamedKey::new("k", &[0; 16]).map(drop), Err(KeyError::BadLength("k".into())));
        assert_eq!(SecretBox::new(vec![]).map(drop), Err(KeyError::Empty));
        assert_eq!(SecretBox::new(vec![key("k", 1), key("k", 2)]).map(drop), Err(KeyError::Duplicate("k".into())));
        assert_eq!(format!("{:?}", key("k9", 7)), "NamedKey(k9, ..)");
    }
}
