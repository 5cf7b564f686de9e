//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA-1, 6 digits, 30-second
//! steps, the parameters every authenticator app supports.
//!
//! A code is checked against the current step and one step either side (clock drift), and only
//! at a step later than the last one accepted for the factor, so a code seen over a shoulder
//! cannot be replayed inside its window.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;

/// Seconds per step.
pub const STEP_SECONDS: i64 = 30;

/// Digits per code.
pub const DIGITS: usize = 6;

/// Bytes of a new secret: 160 bits, RFC 4226's recommendation for HMAC-SHA-1.
pub const SECRET_BYTES: usize = 20;

/// Steps accepted on either side of the current one.
const DRIFT_STEPS: i64 = 1;

/// The step a Unix time falls in.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The code of `secret` at `step` (RFC 4226 §5.3 dynamic truncation), zero-padded.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let counter = u64::try_from(step).unwrap_or_default().to_be_bytes();
    let digest = hmac::sign(&key, &counter);
    let mac = digest.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    format!("{:0width$}", binary % 10u32.pow(DIGITS as u32), width = DIGITS)
}

/// The step `code` belongs to, if it is the code of the current step or one step either side
/// and that step is later than `last_used_step` (the factor's last accepted step). The caller
/// stores the returned step, so the same code is refused next time.
pub fn accepted_step(secret: &[u8], code: &str, now_step: i64, last_used_step: Option<i64>) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    // Every candidate is computed and compared, so the time taken says nothing about which matched.
    let mut matched = None;
    for step in now_step - DRIFT_STEPS..=now_step + DRIFT_STEPS {
        let equal = verify_slices_are_equal(code_at(secret, step).as_bytes(), code.as_bytes()).is_ok();
        if equal && last_used_step.is_none_or(|last| step > last) {
            matched = Some(step);
        }
    }
    matched
}

/// RFC 4648 base32 without padding, the form authenticator apps take a secret in.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut block = [0u8; 5];
        block[..chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes([0, 0, 0, block[0], block[1], block[2], block[3], block[4]]);
        let symbols = (chunk.len() * 8).div_ceil(5);
        for index in 0..symbols {
            let value = (bits >> (35 - index * 5)) & 0x1f;
            out.push(char::from(ALPHABET[value as usize]));
        }
    }
    out
}

/// The `otpauth://` URI an authenticator app scans from a QR code (Google's Key Uri Format).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        account = percent_encode(account),
        secret = base32(secret),
    )
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(char::from(byte)),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The secret of RFC 4226 Appendix D and RFC 6238 Appendix B (SHA-1).
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn hotp_matches_rfc_4226_appendix_d() {
        let expected =
            ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(code_at(RFC_SECRET, counter as i64), *code, "counter {counter}");
        }
    }

    #[test]
    fn totp_matches_rfc_6238_appendix_b_in_six_digits() {
        // The RFC lists 8 digits; 6-digit codes are their last six.
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, eight) in vectors {
            assert_eq!(code_at(RFC_SECRET, step_at(time)), eight[2..], "time {time}");
        }
    }

    #[test]
    fn the_neighbouring_steps_are_accepted_and_a_used_step_is_not() {
        let now = step_at(1_234_567_890);
        let previous = code_at(RFC_SECRET, now - 1);
        let next = code_at(RFC_SECRET, now + 1);
        let too_old = code_at(RFC_SECRET, now - 2);

        assert_eq!(accepted_step(RFC_SECRET, &previous, now, None), Some(now - 1));
        assert_eq!(accepted_step(RFC_SECRET, &next, now, None), Some(now + 1));
        assert_eq!(accepted_step(RFC_SECRET, &too_old, now, None), None);
        let current = code_at(RFC_SECRET, now);
        assert_eq!(accepted_step(RFC_SECRET, &format!(" {current} "), now, Some(now - 1)), Some(now));
        assert_eq!(accepted_step(RFC_SECRET, &current, now, Some(now)), None, "a replay inside its step");
        assert_eq!(accepted_step(RFC_SECRET, &previous, now, Some(now)), None, "an older step after a newer one");
    }

    #[test]
    fn anything_but_six_digits_is_refused() {
        let now = step_at(59);
        for bad in ["", "28708", "2870822", "28708a", "２８７０８２"] {
            assert_eq!(accepted_step(RFC_SECRET, bad, now, None), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_matches_rfc_4648_without_padding() {
        let vectors = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (input, encoded) in vectors {
            assert_eq!(base32(input.as_bytes()), encoded, "{input:?}");
        }
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn the_uri_names_the_issuer_and_account_encoded() {
        let uri = otpauth_uri("Serverless Auth", "jane@example.com", RFC_SECRET);
        assert_eq!(
            uri,
            "otpauth://totp/Serverless%20Auth:jane%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Serverless%20Auth&algorithm=SHA1&digits=6&period=30"
        );
    }
}
