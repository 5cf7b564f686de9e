//! Verifying Google and Apple ID tokens for "Sign in with …".
//!
//! The client sends the provider's ID token; it is trusted only after its signature checks out
//! against the provider's published keys (JWKS, fetched over HTTPS and cached for an hour, and
//! re-fetched at most once a minute when a token names an unknown key), and its `iss`, `aud`
//! (our client id), `exp` and `email_verified` are right. The JWKS URLs are configurable so tests
//! can serve a local key set.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::adapters::json_fetch;

/// A supported identity provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Google Sign-In.
    Google,
    /// Sign in with Apple.
    Apple,
}

/// Read case-insensitively (`GOOGLE` is `google`), with the seed's message for anything else.
impl<'de> Deserialize<'de> for Provider {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        match name.trim().to_lowercase().as_str() {
            "google" => Ok(Self::Google),
            "apple" => Ok(Self::Apple),
            _ => Err(serde::de::Error::custom("Provider must be 'google' or 'apple'")),
        }
    }
}

impl Provider {
    /// Lowercase name, as stored and as clients send it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Apple => "apple",
        }
    }

    /// Name for messages.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Google => "Google",
            Self::Apple => "Apple",
        }
    }

    fn issuers(self) -> &'static [&'static str] {
        match self {
            Self::Google => &["https://accounts.google.com", "accounts.google.com"],
            Self::Apple => &["https://appleid.apple.com"],
        }
    }
}

/// Where a provider's keys are and which audience its tokens must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// Our OAuth client id at the provider (`GOOGLE_CLIENT_ID`, `APPLE_CLIENT_ID`).
    pub client_id: String,
    /// The provider's JWKS URL (`GOOGLE_JWKS_URL`, `APPLE_JWKS_URL`).
    pub jwks_url: String,
}

/// What a verified ID token says about the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The provider's stable user id (`sub`).
    pub subject: String,
    /// Verified email address, lowercased.
    pub email: String,
}

/// Why an ID token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// This deployment has no client id for the provider.
    #[error("provider not configured")]
    NotConfigured,
    /// Bad signature, wrong issuer/audience, expired, malformed...
    #[error("invalid ID token: {0}")]
    Invalid(String),
    /// A valid token that lacks what an account needs: a subject and a verified email.
    #[error("ID token without usable user info: {0}")]
    MissingUserInfo(&'static str),
    /// The provider's keys could not be fetched.
    #[error("provider keys unavailable: {0}")]
    KeysUnavailable(String),
}

#[derive(Debug, Deserialize)]
struct IdTokenClaims {
    sub: String,
    email: Option<String>,
    /// A boolean at Google, sometimes the string "true" at Apple.
    email_verified: Option<serde_json::Value>,
}

#[derive(Debug)]
struct CachedKeys {
    fetched_at: Instant,
    keys: JwkSet,
}

/// How long a key fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The providers' key sets are a few KiB; anything much bigger is not one.
const MAX_KEYS_BYTES: usize = 256 * 1024;
/// How long fetched keys are trusted.
const KEYS_TTL: Duration = Duration::from_secs(3600);
/// Shortest interval between two fetches caused by unknown key ids (protects the provider and us).
const REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// Verifies ID tokens; one per process, shared by all requests.
#[derive(Debug)]
pub struct IdTokenVerifier {
    google: Option<ProviderConfig>,
    apple: Option<ProviderConfig>,
    cache: Mutex<HashMap<Provider, CachedKeys>>,
}

impl IdTokenVerifier {
    /// A verifier for the configured providers. Does no I/O.
    pub fn new(google: Option<ProviderConfig>, apple: Option<ProviderConfig>) -> Self {
        Self { google, apple, cache: Mutex::new(HashMap::new()) }
    }

    /// The providers this deployment accepts.
    pub fn configured(&self) -> Vec<Provider> {
        [(Provider::Google, &self.google), (Provider::Apple, &self.apple)]
            .into_iter()
            .filter(|(_, config)| config.is_some())
            .map(|(provider, _)| provider)
            .collect()
    }

    fn config(&self, provider: Provider) -> Option<&ProviderConfig> {
        match provider {
            Provider::Google => self.google.as_ref(),
            Provider::Apple => self.apple.as_ref(),
        }
    }

    /// Checks `token` as an ID token of `provider` for our client id.
    pub async fn verify(&self, provider: Provider, token: &str) -> Result<VerifiedIdentity, OidcError> {
        let config = self.config(provider).ok_or(OidcError::NotConfigured)?;
        let invalid = |reason: String| OidcError::Invalid(reason);
        let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid(format!("algorithm {:?} not accepted", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| invalid("no key id".into()))?;
        let jwk = self.key(provider, config, &kid).await?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| invalid(e.to_string()))?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = 30;
        validation.set_issuer(provider.issuers());
        validation.set_audience(&[&config.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims =
            jsonwebtoken::decode::<IdTokenClaims>(token, &key, &validation).map_err(|e| invalid(e.to_string()))?.claims;

        let verified = match claims.email_verified {
            Some(serde_json::Value::Bool(verified)) => verified,
            Some(serde_json::Value::String(text)) => text == "true",
            _ => false,
        };
        let email = claims.email.map(|email| email.trim().to_lowercase()).filter(|email| email.contains('@'));
        match (email, verified) {
            (Some(email), true) if !claims.sub.is_empty() => Ok(VerifiedIdentity { subject: claims.sub, email }),
            (Some(_), true) => Err(OidcError::MissingUserInfo("empty subject")),
            _ => Err(OidcError::MissingUserInfo("email missing or not verified")),
        }
    }

    async fn key(&self, provider: Provider, config: &ProviderConfig, kid: &str) -> Result<Jwk, OidcError> {
        let (cached, stale_for_unknown) = {
            let cache = self.cache.lock().map_err(|_| OidcError::KeysUnavailable("key cache poisoned".into()))?;
            match cache.get(&provider) {
                Some(entry) if entry.fetched_at.elapsed() < KEYS_TTL => {
                    (entry.keys.find(kid).cloned(), entry.fetched_at.elapsed() >= REFETCH_INTERVAL)
                }
                _ => (None, true),
            }
        };
        if let Some(jwk) = cached {
            return Ok(jwk);
        }
        if !stale_for_unknown {
            return Err(OidcError::Invalid("unknown key id".into()));
        }
        let keys = self.fetch(&config.jwks_url).await?;
        let found = keys.find(kid).cloned();
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(provider, CachedKeys { fetched_at: Instant::now(), keys });
        }
        found.ok_or_else(|| OidcError::Invalid("unknown key id".into()))
    }

    async fn fetch(&self, url: &str) -> Result<JwkSet, OidcError> {
        json_fetch::get_json(url, FETCH_TIMEOUT, MAX_KEYS_BYTES)
            .await
            .map_err(|error| OidcError::KeysUnavailable(error.to_string()))
    }
}
