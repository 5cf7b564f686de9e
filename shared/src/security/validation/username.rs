//! Usernames, by the seed's rules and messages: control characters dropped and whitespace
//! trimmed first, then 3–30 characters of ASCII letters, digits, `_` and `-`, not starting or
//! ending with `_`/`-`, no two of them in a row, not a reserved word. Case is kept and uniqueness
//! is case-sensitive, as in the seed.

use super::RuleViolation;

/// Names that could impersonate the service or its staff, compared case-insensitively.
const RESERVED: &[&str] = &[
    "admin",
    "administrator",
    "root",
    "system",
    "sysadmin",
    "superuser",
    "moderator",
    "mod",
    "staff",
    "support",
    "help",
    "helpdesk",
    "info",
    "contact",
    "security",
    "official",
    "owner",
    "webmaster",
    "postmaster",
    "hostmaster",
    "abuse",
    "noreply",
    "no-reply",
    "mail",
    "email",
    "www",
    "api",
    "auth",
    "login",
    "logout",
    "register",
    "signup",
    "account",
    "accounts",
    "user",
    "users",
    "me",
    "null",
    "undefined",
    "none",
    "anonymous",
    "guest",
    "test",
    "billing",
    "status",
    "settings",
    "docs",
    // the rest of the seed's 25
    "api_v1",
    "testing",
    "dev",
    "development",
    "prod",
    "production",
    "staging",
    "beta",
    "alpha",
    "about",
];

/// The control characters the seed removes before any rule (tab, newline and carriage return
/// stay: they are trimmed at the ends and refused inside).
fn is_dropped_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{7F}')
}

/// Smallest and largest allowed length, in characters.
pub const LENGTH: std::ops::RangeInclusive<usize> = 3..=30;

/// A username that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Checks `raw` after the seed's clean-up: control characters dropped, whitespace trimmed.
    pub fn parse(raw: &str) -> Result<Self, RuleViolation> {
        let cleaned: String = raw.chars().filter(|&c| !is_dropped_control(c)).collect();
        let name = cleaned.trim();
        let length = name.chars().count();
        let rule = |message: &str| Err(RuleViolation::new(message));
        if length < *LENGTH.start() {
            return rule("Username must be at least 3 characters long");
        }
        if length > *LENGTH.end() {
            return rule("Username must be less than 30 characters");
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return rule("Username can only contain letters, numbers, underscores, and hyphens");
        }
        let separator = |c: char| c == '_' || c == '-';
        if name.starts_with(separator) {
            return rule("Username cannot start with underscore or hyphen");
        }
        if name.ends_with(separator) {
            return rule("Username cannot end with underscore or hyphen");
        }
        if name.as_bytes().windows(2).any(|pair| separator(pair[0].into()) && separator(pair[1].into())) {
            return rule("Username cannot contain consecutive underscores or hyphens");
        }
        if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
            return rule("Username is reserved and cannot be used");
        }
        Ok(Self(name.to_owned()))
    }

    /// The username as given (case kept).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(raw: &str) -> String {
        Username::parse(raw).expect_err(raw).message
    }

    #[test]
    fn valid_usernames_keep_their_case() {
        assert_eq!(Username::parse(" Jane_Doe-42 ").expect("valid").as_str(), "Jane_Doe-42");
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(30)).is_ok());
    }

    #[test]
    fn each_rule_has_the_seeds_message() {
        assert_eq!(message("ab"), "Username must be at least 3 characters long");
        assert_eq!(message(&"a".repeat(31)), "Username must be less than 30 characters");
        assert_eq!(message("jane doe"), "Username can only contain letters, numbers, underscores, and hyphens");
        assert_eq!(message("jane<script>"), "Username can only contain letters, numbers, underscores, and hyphens");
        assert_eq!(message("jané"), "Username can only contain letters, numbers, underscores, and hyphens");
        assert_eq!(message("jane.doe"), "Username can only contain letters, numbers, underscores, and hyphens");
        assert_eq!(message("ja\tne"), "Username can only contain letters, numbers, underscores, and hyphens");
        assert_eq!(message("_jane"), "Username cannot start with underscore or hyphen");
        assert_eq!(message("-jane"), "Username cannot start with underscore or hyphen");
        assert_eq!(message("jane_"), "Username cannot end with underscore or hyphen");
        assert_eq!(message("ja__ne"), "Username cannot contain consecutive underscores or hyphens");
        assert_eq!(message("ja-_ne"), "Username cannot contain consecutive underscores or hyphens");
        assert_eq!(message("Admin"), "Username is reserved and cannot be used");
        assert_eq!(message("ROOT"), "Username is reserved and cannot be used");
    }

    #[test]
    fn the_seeds_reserved_words_are_all_reserved() {
        let seed = [
            "admin",
            "administrator",
            "root",
            "system",
            "user",
            "users",
            "api",
            "api_v1",
            "auth",
            "login",
            "logout",
            "register",
            "test",
            "testing",
            "dev",
            "development",
            "prod",
            "production",
            "staging",
            "beta",
            "alpha",
            "help",
            "support",
            "info",
            "about",
        ];
        for word in seed {
            assert!(RESERVED.contains(&word), "{word}");
        }
    }

    #[test]
    fn control_characters_are_dropped_and_whitespace_trimmed_first() {
        assert_eq!(Username::parse("user\u{0}name").expect("valid").as_str(), "username");
        assert_eq!(Username::parse("us\u{7}er\u{1F}name\u{7F}").expect("valid").as_str(), "username");
        assert_eq!(Username::parse("\t\n\r testuser \t\n\r").expect("valid").as_str(), "testuser");
        assert_eq!(Username::parse("\u{2000}testuser\u{2005}").expect("valid").as_str(), "testuser");
        assert_eq!(message("\u{0}\u{1}ab"), "Username must be at least 3 characters long");
    }
}
