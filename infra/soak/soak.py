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
   those constants in checks.py for why), and its open descriptors must come back down after
   the load;
3. no leaked database connections: the devserver's backends in pg_stat_activity never exceed its
   pool size, and once the load stops they stay within it and are all idle (none idle in
   transaction or still active);
4. the database agrees with the model: every account once, with its email and username, verified,
   with the expected failed-login count; exactly the sessions the model knows, each live or ended
   for the right reason, with one refresh token per rotation plus one and a single unrotated one;
   no rows of unknown users, no orphan tokens, every verification mail sent once; the audit log
   and the rate-limit counters agree with the requests sent.

The parts, one job each: model.py (the expected state the clients built: accounts, sessions,
counters), traffic.py (the virtual users and the open-loop request driver), monitor.py (the
devserver's /proc entry and database connections, sampled), checks.py (the checks above and the
summary). The reason for each bound is next to its constant: the rate-limit budget in model.py,
the memory bounds in checks.py. This file is the entry point: arguments, wiring, exit status 0
(passed) or 1 (failed; argparse exits 2 on bad arguments).
"""

import argparse
import os
import sys
from pathlib import Path

# Run as a script (python3 infra/soak/soak.py): this directory first for the soak's own modules,
# then infra/ for the shared ones (stats.py).
_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE), str(_HERE.parent)]

import checks  # noqa: E402
from model import Model  # noqa: E402
from monitor import Database, Monitor  # noqa: E402
from traffic import Traffic  # noqa: E402


def main(args):
    model = Model(args.max_sessions)
    failures = []  # problems found outside the checks, appended by the driver and the monitor
    database = Database(args)
    monitor = Monitor(args, database, model.lock, failures)
    traffic = Traffic(args, model, monitor, failures)

    traffic.load()
    traffic.drain()
    settled, after_rss, after_fds = monitor.settle()
    try:
        os.kill(args.pid, 0)
    except OSError:
        failures.append("the devserver is no longer running")
    return checks.verdict(args, model, traffic, monitor, database, failures, settled, after_rss, after_fds)


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
    sys.exit(main(arguments()))
