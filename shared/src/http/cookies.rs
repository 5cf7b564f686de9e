//! The refresh-token cookie: HttpOnly, scoped to `/api/v1/auth`, `SameSite=Lax`,
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

/// `Set-Cookie` value that deletes the refresh cookie (`Max-Age=0`, and a past `Expires` for
/// clients that only read that, as the seed sends).
pub fn clear_refresh(config: &Config) -> HeaderValue {
    build(config, "", 0)
}

fn build(config: &Config, value: &str, max_age: u64) -> HeaderValue {
    let secure = if config.cookie_secure { "; Secure" } else { "" };
    let expired = if max_age == 0 { "; Expires=Thu, 01 Jan 1970 00:00:00 GMT" } else { "" };
    let cookie = format!(
        "{REFRESH_COOKIE}={value}; HttpOnly; Path={REFRESH_COOKIE_PATH}; SameSite=Lax; Max-Age={max_age}{expired}{secure}"
    );
    // Tokens are URL-safe base64, so the value is always a valid header.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("refresh_token=; Max-Age=0"))
}

/// The refresh token from a request's `Cookie` headers, if any.
pub fn read_refresh(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == REFRESH_COOKIE && !value.is_empty())
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_refresh_cookie_among_others() {
        let mut headers = http::HeaderMap::new();
        headers.append(http::header::COOKIE, HeaderValue::from_static("theme=dark; refresh_token=abc_-1; x=y"));
        assert_eq!(read_refresh(&headers), Some("abc_-1"));
        headers.clear();
        headers.append(http::header::COOKIE, HeaderValue::from_static("refresh_token=; other=1"));
        assert_eq!(read_refresh(&headers), None);
        assert_eq!(read_refresh(&http::HeaderMap::new()), None);
    }
}
