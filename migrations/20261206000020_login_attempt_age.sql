-- When an account's last login attempt was counted. A failure count this old is forgotten, as an
-- unknown address's counter is (its row's updated_at): otherwise a month later the back-off of a
-- registered address would differ from an unknown one's, telling them apart.

alter table users add column last_login_attempt_at timestamptz;
