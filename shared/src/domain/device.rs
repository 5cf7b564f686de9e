//! A short device description from a `User-Agent`, for the session list ("Firefox on Linux").

/// Longest user agent kept, in bytes; longer values are truncated (on a character boundary).
pub const MAX_USER_AGENT_BYTES: usize = 512;

/// What the session list shows when the user agent says nothing recognisable, or is missing
/// (the seed's words).
pub const UNKNOWN_DEVICE: &str = "Unknown Device";

/// Describes the browser and platform of a user agent, or [`UNKNOWN_DEVICE`].
pub fn describe_or_unknown(user_agent: Option<&str>) -> String {
    user_agent.and_then(describe).unwrap_or_else(|| UNKNOWN_DEVICE.to_owned())
}

/// Describes the browser and platform of a user agent; `None` when nothing is recognised.
pub fn describe(user_agent: &str) -> Option<String> {
    const BROWSERS: [(&str, &str); 7] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("okhttp", "Android app"),
    ];
    const PLATFORMS: [(&str, &str); 6] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let browser = BROWSERS.iter().find(|(marker, _)| user_agent.contains(marker)).map(|(_, name)| *name);
    let platform = PLATFORMS.iter().find(|(marker, _)| user_agent.contains(marker)).map(|(_, name)| *name);
    match (browser, platform) {
        (Some(browser), Some(platform)) => Some(format!("{browser} on {platform}")),
        (Some(only), None) | (None, Some(only)) => Some(only.to_owned()),
        (None, None) => None,
    }
}

/// Truncates a user agent to [`MAX_USER_AGENT_BYTES`].
pub fn truncate(user_agent: &str) -> String {
    let mut end = user_agent.len().min(MAX_USER_AGENT_BYTES);
    while !user_agent.is_char_boundary(end) {
        end -= 1;
    }
    user_agent[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_agents_are_described() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(describe(firefox).as_deref(), Some("Firefox on Linux"));
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36";
        assert_eq!(describe(chrome).as_deref(), Some("Chrome on Windows"));
        assert_eq!(describe("curl/8.5.0").as_deref(), Some("curl"));
        assert_eq!(describe("???"), None);
        assert_eq!(describe_or_unknown(Some("Python-urllib/3.11")), UNKNOWN_DEVICE);
        assert_eq!(describe_or_unknown(None), UNKNOWN_DEVICE);
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        let long = "é".repeat(400);
        let cut = truncate(&long);
        assert!(cut.len() <= MAX_USER_AGENT_BYTES);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
