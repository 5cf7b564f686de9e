//! Access tokens: short-lived JWTs bound to a session (`sid`).
//!
//! Signed with HS256 from `JWT_SECRET`, or with RS256/ES256 from `JWT_PRIVATE_KEY`; in the
//! asymmetric case the public key is published as a JWKS so an API Gateway JWT authorizer can
//! verify tokens without calling us. Verification accepts exactly the algorithm of the key the
//! `kid` names (no `none`, no HS/RS confusion), checks signature, `exp`, `nbf`, `iss` and `aud`;
//! callers must still check that the session is live, which is what makes revocation immediate.
//!
//! Key rotation: the previous key (`JWT_PREVIOUS_PRIVATE_KEY`) stays in the JWKS and keeps
//! verifying the tokens it signed until they expire, so a rotation signs nobody out.

use std::fmt;

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::server_key::ServerKey;
use crate::domain::assurance::Assurance;

/// Seconds of clock skew tolerated between the signer and the verifier.
const LEEWAY_SECONDS: u64 = 5;
/// Shortest accepted HS256 secret: 256 bits, the hash's own strength.
pub const MIN_SECRET_BYTES: usize = 32;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// The user's id.
    pub sub: Uuid,
    /// The user's email at issue time (informational; the database is the authority).
    pub email: String,
    /// The session this token belongs to; revoking the session revokes the token.
    pub sid: Uuid,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not valid before (Unix seconds), equal to `iat`.
    pub nbf: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Issuer (`JWT_ISSUER`).
    pub iss: String,
    /// Audience (`JWT_AUDIENCE`).
    pub aud: String,
    /// Unique token id, for audit trails.
    pub jti: Uuid,
    /// Assurance level of the session: `aal1`, or `aal2` once a second factor was checked.
    /// Informational for other services; our own checks read the session row.
    #[serde(default = "level_one")]
    pub aal: String,
    /// How the session's user authenticated (`pwd`, `email`, `oauth`, `totp`, `recovery_code`).
    #[serde(default)]
    pub amr: Vec<String>,
}

fn level_one() -> String {
    "aal1".to_owned()
}

/// Why a key could not be loaded; reported as a configuration error naming the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// `JWT_SECRET` is shorter than [`MIN_SECRET_BYTES`].
    #[error("must be at least {MIN_SECRET_BYTES} bytes long (e.g. `openssl rand -base64 48`)")]
    SecretTooShort,
    /// `JWT_PRIVATE_KEY` is not a PEM RSA (PKCS#1/PKCS#8) or P-256 (PKCS#8) private key.
    #[error("must be a PEM RSA private key or a PKCS#8 P-256 private key")]
    UnsupportedKey,
    /// `JWT_PREVIOUS_PRIVATE_KEY` without `JWT_PRIVATE_KEY`: a shared secret is never published.
    #[error("needs JWT_PRIVATE_KEY (a previous key only applies to published keys)")]
    PreviousWithoutPrivateKey,
    /// `JWT_PREVIOUS_PRIVATE_KEY` equal to `JWT_PRIVATE_KEY`.
    #[error("is the same key as JWT_PRIVATE_KEY")]
    PreviousIsCurrent,
}

/// Why a presented token was refused. Clients only ever see one generic 401.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Past `exp`.
    #[error("token expired")]
    Expired,
    /// Anything else: malformed, wrong algorithm or key id, bad signature, wrong issuer/audience.
    #[error("token invalid: {0}")]
    Invalid(String),
    /// Signing failed (a key problem on our side).
    #[error("token signing failed: {0}")]
    Signing(String),
}

/// Signing and verification keys plus the claims every token carries.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    current: VerifyingKey,
    previous: Option<VerifyingKey>,
    issuer: String,
    audience: String,
    ttl_seconds: i64,
    server_key: ServerKey,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("algorithm", &self.current.algorithm)
            .field("key_id", &self.current.key_id)
            .field("previous_key_id", &self.previous.as_ref().map(|key| &key.key_id))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl_seconds", &self.ttl_seconds)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// HS256 keys from a shared secret.
    pub fn from_secret(secret: &[u8], issuer: &str, audience: &str, ttl_seconds: i64) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::SecretTooShort);
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            current: VerifyingKey {
                algorithm: Algorithm::HS256,
                decoding: DecodingKey::from_secret(secret),
                key_id: None,
                public_jwk: None,
                validation: Validation::new(Algorithm::HS256),
            }
            .expecting(issuer, audience),
            previous: None,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl_seconds,
            server_key: ServerKey::derive_from(secret),
        })
    }

    /// RS256 or ES256 keys from a PEM private key; the algorithm follows the key type. The key
    /// id is the key's RFC 7638 thumbprint, so rotating the key changes it.
    pub fn from_private_pem(pem: &[u8], issuer: &str, audience: &str, ttl_seconds: i64) -> Result<Self, KeyError> {
        let (encoding, current) = VerifyingKey::from_private_pem(pem)?;
        Ok(Self {
            encoding,
            current: current.expecting(issuer, audience),
            previous: None,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl_seconds,
            server_key: ServerKey::derive_from(pem),
        })
    }

    /// The key for keyed digests, derived from the signing key (see [`ServerKey`]).
    pub fn server_key(&self) -> &ServerKey {
        &self.server_key
    }

    /// Keeps verifying (and publishing) the key that signed tokens before a rotation. Only the
    /// public half is kept. Refused for a shared secret and for the current key itself.
    pub fn with_previous_pem(mut self, pem: &[u8]) -> Result<Self, KeyError> {
        if self.current.public_jwk.is_none() {
            return Err(KeyError::PreviousWithoutPrivateKey);
        }
        let (_, previous) = VerifyingKey::from_private_pem(pem)?;
        if previous.key_id == self.current.key_id {
            return Err(KeyError::PreviousIsCurrent);
        }
        self.previous = Some(previous.expecting(&self.issuer, &self.audience));
        Ok(self)
    }

    /// Lifetime of an access token, in seconds (`expires_in` of the login response).
    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    /// The signing algorithm in use.
    pub fn algorithm(&self) -> Algorithm {
        self.current.algorithm
    }

    /// The issuer every token carries.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public keys as a JWKS, when signing is asymmetric (never for a shared secret): the
    /// current key first, then the previous one during a rotation.
    pub fn jwks(&self) -> Option<JwkSet> {
        let current = self.current.public_jwk.clone()?;
        let previous = self.previous.as_ref().and_then(|key| key.public_jwk.clone());
        Some(JwkSet { keys: std::iter::once(current).chain(previous).collect() })
    }

    /// Signs an access token for `user_id` in session `session_id`, of the session's assurance.
    pub fn issue(
        &self,
        user_id: Uuid,
        email: &str,
        session_id: Uuid,
        assurance: &Assurance,
        now: DateTime<Utc>,
    ) -> Result<(String, AccessClaims), TokenError> {
        let iat = now.timestamp();
        let claims = AccessClaims {
            sub: user_id,
            email: email.to_owned(),
            sid: session_id,
            iat,
            nbf: iat,
            exp: iat + self.ttl_seconds,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: Uuid::new_v4(),
            aal: assurance.level().to_owned(),
            amr: assurance.amr.clone(),
        };
        let mut header = Header::new(self.current.algorithm);
        header.kid.clone_from(&self.current.key_id);
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|error| TokenError::Signing(error.to_string()))?;
        Ok((token, claims))
    }

    /// Verifies a presented token and returns its claims.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|error| TokenError::Invalid(error.to_string()))?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.key_id == header.kid)
            .ok_or_else(|| TokenError::Invalid("unknown key id".into()))?;
        if header.alg != key.algorithm {
            return Err(TokenError::Invalid(format!("algorithm {:?} not accepted", header.alg)));
        }
        jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &key.validation).map(|data| data.claims).map_err(
            |error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(error.to_string()),
            },
        )
    }
}

/// One key that verifies tokens: its algorithm, `kid` and, when asymmetric, its public JWK.
#[derive(Clone)]
struct VerifyingKey {
    algorithm: Algorithm,
    decoding: DecodingKey,
    key_id: Option<String>,
    public_jwk: Option<Jwk>,
    /// What a token verified with this key must satisfy; built once, not per request.
    validation: Validation,
}

impl VerifyingKey {
    /// The key, checking tokens for this issuer and audience, with the clock leeway.
    fn expecting(mut self, issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        self.validation = validation;
        self
    }

    /// The signing key and its public half from a PEM private key; the algorithm follows the key
    /// type. The key id is the key's RFC 7638 thumbprint, so rotating the key changes it.
    fn from_private_pem(pem: &[u8]) -> Result<(EncodingKey, Self), KeyError> {
        let (algorithm, encoding, mut jwk) = [Algorithm::RS256, Algorithm::ES256]
            .into_iter()
            .find_map(|algorithm| {
                let encoding = match algorithm {
                    Algorithm::RS256 => EncodingKey::from_rsa_pem(pem).ok()?,
                    _ => EncodingKey::from_ec_pem(pem).ok()?,
                };
                let jwk = Jwk::from_encoding_key(&encoding, algorithm).ok()?;
                Some((algorithm, encoding, jwk))
            })
            .ok_or(KeyError::UnsupportedKey)?;
        let key_id = jwk.thumbprint(ThumbprintHash::SHA256).map_err(|_| KeyError::UnsupportedKey)?;
        jwk.common.key_id = Some(key_id.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| KeyError::UnsupportedKey)?;
        let validation = Validation::new(algorithm);
        Ok((encoding, Self { algorithm, decoding, key_id: Some(key_id), public_jwk: Some(jwk), validation }))
    }
}

#[cfg(test)]
mod tests;
