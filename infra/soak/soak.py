#!/usr/bin/env python3
"""Load-and-soak driver for the devserver; infra/soak/run starts the server and calls this.

What it does: for SOAK_SECONDS it sends a fixed number of requests per second, mixing the calls a
real population of users makes (register, verify the address from the mail, log in, refresh,
/users/me, list sessions, revoke a session, log out, and a few calls that must be refused: a wrong
password, an unverified login, a token of an ended session). The schedule is open-loop: request i
is due at start + i / rate whether or not earlier ones have answered, and its latency is measured
from that due time, so a server that stalls shows up as queueing delay instead of silently lowering
the load (coordinated omission).

Each virtual user is one account with its own client address (X-Forwarded-For, trusted because the
server runs with TRUSTED_PROXY_HOPS=1), so the rate limiter is on and does its work on every
request, yet no address comes near a limit: the driver keeps its own count per address, limit and
one-minute window and never picks a user whose next request could be refused. A 429 is therefore
a failure, like any other status the driver did not predict.

The driver keeps a model of what the server should hold: each account, whether it is verified,
its failed-login streak, and every session it opened with how it ended (logout, revoked by the
user, evicted by the 5-session cap) and how often its refresh token was rotated. Requests from one
user are never concurrent, so the model is exact and is compared with the server online (the
session list, /users/me) and, after the load, with the database itself.

Checks (each printed with its numbers; any violation makes the exit status 1):
1. every request answered as predicted: no 5xx, no transport error or timeout, no other
   unexpected status or body;
2. stable memory: the devserver's VmRSS, sampled every 2 s, may not grow between the minute after
   warm-up and the last minute by more than RSS_GROWTH_MIB and RSS_GROWTH_RATIO together (see
   those constants for why), and its open descriptors must come back down after the load;
3. no leaked database connections: the devserver's backends in pg_stat_activity never exceed its
   pool size, and once the load stops they stay within it and are all idle (none idle in
   transaction or still active);
4. the database agrees with the model: every account once, with its email and username, verified,
   with the expected failed-login count; exactly the sessions the model knows, each live or ended
   for the right reason, with one refresh token per rotation plus one and a single unrotated one;
   no rows of unknown users, no orphan tokens, every verification mail sent once; the audit log
   and the rate-limit counters agree with the requests sent.
"""

import argparse
import base64
import http.client
import json
import os
import queue
import random
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict

# --------------------------------------------------------------------------- limits and mix

# The server's per-address limits are fixed 60-second windows (shared/src/domain/rate_limit.rs):
# login 5, register 3, verify-email 3, and 100 shared by /users/* and the session routes. The
# driver allows itself less, and near the end of a window counts a request in the next window too,
# in case it reaches the server after the boundary.
WINDOW_SECONDS = 60
BOUNDARY_MARGIN_SECONDS = 5.0
BUDGET = {"login": 4, "register": 1, "email_verification": 2, "default": 80}

# Operation: (weight in the mix, rate limit it counts against).
OPERATIONS = {
    "register": (6, "register"),
    "verify": (6, "email_verification"),
    "login": (13, "login"),
    "login_wrong_password": (2, "login"),
    "login_unverified": (1, "login"),
    "refresh": (20, "default"),
    "me": (25, "default"),
    "sessions": (12, "default"),
    "revoke_session": (3, "default"),
    "revoke_other_sessions": (1, "default"),
    "logout": (4, "default"),
    "me_ended_session": (1, "default"),
    "refresh_ended_session": (1, "default"),
}

# Memory: a leak is growth that keeps pace with the requests. After warm-up the default run sends
# about 4,800 requests, so 16 MiB of growth is a leak of about 3.4 KiB per request; the ratio keeps
# a small heap's noise from failing the check. Growth fails only if it exceeds both bounds.
# The devserver runs with the allocator's defaults. The first soak runs found argon2id buffers
# (19 MiB each) kept by glibc after every hash that overlapped others: +600 MiB for good after 32
# concurrent registrations. Hashing now reuses one buffer per hashing thread
# (shared/src/security/password.rs), so that growth is a real failure again.
RSS_GROWTH_MIB = 16
RSS_GROWTH_RATIO = 0.20

HTTP_TIMEOUT_SECONDS = 10
WORKERS = 16
MAIL_TOKEN = re.compile(r"/verify-email\?token=([A-Za-z0-9_-]+)")
MAIL_TO = re.compile(r"^To: *(.+?)\r?$", re.MULTILINE)

# User agents and the device description the server derives from each (shared/src/domain/device.rs).
USER_AGENTS = [
    ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Version/17.5 Safari/604.1",
     "Safari on iOS"),
    ("okhttp/4.12.0", "Android app"),
    ("soak-client/1.0", "Unknown Device"),
]


class Unexpected(Exception):
    """An answer the model did not predict."""


# --------------------------------------------------------------------------- the model


class Session:
    def __init__(self, sid, access, access_expires, cookie):
        self.sid = sid
        self.access = access
        self.access_expires = access_expires
        self.cookie = cookie
        self.rotations = 0
        self.end = None  # None while live, else the revoke_reason the server must record


class Account:
    def __init__(self, index, run_id):
        self.index = index
        self.ip = f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"
        self.email = f"soak-{run_id}-{index}@example.com"
        self.username = f"soak_{run_id}_{index}"
        self.password = f"Soak-{secrets.token_hex(6)}-A9"
        self.user_agent, self.device = USER_AGENTS[index % len(USER_AGENTS)]
        self.id = None
        self.status = "registering"  # -> registered -> verified; "tainted" after a surprise
        self.busy = False
        self.sessions = []
        self.failed_logins = 0
        self.hits = Counter()  # (limit, window) -> requests the server may have counted

    def live(self):
        return [session for session in self.sessions if session.end is None]

    def ended(self):
        return [session for session in self.sessions if session.end is not None]


def windows(now):
    window = int(now // WINDOW_SECONDS)
    if now - window * WINDOW_SECONDS > WINDOW_SECONDS - BOUNDARY_MARGIN_SECONDS:
        return (window, window + 1)
    return (window,)


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def mib(kib):
    return kib / 1024


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise Unexpected(f"{self.status} with a body that is not JSON: {self.body[:200]!r}") from error

    def refresh_cookie(self):
        for value in self.headers.get_all("set-cookie") or []:
            name, _, rest = value.partition("=")
            if name.strip() == "refresh_token":
                return rest.split(";", 1)[0], value
        return None, None


# --------------------------------------------------------------------------- the driver


class Soak:
    def __init__(self, args):
        self.args = args
        self.host, self.port = args.base.split("//", 1)[1].rstrip("/").split(":")
        self.run_id = secrets.token_hex(3)
        self.lock = threading.Lock()
        self.accounts = []
        self.by_email = {}
        self.pending = []  # registered, not yet verified
        self.verified = []
        self.mail_tokens = {}  # email -> newest verification token seen
        self.mail_count = Counter()  # recipient -> mails
        self.mail_unknown = []
        self.mail_seen = set()
        self.results = []  # (phase, op, due, latency from due, service time, status, problem or None)
        self.sent_per_limit = Counter()
        self.ips_per_limit = defaultdict(set)
        self.expected_audit = Counter()
        self.failures = []
        self.samples_rss = []  # (t, VmRSS KiB, open fds, threads)
        self.samples_pg = []  # (t, total, {state: n}, oldest transaction s)
        self.start = None
        self.stop_monitors = threading.Event()
        self.stop_mail = threading.Event()
        self.jobs = queue.Queue()

    # ----------------------------------------------------------------- HTTP

    def call(self, account, method, path, body=None, bearer=None, cookie=None):
        headers = {"x-forwarded-for": account.ip, "user-agent": account.user_agent, "accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        if bearer:
            headers["authorization"] = f"Bearer {bearer}"
        if cookie:
            headers["cookie"] = f"refresh_token={cookie}"
        connection = http.client.HTTPConnection(self.host, int(self.port), timeout=HTTP_TIMEOUT_SECONDS)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            return Reply(response.status, response.msg, response.read())
        finally:
            connection.close()

    @staticmethod
    def expect(reply, status, code=None):
        if reply.status != status:
            raise Unexpected(f"status {reply.status} (expected {status}): {reply.body[:300]!r}")
        if code is not None and reply.json().get("code") != code:
            raise Unexpected(f"code {reply.json().get('code')!r} (expected {code!r}): {reply.body[:300]!r}")

    # ----------------------------------------------------------------- choosing the next request

    def has_budget(self, account, limit, now):
        return all(account.hits[(limit, window)] < BUDGET[limit] for window in windows(now))

    def probe(self, pool, ready, limit, now, tries=40):
        """A random idle account of `pool` for which `ready` holds and `limit` has room."""
        for _ in range(min(tries, len(pool))):
            account = random.choice(pool)
            if not account.busy and account.status != "tainted" and self.has_budget(account, limit, now) \
                    and ready(account):
                return account
        return None

    def plan(self, op, now):
        """Account and arguments for `op`, or None when no user can make that request now."""
        limit = OPERATIONS[op][1]

        def usable(session):  # its access token is good for a while yet
            return session.access_expires - now > 30

        if op == "register":
            account = Account(len(self.accounts) + 1, self.run_id)
            self.accounts.append(account)
            self.by_email[account.email] = account
            return account, None
        if op == "verify":
            account = self.probe(self.pending, lambda a: a.email in self.mail_tokens, limit, now)
            return (account, self.mail_tokens[account.email]) if account else None
        if op == "login_unverified":
            account = self.probe(self.pending, lambda a: True, limit, now)
            return (account, None) if account else None
        if op == "login":
            account = self.probe(self.verified, lambda a: True, limit, now)
            return (account, None) if account else None
        if op == "login_wrong_password":
            account = self.probe(self.verified, lambda a: a.failed_logins < 2, limit, now)
            return (account, None) if account else None
        if op in ("me_ended_session", "refresh_ended_session"):
            account = self.probe(self.verified, lambda a: any(usable(s) for s in a.ended()), limit, now)
            return (account, random.choice([s for s in account.ended() if usable(s)])) if account else None
        if op == "revoke_other_sessions":
            account = self.probe(self.verified, lambda a: len(a.live()) >= 2 and any(usable(s) for s in a.live()),
                                 limit, now)
        else:  # refresh, me, sessions, revoke_session, logout: one of the user's live sessions
            account = self.probe(self.verified, lambda a: any(usable(s) for s in a.live()), limit, now)
        if not account:
            return None
        session = random.choice([s for s in account.live() if usable(s) or op == "refresh"])
        return account, session

    def pick(self, now):
        """Weighted random order of operations; the first one some user can make is taken."""
        order = sorted(OPERATIONS, key=lambda op: random.random() ** (1 / OPERATIONS[op][0]), reverse=True)
        for op in order:
            chosen = self.plan(op, now)
            if chosen:
                account, argument = chosen
                limit = OPERATIONS[op][1]
                account.busy = True
                for window in windows(now):
                    account.hits[(limit, window)] += 1
                self.sent_per_limit[limit] += 1
                self.ips_per_limit[limit].add(account.ip)
                return op, account, argument
        raise RuntimeError("no operation possible (registration always is)")

    # ----------------------------------------------------------------- the operations

    def run_op(self, op, account, argument):
        """Sends one request, checks the answer against the model, then updates the model."""
        handler = getattr(self, "op_" + op)
        try:
            return handler(account, argument)
        finally:
            with self.lock:
                account.busy = False

    def check_user_body(self, account, body, verified):
        want = {"email": account.email, "username": account.username, "is_verified": verified,
                "is_superuser": False, "is_active": True}
        got = {key: body.get(key) for key in want}
        if got != want or (account.id and body.get("id") != account.id):
            raise Unexpected(f"user body {body} does not match {want} id={account.id}")

    def op_register(self, account, _):
        reply = self.call(account, "POST", "/api/v1/auth/register",
                          {"email": account.email, "username": account.username, "password": account.password})
        self.expect(reply, 201)
        body = reply.json()
        self.check_user_body(account, body, verified=False)
        with self.lock:
            account.id = body["id"]
            account.status = "registered"
            self.pending.append(account)
            self.expected_audit[("register", True)] += 1
        return reply.status

    def op_verify(self, account, token):
        reply = self.call(account, "POST", "/api/v1/auth/verify-email", {"token": token})
        self.expect(reply, 200)
        if reply.json() != {"message": "Email verified successfully", "verified": True}:
            raise Unexpected(f"verify-email said {reply.body[:200]!r}")
        with self.lock:
            account.status = "verified"
            self.pending.remove(account)
            self.verified.append(account)
            self.expected_audit[("verify_email", True)] += 1
        return reply.status

    def login(self, account, password):
        return self.call(account, "POST", "/api/v1/auth/login", {"email": account.email, "password": password})

    def op_login(self, account, _):
        reply = self.login(account, account.password)
        self.expect(reply, 200)
        body = reply.json()
        cookie, _ = reply.refresh_cookie()
        if body.get("token_type") != "bearer" or not cookie or not isinstance(body.get("expires_in"), int):
            raise Unexpected(f"login answer without token or cookie: {reply.body[:200]!r}")
        claims = jwt_claims(body["access_token"])
        if claims.get("sub") != account.id or any(s.sid == claims.get("sid") for s in account.sessions):
            raise Unexpected(f"access token of another user or an old session: {claims}")
        with self.lock:
            account.sessions.append(Session(claims["sid"], body["access_token"], time.time() + body["expires_in"],
                                            cookie))
            account.failed_logins = 0
            live = account.live()
            for evicted in live[: max(0, len(live) - self.args.max_sessions)]:
                evicted.end = "evicted"
            self.expected_audit[("login", True)] += 1
        return reply.status

    def op_login_wrong_password(self, account, _):
        reply = self.login(account, account.password + "x")
        self.expect(reply, 401, "invalid_credentials")
        with self.lock:
            account.failed_logins += 1
            self.expected_audit[("login", False)] += 1
        return reply.status

    def op_login_unverified(self, account, _):
        reply = self.login(account, account.password)
        self.expect(reply, 401, "email_not_verified")
        with self.lock:
            self.expected_audit[("login", False)] += 1
        return reply.status

    def op_refresh(self, account, session):
        reply = self.call(account, "POST", "/api/v1/auth/refresh", cookie=session.cookie)
        self.expect(reply, 200)
        body = reply.json()
        cookie, _ = reply.refresh_cookie()
        if not cookie or cookie == session.cookie:
            raise Unexpected("refresh did not rotate the refresh token")
        if jwt_claims(body["access_token"]).get("sid") != session.sid:
            raise Unexpected("refresh gave an access token for another session")
        with self.lock:
            session.cookie = cookie
            session.access = body["access_token"]
            session.access_expires = time.time() + body["expires_in"]
            session.rotations += 1
            self.expected_audit[("refresh", True)] += 1
        return reply.status

    def op_me(self, account, session):
        reply = self.call(account, "GET", "/api/v1/users/me", bearer=session.access)
        self.expect(reply, 200)
        self.check_user_body(account, reply.json(), verified=True)
        return reply.status

    def op_sessions(self, account, session):
        reply = self.call(account, "GET", "/api/v1/auth/sessions", bearer=session.access, cookie=session.cookie)
        self.expect(reply, 200)
        body = reply.json()
        listed = body["sessions"]
        if body.get("total_sessions") != len(listed):
            raise Unexpected(f"total_sessions {body.get('total_sessions')} for {len(listed)} sessions")
        ids = sorted(item["id"] for item in listed)
        expected = sorted(s.sid for s in account.live())
        if ids != expected:
            raise Unexpected(f"session list {ids} but the client holds {expected}")
        current = [item["id"] for item in listed if item.get("is_current")]
        if current != [session.sid]:
            raise Unexpected(f"is_current marks {current}, expected [{session.sid}]")
        for item in listed:
            if (item.get("ip_address"), item.get("user_agent"), item.get("device_info")) != \
                    (account.ip, account.user_agent, account.device):
                raise Unexpected(f"session {item} does not show {account.ip} / {account.user_agent!r}")
        return reply.status

    def op_revoke_session(self, account, session):
        others = [s for s in account.live() if s is not session]
        target = random.choice(others) if others else session
        reply = self.call(account, "DELETE", f"/api/v1/auth/sessions/{target.sid}", bearer=session.access)
        self.expect(reply, 200)
        with self.lock:
            target.end = "revoked_by_user"
            self.expected_audit[("session_revoked", True)] += 1
        return reply.status

    def op_revoke_other_sessions(self, account, session):
        reply = self.call(account, "DELETE", "/api/v1/auth/sessions", bearer=session.access, cookie=session.cookie)
        self.expect(reply, 200)
        others = [s for s in account.live() if s is not session]
        if reply.json().get("revoked_count") != len(others):
            raise Unexpected(f"revoked_count {reply.json().get('revoked_count')}, expected {len(others)}")
        with self.lock:
            for other in others:
                other.end = "revoked_by_user"
            self.expected_audit[("sessions_revoked", True)] += 1
        return reply.status

    def op_logout(self, account, session):
        reply = self.call(account, "POST", "/api/v1/auth/logout", cookie=session.cookie)
        self.expect(reply, 200)
        cookie, raw = reply.refresh_cookie()
        if cookie != "" or "Max-Age=0" not in raw:
            raise Unexpected(f"logout did not clear the cookie: {raw!r}")
        with self.lock:
            session.end = "logout"
            self.expected_audit[("logout", True)] += 1
        return reply.status

    def op_me_ended_session(self, account, session):
        reply = self.call(account, "GET", "/api/v1/users/me", bearer=session.access)
        self.expect(reply, 401, "invalid_token")
        return reply.status

    def op_refresh_ended_session(self, account, session):
        reply = self.call(account, "POST", "/api/v1/auth/refresh", cookie=session.cookie)
        self.expect(reply, 401, "invalid_refresh_token")
        return reply.status

    # ----------------------------------------------------------------- workers and monitors

    def execute(self, op, account, argument, due, phase):
        started = time.time()
        status, problem = None, None
        try:
            status = self.run_op(op, account, argument)
        except Unexpected as error:
            problem = str(error)
            status = int(problem.split()[1]) if problem.startswith("status ") else "body"
        except (OSError, http.client.HTTPException) as error:
            problem, status = f"transport error: {type(error).__name__}: {error}", "transport"
        except Exception as error:  # a bug in the driver must still fail the run visibly
            problem, status = f"driver error: {type(error).__name__}: {error}", "driver"
        done = time.time()
        with self.lock:
            if problem:
                account.status = "tainted"
            self.results.append((phase, op, due, done - due, done - started, status, problem))

    def worker(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            self.execute(*job, "load")
            self.jobs.task_done()

    def watch_mail(self):
        """Reads each new .eml once: the recipient and its verification token."""
        directory = self.args.mail_dir
        while not self.stop_mail.is_set():
            try:
                names = sorted(os.listdir(directory))
            except FileNotFoundError:
                names = []
            for name in names:
                if not name.endswith(".eml") or name in self.mail_seen:
                    continue
                with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as file:
                    text = file.read()
                self.mail_seen.add(name)
                to = MAIL_TO.search(text)
                token = MAIL_TOKEN.search(text)
                recipient = to.group(1).strip().strip("<>") if to else None
                with self.lock:
                    self.mail_count[recipient] += 1
                    if recipient not in self.by_email or not token:
                        self.mail_unknown.append(name)
                    else:
                        self.mail_tokens[recipient] = token.group(1)
            time.sleep(0.2)

    def psql(self, sql):
        command = [self.args.psql, "-h", "127.0.0.1", "-p", str(self.args.pg_port), "-U", "postgres",
                   "-d", self.args.database, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def rows(self, sql):
        return json.loads(self.psql(f"select coalesce(json_agg(q), '[]'::json) from ({sql}) q"))

    def sample_connections(self):
        """The devserver's backends (its pool names itself serverless-auth): (count, per state, oldest
        open transaction in seconds)."""
        found = self.rows("select coalesce(state, 'none') as state, count(*) as n,"
                          " coalesce(max(extract(epoch from now() - xact_start)), 0) as xact"
                          " from pg_stat_activity"
                          " where datname = current_database() and application_name = 'serverless-auth'"
                          " group by 1")
        states = {row["state"]: row["n"] for row in found}
        oldest = max((row["xact"] for row in found), default=0)
        return sum(states.values()), states, oldest

    def sample_process(self):
        """(VmRSS in KiB, open descriptors, threads) of the devserver."""
        with open(f"/proc/{self.args.pid}/status", encoding="ascii") as file:
            status = dict(line.split(":", 1) for line in file if ":" in line)
        rss = int(status["VmRSS"].split()[0])
        return rss, len(os.listdir(f"/proc/{self.args.pid}/fd")), int(status["Threads"])

    def cpu_seconds(self):
        """CPU time the devserver and the whole machine have used so far."""
        with open(f"/proc/{self.args.pid}/stat", encoding="ascii") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        with open("/proc/stat", encoding="ascii") as file:
            machine = [int(n) for n in file.readline().split()[1:]]
        tick = os.sysconf("SC_CLK_TCK")
        busy = sum(machine) - machine[3] - (machine[4] if len(machine) > 4 else 0)
        return (int(fields[11]) + int(fields[12])) / tick, busy / tick

    def monitor(self, interval):
        while not self.stop_monitors.wait(interval):
            now = time.time() - self.start
            try:
                self.samples_rss.append((now, *self.sample_process()))
            except (OSError, KeyError, ValueError) as error:
                with self.lock:
                    self.failures.append(f"cannot read the devserver's /proc entry (did it die?): {error}")
                return
            try:
                self.samples_pg.append((now, *self.sample_connections()))
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as error:
                with self.lock:
                    self.failures.append(f"pg_stat_activity sample failed: {error}")

    # ----------------------------------------------------------------- the run

    def load(self):
        duration, rate = self.args.seconds, self.args.rate
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        self.mail_watcher = threading.Thread(target=self.watch_mail, daemon=True)
        self.mail_watcher.start()
        self.start = time.time()
        cpu_before = self.cpu_seconds()
        self.samples_rss.append((0.0, *self.sample_process()))
        monitor = threading.Thread(target=self.monitor, args=(2.0,), daemon=True)
        monitor.start()
        total = int(duration * rate)
        print(f"soak: {total} requests at {rate}/s for {duration} s against {self.args.base}", flush=True)
        next_report = 30
        for i in range(total):
            due = self.start + i / rate
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            with self.lock:
                op, account, argument = self.pick(time.time())
            self.jobs.put((op, account, argument, due))
            if due - self.start >= next_report:
                self.progress(due - self.start)
                next_report += 30
        cpu_after = self.cpu_seconds()
        elapsed = time.time() - self.start
        self.cpu = ((cpu_after[0] - cpu_before[0]) / elapsed, (cpu_after[1] - cpu_before[1]) / elapsed)
        idle_by = time.time() + 30
        while self.jobs.unfinished_tasks and time.time() < idle_by:
            time.sleep(0.1)
        if self.jobs.unfinished_tasks:
            self.failures.append(f"{self.jobs.unfinished_tasks} requests still unanswered 30 s after the load ended")
        for _ in threads:
            self.jobs.put(None)
        self.stop_monitors.set()
        monitor.join()

    def progress(self, elapsed):
        with self.lock:
            done = [r for r in self.results if r[0] == "load"]
            recent = [r[3] for r in done if r[2] - self.start > elapsed - 30]
            bad = sum(1 for r in done if r[6])
        rss = mib(self.samples_rss[-1][1]) if self.samples_rss else 0
        pg = self.samples_pg[-1][1] if self.samples_pg else 0
        print(f"  t={elapsed:4.0f}s  {len(done)} answered, {bad} unexpected, last 30 s p99"
              f" {percentile(recent, 0.99) * 1000:.0f} ms, RSS {rss:.1f} MiB, {pg} DB connections,"
              f" {len(self.accounts)} accounts", flush=True)

    def drain(self):
        """Verifies the accounts registered at the end of the load once their mail is there."""
        deadline = time.time() + 30
        while time.time() < deadline:
            with self.lock:
                waiting = [a for a in self.pending if not a.busy and a.status != "tainted"]
                ready = [a for a in waiting if a.email in self.mail_tokens]
                for account in ready:
                    account.busy = True
            if not waiting:
                break
            for account in ready:
                with self.lock:
                    self.sent_per_limit["email_verification"] += 1
                    self.ips_per_limit["email_verification"].add(account.ip)
                self.execute("verify", account, self.mail_tokens[account.email], time.time(), "drain")
            time.sleep(0.2)
        self.stop_mail.set()
        self.mail_watcher.join()
        for account in [a for a in self.pending if a.status != "tainted"]:
            self.failures.append(f"{account.email}: no verification mail within 30 s of the end of the load")

    def settle(self):
        """After the load: the pool must stay within its size and every connection must be idle."""
        seen = []
        try:
            for _ in range(10):
                total, states, _ = self.sample_connections()
                seen.append((total, states))
                time.sleep(1)
            rss, fds, _ = self.sample_process()
        except (OSError, KeyError, ValueError, RuntimeError, subprocess.TimeoutExpired) as error:
            self.failures.append(f"sampling after the load failed: {error}")
            return seen or [(0, {})], 0, 0
        return seen, rss, fds

    # ----------------------------------------------------------------- checks

    def check_requests(self):
        load = [r for r in self.results if r[0] == "load"]
        drain = [r for r in self.results if r[0] == "drain"]
        statuses = Counter((r[1], r[5]) for r in load)
        latencies = [r[3] for r in load]
        service = [r[4] for r in load]
        fives = sum(1 for r in self.results if isinstance(r[5], int) and r[5] >= 500)
        transport = sum(1 for r in self.results if r[5] == "transport")
        unexpected = [r for r in self.results if r[6]]
        print("\nrequests during the load (operation, count, statuses; latency from the scheduled time)")
        for op in OPERATIONS:
            mine = [r for r in load if r[1] == op]
            if not mine:
                continue
            counts = ", ".join(f"{status} x{n}" for (o, status), n in sorted(statuses.items(), key=str) if o == op)
            lat = [r[3] for r in mine]
            print(f"  {op:24} {len(mine):6}  {counts:28} p50 {percentile(lat, .5) * 1000:7.1f} ms"
                  f"  p99 {percentile(lat, .99) * 1000:7.1f} ms  max {max(lat, default=0) * 1000:7.1f} ms")
        late = sum(1 for r in load if r[3] - r[4] > 0.05)
        drain_statuses = sorted(Counter((r[1], r[5]) for r in drain).items(), key=str)
        drained = ", ".join(f"{op} {status} x{n}" for (op, status), n in drain_statuses)
        print(f"  {len(load)} during the load, {len(drain)} after it ({drained or 'none'}); {late} waited > 50 ms"
              f" for a worker; service time p50 {percentile(service, .5) * 1000:.1f} ms,"
              f" p99 {percentile(service, .99) * 1000:.1f} ms")
        print(f"  CPU during the load: devserver {self.cpu[0] * 100:.0f}% of a core; everything on the machine"
              f" (this driver, Postgres, anything else) {self.cpu[1] * 100:.0f}% of a core, of {os.cpu_count()}")
        ok = not unexpected and len(load) == int(self.args.seconds * self.args.rate)
        print(f"[{'ok' if ok else 'FAIL'}] answers: {fives} 5xx, {transport} transport errors or timeouts,"
              f" {len(unexpected)} unexpected in total")
        for sample in unexpected[:10]:
            print(f"    e.g. {sample[1]} at t={sample[2] - self.start:.1f} s: {sample[6]}")
        return ok, load, latencies, fives

    def check_memory(self, after_rss, after_fds):
        duration = self.args.seconds
        warm = min(60.0, duration / 4)
        span = min(60.0, duration / 4)
        during = [s for s in self.samples_rss if s[0] <= duration]
        early = [s[1] for s in during if warm <= s[0] < warm + span]
        late = [s[1] for s in during if s[0] >= duration - span]
        if not early or not late:
            print("[FAIL] memory: too few RSS samples")
            return False, 0, 0, 0
        before, end = statistics.median(early), statistics.median(late)
        peak = max(s[1] for s in during)
        growth = end - before
        ok_rss = not (growth > RSS_GROWTH_MIB * 1024 and growth > RSS_GROWTH_RATIO * before)
        print(f"[{'ok' if ok_rss else 'FAIL'}] memory: VmRSS start {mib(during[0][1]):.1f} MiB, median"
              f" {warm:.0f}-{warm + span:.0f} s {mib(before):.1f} MiB, median of the last {span:.0f} s"
              f" {mib(end):.1f} MiB ({mib(growth):+.1f} MiB, {growth / before * 100:+.1f}%; bound"
              f" {RSS_GROWTH_MIB} MiB and {RSS_GROWTH_RATIO * 100:.0f}%), max {mib(peak):.1f} MiB,"
              f" after the load {mib(after_rss):.1f} MiB ({len(self.samples_rss)} samples; at most"
              f" {max(s[3] for s in during)} threads)")
        # Descriptors: listening socket, pool connections and files are fixed costs; a leak grows
        # with the requests, so after the load the count must be back within the pool's size of
        # what it was after warm-up.
        early_fds = [s[2] for s in during if warm <= s[0] < warm + span]
        limit = max(early_fds) + self.args.pool_max
        ok_fds = after_fds <= limit
        print(f"[{'ok' if ok_fds else 'FAIL'}] descriptors: {max(early_fds)} at most after warm-up,"
              f" {max(s[2] for s in during)} at most during the load, {after_fds} after it (bound {limit})")
        return ok_rss and ok_fds, before, end, peak

    def check_connections(self, settled):
        pool = self.args.pool_max
        peak = max((s[1] for s in self.samples_pg), default=0)
        states = Counter()
        for sample in self.samples_pg:
            for state, n in sample[2].items():
                states[state] = max(states[state], n)
        oldest = max((s[3] for s in self.samples_pg), default=0)
        # None seen at all means the query no longer finds them (a renamed pool), not a clean run.
        ok_load = 0 < peak <= pool
        print(f"[{'ok' if ok_load else 'FAIL'}] connections during the load: max {peak} (pool size {pool});"
              f" max per state {dict(states)}; oldest open transaction {oldest:.2f} s"
              f" ({len(self.samples_pg)} samples)")
        after_peak = max(total for total, _ in settled)
        final_states = settled[-1][1]
        not_idle = {state: n for state, n in final_states.items() if state != "idle"}
        ever_in_tx = sum(states.get("idle in transaction", 0) for _, states in settled)
        ok_after = after_peak <= pool and not not_idle and not ever_in_tx
        print(f"[{'ok' if ok_after else 'FAIL'}] connections after the load: max {after_peak} over 10 s, last"
              f" sample {final_states or 'none'}; idle in transaction seen {ever_in_tx} times")
        return ok_load and ok_after, max(peak, after_peak)

    def check_database(self):
        problems = []
        accounts = [a for a in self.accounts if a.status not in ("registering",)]
        known = {a.id: a for a in accounts if a.id}
        tainted = [a for a in accounts if a.status == "tainted"]
        clean = [a for a in accounts if a.status == "verified"]

        users = {row["id"]: row for row in self.rows(
            "select id, email, username, is_verified, is_active, is_superuser, failed_login_count,"
            " locked_until is not null as locked from users")}
        unknown_users = [row["email"] for uid, row in users.items() if uid not in known]
        if unknown_users:
            problems.append(f"{len(unknown_users)} users the soak did not register, e.g. {unknown_users[:3]}")
        per_email = Counter(row["email"] for row in users.values())
        if any(n > 1 for n in per_email.values()):
            problems.append(f"emails stored more than once: {[e for e, n in per_email.items() if n > 1][:3]}")

        sessions = defaultdict(dict)
        for row in self.rows(
                "select s.id, s.user_id, s.revoked_at is null as live, s.revoke_reason, s.expires_at > now() as"
                " unexpired, host(s.ip_address) as ip, s.user_agent, s.device_info,"
                " (select count(*) from refresh_tokens r where r.session_id = s.id) as tokens,"
                " (select count(*) from refresh_tokens r where r.session_id = s.id and r.rotated_at is null)"
                " as unrotated from sessions s"):
            sessions[row["user_id"]][row["id"]] = row
        stray = [uid for uid in sessions if uid not in known]
        if stray:
            problems.append(f"sessions of {len(stray)} unknown users")

        tokens = defaultdict(list)
        for row in self.rows("select user_id, purpose, used_at is not null as used from one_time_tokens"):
            tokens[row["user_id"]].append(row)

        live_total = rows_checked = 0
        for account in clean:
            row = users.get(account.id)
            if not row:
                problems.append(f"{account.email}: no users row")
                continue
            want = (account.email, account.username, True, True, False, account.failed_logins, False)
            got = (row["email"], row["username"], row["is_verified"], row["is_active"], row["is_superuser"],
                   row["failed_login_count"], row["locked"])
            if got != want:
                problems.append(f"{account.email}: users row {got}, expected {want}")
            stored = sessions.get(account.id, {})
            if sorted(stored) != sorted(s.sid for s in account.sessions):
                problems.append(f"{account.email}: sessions {sorted(stored)} but the client opened"
                                f" {sorted(s.sid for s in account.sessions)}")
            for session in account.sessions:
                db = stored.get(session.sid)
                if not db:
                    continue
                rows_checked += 1
                want = (session.end is None, session.end, True, account.ip, account.user_agent, account.device,
                        session.rotations + 1, 1)
                got = (db["live"], db["revoke_reason"], db["unexpired"], db["ip"], db["user_agent"],
                       db["device_info"], db["tokens"], db["unrotated"])
                if got != want:
                    problems.append(f"{account.email} session {session.sid}: (live, reason, unexpired, ip, agent,"
                                    f" device, tokens, unrotated) {got}, expected {want}")
            live_db = sum(1 for db in stored.values() if db["live"])
            live_total += live_db
            if live_db != len(account.live()):
                problems.append(f"{account.email}: {live_db} live sessions, client holds {len(account.live())}")
            mine = tokens.get(account.id, [])
            if [(t["purpose"], t["used"]) for t in mine] != [("verify_email", True)]:
                problems.append(f"{account.email}: one-time tokens {mine}, expected one used verify_email")

        orphans = self.rows(
            "select 'refresh_tokens' as t, count(*) as n from refresh_tokens r"
            " where not exists (select 1 from sessions s where s.id = r.session_id)"
            " union all select 'sessions', count(*) from sessions s"
            " where not exists (select 1 from users u where u.id = s.user_id)"
            " union all select 'one_time_tokens', count(*) from one_time_tokens t"
            " where not exists (select 1 from users u where u.id = t.user_id)")
        for row in orphans:
            if row["n"]:
                problems.append(f"{row['n']} orphan rows in {row['t']}")

        outbox = self.rows("select count(*) as n, count(*) filter (where sent_at is null) as unsent,"
                           " coalesce(max(attempts), 0) as attempts from outbox")[0]
        registered = sum(1 for a in accounts if a.id)
        if (outbox["n"], outbox["unsent"], outbox["attempts"]) != (registered, 0, 1):
            problems.append(f"outbox: {outbox}, expected {registered} mails all sent at the first attempt")
        duplicates = [email for email, n in self.mail_count.items() if n > 1]
        if self.mail_unknown or duplicates or sum(self.mail_count.values()) != registered:
            problems.append(f"mail files: {sum(self.mail_count.values())} for {registered} registrations,"
                            f" {len(duplicates)} recipients twice, {len(self.mail_unknown)} unknown")

        audit = {(row["event"], row["success"]): row["n"] for row in self.rows(
            "select event, success, count(*) as n from audit_log group by 1, 2")}
        if audit != dict(self.expected_audit) and not tainted:
            problems.append(f"audit log {sorted(audit.items())} but the requests imply"
                            f" {sorted(self.expected_audit.items())}")

        # Each request to a limited route is counted once, under its client's address.
        limits = {row["name"]: row for row in self.rows(
            "select split_part(key, ':', 1) as name, sum(count) as hits, count(distinct key) as keys,"
            " count(*) filter (where key like '%:127.0.0.1' or key like '%:unknown') as loopback"
            " from rate_limits group by 1")}
        for name, sent in sorted(self.sent_per_limit.items()):
            row = limits.get(name, {"hits": 0, "keys": 0, "loopback": 0})
            want = (sent, len(self.ips_per_limit[name]), 0)
            if (row["hits"], row["keys"], row["loopback"]) != want and self.args.seconds < 3000:
                problems.append(f"rate_limits '{name}': (hits, keys, loopback keys)"
                                f" {(row['hits'], row['keys'], row['loopback'])}, expected {want}")

        ok = not problems
        print(f"[{'ok' if ok else 'FAIL'}] database: {len(clean)} accounts and {rows_checked} sessions"
              f" ({live_total} live) match the client; {len(tainted)} accounts excluded after a failed request;"
              f" audit log {sum(audit.values())} entries, rate-limit counters"
              f" {sum(int(r['hits']) for r in limits.values())} hits over {sum(r['keys'] for r in limits.values())}"
              f" keys, {outbox['n']} mails")
        for problem in problems[:15]:
            print(f"    {problem}")
        if len(problems) > 15:
            print(f"    ... and {len(problems) - 15} more")
        return ok, len(clean)

    # ----------------------------------------------------------------- main

    def main(self):
        self.load()
        self.drain()
        settled, after_rss, after_fds = self.settle()
        try:
            os.kill(self.args.pid, 0)
        except OSError:
            self.failures.append("the devserver is no longer running")

        ok_requests, load, latencies, fives = self.check_requests()
        ok_memory, rss_before, rss_end, rss_peak = self.check_memory(after_rss, after_fds)
        ok_connections, max_connections = self.check_connections(settled)
        ok_database, accounts = self.check_database()
        other = self.failures
        for failure in other:
            print(f"[FAIL] {failure}")

        duration = self.args.seconds
        summary = (f"soak: {len(load)} requests in {duration:g} s ({len(load) / duration:.1f}/s),"
                   f" p50 {percentile(latencies, .5) * 1000:.1f} ms, p99 {percentile(latencies, .99) * 1000:.1f} ms,"
                   f" {fives} 5xx, RSS {mib(rss_before):.1f}\u2192{mib(rss_end):.1f} MiB (max {mib(rss_peak):.1f}),"
                   f" max {max_connections} connections, {accounts} accounts consistent")
        passed = ok_requests and ok_memory and ok_connections and ok_database and not other
        if not passed:
            summary += " \u2014 FAILED"
        print("\n" + summary)
        if self.args.samples_file:
            with open(self.args.samples_file, "w", encoding="utf-8") as file:
                file.write("seconds,rss_kib,fds,threads,db_connections\n")
                connections = {round(s[0]): s[1] for s in self.samples_pg}
                for t, rss, fds, threads in self.samples_rss:
                    file.write(f"{t:.1f},{rss},{fds},{threads},{connections.get(round(t), '')}\n")
        if self.args.summary_file:
            with open(self.args.summary_file, "w", encoding="utf-8") as file:
                file.write(summary + "\n")
        return 0 if passed else 1


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--base", required=True, help="devserver base URL, http://127.0.0.1:PORT")
    parser.add_argument("--pid", type=int, required=True, help="devserver process id (for /proc)")
    parser.add_argument("--mail-dir", required=True, help="the devserver's MAIL_DIR")
    parser.add_argument("--psql", required=True, help="path of psql")
    parser.add_argument("--pg-port", type=int, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--pool-max", type=int, required=True, help="the devserver's DB_MAX_CONNECTIONS")
    parser.add_argument("--max-sessions", type=int, default=5, help="the devserver's MAX_SESSIONS_PER_USER")
    parser.add_argument("--summary-file", help="where to write the summary line")
    parser.add_argument("--samples-file", help="where to write the RSS and connection samples (CSV)")
    args = parser.parse_args()
    if args.seconds <= 0 or args.rate <= 0:
        parser.error("--seconds and --rate must be positive")
    return args


if __name__ == "__main__":
    sys.exit(Soak(arguments()).main())
