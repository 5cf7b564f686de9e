"""Observing the devserver from outside: its /proc entry (memory, descriptors, threads, CPU time)
and its database connections in pg_stat_activity, sampled every 2 s during the load and for 10 s
after it; plus psql access to the soak's database for the checks."""

import json
import os
import subprocess
import threading
import time


def mib(kib):
    return kib / 1024


class Database:
    """The soak's database through psql (the driver needs no Postgres driver module)."""

    def __init__(self, args):
        self.args = args

    def psql(self, sql):
        command = [self.args.psql, "-h", "127.0.0.1", "-p", str(self.args.pg_port), "-U", "postgres",
                   "-d", self.args.database, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def rows(self, sql):
        return json.loads(self.psql(f"select coalesce(json_agg(q), '[]'::json) from ({sql}) q"))


class Monitor:
    """Samples of the devserver: samples_rss holds (t, VmRSS KiB, open fds, threads), samples_pg
    (t, total, {state: n}, oldest transaction s), t in seconds from the start of the load."""

    def __init__(self, args, database, lock, failures):
        self.args = args
        self.database = database
        self.lock = lock  # guards `failures`, shared with the driver
        self.failures = failures
        self.samples_rss = []
        self.samples_pg = []
        self.start = None
        self.stop_monitors = threading.Event()
        self.thread = None

    def sample_connections(self):
        """The devserver's backends (its pool names itself serverless-auth): (count, per state, oldest
        open transaction in seconds)."""
        found = self.database.rows("select coalesce(state, 'none') as state, count(*) as n,"
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

    def begin(self, start, interval=2.0):
        """A first process sample at t = 0 (`start`), then both samples every `interval` s in a thread."""
        self.start = start
        self.samples_rss.append((0.0, *self.sample_process()))
        self.thread = threading.Thread(target=self.monitor, args=(interval,), daemon=True)
        self.thread.start()

    def end(self):
        self.stop_monitors.set()
        self.thread.join()

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

    def settle(self):
        """After the load: the pool must stay within its size and every connection must be idle.
        Returns ten (total, {state: n}) samples one second apart, then VmRSS (KiB) and descriptors."""
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
