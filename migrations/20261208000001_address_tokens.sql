-- Email change, passwordless sign-in and invitations reuse the one-time tokens: single use,
-- purpose-bound, stored as SHA-256 digests, voided together per user and purpose.

alter table one_time_tokens drop constraint one_time_tokens_purpose_known;
alter table one_time_tokens add constraint one_time_tokens_purpose_known
    check (purpose in ('verify_email', 'reset_password', 'confirm_deletion',
                       'change_email', 'undo_email_change', 'magic_link', 'accept_invite'));

-- The address a token acts on: the new address of an email change (until it is confirmed the
-- account keeps its old one), the old address of the change's undo link. Normalised like
-- users.email, so comparing them needs no function.
alter table one_time_tokens add column email text;
alter table one_time_tokens add constraint one_time_tokens_email_normalized
    check (email is null or email = lower(btrim(email)));

-- A passwordless sign-in mails a 6-digit code with its link. The code is kept only as a keyed
-- digest (a plain SHA-256 of a million possible codes would be no secret), and wrong tries are
-- counted on the row: the fifth voids it.
alter table one_time_tokens add column code_digest bytea;
alter table one_time_tokens add column failed_attempts smallint not null default 0;
alter table one_time_tokens add constraint one_time_tokens_code_digest_is_sha256
    check (code_digest is null or octet_length(code_digest) = 32);
