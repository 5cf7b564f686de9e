//! Property tests of everything that reads untrusted input: arbitrary input never panics and is
//! refused or normalised; valid input round-trips. Each property runs `CASES` generated cases.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use chrono::Utc;
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use shared::domain::assurance::{Assurance, PASSWORD};
use shared::domain::{device, ws};
use shared::http::{client_ip, cookies};
use shared::jobs::message::{Envelope, Job};
use shared::security::jwt::JwtKeys;
use shared::security::tokens;
use shared::security::validation::{Email, PasswordPolicy, Username, check_password};
use uuid::Uuid;

const CASES: u32 = 1000;

fn config() -> ProptestConfig {
    ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() }
}

/// Text with the characters parsers trip on: quotes, separators, controls, NUL, multi-byte.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                Just('"'),
                Just('\\'),
                Just('\0'),
                Just('\r'),
                Just('\n'),
                Just(';'),
                Just(','),
                Just('='),
                Just('@'),
                Just('.'),
                Just(' '),
                Just('{'),
                Just('}'),
                Just('é'),
                Just('\u{202e}'),
                Just('\u{200b}'),
                any::<char>(),
                proptest::char::range('a', 'z'),
            ],
            0..80,
        )
        .prop_map(|chars| chars.into_iter().collect()),
    ]
}

proptest! {
    #![proptest_config(config())]

    // ------------------------------------------------------------------------------ validation

    #[test]
    fn email_parsing_never_panics_and_its_result_is_normal(raw in hostile_text()) {
        if let Ok(email) = Email::parse_address(&raw) {
            let text = email.as_str();
            prop_assert_eq!(text, text.trim());
            prop_assert_eq!(text.to_lowercase(), text);
            prop_assert!(text.len() <= 254);
            prop_assert_eq!(text.matches('@').count(), 1);
            prop_assert!(!text.chars().any(|c| c.is_control() || c.is_whitespace()));
            // Normalising twice changes nothing.
            prop_assert_eq!(Email::parse_address(text).expect("a normal address parses"), email.clone());
        }
        let _ = Email::parse(&raw);
    }

    #[test]
    fn well_formed_emails_are_accepted_in_any_case_and_padding(
        local in "[a-z0-9]{1,20}(\\.[a-z0-9_+-]{1,10})?",
        domain in "[a-z0-9]{1,15}(-[a-z0-9]{1,5})?\\.(com|org|io|de)",
        upper in any::<bool>(),
        pad in "[ \t]{0,3}",
    ) {
        let address = format!("{local}@{domain}");
        let presented = if upper { address.to_uppercase() } else { address.clone() };
        let email = Email::parse_address(&format!("{pad}{presented}{pad}")).expect("valid address");
        prop_assert_eq!(email.as_str(), address.as_str());
        prop_assert_eq!(email.local_part(), local.as_str());
    }

    #[test]
    fn username_parsing_never_panics_and_accepts_only_the_allowed_alphabet(raw in hostile_text()) {
        if let Ok(name) = Username::parse(&raw) {
            let text = name.as_str();
            prop_assert!((3..=30).contains(&text.chars().count()));
            prop_assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
            prop_assert_eq!(Username::parse(text).expect("stable"), name.clone());
        }
    }

    #[test]
    fn valid_usernames_round_trip(name in "[a-z0-9][a-z0-9_-]{2,29}") {
        // Reserved words are the only valid-looking names refused.
        if let Ok(parsed) = Username::parse(&name) {
            prop_assert_eq!(parsed.as_str(), name.as_str());
        }
    }

    #[test]
    fn password_checks_never_panic(password in hostile_text(), context in hostile_text(), nist in any::<bool>()) {
        let policy = if nist { PasswordPolicy::Nist } else { PasswordPolicy::Seed };
        if check_password(&password, policy, &[&context]).is_ok() {
            prop_assert!((8..=128).contains(&password.chars().count()));
            prop_assert!(!password.contains('\0'));
        }
    }

    // ------------------------------------------------------------------------------ tokens

    #[test]
    fn only_token_shaped_strings_are_looked_up(presented in hostile_text()) {
        if tokens::is_well_formed(&presented) {
            prop_assert_eq!(presented.len(), 43);
            prop_assert!(presented.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
        // Hashing takes anything.
        prop_assert_eq!(tokens::hash(&presented), tokens::hash(&presented));
    }

    #[test]
    fn issued_tokens_are_well_formed_and_hash_to_their_stored_digest(_round in 0u8..4) {
        let issued = tokens::issue().expect("randomness");
        prop_assert!(tokens::is_well_formed(&issued.secret));
        prop_assert_eq!(tokens::hash(&issued.secret), issued.hash);
    }

    #[test]
    fn arbitrary_bearer_strings_are_refused_without_panicking(token in hostile_text()) {
        prop_assert!(hs_keys().verify(&token).is_err());
    }

    #[test]
    fn any_single_character_change_breaks_an_access_token(position in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9_.-]") {
        let keys = hs_keys();
        let (token, _) = keys.issue(Uuid::new_v4(), "jane@example.com", Uuid::new_v4(), &Assurance::first_factor(PASSWORD), Utc::now()).expect("token");
        let index = position.index(token.len());
        let mut tampered = token.clone();
        tampered.replace_range(index..=index, &replacement);
        // Base64url has spare bits in its last character, so a few changes decode to the same bytes.
        if tampered != token && decoded(&tampered) != decoded(&token) {
            prop_assert!(keys.verify(&tampered).is_err(), "tampered token accepted: {}", tampered);
        }
    }

    #[test]
    fn issued_access_tokens_verify_with_their_claims(user in any::<u128>(), session in any::<u128>(), email in "[a-z]{1,10}@[a-z]{1,10}\\.com") {
        let keys = hs_keys();
        let (user, session) = (Uuid::from_u128(user), Uuid::from_u128(session));
        let (token, issued) = keys.issue(user, &email, session, &Assurance::first_factor(PASSWORD), Utc::now()).expect("token");
        let claims = keys.verify(&token).expect("valid token");
        prop_assert_eq!(claims.sub, user);
        prop_assert_eq!(claims.sid, session);
        prop_assert_eq!(claims.email, email);
        prop_assert_eq!(claims.jti, issued.jti);
    }

    // ------------------------------------------------------------------------------ cookies and headers

    #[test]
    fn the_refresh_cookie_is_found_among_arbitrary_others(
        others in proptest::collection::vec(("[a-zA-Z_]{1,12}", "[a-zA-Z0-9%_.-]{0,20}"), 0..6),
        token in "[A-Za-z0-9_-]{43}",
        at in any::<prop::sample::Index>(),
    ) {
        let mut pairs: Vec<String> = others
            .iter()
            .filter(|(name, _)| name != "refresh_token")
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let index = at.index(pairs.len() + 1);
        pairs.insert(index, format!("refresh_token={token}"));
        let mut headers = HeaderMap::new();
        headers.insert(http::header::COOKIE, HeaderValue::from_str(&pairs.join("; ")).expect("header"));
        prop_assert_eq!(cookies::read_refresh(&headers), Some(token.as_str()));
    }

    #[test]
    fn cookie_parsing_never_panics(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..4)) {
        let mut headers = HeaderMap::new();
        for value in values {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                headers.append(http::header::COOKIE, value);
            }
        }
        if let Some(found) = cookies::read_refresh(&headers) {
            prop_assert!(!found.is_empty());
        }
    }

    #[test]
    fn forwarded_headers_are_ignored_unless_proxies_are_trusted(xff in proptest::collection::vec(any::<u8>(), 0..120), peer in any::<[u8; 4]>()) {
        let peer = SocketAddr::from((peer, 40_000));
        let mut builder = http::Request::builder();
        if let Ok(value) = HeaderValue::from_bytes(&xff) {
            builder = builder.header("x-forwarded-for", value);
        }
        let (mut parts, ()) = builder.body(()).expect("request").into_parts();
        parts.extensions.insert(ConnectInfo(peer));
        prop_assert_eq!(client_ip::resolve(&parts, 0), Some(peer.ip()));
        // Trusted hops may pick a forwarded address, but never panic on garbage.
        let resolved: Option<IpAddr> = client_ip::resolve(&parts, 3);
        prop_assert!(resolved.is_some());
    }

    #[test]
    fn user_agents_never_panic_and_are_bounded(agent in hostile_text(), long in "[a-zé]{500,700}") {
        let _ = device::describe(&agent);
        let kept = device::truncate(&long);
        prop_assert!(kept.len() <= device::MAX_USER_AGENT_BYTES);
        prop_assert!(long.starts_with(&kept));
    }

    // ------------------------------------------------------------------------------ WebSocket protocol

    #[test]
    fn any_frame_gets_an_answer_without_panicking(frame in hostile_text()) {
        let _ = ws::parse(&frame);
        if let Some(token) = ws::token_from_subprotocols(&frame) {
            prop_assert!(frame.contains(token));
            prop_assert_eq!(token.split('.').count(), 3);
        }
        if let Some(selected) = ws::selected_subprotocol(&frame) {
            prop_assert!(frame.contains(selected));
        }
    }

    #[test]
    fn json_frames_of_arbitrary_shape_never_panic(kind in hostile_text(), room in any::<Option<String>>(), message in hostile_text()) {
        let frame = serde_json::json!({ "type": kind, "room": room, "message": message }).to_string();
        let _ = ws::parse(&frame);
    }

    #[test]
    fn valid_commands_round_trip(room in "[A-Za-z0-9_.-]{1,64}", message in any::<String>(), which in 0usize..6) {
        let (kind, expected) = match which {
            0 => ("join", ws::Command::Join { room: room.clone() }),
            1 => ("room", ws::Command::Join { room: room.clone() }),
            2 => ("leave", ws::Command::Leave { room: room.clone() }),
            3 => ("status", ws::Command::Status { room: room.clone() }),
            4 => ("room_broadcast", ws::Command::RoomBroadcast { message: message.clone().into(), room: room.clone() }),
            _ => ("echo", ws::Command::Echo { message: message.clone().into() }),
        };
        let frame = serde_json::json!({ "type": kind, "room": room, "message": message }).to_string();
        if frame.len() <= ws::MAX_FRAME_BYTES {
            prop_assert_eq!(ws::parse(&frame), expected);
        }
    }

    #[test]
    fn invalid_rooms_are_refused(room in "[^A-Za-z0-9_.-]{1,8}|[A-Za-z0-9]{65,80}") {
        let frame = serde_json::json!({ "type": "join", "room": room }).to_string();
        let refused = matches!(ws::parse(&frame), ws::Command::Invalid { .. });
        prop_assert!(refused);
    }

    // ------------------------------------------------------------------------------ mail headers

    #[test]
    fn no_subject_or_text_can_add_a_mail_header(prefix in hostile_text(), body in hostile_text()) {
        let mail = shared::mail::Mail {
            to: "jane@example.com".into(),
            subject: format!("{prefix}\r\nBcc: victim@example.com\nX-Injected: 1"),
            text: format!("{body}\r\n\r\nBcc: victim@example.com"),
            html: body.clone(),
        };
        let bytes = shared::adapters::mime::to_rfc5322(&mail, "Auth <noreply@example.com>", "id-1").expect("builds");
        let message = String::from_utf8_lossy(&bytes);
        let headers = message.split("\r\n\r\n").next().unwrap_or_default();
        for line in headers.split("\r\n") {
            prop_assert!(!line.starts_with("Bcc:") && !line.starts_with("X-Injected:"), "injected header: {}", line);
        }
    }

    // ------------------------------------------------------------------------------ queue messages

    #[test]
    fn queue_messages_round_trip(id in any::<u128>(), target in any::<u128>(), task in any::<bool>(), request_id in proptest::option::of("[ -~]{1,128}")) {
        let job = if task {
            Job::RunTask { task_id: Uuid::from_u128(target) }
        } else {
            Job::SendEmail { outbox_id: Uuid::from_u128(target) }
        };
        let envelope = Envelope { id: Uuid::from_u128(id), job, request_id };
        prop_assert_eq!(Envelope::decode(&envelope.to_body()).expect("decodes"), envelope);
    }

    #[test]
    fn arbitrary_queue_bodies_are_refused_without_panicking(body in hostile_text(), job in "[a-z-]{0,12}", payload in any::<Option<String>>()) {
        let _ = Envelope::decode(&body);
        let shaped = serde_json::json!({ "job": job, "id": Uuid::nil(), "payload": { "outbox_id": payload } });
        let _ = Envelope::decode(&shaped.to_string());
    }
}

fn hs_keys() -> JwtKeys {
    JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef-properties", "issuer", "audience", 900).expect("keys")
}

/// The bytes a token's three parts decode to, to tell a real change from a spare-bit one.
fn decoded(token: &str) -> Vec<Option<Vec<u8>>> {
    use base64::Engine;
    token.split('.').map(|part| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).ok()).collect()
}
