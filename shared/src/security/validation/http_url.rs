//! An absolute `http://` or `https://` URL, as the settings that name an endpoint need it.

use super::RuleViolation;

/// A URL with an http(s) scheme and a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(String);

impl HttpUrl {
    /// Checks `raw`: the scheme, a non-empty host, no whitespace.
    pub fn parse(raw: &str) -> Result<Self, RuleViolation> {
        let url = raw.trim();
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
        let host = rest.map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
        match host {
            Some(host) if !host.is_empty() && !url.contains(char::is_whitespace) => Ok(Self(url.to_owned())),
            _ => Err(RuleViolation::new("must be an http:// or https:// URL")),
        }
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL without its trailing slashes, for a base that paths are appended to.
    pub fn base(&self) -> &str {
        self.0.trim_end_matches('/')
    }

    /// The URL as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_urls_with_a_host_pass_and_bases_lose_their_trailing_slash() {
        let url = HttpUrl::parse("https://app.example.com/").expect("valid");
        assert_eq!((url.as_str(), url.base()), ("https://app.example.com/", "https://app.example.com"));
        assert_eq!(
            HttpUrl::parse("http://127.0.0.1:5055").map(HttpUrl::into_string),
            Ok("http://127.0.0.1:5055".into())
        );
        for bad in ["ftp://x", "https://", "https:///path", "app.example.com", "https://a b", ""] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad:?}");
        }
    }
}
