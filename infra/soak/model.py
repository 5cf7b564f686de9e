"""The soak's model: what the server should hold after the requests the virtual users made.

Each virtual user is one Account with its own client address; the model records whether it is
verified, its failed-login streak, every Session it opened with how it ended (logout, revoked by
the user, evicted by the session cap) and how often its refresh token was rotated, the mails it
received, and the counters the database must agree with (audit log events, rate-limit hits and
addresses). Requests from one user are never concurrent, so the model is exact.

Nothing here does I/O. Every method that changes the model expects the caller to hold `lock`.
"""

import secrets
import threading
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

# User agents and the device description the server derives from each (shared/src/domain/device.rs).
USER_AGENTS = [
    ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Version/17.5 Safari/604.1",
     "Safari on iOS"),
    ("okhttp/4.12.0", "Android app"),
    ("soak-client/1.0", "Unknown Device"),
]


def windows(now):
    """The rate-limit windows a request sent at `now` may be counted in (two near a boundary)."""
    window = int(now // WINDOW_SECONDS)
    if now - window * WINDOW_SECONDS > WINDOW_SECONDS - BOUNDARY_MARGIN_SECONDS:
        return (window, window + 1)
    return (window,)


# --------------------------------------------------------------------------- users and sessions


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


# --------------------------------------------------------------------------- the whole population


class Model:
    """Every account, the mails seen, and the counters the database must match."""

    def __init__(self, max_sessions):
        self.max_sessions = max_sessions  # the server's MAX_SESSIONS_PER_USER
        self.run_id = secrets.token_hex(3)
        self.lock = threading.Lock()  # guards the model, and the driver's results and failures
        self.accounts = []
        self.by_email = {}
        self.pending = []  # registered, not yet verified
        self.verified = []
        self.mail_tokens = {}  # email -> newest verification token seen
        self.mail_count = Counter()  # recipient -> mails
        self.mail_unknown = []
        self.sent_per_limit = Counter()
        self.ips_per_limit = defaultdict(set)
        self.expected_audit = Counter()

    def new_account(self):
        account = Account(len(self.accounts) + 1, self.run_id)
        self.accounts.append(account)
        self.by_email[account.email] = account
        return account

    # ----------------------------------------------------------------- rate-limit budget

    def has_budget(self, account, limit, now):
        return all(account.hits[(limit, window)] < BUDGET[limit] for window in windows(now))

    def count_sent(self, account, limit):
        """One request to a route under `limit`, from the account's address."""
        self.sent_per_limit[limit] += 1
        self.ips_per_limit[limit].add(account.ip)

    def claim(self, account, limit, now):
        """The account is about to send a request under `limit` at `now`."""
        account.busy = True
        for window in windows(now):
            account.hits[(limit, window)] += 1
        self.count_sent(account, limit)

    # ----------------------------------------------------------------- what the answers changed

    def registered(self, account, user_id):
        account.id = user_id
        account.status = "registered"
        self.pending.append(account)
        self.expected_audit[("register", True)] += 1

    def email_verified(self, account):
        account.status = "verified"
        self.pending.remove(account)
        self.verified.append(account)
        self.expected_audit[("verify_email", True)] += 1

    def logged_in(self, account, session):
        """A new session; the oldest live ones beyond the cap are evicted by the server."""
        account.sessions.append(session)
        account.failed_logins = 0
        live = account.live()
        for evicted in live[: max(0, len(live) - self.max_sessions)]:
            evicted.end = "evicted"
        self.expected_audit[("login", True)] += 1

    def login_refused(self, account, wrong_password):
        if wrong_password:
            account.failed_logins += 1
        self.expected_audit[("login", False)] += 1

    def refreshed(self, session, cookie, access, access_expires):
        session.cookie = cookie
        session.access = access
        session.access_expires = access_expires
        session.rotations += 1
        self.expected_audit[("refresh", True)] += 1

    def session_revoked(self, target):
        target.end = "revoked_by_user"
        self.expected_audit[("session_revoked", True)] += 1

    def other_sessions_revoked(self, others):
        for other in others:
            other.end = "revoked_by_user"
        self.expected_audit[("sessions_revoked", True)] += 1

    def logged_out(self, session):
        session.end = "logout"
        self.expected_audit[("logout", True)] += 1

    def mail_received(self, name, recipient, token):
        """A verification mail file `name` to `recipient` carrying `token` (None if it has none)."""
        self.mail_count[recipient] += 1
        if recipient not in self.by_email or not token:
            self.mail_unknown.append(name)
        else:
            self.mail_tokens[recipient] = token
