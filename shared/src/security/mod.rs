//! Security primitives: password hashing, opaque one-time tokens, keyed digests, and the input
//! rules for emails, usernames and passwords.

pub mod jwt;
pub mod oidc;
pub mod password;
pub mod server_key;
pub mod tokens;
pub mod validation;
