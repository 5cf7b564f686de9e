//! A key for digests only this deployment can compute (HMAC-SHA256), derived from the
//! token-signing key so that operators have no further secret to create, store and rotate.
//!
//! Used where a plain hash would leak what it hides (a dump of login counters keyed by the
//! SHA-256 of an address tells which addresses were tried) or where the server must recompute
//! a value later without storing it (the successor of a refresh token replayed in its grace window).

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What a keyed digest is for: digests of one purpose never equal those of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The key of an unknown address's login back-off counter.
    UnknownEmailLogins,
    /// The successor of a rotated refresh token, recomputed for a replay in the grace window.
    RefreshSuccessor,
    /// The key of a recipient's unsolicited-mail counter.
    MailRecipient,
    /// The stored form of a passwordless sign-in code, bound to its link's token.
    SignInCode,
    /// The stored form of a second-factor recovery code.
    RecoveryCode,
    /// The default key that seals second-factor secrets when none is configured.
    MfaSecretKey,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::UnknownEmailLogins => b"unknown-email-logins",
            Self::RefreshSuccessor => b"refresh-successor",
            Self::MailRecipient => b"mail-recipient",
            Self::SignInCode => b"sign-in-code",
            Self::RecoveryCode => b"recovery-code",
            Self::MfaSecretKey => b"mfa-secret-key",
        }
    }
}

/// 256-bit HMAC key; its `Debug` never shows it.
#[derive(Clone)]
pub struct ServerKey([u8; 32]);

impl ServerKey {
    /// Derives the key from secret key material (the JWT shared secret or private key PEM).
    pub fn derive_from(material: &[u8]) -> Self {
        Self(mac(b"serverless-auth server key v1", &[material]))
    }

    /// The keyed digest of `data` for `purpose`.
    pub fn digest(&self, purpose: Purpose, data: &[u8]) -> [u8; 32] {
        mac(&self.0, &[purpose.label(), &[0], data])
    }
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKey(..)")
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    #[allow(clippy::expect_used)] // HMAC takes keys of any length; the error cannot happen
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_depend_on_the_key_the_purpose_and_the_data() {
        let key = ServerKey::derive_from(b"a secret of at least thirty-two bytes");
        let other_key = ServerKey::derive_from(b"another secret of thirty-two bytes");
        let digest = key.digest(Purpose::UnknownEmailLogins, b"jane@example.com");

        assert_eq!(digest, key.digest(Purpose::UnknownEmailLogins, b"jane@example.com"), "deterministic");
        assert_ne!(digest, other_key.digest(Purpose::UnknownEmailLogins, b"jane@example.com"));
        assert_ne!(digest, key.digest(Purpose::RefreshSuccessor, b"jane@example.com"));
        assert_ne!(digest, key.digest(Purpose::UnknownEmailLogins, b"john@example.com"));
        assert_ne!(&digest[..], &crate::security::tokens::hash("jane@example.com")[..], "not the plain SHA-256");
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        assert_eq!(format!("{:?}", ServerKey::derive_from(b"secret")), "ServerKey(..)");
    }
}
