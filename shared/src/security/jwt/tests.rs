//! Signing round trips and the attacks a verifier must refuse.

use super::*;
use crate::domain::assurance::PASSWORD;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use serde_json::json;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-only";
const RSA_PEM: &str = include_str!("../../../tests/keys/test-rsa-private.pem");
const RSA_PUBLIC_PEM: &str = include_str!("../../../tests/keys/test-rsa-public.pem");
const OTHER_RSA_PEM: &str = include_str!("../../../tests/keys/test-rsa-other-private.pem");
const EC_PEM: &str = include_str!("../../../tests/keys/test-ec-private.pem");

fn hs() -> JwtKeys {
    JwtKeys::from_secret(SECRET, "issuer", "audience", 900).expect("keys")
}

fn rs() -> JwtKeys {
    JwtKeys::from_private_pem(RSA_PEM.as_bytes(), "issuer", "audience", 900).expect("keys")
}

fn issue(keys: &JwtKeys) -> (String, AccessClaims) {
    keys.issue(Uuid::new_v4(), "jane@example.com", Uuid::new_v4(), &Assurance::first_factor(PASSWORD), Utc::now())
        .expect("token")
}

/// Builds a token by hand: `header` and `claims` as JSON, signed with HS256 under `secret`
/// (or unsigned when `secret` is None).
fn forge(header: &serde_json::Value, claims: &serde_json::Value, secret: Option<&[u8]>) -> String {
    use jsonwebtoken::crypto::sign;
    let head = URL_SAFE_NO_PAD.encode(header.to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let message = format!("{head}.{body}");
    let signature = match secret {
        Some(secret) => sign(message.as_bytes(), &EncodingKey::from_secret(secret), Algorithm::HS256).expect("sign"),
        None => String::new(),
    };
    format!("{message}.{signature}")
}

fn valid_claims() -> serde_json::Value {
    let now = Utc::now().timestamp();
    json!({"sub": Uuid::new_v4(), "email": "x@example.com", "sid": Uuid::new_v4(), "iat": now, "nbf": now,
           "exp": now + 600, "iss": "issuer", "aud": "audience", "jti": Uuid::new_v4()})
}

#[test]
fn hs256_round_trip_keeps_every_claim() {
    let keys = hs();
    let (token, claims) = issue(&keys);
    assert_eq!(keys.verify(&token).expect("valid"), claims);
    assert_eq!(claims.exp - claims.iat, 900);
    assert!(keys.jwks().is_none(), "a shared secret is never published");
}

#[test]
fn rs256_and_es256_round_trip_and_publish_a_jwks_with_the_kid() {
    for (pem, algorithm) in [(RSA_PEM, Algorithm::RS256), (EC_PEM, Algorithm::ES256)] {
        let keys = JwtKeys::from_private_pem(pem.as_bytes(), "issuer", "audience", 900).expect("keys");
        assert_eq!(keys.algorithm(), algorithm);
        let (token, claims) = issue(&keys);
        assert_eq!(keys.verify(&token).expect("valid"), claims);
        let header = jsonwebtoken::decode_header(&token).expect("header");
        let jwks = keys.jwks().expect("jwks");
        assert_eq!(header.kid.as_deref(), jwks.keys[0].common.key_id.as_deref());
        let published = serde_json::to_value(&jwks).expect("json");
        assert!(published["keys"][0].get("d").is_none(), "private key material must not be published");
    }
}

#[test]
fn short_secrets_and_bad_pems_are_refused() {
    assert_eq!(JwtKeys::from_secret(b"short", "i", "a", 900).expect_err("short"), KeyError::SecretTooShort);
    assert_eq!(JwtKeys::from_private_pem(b"not a pem", "i", "a", 900).expect_err("bad"), KeyError::UnsupportedKey);
    assert_eq!(
        JwtKeys::from_private_pem(RSA_PUBLIC_PEM.as_bytes(), "i", "a", 900).expect_err("public"),
        KeyError::UnsupportedKey
    );
}

#[test]
fn alg_none_is_refused() {
    let token = forge(&json!({"alg": "none", "typ": "JWT"}), &valid_claims(), None);
    assert!(matches!(hs().verify(&token), Err(TokenError::Invalid(_))));
    assert!(matches!(rs().verify(&token), Err(TokenError::Invalid(_))));
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let kid = rs().current.key_id.clone();
    let token =
        forge(&json!({"alg": "HS256", "typ": "JWT", "kid": kid}), &valid_claims(), Some(RSA_PUBLIC_PEM.as_bytes()));
    assert!(matches!(rs().verify(&token), Err(TokenError::Invalid(_))));
}

#[test]
fn tokens_of_another_key_or_kid_are_refused() {
    let other = JwtKeys::from_private_pem(OTHER_RSA_PEM.as_bytes(), "issuer", "audience", 900).expect("keys");
    let (token, _) = issue(&other);
    assert!(matches!(rs().verify(&token), Err(TokenError::Invalid(_))));

    let (token, _) = issue(&JwtKeys::from_secret(&[7u8; 40], "issuer", "audience", 900).expect("keys"));
    assert!(matches!(hs().verify(&token), Err(TokenError::Invalid(_))));

    let token = forge(&json!({"alg": "HS256", "typ": "JWT", "kid": "other"}), &valid_claims(), Some(SECRET));
    assert!(matches!(hs().verify(&token), Err(TokenError::Invalid(_))));
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused() {
    let keys = hs();
    let (old, _) = keys
        .issue(
            Uuid::new_v4(),
            "x@example.com",
            Uuid::new_v4(),
            &Assurance::first_factor(PASSWORD),
            Utc::now() - Duration::hours(1),
        )
        .expect("t");
    assert_eq!(keys.verify(&old), Err(TokenError::Expired));

    let (future, _) = keys
        .issue(
            Uuid::new_v4(),
            "x@example.com",
            Uuid::new_v4(),
            &Assurance::first_factor(PASSWORD),
            Utc::now() + Duration::hours(1),
        )
        .expect("t");
    assert!(matches!(keys.verify(&future), Err(TokenError::Invalid(_))));
}

#[test]
fn wrong_issuer_or_audience_or_missing_claims_are_refused() {
    let keys = hs();
    for (field, value) in [("iss", json!("someone-else")), ("aud", json!("other-api"))] {
        let mut claims = valid_claims();
        claims[field] = value;
        let token = forge(&json!({"alg": "HS256", "typ": "JWT"}), &claims, Some(SECRET));
        assert!(matches!(keys.verify(&token), Err(TokenError::Invalid(_))), "{field}");
    }
    for missing in ["iss", "aud", "sub", "exp", "nbf"] {
        let mut claims = valid_claims();
        claims.as_object_mut().expect("object").remove(missing);
        let token = forge(&json!({"alg": "HS256", "typ": "JWT"}), &claims, Some(SECRET));
        assert!(keys.verify(&token).is_err(), "token without {missing} accepted");
    }
}

#[test]
fn tampered_claims_break_the_signature() {
    let keys = hs();
    let (token, claims) = issue(&keys);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut forged = serde_json::to_value(&claims).expect("json");
    forged["sub"] = json!(Uuid::new_v4());
    parts[1] = URL_SAFE_NO_PAD.encode(forged.to_string());
    assert!(matches!(keys.verify(&parts.join(".")), Err(TokenError::Invalid(_))));
}

#[test]
fn garbage_is_refused_without_panicking() {
    for token in ["", ".", "..", "a.b.c", "not a token", "\0\0\0", "eyJhbGciOiJIUzI1NiJ9..."] {
        assert!(hs().verify(token).is_err(), "{token:?}");
    }
}

#[test]
fn after_a_rotation_tokens_of_the_previous_key_verify_until_it_is_dropped() {
    let old = rs();
    let (old_token, old_claims) = issue(&old);
    let rotated = JwtKeys::from_private_pem(EC_PEM.as_bytes(), "issuer", "audience", 900)
        .expect("new key")
        .with_previous_pem(RSA_PEM.as_bytes())
        .expect("previous key");

    assert_eq!(rotated.verify(&old_token).expect("previous key still verifies"), old_claims);
    let (new_token, new_claims) = issue(&rotated);
    assert_eq!(rotated.verify(&new_token).expect("current key"), new_claims);
    assert!(matches!(old.verify(&new_token), Err(TokenError::Invalid(_))), "the old key knows nothing new");

    let jwks = rotated.jwks().expect("published");
    let kids: Vec<_> = jwks.keys.iter().map(|key| key.common.key_id.clone().expect("kid")).collect();
    assert_eq!(kids.len(), 2, "current and previous keys are both published");
    assert_eq!(Some(&kids[1]), old.jwks().expect("old").keys[0].common.key_id.as_ref());

    let dropped = JwtKeys::from_private_pem(EC_PEM.as_bytes(), "issuer", "audience", 900).expect("new key");
    assert!(matches!(dropped.verify(&old_token), Err(TokenError::Invalid(_))));
    let other = JwtKeys::from_private_pem(OTHER_RSA_PEM.as_bytes(), "issuer", "audience", 900).expect("keys");
    assert!(matches!(rotated.verify(&issue(&other).0), Err(TokenError::Invalid(_))), "a third key is unknown");
}

#[test]
fn the_previous_key_only_verifies_with_its_own_algorithm() {
    let rotated = JwtKeys::from_private_pem(EC_PEM.as_bytes(), "issuer", "audience", 900)
        .expect("new key")
        .with_previous_pem(RSA_PEM.as_bytes())
        .expect("previous key");
    let previous_kid = rotated.jwks().expect("published").keys[1].common.key_id.clone().expect("kid");
    // HS256 signed with the previous key's public modulus under its kid: the classic confusion.
    let token = forge(
        &json!({"alg": "HS256", "typ": "JWT", "kid": previous_kid}),
        &valid_claims(),
        Some(RSA_PUBLIC_PEM.as_bytes()),
    );
    assert!(matches!(rotated.verify(&token), Err(TokenError::Invalid(_))));
}

#[test]
fn a_previous_key_needs_a_published_current_key_and_must_differ_from_it() {
    assert_eq!(hs().with_previous_pem(RSA_PEM.as_bytes()).expect_err("hs"), KeyError::PreviousWithoutPrivateKey);
    assert_eq!(rs().with_previous_pem(RSA_PEM.as_bytes()).expect_err("same"), KeyError::PreviousIsCurrent);
    assert_eq!(rs().with_previous_pem(b"garbage").expect_err("garbage"), KeyError::UnsupportedKey);
}
