//! Settings a deployed service must not start with: a front end or a browser origin that is plain
//! `http` or the reader's own machine (mail links would take a reset token to whatever listens on
//! the reader's `localhost`, in clear), or a sender at a reserved example domain (every mail
//! would bounce or land in spam, so nobody could verify an account).
//!
//! Local development keeps its `localhost` defaults: the checks apply in production and staging,
//! and on Lambda unless `ENVIRONMENT=development` is set explicitly (a development stack, or
//! cargo-lambda's local emulator, which sets Lambda's variables too).

use super::ConfigError;

/// True when the settings describe a deployment the public reaches.
pub(super) fn is_deployed(environment_setting: Option<&str>, on_lambda: bool) -> bool {
    match environment_setting {
        Some("production" | "staging") => true,
        Some(_) => false,
        None => on_lambda,
    }
}

/// The values [`refuse_local_settings`] checks, with the variable each came from.
pub(super) struct PublicSettings<'a> {
    pub(super) frontend_url: &'a str,
    pub(super) cors_origins: &'a [String],
    pub(super) mail_from: (&'static str, &'a str),
}

/// The first unsafe setting, as the error start-up stops with.
pub(super) fn refuse_local_settings(settings: &PublicSettings<'_>) -> Result<(), ConfigError> {
    if let Some(problem) = url_problem(settings.frontend_url) {
        return Err(ConfigError::new(
            "FRONTEND_URL",
            format!("{problem} ({:?}); mail links must reach your web app over https", settings.frontend_url),
        ));
    }
    for origin in settings.cors_origins {
        if let Some(problem) = url_problem(origin) {
            return Err(ConfigError::new(
                "BACKEND_CORS_ORIGINS",
                format!("has {origin:?}, which {problem}; list your web app's public https origins"),
            ));
        }
    }
    let (mail_var, mail_from) = settings.mail_from;
    if let Some(domain) = reserved_mail_domain(mail_from) {
        return Err(ConfigError::new(
            mail_var,
            format!("sends from the reserved domain {domain:?}; use a sender verified in SES"),
        ));
    }
    Ok(())
}

/// Why `url` cannot be a deployment's public address, if it cannot.
fn url_problem(url: &str) -> Option<&'static str> {
    let Ok(uri) = url.parse::<http::Uri>() else { return Some("is not a URL") };
    if uri.scheme_str() != Some("https") {
        return Some("is not https");
    }
    let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    let local = host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
    local.then_some("points at the reader's own machine")
}

/// The RFC 2606 / RFC 6761 reserved domain `mailbox` sends from, if it does.
fn reserved_mail_domain(mailbox: &str) -> Option<String> {
    let address = mailbox.rsplit('<').next().unwrap_or(mailbox).trim_end_matches('>').trim();
    let domain = address.rsplit_once('@').map(|(_, domain)| domain.to_ascii_lowercase())?;
    let reserved = ["example.com", "example.net", "example.org", "example", "localhost", "test", "invalid"]
        .iter()
        .any(|name| domain == *name || domain.ends_with(&format!(".{name}")));
    reserved.then_some(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(frontend_url: &str, origins: &[&str], mail_from: &str) -> Result<(), ConfigError> {
        let cors_origins: Vec<String> = origins.iter().map(|origin| (*origin).to_owned()).collect();
        refuse_local_settings(&PublicSettings {
            frontend_url,
            cors_origins: &cors_origins,
            mail_from: ("MAIL_FROM", mail_from),
        })
    }

    const GOOD_SENDER: &str = "Acme <noreply@mail.acme.dev>";

    #[test]
    fn public_https_settings_pass() {
        check("https://app.acme.dev", &["https://app.acme.dev", "https://admin.acme.dev:8443"], GOOD_SENDER)
            .expect("public settings");
    }

    #[test]
    fn local_or_plain_http_front_ends_and_origins_are_refused_by_name() {
        for url in [
            "http://app.acme.dev",
            "https://localhost:3000",
            "https://127.0.0.1",
            "https://[::1]:8080",
            "https://web.localhost",
            "https://0.0.0.0",
        ] {
            let error = check(url, &["https://app.acme.dev"], GOOD_SENDER).expect_err(url);
            assert_eq!(error.var, "FRONTEND_URL", "{url}");
            let error = check("https://app.acme.dev", &["https://app.acme.dev", url], GOOD_SENDER).expect_err(url);
            assert_eq!(error.var, "BACKEND_CORS_ORIGINS", "{url}");
            assert!(error.to_string().contains(url), "{error}");
        }
    }

    #[test]
    fn a_sender_at_a_reserved_domain_is_refused() {
        for sender in
            ["Serverless Auth <noreply@localhost>", "noreply@example.com", "X <a@mail.EXAMPLE.org>", "a@shop.test"]
        {
            let error = check("https://app.acme.dev", &[], sender).expect_err(sender);
            assert_eq!(error.var, "MAIL_FROM", "{sender}");
        }
        check("https://app.acme.dev", &[], "noreply@example-shop.com").expect("not a reserved name");
    }

    #[test]
    fn only_an_explicit_development_environment_relaxes_the_checks_on_lambda() {
        assert!(is_deployed(Some("production"), false));
        assert!(is_deployed(Some("staging"), false));
        assert!(is_deployed(None, true), "a Lambda function with no ENVIRONMENT");
        assert!(!is_deployed(Some("development"), true));
        assert!(!is_deployed(None, false), "local development");
    }
}
