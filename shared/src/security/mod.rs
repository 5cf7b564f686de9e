//! Security primitives: password hashing, opaque one-time tokens, keyed digests, second-factor
//! building blocks (TOTP codes, recovery codes, sealed secrets), and the input rules for emails,
//! usernames and passwords.

pub mod jwt;
pub mod oidc;
pub mod password;
pub mod recovery_codes;
pub mod secret_box;
pub mod server_key;
pub mod tokens;
pub mod totp;
pub mod validation;
