-- A registration of an address that already has an account creates nothing, but it must leave
-- the same traces a registration of a free address leaves, or the API tells the two apart: the
-- username is held (a second registrant of it is refused) and the submitted password gets the
-- "verify your email" answer at login. A hold keeps both for a while; the cleanup job deletes
-- expired holds. Emails are stored normalised, as in users.

-- One row per such registration: a free address's account answers to the first password and a
-- second registration's hold to the next, so a taken address keeps each submitted password too.
-- A username is held for one email at a time (the application checks under an advisory lock).
create table registration_holds (
    id            uuid primary key default gen_random_uuid(),
    username      text not null,
    email         text not null,
    password_hash text not null,
    expires_at    timestamptz not null,
    constraint registration_holds_email_normalized check (email = lower(btrim(email)))
);

create index registration_holds_username_idx on registration_holds (username);
create index registration_holds_email_idx on registration_holds (email);
create index registration_holds_expires_at_idx on registration_holds (expires_at);
