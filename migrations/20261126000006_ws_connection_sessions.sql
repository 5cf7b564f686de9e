-- A WebSocket connection belongs to the session whose access token opened it, so ending the
-- session (logout, revocation, password change, deletion) ends what the connection may do:
-- deliveries skip connections of dead sessions and their next message closes them. Rows are
-- ephemeral (connections do not survive a deploy of this change), so existing ones are dropped.
delete from ws_connections;

alter table ws_connections
    add column session_id uuid not null references sessions (id) on delete cascade;

create index ws_connections_session_idx on ws_connections (session_id);
