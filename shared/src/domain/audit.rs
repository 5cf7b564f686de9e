//! Which audit entries say something about the person who owns the account.

/// Successful events about an account whose request proves nothing about who sent it: a mailed
/// link's token (verify the address, reset the password, confirm a deletion, confirm or undo an
/// email change, sign in without a password, accept an invitation) or just the address
/// (request a deletion, or register it: anyone can register someone else's address, and the
/// owner who later verifies it takes over an account a stranger opened). Anyone the mail reached can send them — a mail scanner that opens links,
/// someone it was forwarded to — so the address and user agent recorded with them need not be
/// the owner's, and the owner's data export leaves them out (as it does for failed attempts,
/// whatever the event). The entries record no actor, so the event name is what decides.
pub const UNATTRIBUTED_EVENTS: [&str; 9] = [
    "register",
    "verify_email",
    "password_reset",
    "deletion_confirmed",
    "deletion_requested",
    "email_change",
    "email_change_undone",
    "magic_link_login",
    "invitation_accepted",
];
