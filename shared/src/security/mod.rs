//! Security primitives: password hashing now; tokens and validation rules join as features land.

pub mod password;
