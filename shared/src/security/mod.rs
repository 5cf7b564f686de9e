//! Security primitives: password hashing, opaque one-time tokens, and the input rules for
//! emails, usernames and passwords.

pub mod jwt;
pub mod oidc;
pub mod password;
pub mod tokens;
pub mod validation;
