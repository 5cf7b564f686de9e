//! Password rules. `seed` (default) is the template's policy: 8–128 characters with upper- and
//! lowercase letters, a digit and a special character. `nist` follows NIST SP 800-63B: length
//! only (8–128), no composition rules. Both refuse the bundled list of common passwords and
//! passwords equal to the account's username or email name.

use std::collections::HashSet;
use std::sync::LazyLock;

use super::RuleViolation;

/// The special characters the seed's policy asks for (one of them is enough): the seed's set,
/// which also counts quotes, backslash and slash although its message does not list them.
pub(crate) const SPECIAL_CHARACTERS: &str = "!@#$%^&*()_+-=[]{};':\"\\|,.<>/?";

/// The seed's message for a password without one of [`SPECIAL_CHARACTERS`], word for word.
const SPECIAL_CHARACTER_RULE: &str =
    "Password must contain at least one special character (!@#$%^&*()_+-=[]{}|;:,.<>?)";

/// Shortest and longest accepted password, in characters.
pub const LENGTH: std::ops::RangeInclusive<usize> = 8..=128;

/// 30,000 most common passwords, lowercased (source in the file's header). Loaded on first use,
/// so functions that never check a new password never pay for it.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../../data/common-passwords.txt")
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with("# "))
        .collect()
});

/// A composition rule: a character test and the message shown when no character passes it.
type CharRule = (fn(char) -> bool, &'static str);

/// Which rule set new passwords must satisfy (`PASSWORD_POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordPolicy {
    /// The seed's composition rules.
    #[default]
    Seed,
    /// NIST SP 800-63B: length and blocklist only.
    Nist,
}

/// Checks a new password. `context` holds words the password must not be (username, email
/// name), compared case-insensitively.
pub fn check_password(password: &str, policy: PasswordPolicy, context: &[&str]) -> Result<(), RuleViolation> {
    let length = password.chars().count();
    if length < *LENGTH.start() {
        return Err(RuleViolation::new(format!("Password must be at least {} characters long", LENGTH.start())));
    }
    if length > *LENGTH.end() {
        return Err(RuleViolation::new(format!("Password must be less than {} characters", LENGTH.end())));
    }
    if password.contains('\0') {
        return Err(RuleViolation::new("Password must not contain NUL characters"));
    }
    if policy == PasswordPolicy::Seed {
        let rules: [CharRule; 4] = [
            (char::is_uppercase, "Password must contain at least one uppercase letter"),
            (char::is_lowercase, "Password must contain at least one lowercase letter"),
            (|c| c.is_ascii_digit(), "Password must contain at least one number"),
            (|c| SPECIAL_CHARACTERS.contains(c), SPECIAL_CHARACTER_RULE),
        ];
        for (has, message) in rules {
            if !password.chars().any(has) {
                return Err(RuleViolation::new(message));
            }
        }
    }
    let lowered = password.to_lowercase();
    if COMMON_PASSWORDS.contains(lowered.as_str()) {
        return Err(RuleViolation::new("Password is too common, please choose a stronger password"));
    }
    if context.iter().any(|word| !word.is_empty() && word.to_lowercase() == lowered) {
        return Err(RuleViolation::new("Password must not be the same as your username or email"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_message(password: &str) -> String {
        check_password(password, PasswordPolicy::Seed, &[]).expect_err(password).message
    }

    #[test]
    fn a_strong_password_passes_both_policies() {
        assert!(check_password("Correct-Horse-42", PasswordPolicy::Seed, &["jane"]).is_ok());
        assert!(check_password("correct horse battery staple", PasswordPolicy::Nist, &["jane"]).is_ok());
    }

    #[test]
    fn each_seed_rule_has_its_message() {
        assert_eq!(seed_message("Ab1!"), "Password must be at least 8 characters long");
        assert_eq!(seed_message(&format!("Ab1!{}", "x".repeat(125))), "Password must be less than 128 characters");
        assert_eq!(seed_message("lowercase1!"), "Password must contain at least one uppercase letter");
        assert_eq!(seed_message("UPPERCASE1!"), "Password must contain at least one lowercase letter");
        assert_eq!(seed_message("NoDigits!!"), "Password must contain at least one number");
        assert_eq!(seed_message("NoSpecial123"), SPECIAL_CHARACTER_RULE);
        for special in ["'", "\"", "\\", "/"] {
            assert!(check_password(&format!("NoSpecial123{special}"), PasswordPolicy::Seed, &[]).is_ok(), "{special}");
        }
        for not_special in [" ", "`", "~"] {
            assert_eq!(seed_message(&format!("NoSpecial123{not_special}")), SPECIAL_CHARACTER_RULE, "{not_special:?}");
        }
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(check_password("Ünïcödé1!", PasswordPolicy::Seed, &[]).is_ok());
        assert_eq!(seed_message("Éé1!Éé1"), "Password must be at least 8 characters long");
    }

    #[test]
    fn common_passwords_are_refused_case_insensitively_under_both_policies() {
        for password in ["password", "PASSWORD1", "iloveyou", "qwertyuiop"] {
            let message = check_password(password, PasswordPolicy::Nist, &[]).expect_err(password).message;
            assert_eq!(message, "Password is too common, please choose a stronger password");
        }
        assert!(COMMON_PASSWORDS.len() >= 10_000);
    }

    #[test]
    fn nist_policy_has_no_composition_rules() {
        assert!(check_password("alllowercaseletters", PasswordPolicy::Nist, &[]).is_ok());
        assert!(check_password("short", PasswordPolicy::Nist, &[]).is_err());
    }

    #[test]
    fn password_equal_to_the_username_is_refused() {
        let message =
            check_password("Jane_Doe-42!", PasswordPolicy::Seed, &["jane_doe-42!"]).expect_err("same").message;
        assert_eq!(message, "Password must not be the same as your username or email");
    }

    #[test]
    fn nul_bytes_are_refused() {
        assert!(check_password("Abcdefg1!\0", PasswordPolicy::Seed, &[]).is_err());
    }
}
