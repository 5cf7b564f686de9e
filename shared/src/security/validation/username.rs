//! Usernames: 3–30 characters of letters, digits, `_` and `-`, starting with a letter or digit,
//! not a reserved word. Case is kept and uniqueness is case-sensitive, as in the seed.

use super::{RuleViolation, is_forbidden_char};

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
];

/// Smallest and largest allowed length, in characters.
pub(crate) const LENGTH: std::ops::RangeInclusive<usize> = 3..=30;

/// A username that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Checks `raw` (surrounding whitespace is trimmed first).
    pub fn parse(raw: &str) -> Result<Self, RuleViolation> {
        let name = raw.trim();
        let length = name.chars().count();
        if length < *LENGTH.start() {
            return Err(RuleViolation::new(format!("Username must be at least {} characters long", LENGTH.start())));
        }
        if length > *LENGTH.end() {
            return Err(RuleViolation::new(format!("Username must be at most {} characters long", LENGTH.end())));
        }
        if name.chars().any(is_forbidden_char)
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(RuleViolation::new("Username can only contain letters, numbers, underscores, and hyphens"));
        }
        if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(RuleViolation::new("Username must start with a letter or number"));
        }
        if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(RuleViolation::new("This username is reserved"));
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
    fn each_rule_has_its_message() {
        assert_eq!(message("ab"), "Username must be at least 3 characters long");
        assert_eq!(message(&"a".repeat(31)), "Username must be at most 30 characters long");
        assert_eq!(message("jane doe"), "Username can only contain letters, numbers, underscores, and hyphens");
        assert_eq!(message("jane<script>"), "Username can only contain letters, numbers, underscores, and hyphens");
        assert_eq!(message("jané"), "Username can only contain letters, numbers, underscores, and hyphens");
        assert_eq!(message("ja\0ne"), "Username can only contain letters, numbers, underscores, and hyphens");
        assert_eq!(message("_jane"), "Username must start with a letter or number");
        assert_eq!(message("Admin"), "This username is reserved");
        assert_eq!(message("ROOT"), "This username is reserved");
    }
}
