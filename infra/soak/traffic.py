"""The soak's traffic: the virtual users and the open-loop request driver.

Request i is due at start + i / rate whether or not earlier ones have answered, and its latency
is measured from that due time (no coordinated omission). For each due request the driver picks
an operation from the weighted mix and an idle user that can make it without coming near a rate
limit; WORKERS threads send the requests, check every answer against the model and then update
the model. A thread reads the verification mails the devserver writes to MAIL_DIR.
"""

import base64
import http.client
import json
import os
import queue
import random
import re
import threading
import time

from model import OPERATIONS, Session
from monitor import mib
from stats import percentile_nearest

HTTP_TIMEOUT_SECONDS = 10
WORKERS = 16
MAIL_TOKEN = re.compile(r"/verify-email\?token=([A-Za-z0-9_-]+)")
MAIL_TO = re.compile(r"^To: *(.+?)\r?$", re.MULTILINE)


class Unexpected(Exception):
    """An answer the model did not predict."""


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


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


class Traffic:
    """Sends the load, keeps `results` (phase, op, due, latency from due, service time, status,
    problem or None) and appends what else went wrong to `failures`."""

    def __init__(self, args, model, monitor, failures):
        self.args = args
        self.host, self.port = args.base.split("//", 1)[1].rstrip("/").split(":")
        self.model = model
        self.monitor = monitor
        self.lock = model.lock
        self.failures = failures
        self.results = []  # (phase, op, due, latency from due, service time, status, problem or None)
        self.mail_seen = set()
        self.start = None
        self.cpu = None  # (devserver, whole machine) CPU during the load, in cores
        self.stop_mail = threading.Event()
        self.mail_watcher = None
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

    def probe(self, pool, ready, limit, now, tries=40):
        """A random idle account of `pool` for which `ready` holds and `limit` has room."""
        for _ in range(min(tries, len(pool))):
            account = random.choice(pool)
            if not account.busy and account.status != "tainted" and self.model.has_budget(account, limit, now) \
                    and ready(account):
                return account
        return None

    def plan(self, op, now):
        """Account and arguments for `op`, or None when no user can make that request now."""
        model = self.model
        limit = OPERATIONS[op][1]

        def usable(session):  # its access token is good for a while yet
            return session.access_expires - now > 30

        if op == "register":
            return model.new_account(), None
        if op == "verify":
            account = self.probe(model.pending, lambda a: a.email in model.mail_tokens, limit, now)
            return (account, model.mail_tokens[account.email]) if account else None
        if op == "login_unverified":
            account = self.probe(model.pending, lambda a: True, limit, now)
            return (account, None) if account else None
        if op == "login":
            account = self.probe(model.verified, lambda a: True, limit, now)
            return (account, None) if account else None
        if op == "login_wrong_password":
            account = self.probe(model.verified, lambda a: a.failed_logins < 2, limit, now)
            return (account, None) if account else None
        if op in ("me_ended_session", "refresh_ended_session"):
            account = self.probe(model.verified, lambda a: any(usable(s) for s in a.ended()), limit, now)
            return (account, random.choice([s for s in account.ended() if usable(s)])) if account else None
        if op == "revoke_other_sessions":
            account = self.probe(model.verified, lambda a: len(a.live()) >= 2 and any(usable(s) for s in a.live()),
                                 limit, now)
        else:  # refresh, me, sessions, revoke_session, logout: one of the user's live sessions
            account = self.probe(model.verified, lambda a: any(usable(s) for s in a.live()), limit, now)
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
                self.model.claim(account, OPERATIONS[op][1], now)
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
            self.model.registered(account, body["id"])
        return reply.status

    def op_verify(self, account, token):
        reply = self.call(account, "POST", "/api/v1/auth/verify-email", {"token": token})
        self.expect(reply, 200)
        if reply.json() != {"message": "Email verified successfully", "verified": True}:
            raise Unexpected(f"verify-email said {reply.body[:200]!r}")
        with self.lock:
            self.model.email_verified(account)
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
            self.model.logged_in(account, Session(claims["sid"], body["access_token"],
                                                  time.time() + body["expires_in"], cookie))
        return reply.status

    def op_login_wrong_password(self, account, _):
        reply = self.login(account, account.password + "x")
        self.expect(reply, 401, "invalid_credentials")
        with self.lock:
            self.model.login_refused(account, wrong_password=True)
        return reply.status

    def op_login_unverified(self, account, _):
        reply = self.login(account, account.password)
        self.expect(reply, 401, "email_not_verified")
        with self.lock:
            self.model.login_refused(account, wrong_password=False)
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
            self.model.refreshed(session, cookie, body["access_token"], time.time() + body["expires_in"])
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
            self.model.session_revoked(target)
        return reply.status

    def op_revoke_other_sessions(self, account, session):
        reply = self.call(account, "DELETE", "/api/v1/auth/sessions", bearer=session.access, cookie=session.cookie)
        self.expect(reply, 200)
        others = [s for s in account.live() if s is not session]
        if reply.json().get("revoked_count") != len(others):
            raise Unexpected(f"revoked_count {reply.json().get('revoked_count')}, expected {len(others)}")
        with self.lock:
            self.model.other_sessions_revoked(others)
        return reply.status

    def op_logout(self, account, session):
        reply = self.call(account, "POST", "/api/v1/auth/logout", cookie=session.cookie)
        self.expect(reply, 200)
        cookie, raw = reply.refresh_cookie()
        if cookie != "" or "Max-Age=0" not in raw:
            raise Unexpected(f"logout did not clear the cookie: {raw!r}")
        with self.lock:
            self.model.logged_out(session)
        return reply.status

    def op_me_ended_session(self, account, session):
        reply = self.call(account, "GET", "/api/v1/users/me", bearer=session.access)
        self.expect(reply, 401, "invalid_token")
        return reply.status

    def op_refresh_ended_session(self, account, session):
        reply = self.call(account, "POST", "/api/v1/auth/refresh", cookie=session.cookie)
        self.expect(reply, 401, "invalid_refresh_token")
        return reply.status

    # ----------------------------------------------------------------- workers and the mail reader

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
                    self.model.mail_received(name, recipient, token.group(1) if token else None)
            time.sleep(0.2)

    # ----------------------------------------------------------------- the run

    def load(self):
        duration, rate = self.args.seconds, self.args.rate
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        self.mail_watcher = threading.Thread(target=self.watch_mail, daemon=True)
        self.mail_watcher.start()
        self.start = time.time()
        cpu_before = self.monitor.cpu_seconds()
        self.monitor.begin(self.start, interval=2.0)
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
        cpu_after = self.monitor.cpu_seconds()
        elapsed = time.time() - self.start
        self.cpu = ((cpu_after[0] - cpu_before[0]) / elapsed, (cpu_after[1] - cpu_before[1]) / elapsed)
        idle_by = time.time() + 30
        while self.jobs.unfinished_tasks and time.time() < idle_by:
            time.sleep(0.1)
        if self.jobs.unfinished_tasks:
            self.failures.append(f"{self.jobs.unfinished_tasks} requests still unanswered 30 s after the load ended")
        for _ in threads:
            self.jobs.put(None)
        self.monitor.end()

    def progress(self, elapsed):
        with self.lock:
            done = [r for r in self.results if r[0] == "load"]
            recent = [r[3] for r in done if r[2] - self.start > elapsed - 30]
            bad = sum(1 for r in done if r[6])
        samples_rss, samples_pg = self.monitor.samples_rss, self.monitor.samples_pg
        rss = mib(samples_rss[-1][1]) if samples_rss else 0
        pg = samples_pg[-1][1] if samples_pg else 0
        print(f"  t={elapsed:4.0f}s  {len(done)} answered, {bad} unexpected, last 30 s p99"
              f" {percentile_nearest(recent, 99) * 1000:.0f} ms, RSS {rss:.1f} MiB, {pg} DB connections,"
              f" {len(self.model.accounts)} accounts", flush=True)

    def drain(self):
        """Verifies the accounts registered at the end of the load once their mail is there."""
        model = self.model
        deadline = time.time() + 30
        while time.time() < deadline:
            with self.lock:
                waiting = [a for a in model.pending if not a.busy and a.status != "tainted"]
                ready = [a for a in waiting if a.email in model.mail_tokens]
                for account in ready:
                    account.busy = True
            if not waiting:
                break
            for account in ready:
                with self.lock:
                    model.count_sent(account, "email_verification")
                self.execute("verify", account, model.mail_tokens[account.email], time.time(), "drain")
            time.sleep(0.2)
        self.stop_mail.set()
        self.mail_watcher.join()
        for account in [a for a in model.pending if a.status != "tainted"]:
            self.failures.append(f"{account.email}: no verification mail within 30 s of the end of the load")
