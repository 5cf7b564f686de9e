//! The keys that seal TOTP secrets, newest first.
//!
//! The key named `default` is derived from `MFA_ENCRYPTION_KEY` (a random string of at least 32
//! characters; the SAM stack generates one in a secret of its own that no deploy rewrites), or,
//! without it, from `JWT_SECRET` (`JWT_PRIVATE_KEY` when there is no shared secret), which is
//! fine locally but not deployed: a re-rendered stack secret gets a new `JWT_SECRET`.
//!
//! `MFA_ENCRYPTION_KEYS` lists the keys explicitly (deployed, in the MFA key's own secret, which
//! no deploy rewrites): each entry is `id:base64` (32 bytes of key material) or the word
//! `default`; unset, the default key alone is used. To rotate, put a new key in front and keep
//! the old ones listed:
//! a secret opened with an older key is sealed again with the newest on its next use, and an
//! old key can go once no factor names it (`select key_id, count(*) from mfa_factors group by 1`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::ConfigError;
use crate::security::secret_box::{NamedKey, SecretBox};
use crate::security::server_key::{Purpose, ServerKey};

const VAR: &str = "MFA_ENCRYPTION_KEYS";
const MATERIAL_VAR: &str = "MFA_ENCRYPTION_KEY";
/// Shortest `MFA_ENCRYPTION_KEY`: as random as the key it derives only if it has this many
/// random characters.
const MIN_MATERIAL_CHARS: usize = 32;
/// The name the derived key is listed and stored under.
pub(super) const DEFAULT_KEY_ID: &str = "default";

/// The settings the keys come from.
pub(super) struct KeySettings<'a> {
    /// `MFA_ENCRYPTION_KEYS`.
    pub(super) keys: Option<&'a str>,
    /// `MFA_ENCRYPTION_KEY`.
    pub(super) material: Option<&'a str>,
    /// `JWT_SECRET`, else `JWT_PRIVATE_KEY`.
    pub(super) jwt_material: Option<&'a [u8]>,
}

impl KeySettings<'_> {
    /// Whether the keys survive a re-render of the stack secret (they do not depend on the JWT).
    pub(super) fn are_explicit(&self) -> bool {
        self.material.is_some()
            || self.keys.is_some_and(|keys| !keys.split(',').any(|key| key.trim() == DEFAULT_KEY_ID))
    }
}

/// The keys from the settings, or the default key alone; `None` without any key material (no
/// JWT key either: the service cannot sign anyone in then anyway).
pub(super) fn parse(settings: &KeySettings<'_>) -> Result<Option<SecretBox>, ConfigError> {
    if let Some(material) = settings.material
        && material.chars().count() < MIN_MATERIAL_CHARS
    {
        return Err(ConfigError::new(
            MATERIAL_VAR,
            format!("must be at least {MIN_MATERIAL_CHARS} random characters (e.g. `openssl rand -base64 48`)"),
        ));
    }
    let default_material = settings.material.map(str::as_bytes).or(settings.jwt_material);
    let derived = || {
        let material = default_material
            .ok_or_else(|| ConfigError::new(VAR, "lists `default`, which needs MFA_ENCRYPTION_KEY or JWT_SECRET"))?;
        let key = ServerKey::derive_from(material).digest(Purpose::MfaSecretKey, &[]);
        NamedKey::new(DEFAULT_KEY_ID, &key).map_err(|error| ConfigError::new(VAR, error.to_string()))
    };
    let Some(setting) = settings.keys else {
        return match default_material {
            None => Ok(None),
            Some(_) => boxed(vec![derived()?]).map(Some),
        };
    };
    let keys = setting
        .split(',')
        .map(str::trim)
        .map(|entry| match entry.split_once(':') {
            None if entry == DEFAULT_KEY_ID => derived(),
            None => Err(ConfigError::new(VAR, format!("entry {entry:?} is neither `id:base64` nor `default`"))),
            Some((id, encoded)) => {
                let material = STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| ConfigError::new(VAR, format!("key {id:?} is not base64")))?;
                NamedKey::new(id.trim(), &material).map_err(|error| ConfigError::new(VAR, error.to_string()))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    boxed(keys).map(Some)
}

fn boxed(keys: Vec<NamedKey>) -> Result<SecretBox, ConfigError> {
    SecretBox::new(keys).map_err(|error| ConfigError::new(VAR, error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes

    const MATERIAL: &str = "0123456789abcdefghijklmnopqrstuvwxyz";

    fn settings<'a>(keys: Option<&'a str>, material: Option<&'a str>, jwt: Option<&'a [u8]>) -> KeySettings<'a> {
        KeySettings { keys, material, jwt_material: jwt }
    }

    #[test]
    fn unset_means_the_derived_key_and_nothing_without_material() {
        let keys = parse(&settings(None, None, Some(b"a-jwt-secret"))).expect("parsed").expect("keys");
        assert_eq!(keys.current_key_id(), DEFAULT_KEY_ID);
        assert!(parse(&settings(None, None, None)).expect("parsed").is_none());
        assert!(!settings(None, None, Some(b"a-jwt-secret")).are_explicit());
        assert!(settings(None, Some(MATERIAL), None).are_explicit());
    }

    #[test]
    fn the_key_material_setting_wins_over_the_jwt_secret() {
        let from_material = parse(&settings(None, Some(MATERIAL), Some(b"jwt"))).expect("parsed").expect("keys");
        let sealed = from_material.seal(b"totp secret", b"factor").expect("sealed");
        let from_jwt = parse(&settings(None, None, Some(b"jwt"))).expect("parsed").expect("keys");
        assert!(from_jwt.open(&sealed, b"factor").is_err());
        let again = parse(&settings(None, Some(MATERIAL), Some(b"other jwt"))).expect("parsed").expect("keys");
        assert_eq!(again.open(&sealed, b"factor").expect("opens"), b"totp secret", "the JWT secret plays no part");
        let short = parse(&settings(None, Some("short"), None)).expect_err("refused");
        assert_eq!(short.var, MATERIAL_VAR);
    }

    #[test]
    fn a_new_key_in_front_opens_what_the_default_sealed() {
        let old = parse(&settings(None, Some(MATERIAL), None)).expect("parsed").expect("keys");
        let sealed = old.seal(b"totp secret", b"factor").expect("sealed");
        let listed = format!("k2:{KEY}, default");
        let rotated = parse(&settings(Some(&listed), Some(MATERIAL), None)).expect("parsed").expect("keys");
        assert_eq!(rotated.current_key_id(), "k2");
        assert_eq!(rotated.open(&sealed, b"factor").expect("opens"), b"totp secret");
        assert!(rotated.needs_resealing(&sealed));
    }

    #[test]
    fn bad_entries_name_the_variable() {
        for bad in ["k1", "k1:not-base64!", "k1:MDEy", &format!("k1:{KEY},k1:{KEY}"), "default", " "] {
            let error = parse(&settings(Some(bad), None, None)).err().unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert_eq!(error.var, VAR, "{bad:?}");
        }
    }
}
