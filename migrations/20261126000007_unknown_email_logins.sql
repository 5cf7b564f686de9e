-- Login back-off for addresses without an account. Failed logins on an account are counted on
-- its users row; counting failures on unknown addresses the same way means the back-off (429)
-- no longer tells an attacker which addresses are registered. Keyed by the SHA-256 of the
-- normalised address, so the table does not collect the addresses people typed. Rows idle for 30
-- days are deleted by the cleanup-expired job.
create table unknown_email_logins (
    email_hash          bytea primary key,
    failed_login_count  integer not null,
    locked_until        timestamptz,
    updated_at          timestamptz not null default now(),
    constraint unknown_email_logins_hash_length check (octet_length(email_hash) = 32)
);

create index unknown_email_logins_updated_idx on unknown_email_logins (updated_at);
