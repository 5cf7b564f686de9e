//! Email addresses: a pragmatic RFC 5321 subset, stored trimmed and lowercased, with throwaway
//! domains refused (the seed's rules).

use std::collections::HashSet;
use std::sync::LazyLock;

use super::{RuleViolation, is_forbidden_char};

/// Domains of disposable-mail services, bundled at build time (see the file's header for its source).
static DISPOSABLE_DOMAINS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../../data/disposable-email-domains.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// The seed's own list, refused whatever the bundled list holds: clients of the seed rely on it.
const SEED_DISPOSABLE_DOMAINS: [&str; 6] =
    ["10minutemail.com", "guerrillamail.com", "tempmail.org", "mailinator.com", "throwaway.email", "temp-mail.org"];

/// A syntactically valid, normalised (trimmed, lowercased), non-disposable email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Checks and normalises `raw` for a new account: syntax, and not a disposable domain.
    pub fn parse(raw: &str) -> Result<Self, RuleViolation> {
        let email = Self::parse_address(raw)?;
        if is_disposable(email.domain()) {
            return Err(RuleViolation::new("Disposable email addresses are not allowed"));
        }
        Ok(email)
    }

    /// Checks an address that names an existing account (login, resend, forgot-password,
    /// request-deletion) as the seed does: syntax, and not one of the seed's six disposable
    /// domains. Not the whole bundled list: it grows between releases, and an account registered
    /// before its domain was added must still be able to sign in and reset its password.
    pub fn parse_existing(raw: &str) -> Result<Self, RuleViolation> {
        let email = Self::parse_address(raw)?;
        if in_list(email.domain(), |domain| SEED_DISPOSABLE_DOMAINS.contains(&domain)) {
            return Err(RuleViolation::new("Disposable email addresses are not allowed"));
        }
        Ok(email)
    }

    /// Checks and normalises the syntax only, for routes that look an existing account up
    /// (they must answer every well-formed address the same way).
    pub fn parse_address(raw: &str) -> Result<Self, RuleViolation> {
        let email = raw.trim().to_lowercase();
        let invalid = |reason: &str| RuleViolation::new(format!("value is not a valid email address: {reason}"));
        if email.is_empty() {
            return Err(invalid("An email address cannot be empty."));
        }
        if email.chars().any(|c| is_forbidden_char(c) || c.is_whitespace()) {
            return Err(invalid("The email address contains invalid characters."));
        }
        if email.len() > 254 {
            return Err(invalid("The email address is too long."));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(invalid("An email address must have an @-sign."));
        };
        if domain.contains('@') {
            return Err(invalid("The email address must have exactly one @-sign."));
        }
        if !valid_local_part(local) {
            return Err(invalid("The part before the @-sign is not valid."));
        }
        if !valid_domain(domain) {
            return Err(invalid("The part after the @-sign is not a valid domain name."));
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`, e.g. to keep it out of a password.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }

    /// The part after the `@`.
    fn domain(&self) -> &str {
        self.0.split('@').nth(1).unwrap_or_default()
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn valid_local_part(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-.";
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_alphanumeric() || SPECIALS.contains(c))
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let tld = labels.last().copied().unwrap_or_default();
    labels.len() >= 2
        && domain.len() <= 253
        && tld.chars().count() >= 2
        && !tld.chars().all(|c| c.is_ascii_digit())
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

/// A domain is disposable when it or any parent domain is on the list (`x.mailinator.com`).
fn is_disposable(domain: &str) -> bool {
    in_list(domain, |domain| DISPOSABLE_DOMAINS.contains(domain) || SEED_DISPOSABLE_DOMAINS.contains(&domain))
}

/// Whether `domain` or one of its parent domains (down to a second-level one) is `listed`.
fn in_list(domain: &str, listed: impl Fn(&str) -> bool) -> bool {
    let mut rest = domain;
    loop {
        if listed(rest) {
            return true;
        }
        match rest.split_once('.') {
            Some((_, parent)) if parent.contains('.') => rest = parent,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses_are_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Alice.Smith+tag@Example.COM ").expect("valid").as_str(),
            "alice.smith+tag@example.com"
        );
        assert_eq!(Email::parse("bob@sub.example.co.uk").expect("valid").local_part(), "bob");
    }

    #[test]
    fn malformed_addresses_are_refused_with_the_pydantic_prefix() {
        for raw in [
            "",
            "plainaddress",
            "a@b@c.com",
            "@example.com",
            "user@",
            "user@localhost",
            "user@example.c",
            "user@example.123",
            ".user@example.com",
            "us..er@example.com",
            "user@-example.com",
            "user@exam_ple.com",
            "us er@example.com",
            "user\0@example.com",
            "user@exa\u{200B}mple.com",
        ] {
            let error = Email::parse(raw).expect_err(raw);
            assert!(error.message.starts_with("value is not a valid email address: "), "{raw:?}: {error}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn disposable_domains_and_their_subdomains_are_refused() {
        for raw in ["someone@mailinator.com", "someone@eu.mailinator.com", "x@YOPMAIL.com"] {
            assert_eq!(Email::parse(raw).expect_err(raw).message, "Disposable email addresses are not allowed");
        }
    }

    #[test]
    fn the_seeds_six_disposable_domains_are_refused_with_their_subdomains() {
        for domain in SEED_DISPOSABLE_DOMAINS {
            for raw in [format!("someone@{domain}"), format!("someone@mx.{}", domain.to_uppercase())] {
                assert_eq!(Email::parse(&raw).expect_err(&raw).message, "Disposable email addresses are not allowed");
            }
        }
    }

    #[test]
    fn login_refuses_only_the_seeds_six_so_a_grown_list_locks_nobody_out() {
        assert_eq!(Email::parse_existing(" Jane@Example.com ").expect("valid").as_str(), "jane@example.com");
        assert!(Email::parse_existing("jane@eu.mailinator.com").is_err());
        assert!(Email::parse_existing("not-an-email").is_err());
        assert_eq!(Email::parse_existing("x@YOPMAIL.com").expect("on the bundled list only").as_str(), "x@yopmail.com");
    }

    #[test]
    fn address_syntax_alone_accepts_disposable_domains() {
        assert_eq!(Email::parse_address("x@mailinator.com").expect("syntax ok").as_str(), "x@mailinator.com");
        assert!(Email::parse_address("nope").is_err());
    }

    #[test]
    fn bundled_disposable_list_is_substantial() {
        assert!(DISPOSABLE_DOMAINS.len() > 1000, "only {} domains", DISPOSABLE_DOMAINS.len());
    }
}
