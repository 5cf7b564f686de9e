//! The refresh-token cookie (DESIGN §4): HttpOnly, scoped to `/api/v1/auth`, `SameSite=Lax`,
//! `Secure` when configured. Set and cleared with identical attributes so browsers match them.

use http::HeaderValue;

use crate::config::Config;

/// Cookie name, as in the seed.
pub const REFRESH_COOKIE: &str = "refresh_token";
/// The only path the browser sends the cookie to.
pub const REFRESH_COOKIE_PATH: &str = "/api/v1/auth";

/// `Set-Cookie` value carrying a new refresh token for the session's lifetime.
pub fn set_refresh(config: &Config, token: &str) -> HeaderValue {
    let max_age = u64::from(config.refresh_token_days) * 86_400;
    build(config, token, max_age)
}

/// `Set-Cookie` value that deletes the refresh cookie.
pub fn clear_refresh(config: &Config) -> HeaderValue {
    build(config, "", 0)
}

fn build(config: &Config, value: &str, max_age: u64) -> HeaderValue {
    let secure = if config.cookie_secure { "; Secure" } else { "" };
    let cookie = format!(
        "{REFRESH_COOKIE}={value}; HttpOnly; Path={REFRESH_COOKIE_PATH}; SameSite=Lax; Max-Age={max_age}{secure}"
    );
    // Tokens are URL-safe base64, so the value is always a valid header.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("refresh_token=; Max-Age=0"))
}
