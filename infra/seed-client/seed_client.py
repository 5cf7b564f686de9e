#!/usr/bin/env python3
"""A client of the FastAPI auth template ("the seed"), written from the seed's HTTP answers only.

It walks one account through the whole flow against a running devserver and checks every answer
the way a client of the seed would see it: the status code, that every key the seed returns is
present with the seed's JSON type (extra keys are fine), and the seed's message texts, exactly.

Where this project answers differently on purpose, the check follows this project's documented
behaviour and a comment names the row of the README's "Differences from the seed" table.
Anything else that differs is a failure: exit 1 with one line per difference (step, expected,
got).

    python3 infra/seed-client/seed_client.py [BASE_URL] [--keep-going] [--verbose]

BASE_URL defaults to $SEED_CLIENT_BASE_URL, then http://127.0.0.1:8000. MAIL_DIR must name the
folder where the server writes one .eml file per mail. Python 3 standard library only. By default
it stops at the first difference; --keep-going reports every difference that does not stop the
flow; --verbose names each step as it starts. Each run registers a fresh account (a random
address), so runs can be repeated against the same server. Rate limits must be off: one pass
logs in 8 times where the seed allows 5 a minute per address.
"""

import datetime as dt
import email
import email.policy
import http.cookiejar
import json
import os
import re
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

API = "/api/v1"
# The seed's cookie: refresh_token=<token>; HttpOnly; Max-Age=2592000; Path=/api/v1/auth; SameSite=lax
COOKIE_NAME = "refresh_token"
COOKIE_PATH = "/api/v1/auth"
COOKIE_MAX_AGE = "2592000"
GRACE_DAYS = 7
MAIL_WAIT_SECONDS = 30
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Row "timestamps": RFC 3339 UTC (`…Z`) here, where the seed sent naive ISO 8601 without offset.
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
CONFIRMED_RE = re.compile(
    r"^Account deletion confirmed\. Your account will be permanently deleted on "
    r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) UTC\. "
    r"You can still log in and cancel the deletion during this time\.$"
)

# The seed's message texts.
MSG_BAD_CREDENTIALS = "Invalid email or password. Please check your credentials and try again."
MSG_VERIFY_FIRST = "Please verify your email before logging in. Check your inbox for a verification link."
MSG_NOT_AUTHENTICATED = "Not authenticated"
MSG_BAD_JWT = "Could not validate credentials"
MSG_NO_REFRESH = "No refresh token provided"
MSG_BAD_REFRESH = "Invalid refresh token"
MSG_VERIFIED = "Email verified successfully"
MSG_BAD_VERIFY_TOKEN = "Invalid or expired verification token"
MSG_RESET_SENT = "If an account with that email exists, a password reset link has been sent."
MSG_RESET_DONE = "Password reset successfully. You can now log in with your new password."
MSG_BAD_RESET_TOKEN = "Invalid or expired password reset token. Please request a new one."
MSG_PASSWORD_CHANGED = "Password updated successfully"
MSG_WRONG_CURRENT = "Incorrect current password"
MSG_DELETION_SENT = "If an account with that email exists, a deletion confirmation link has been sent."
MSG_BAD_DELETION_TOKEN = "Invalid or expired deletion token. Please request a new one."
MSG_CANCELLED = "Account deletion has been cancelled. Your account is safe."
MSG_NOTHING_TO_CANCEL = "There is no pending account deletion to cancel."
MSG_SESSION_REVOKED = "Session revoked successfully"
MSG_BAD_SESSION_ID = "Invalid session ID format"
MSG_NO_SESSION = "Session not found or already revoked"
MSG_LOGGED_OUT = "Successfully logged out"

# The seed's response shapes: key -> JSON type.
USER = {"email": "str", "username": "str", "id": "uuid", "is_superuser": "bool", "is_verified": "bool",
        "date_created": "timestamp", "oauth_provider": "str|null"}
TOKEN = {"access_token": "str", "token_type": "str"}
REFRESHED = {"access_token": "str", "token_type": "str", "expires_in": "int"}
SESSION = {"id": "uuid", "created_at": "timestamp", "device_info": "str|null", "ip_address": "str|null",
           "is_current": "bool"}
SESSIONS = {"sessions": "list", "total_sessions": "int"}
MESSAGE = {"message": "str"}
DETAIL = {"detail": "str"}
EMAIL_SENT = {"message": "str", "email_sent": "bool"}
VERIFIED = {"message": "str", "verified": "bool"}
RESET = {"message": "str", "password_reset": "bool"}
CONFIRMED = {"message": "str", "deletion_confirmed": "bool", "deletion_scheduled_for": "timestamp"}
CANCELLED = {"message": "str", "deletion_cancelled": "bool"}
DELETION_STATUS = {"deletion_requested": "bool", "deletion_confirmed": "bool",
                   "deletion_scheduled_for": "timestamp|null", "can_cancel": "bool", "grace_period_days": "int"}


class Stop(Exception):
    """Ends the run: a difference (in stop-at-first mode) or an answer the flow cannot go on from."""


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer to check, not to follow


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def short(self):
        text = self.body.decode("utf-8", "replace")
        return f"{self.status} {text[:300]}"


class Browser:
    """One client: a cookie jar and a User-Agent. Talks to no proxy."""

    def __init__(self, base, user_agent=None, cookies=True):
        self.base = base
        self.user_agent = user_agent
        self.jar = http.cookiejar.CookieJar()
        handlers = [urllib.request.ProxyHandler({}), NoRedirect()]
        if cookies:
            handlers.append(urllib.request.HTTPCookieProcessor(self.jar))
        self.opener = urllib.request.build_opener(*handlers)

    def call(self, method, path, *, json_body=None, form=None, token=None, cookie=None):
        headers = {"accept": "application/json"}
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["content-type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        if cookie is not None:
            headers["cookie"] = cookie
        if self.user_agent:
            headers["user-agent"] = self.user_agent
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=60) as response:
                return Reply(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.headers, error.read())
        except (urllib.error.URLError, OSError) as error:
            raise Stop(f"{method} {path}: no answer ({error})") from None

    def refresh_token(self):
        for cookie in self.jar:
            if cookie.name == COOKIE_NAME:
                return cookie.value
        return None


class Mailbox:
    """Reads the .eml files the server writes, one per mail."""

    def __init__(self, directory):
        self.directory = directory
        self.seen = set()

    def link_token(self, recipient, link_path):
        """The token of the newest unseen mail to `recipient` holding a `link_path?token=` link."""
        pattern = re.compile(r"(\S*" + re.escape(link_path) + r"\?\S+)")
        deadline = time.monotonic() + MAIL_WAIT_SECONDS
        while True:
            names = sorted(n for n in os.listdir(self.directory) if n.endswith(".eml")) \
                if os.path.isdir(self.directory) else []
            for name in names:
                if name in self.seen:
                    continue
                with open(os.path.join(self.directory, name), "rb") as handle:
                    message = email.message_from_binary_file(handle, policy=email.policy.default)
                if recipient not in str(message.get("to", "")).lower():
                    continue
                part = message.get_body(preferencelist=("plain",))
                text = part.get_content() if part is not None else ""
                match = pattern.search(text)
                if not match:
                    continue
                self.seen.add(name)
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(match.group(1)).query)
                return (query.get("token") or [""])[0], match.group(1)
            if time.monotonic() > deadline:
                return None, None
            time.sleep(0.2)


class SeedClient:
    def __init__(self, base, mail_dir, keep_going, verbose):
        self.base = base.rstrip("/")
        self.verbose = verbose
        self.mail = Mailbox(mail_dir)
        self.keep_going = keep_going
        self.steps = 0
        self.checks = 0
        self.failures = []  # one line per difference
        self.failed_checks = 0
        self.current = ""
        run = uuid.uuid4().hex
        self.email = f"seed-client-{run}@example.com"
        self.username = f"sc-{run[:20]}"
        self.passwords = [self.new_password() for _ in range(3)]

    @staticmethod
    def new_password():
        # Upper, lower, digit and special character, as the seed requires; random, so never common.
        return f"Sc{secrets.token_hex(8)}-Zq9!"

    # ------------------------------------------------------------------ checks

    def step(self, name):
        self.steps += 1
        self.current = f"step {self.steps} {name}"
        if self.verbose:
            print(f"  {self.current}", file=sys.stderr)

    def fail(self, expected, got):
        self.failed_checks += 1
        line = f"seed client: {self.current}: expected {expected}, got {got}"
        self.failures.append(line)
        if not self.keep_going:
            raise Stop(line)
        print(line)

    def check(self, ok, expected, got):
        self.checks += 1
        if not ok:
            self.fail(expected, got)
        return ok

    def need(self, ok, expected, got):
        """A check the rest of the flow depends on: stops the run even with --keep-going."""
        if not self.check(ok, expected, got):
            raise Stop(None)

    def equal(self, what, expected, got):
        return self.check(expected == got, f"{what} {json.dumps(expected)}", json.dumps(got))

    def status(self, reply, expected, fatal=True):
        ok = reply.status == expected
        if fatal:
            self.need(ok, f"status {expected}", reply.short())
        else:
            self.check(ok, f"status {expected}", reply.short())
        return ok

    def shape(self, reply, spec, what="body"):
        """The seed's keys with the seed's JSON types; returns the object (extra keys allowed)."""
        content_type = reply.headers.get("content-type", "")
        self.check(content_type.startswith("application/json"), "content-type application/json",
                   repr(content_type))
        body = reply.json
        self.need(isinstance(body, dict), f"a JSON object as {what}", reply.short())
        self.shape_of(body, spec, what)
        return body

    def shape_of(self, body, spec, what):
        for key, kind in spec.items():
            if key not in body:
                self.check(False, f"key {key!r} in {what}", json.dumps(body)[:300])
                continue
            value = body[key]
            self.check(type_ok(value, kind), f"{what}.{key} of type {kind}", json.dumps(value))

    def message(self, reply, key, text, what="body"):
        body = reply.json if isinstance(reply.json, dict) else {}
        return self.equal(f"{what}.{key}", text, body.get(key))

    def www_authenticate(self, reply):
        value = reply.headers.get("www-authenticate", "")
        self.check(value.split(" ")[0].lower() == "bearer", "header WWW-Authenticate: Bearer", repr(value))

    def refused(self, reply, status, detail, bearer_challenge=True):
        """A seed error: status, {"detail": <exact text>} and, for 401s, the Bearer challenge."""
        self.status(reply, status, fatal=False)
        self.shape(reply, DETAIL)
        self.message(reply, "detail", detail)
        if bearer_challenge:
            self.www_authenticate(reply)

    def set_cookie(self, reply):
        """The refresh_token Set-Cookie header of a reply, as (value, {attribute: value})."""
        for header in reply.headers.get_all("set-cookie") or []:
            parts = [p.strip() for p in header.split(";")]
            name, _, value = parts[0].partition("=")
            if name.strip() != COOKIE_NAME:
                continue
            attributes = {}
            for part in parts[1:]:
                key, _, val = part.partition("=")
                attributes[key.strip().lower()] = val.strip()
            return value.strip().strip('"'), attributes
        return None, None

    def refresh_cookie_set(self, reply):
        """The seed's login cookie: HttpOnly, Max-Age 30 days, Path=/api/v1/auth, SameSite=lax, not Secure."""
        value, attributes = self.set_cookie(reply)
        self.need(value, f"a Set-Cookie {COOKIE_NAME}=<token>", repr(reply.headers.get_all("set-cookie")))
        self.check("httponly" in attributes, "cookie attribute HttpOnly", sorted(attributes))
        self.equal("cookie Path", COOKIE_PATH, attributes.get("path"))
        self.equal("cookie SameSite", "lax", (attributes.get("samesite") or "").lower())
        self.equal("cookie Max-Age", COOKIE_MAX_AGE, attributes.get("max-age"))
        return value

    # ------------------------------------------------------------------ the flow

    def run(self):
        self.wait_ready()
        anonymous = Browser(self.base, cookies=False)
        me = Browser(self.base)                        # the account's first session (Python-urllib)
        other = Browser(self.base, user_agent=FIREFOX_UA)  # a second device

        # -- register
        self.step("register")
        reply = me.call("POST", f"{API}/auth/register",
                        json_body={"email": self.email, "username": self.username, "password": self.passwords[0]})
        self.status(reply, 201)
        user = self.shape(reply, USER)
        self.equal("email", self.email, user.get("email"))
        self.equal("username", self.username, user.get("username"))
        self.equal("is_superuser", False, user.get("is_superuser"))
        self.equal("is_verified", False, user.get("is_verified"))
        self.equal("oauth_provider", None, user.get("oauth_provider"))
        self.check(not {"password", "hashed_password"} & set(user), "no password fields", sorted(user))

        self.step("read the verification mail")
        verify_token = self.mailed_token("/verify-email")

        self.step("login before verifying")
        reply = me.call("POST", f"{API}/auth/login", form={"username": self.email, "password": self.passwords[0]})
        self.refused(reply, 401, MSG_VERIFY_FIRST)

        self.step("verify-email with a bad token")
        reply = me.call("POST", f"{API}/auth/verify-email", json_body={"token": "invalid_token"})
        self.status(reply, 200, fatal=False)
        self.shape(reply, VERIFIED)
        self.message(reply, "message", MSG_BAD_VERIFY_TOKEN)
        self.message(reply, "verified", False)

        self.step("verify-email")
        reply = me.call("POST", f"{API}/auth/verify-email", json_body={"token": verify_token})
        self.status(reply, 200)
        self.shape(reply, VERIFIED)
        self.message(reply, "message", MSG_VERIFIED)
        self.need(reply.json.get("verified") is True, "verified true", reply.short())

        # -- login, /users/me, refresh
        self.step("login with a wrong password")
        reply = me.call("POST", f"{API}/auth/login", form={"username": self.email, "password": "Wrong-Passw0rd!"})
        self.refused(reply, 401, MSG_BAD_CREDENTIALS)

        self.step("login (form, username=<email>)")
        access = self.login(me, self.passwords[0])
        first_refresh = me.refresh_token()

        self.step("GET /users/me without a token")
        self.refused(anonymous.call("GET", f"{API}/users/me"), 401, MSG_NOT_AUTHENTICATED)

        self.step("GET /users/me with an invalid token")
        self.refused(anonymous.call("GET", f"{API}/users/me", token="invalid_token"), 401, MSG_BAD_JWT)

        self.step("GET /users/me")
        reply = me.call("GET", f"{API}/users/me", token=access)
        self.status(reply, 200)
        profile = self.shape(reply, USER)
        for key in ("id", "email", "username", "date_created", "is_superuser", "oauth_provider"):
            self.equal(key, user.get(key), profile.get(key))
        self.equal("is_verified", True, profile.get("is_verified"))
        self.check(not {"password", "hashed_password"} & set(profile), "no password fields", sorted(profile))

        self.step("refresh without a cookie")
        self.refused(anonymous.call("POST", f"{API}/auth/refresh"), 401, MSG_NO_REFRESH)

        self.step("refresh with an unknown cookie")
        reply = anonymous.call("POST", f"{API}/auth/refresh", cookie=f"{COOKIE_NAME}=invalid_token")
        self.refused(reply, 401, MSG_BAD_REFRESH)

        self.step("refresh (cookie)")
        reply = me.call("POST", f"{API}/auth/refresh")
        self.status(reply, 200)
        body = self.shape(reply, REFRESHED)
        self.equal("token_type", "bearer", body.get("token_type"))
        self.check(isinstance(body.get("access_token"), str) and body["access_token"], "a non-empty access_token",
                   json.dumps(body.get("access_token")))
        expires_in = body.get("expires_in")
        self.check(type_ok(expires_in, "int") and 0 < expires_in <= 900, "expires_in in 1..900 (15 minutes)",
                   json.dumps(expires_in))
        # Row "POST /auth/refresh": the seed sends no new cookie; here every refresh replaces it.
        rotated, _ = self.set_cookie(reply)
        self.check(rotated and rotated != first_refresh, "a new refresh_token cookie (rotation)",
                   repr(reply.headers.get_all("set-cookie")))
        access = body.get("access_token") or access

        # -- sessions
        self.step("GET /auth/sessions")
        sessions = self.sessions(me, access, 1)
        first = sessions[0] if sessions else {}
        self.equal("sessions[0].is_current", True, first.get("is_current"))
        # The seed's device_info for a User-Agent without "Mozilla".
        self.equal("sessions[0].device_info", "Unknown Device", first.get("device_info"))
        self.equal("sessions[0].ip_address", "127.0.0.1", first.get("ip_address"))

        self.step("login a second time (another device)")
        self.login(other, self.passwords[0], grant_type=True)

        self.step("GET /auth/sessions with two sessions")
        sessions = self.sessions(me, access, 2)
        self.need(len(sessions) == 2, "2 sessions", json.dumps(sessions)[:300])
        newest, oldest = sessions
        # Newest first: the second login's session, with the seed's "<browser> on <os>".
        self.equal("sessions[0].device_info", "Firefox on Linux", newest.get("device_info"))
        self.equal("sessions[0].is_current", False, newest.get("is_current"))
        self.equal("sessions[1].id", first.get("id"), oldest.get("id"))
        self.equal("sessions[1].is_current", True, oldest.get("is_current"))

        self.step("revoke a session with a malformed id")
        reply = me.call("DELETE", f"{API}/auth/sessions/not-a-uuid", token=access)
        self.refused(reply, 400, MSG_BAD_SESSION_ID, bearer_challenge=False)

        self.step("revoke an unknown session")
        reply = me.call("DELETE", f"{API}/auth/sessions/{uuid.uuid4()}", token=access)
        self.refused(reply, 404, MSG_NO_SESSION, bearer_challenge=False)

        self.step("revoke the second session (DELETE /auth/sessions/{id})")
        reply = me.call("DELETE", f"{API}/auth/sessions/{newest.get('id')}", token=access)
        self.status(reply, 200)
        self.shape(reply, MESSAGE)
        self.message(reply, "message", MSG_SESSION_REVOKED)
        remaining = self.sessions(me, access, 1)
        self.equal("remaining session id", first.get("id"), remaining[0].get("id") if remaining else None)
        self.refused(other.call("POST", f"{API}/auth/refresh"), 401, MSG_BAD_REFRESH)

        # -- forgot / reset / change password
        self.step("forgot-password")
        reply = anonymous.call("POST", f"{API}/auth/forgot-password", json_body={"email": self.email})
        self.status(reply, 200)
        self.shape(reply, EMAIL_SENT)
        self.message(reply, "message", MSG_RESET_SENT)
        self.message(reply, "email_sent", True)

        self.step("read the password reset mail")
        reset_token = self.mailed_token("/reset-password")

        self.step("reset-password with a bad token")
        reply = anonymous.call("POST", f"{API}/auth/reset-password",
                               json_body={"token": "invalid_token", "new_password": self.passwords[1]})
        self.status(reply, 200, fatal=False)
        self.shape(reply, RESET)
        self.message(reply, "message", MSG_BAD_RESET_TOKEN)
        self.message(reply, "password_reset", False)

        self.step("reset-password")
        reply = anonymous.call("POST", f"{API}/auth/reset-password",
                               json_body={"token": reset_token, "new_password": self.passwords[1]})
        self.status(reply, 200)
        self.shape(reply, RESET)
        self.message(reply, "message", MSG_RESET_DONE)
        self.need(reply.json.get("password_reset") is True, "password_reset true", reply.short())
        # Row "POST /auth/reset-password / change-password": a reset ends every session here (the
        # seed kept them), so the first session's refresh cookie is refused now.
        self.refused(me.call("POST", f"{API}/auth/refresh"), 401, MSG_BAD_REFRESH)

        self.step("login after the reset")
        reply = anonymous.call("POST", f"{API}/auth/login", form={"username": self.email, "password": self.passwords[0]})
        self.refused(reply, 401, MSG_BAD_CREDENTIALS)
        me = Browser(self.base)
        access = self.login(me, self.passwords[1])

        self.step("change-password with a wrong current password")
        reply = me.call("POST", f"{API}/auth/change-password", token=access,
                        json_body={"current_password": self.passwords[0], "new_password": self.passwords[2]})
        self.refused(reply, 400, MSG_WRONG_CURRENT, bearer_challenge=False)

        self.step("change-password")
        reply = me.call("POST", f"{API}/auth/change-password", token=access,
                        json_body={"current_password": self.passwords[1], "new_password": self.passwords[2]})
        self.status(reply, 200)
        self.shape(reply, DETAIL)
        self.message(reply, "detail", MSG_PASSWORD_CHANGED)
        reply = anonymous.call("POST", f"{API}/auth/login", form={"username": self.email, "password": self.passwords[1]})
        self.refused(reply, 401, MSG_BAD_CREDENTIALS)
        # Row "POST /auth/reset-password / change-password": a change keeps this session, so its
        # token and cookie go on working (the new password logs in on another device too).
        reply = me.call("GET", f"{API}/users/me", token=access)
        self.status(reply, 200, fatal=False)
        self.login(Browser(self.base), self.passwords[2], step_checks=False)

        # -- account deletion
        self.step("request-deletion")
        reply = anonymous.call("POST", f"{API}/auth/request-deletion", json_body={"email": self.email})
        self.status(reply, 200)
        self.shape(reply, EMAIL_SENT)
        self.message(reply, "message", MSG_DELETION_SENT)
        self.message(reply, "email_sent", True)

        self.step("read the deletion confirmation mail")
        deletion_token = self.mailed_token("/confirm-deletion")

        self.step("confirm-deletion with a bad token")
        reply = anonymous.call("POST", f"{API}/auth/confirm-deletion", json_body={"token": "invalid_token"})
        self.status(reply, 200, fatal=False)
        body = self.shape(reply, CONFIRMED)  # the seed answers "now", never null, on a bad token
        self.message(reply, "message", MSG_BAD_DELETION_TOKEN)
        self.message(reply, "deletion_confirmed", False)
        self.near("deletion_scheduled_for", body.get("deletion_scheduled_for"), dt.timedelta(0))

        self.step("confirm-deletion")
        reply = anonymous.call("POST", f"{API}/auth/confirm-deletion", json_body={"token": deletion_token})
        self.status(reply, 200)
        body = self.shape(reply, CONFIRMED)
        self.need(body.get("deletion_confirmed") is True, "deletion_confirmed true", reply.short())
        scheduled = body.get("deletion_scheduled_for")
        self.near("deletion_scheduled_for", scheduled, dt.timedelta(days=GRACE_DAYS))
        match = CONFIRMED_RE.match(body.get("message") or "")
        self.check(match, "message 'Account deletion confirmed. Your account will be permanently deleted on "
                   "YYYY-MM-DD HH:MM:SS UTC. You can still log in and cancel the deletion during this time.'",
                   json.dumps(body.get("message")))
        if match and parse_timestamp(scheduled):
            self.equal("date in the message", parse_timestamp(scheduled).strftime("%Y-%m-%d %H:%M:%S"), match.group(1))

        # Row "POST /auth/cancel-deletion, GET /auth/deletion-status": the caller's own account,
        # with a Bearer token, where the seed took any email (?email= / {email}) without one.
        self.step("deletion-status")
        self.deletion_status(me, access, requested=True, confirmed=True, scheduled=scheduled)

        self.step("cancel-deletion")
        reply = me.call("POST", f"{API}/auth/cancel-deletion", token=access)
        self.status(reply, 200)
        self.shape(reply, CANCELLED)
        self.message(reply, "message", MSG_CANCELLED)
        self.message(reply, "deletion_cancelled", True)

        self.step("deletion-status after cancelling")
        self.deletion_status(me, access, requested=False, confirmed=False, scheduled=None)

        # Same row: the caller is authenticated, so with nothing pending the answer says so
        # (the seed: a generic message and deletion_cancelled true).
        self.step("cancel-deletion with nothing pending")
        reply = me.call("POST", f"{API}/auth/cancel-deletion", token=access)
        self.status(reply, 200, fatal=False)
        self.shape(reply, CANCELLED)
        self.message(reply, "message", MSG_NOTHING_TO_CANCEL)
        self.message(reply, "deletion_cancelled", False)

        # -- logout
        self.step("logout")
        reply = me.call("POST", f"{API}/auth/logout")
        self.status(reply, 200)
        self.shape(reply, MESSAGE)
        self.message(reply, "message", MSG_LOGGED_OUT)
        value, attributes = self.set_cookie(reply)
        attributes = attributes or {}
        self.check(value is not None and (attributes.get("max-age") == "0" or "expires" in attributes),
                   f"a Set-Cookie deleting {COOKIE_NAME} (Max-Age=0)", repr(reply.headers.get_all("set-cookie")))
        self.equal("cookie Path", COOKIE_PATH, attributes.get("path"))
        self.check(me.refresh_token() is None, "the refresh cookie gone from the jar", repr(me.refresh_token()))
        self.refused(me.call("POST", f"{API}/auth/refresh"), 401, MSG_NO_REFRESH)

        self.step("logout without a cookie")
        reply = anonymous.call("POST", f"{API}/auth/logout")
        self.status(reply, 200)
        self.shape(reply, MESSAGE)
        self.message(reply, "message", MSG_LOGGED_OUT)

    # ------------------------------------------------------------------ helpers of the flow

    def wait_ready(self):
        probe = Browser(self.base, cookies=False)
        deadline = time.monotonic() + 30
        while True:
            try:
                if probe.call("GET", f"{API}/health/ready").status == 200:
                    return
            except Stop:
                pass
            if time.monotonic() > deadline:
                raise Stop(f"seed client: {self.base}{API}/health/ready did not answer 200 within 30 s")
            time.sleep(0.5)

    def mailed_token(self, link_path):
        token, link = self.mail.link_token(self.email, link_path)
        self.need(token, f"a mail to {self.email} with a {link_path}?token=… link within {MAIL_WAIT_SECONDS} s",
                  f"none in {self.mail.directory}" if link is None else repr(link))
        return token

    def login(self, browser, password, grant_type=False, step_checks=True):
        """Form login as the seed's OAuth2PasswordRequestForm takes it; returns the access token."""
        form = {"username": self.email, "password": password}
        if grant_type:
            form.update(grant_type="password", scope="")
        reply = browser.call("POST", f"{API}/auth/login", form=form)
        self.status(reply, 200)
        if not step_checks:
            self.need(browser.refresh_token(), "a refresh_token cookie", repr(reply.headers.get_all("set-cookie")))
            return (reply.json or {}).get("access_token")
        body = self.shape(reply, TOKEN)
        self.equal("token_type", "bearer", body.get("token_type"))
        self.need(isinstance(body.get("access_token"), str) and body["access_token"], "a non-empty access_token",
                  json.dumps(body.get("access_token")))
        self.refresh_cookie_set(reply)
        self.need(browser.refresh_token(), "the refresh_token cookie stored for 127.0.0.1", "no cookie in the jar")
        return body["access_token"]

    def sessions(self, browser, access, count):
        reply = browser.call("GET", f"{API}/auth/sessions", token=access)
        self.status(reply, 200)
        body = self.shape(reply, SESSIONS)
        sessions = body.get("sessions") if isinstance(body.get("sessions"), list) else []
        for index, session in enumerate(sessions):
            if self.check(isinstance(session, dict), f"sessions[{index}] an object", json.dumps(session)):
                self.shape_of(session, SESSION, f"sessions[{index}]")
        self.equal("total_sessions", count, body.get("total_sessions"))
        self.equal("number of sessions listed", count, len(sessions))
        return [s for s in sessions if isinstance(s, dict)]

    def deletion_status(self, browser, access, requested, confirmed, scheduled):
        reply = browser.call("GET", f"{API}/auth/deletion-status", token=access)
        self.status(reply, 200)
        body = self.shape(reply, DELETION_STATUS)
        self.equal("deletion_requested", requested, body.get("deletion_requested"))
        self.equal("deletion_confirmed", confirmed, body.get("deletion_confirmed"))
        self.equal("deletion_scheduled_for", scheduled, body.get("deletion_scheduled_for"))
        self.equal("can_cancel", requested, body.get("can_cancel"))
        self.equal("grace_period_days", GRACE_DAYS, body.get("grace_period_days"))

    def near(self, what, value, offset):
        """`value` is a timestamp about now + offset (a few minutes either way)."""
        at = parse_timestamp(value)
        expected = dt.datetime.now(dt.timezone.utc) + offset
        self.check(at is not None and abs(at - expected) < dt.timedelta(minutes=5),
                   f"{what} about {expected.strftime('%Y-%m-%dT%H:%M:%SZ')}", json.dumps(value))


def parse_timestamp(value):
    if not isinstance(value, str) or not TIMESTAMP_RE.match(value):
        return None
    whole, _, fraction = value[:-1].partition(".")
    at = dt.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return at + dt.timedelta(microseconds=int((fraction or "0")[:6].ljust(6, "0")))


def type_ok(value, kind):
    """JSON types as the seed sends them; bool is not an int here."""
    if kind.endswith("|null"):
        return value is None or type_ok(value, kind[:-5])
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list)
    if kind == "uuid":
        return isinstance(value, str) and bool(UUID_RE.match(value))
    if kind == "timestamp":
        return parse_timestamp(value) is not None
    raise ValueError(kind)


USAGE = "usage: seed_client.py [BASE_URL] [--keep-going] [--verbose]   (MAIL_DIR must be set)"


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    flags = {a for a in argv[1:] if a.startswith("--")}
    if flags - {"--keep-going", "--verbose"} or len(args) > 1:
        print(USAGE, file=sys.stderr)
        return 2
    base = args[0] if args else os.environ.get("SEED_CLIENT_BASE_URL") or "http://127.0.0.1:8000"
    mail_dir = os.environ.get("MAIL_DIR")
    if not mail_dir:
        print("seed client: set MAIL_DIR to the folder where the server writes its .eml files", file=sys.stderr)
        return 2
    client = SeedClient(base, mail_dir, keep_going="--keep-going" in flags, verbose="--verbose" in flags)
    if client.verbose:
        print(f"seed client: {client.base} as {client.email}", file=sys.stderr)
    started = time.monotonic()
    stopped = None
    try:
        client.run()
    except Stop as stop:
        line = stop.args[0] if stop.args else None
        if line and line not in client.failures:
            # Not a difference but a dead end (no answer, server not ready): say where.
            stopped = line if line.startswith("seed client:") else f"seed client: {client.current}: {line}"
            print(stopped)
        elif line and not client.keep_going:
            print(line)  # the first difference; with --keep-going it was printed already
        elif not line:
            stopped = "stopped"
    elapsed = time.monotonic() - started
    passed = client.checks - client.failed_checks
    summary = f"{client.steps} steps, {passed} of {client.checks} checks passed ({elapsed:.1f} s)"
    if client.failures or stopped:
        what = [f"{len(client.failures)} difference(s) from the seed"] if client.failures else []
        if stopped or not client.keep_going:
            what.append(f"stopped at step {client.steps}" if client.steps else "stopped before step 1")
        print(f"seed client: FAILED, {', '.join(what)}; {summary}")
        return 1
    print(f"seed client: {client.steps} steps, {client.checks} checks passed ({elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
