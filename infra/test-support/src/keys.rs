//! The test signing keys (kept in `shared/tests/keys`, see the README there) and a local JWKS, for
//! tests of asymmetric tokens and of Google/Apple sign-in without reaching the providers.

use std::net::SocketAddr;

/// An RSA private key: signs RS256 access tokens and the ID tokens of the local JWKS.
pub const RSA_PEM: &str = include_str!("../../../shared/tests/keys/test-rsa-private.pem");

/// The public half of [`RSA_PEM`].
pub const RSA_PUBLIC_PEM: &str = include_str!("../../../shared/tests/keys/test-rsa-public.pem");

/// An EC (P-256) private key: signs ES256 access tokens.
pub const EC_PEM: &str = include_str!("../../../shared/tests/keys/test-ec-private.pem");

/// Another RSA private key, published nowhere: what a forger would sign with.
pub const OTHER_RSA_PEM: &str = include_str!("../../../shared/tests/keys/test-rsa-other-private.pem");

/// Serves the public half of [`RSA_PEM`] as a JWKS at `/jwks` on a free local port; returns the
/// URL and the key id that ID tokens must name.
pub async fn serve_jwks() -> (String, String) {
    let keys = shared::security::jwt::JwtKeys::from_private_pem(RSA_PEM.as_bytes(), "x", "x", 60).expect("keys");
    let jwks = keys.jwks().expect("asymmetric");
    let kid = jwks.keys[0].common.key_id.clone().expect("kid");
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind");
    let address = listener.local_addr().expect("address");
    let app = axum::Router::new().route("/jwks", axum::routing::get(move || async move { axum::Json(jwks) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/jwks"), kid)
}
