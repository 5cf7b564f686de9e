-- Sign-in identities at Google and Apple. The provider's subject id is the key: an email can
-- change at the provider, the subject never does.
create table oauth_identities (
    provider   text not null,
    subject    text not null,
    user_id    uuid not null references users (id) on delete cascade,
    email      text not null,
    created_at timestamptz not null default now(),
    constraint oauth_identities_pkey primary key (provider, subject),
    constraint oauth_identities_provider_known check (provider in ('google', 'apple'))
);

create index oauth_identities_user_idx on oauth_identities (user_id);
