"""The soak's verdict once the load is over: the answers, memory and descriptors, database
connections, and the database against the model; then the one-line summary and the files.

Each check prints one [ok] or [FAIL] line with its numbers (and examples of what went wrong) and
returns whether it passed; `verdict` runs them in that order and returns the exit status.
"""

import os
import statistics
from collections import Counter, defaultdict

from model import OPERATIONS
from monitor import mib
from stats import percentile_nearest

# Memory: a leak is growth that keeps pace with the requests. After warm-up the default run sends
# about 4,800 requests, so 16 MiB of growth is a leak of about 3.4 KiB per request; the ratio keeps
# a small heap's noise from failing the check. Growth fails only if it exceeds both bounds.
# The devserver runs with the allocator's defaults. The first soak runs found argon2id buffers
# (19 MiB each) kept by glibc after every hash that overlapped others: +600 MiB for good after 32
# concurrent registrations. Hashing now reuses one buffer per hashing thread
# (shared/src/security/password.rs), so that growth is a real failure again.
RSS_GROWTH_MIB = 16
RSS_GROWTH_RATIO = 0.20


def check_requests(args, traffic):
    """Every request answered as predicted. Returns (ok, load results, latencies, 5xx count)."""
    results, start = traffic.results, traffic.start
    load = [r for r in results if r[0] == "load"]
    drain = [r for r in results if r[0] == "drain"]
    statuses = Counter((r[1], r[5]) for r in load)
    latencies = [r[3] for r in load]
    service = [r[4] for r in load]
    fives = sum(1 for r in results if isinstance(r[5], int) and r[5] >= 500)
    transport = sum(1 for r in results if r[5] == "transport")
    unexpected = [r for r in results if r[6]]
    print("\nrequests during the load (operation, count, statuses; latency from the scheduled time)")
    for op in OPERATIONS:
        mine = [r for r in load if r[1] == op]
        if not mine:
            continue
        counts = ", ".join(f"{status} x{n}" for (o, status), n in sorted(statuses.items(), key=str) if o == op)
        lat = [r[3] for r in mine]
        print(f"  {op:24} {len(mine):6}  {counts:28} p50 {percentile_nearest(lat, 50) * 1000:7.1f} ms"
              f"  p99 {percentile_nearest(lat, 99) * 1000:7.1f} ms  max {max(lat, default=0) * 1000:7.1f} ms")
    late = sum(1 for r in load if r[3] - r[4] > 0.05)
    drain_statuses = sorted(Counter((r[1], r[5]) for r in drain).items(), key=str)
    drained = ", ".join(f"{op} {status} x{n}" for (op, status), n in drain_statuses)
    print(f"  {len(load)} during the load, {len(drain)} after it ({drained or 'none'}); {late} waited > 50 ms"
          f" for a worker; service time p50 {percentile_nearest(service, 50) * 1000:.1f} ms,"
          f" p99 {percentile_nearest(service, 99) * 1000:.1f} ms")
    print(f"  CPU during the load: devserver {traffic.cpu[0] * 100:.0f}% of a core; everything on the machine"
          f" (this driver, Postgres, anything else) {traffic.cpu[1] * 100:.0f}% of a core, of {os.cpu_count()}")
    ok = not unexpected and len(load) == int(args.seconds * args.rate)
    print(f"[{'ok' if ok else 'FAIL'}] answers: {fives} 5xx, {transport} transport errors or timeouts,"
          f" {len(unexpected)} unexpected in total")
    for sample in unexpected[:10]:
        print(f"    e.g. {sample[1]} at t={sample[2] - start:.1f} s: {sample[6]}")
    return ok, load, latencies, fives


def check_memory(args, samples_rss, after_rss, after_fds):
    """Stable VmRSS after warm-up and descriptors back down after the load.
    Returns (ok, median RSS after warm-up, median RSS at the end, peak RSS), in KiB."""
    duration = args.seconds
    warm = min(60.0, duration / 4)
    span = min(60.0, duration / 4)
    during = [s for s in samples_rss if s[0] <= duration]
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
          f" after the load {mib(after_rss):.1f} MiB ({len(samples_rss)} samples; at most"
          f" {max(s[3] for s in during)} threads)")
    # Descriptors: listening socket, pool connections and files are fixed costs; a leak grows
    # with the requests, so after the load the count must be back within the pool's size of
    # what it was after warm-up.
    early_fds = [s[2] for s in during if warm <= s[0] < warm + span]
    limit = max(early_fds) + args.pool_max
    ok_fds = after_fds <= limit
    print(f"[{'ok' if ok_fds else 'FAIL'}] descriptors: {max(early_fds)} at most after warm-up,"
          f" {max(s[2] for s in during)} at most during the load, {after_fds} after it (bound {limit})")
    return ok_rss and ok_fds, before, end, peak


def check_connections(args, samples_pg, settled):
    """Never more backends than the pool allows; after the load all idle, none in a transaction.
    Returns (ok, most connections seen)."""
    pool = args.pool_max
    peak = max((s[1] for s in samples_pg), default=0)
    states = Counter()
    for sample in samples_pg:
        for state, n in sample[2].items():
            states[state] = max(states[state], n)
    oldest = max((s[3] for s in samples_pg), default=0)
    # None seen at all means the query no longer finds them (a renamed pool), not a clean run.
    ok_load = 0 < peak <= pool
    print(f"[{'ok' if ok_load else 'FAIL'}] connections during the load: max {peak} (pool size {pool});"
          f" max per state {dict(states)}; oldest open transaction {oldest:.2f} s"
          f" ({len(samples_pg)} samples)")
    after_peak = max(total for total, _ in settled)
    final_states = settled[-1][1]
    not_idle = {state: n for state, n in final_states.items() if state != "idle"}
    ever_in_tx = sum(states.get("idle in transaction", 0) for _, states in settled)
    ok_after = after_peak <= pool and not not_idle and not ever_in_tx
    print(f"[{'ok' if ok_after else 'FAIL'}] connections after the load: max {after_peak} over 10 s, last"
          f" sample {final_states or 'none'}; idle in transaction seen {ever_in_tx} times")
    return ok_load and ok_after, max(peak, after_peak)


def check_database(args, model, database):
    """The database agrees with the model. Returns (ok, accounts compared)."""
    problems = []
    accounts = [a for a in model.accounts if a.status not in ("registering",)]
    known = {a.id: a for a in accounts if a.id}
    tainted = [a for a in accounts if a.status == "tainted"]
    clean = [a for a in accounts if a.status == "verified"]

    users = {row["id"]: row for row in database.rows(
        "select id, email, username, is_verified, is_active, is_superuser, failed_login_count,"
        " locked_until is not null as locked from users")}
    unknown_users = [row["email"] for uid, row in users.items() if uid not in known]
    if unknown_users:
        problems.append(f"{len(unknown_users)} users the soak did not register, e.g. {unknown_users[:3]}")
    per_email = Counter(row["email"] for row in users.values())
    if any(n > 1 for n in per_email.values()):
        problems.append(f"emails stored more than once: {[e for e, n in per_email.items() if n > 1][:3]}")

    sessions = defaultdict(dict)
    for row in database.rows(
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
    for row in database.rows("select user_id, purpose, used_at is not null as used from one_time_tokens"):
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

    orphans = database.rows(
        "select 'refresh_tokens' as t, count(*) as n from refresh_tokens r"
        " where not exists (select 1 from sessions s where s.id = r.session_id)"
        " union all select 'sessions', count(*) from sessions s"
        " where not exists (select 1 from users u where u.id = s.user_id)"
        " union all select 'one_time_tokens', count(*) from one_time_tokens t"
        " where not exists (select 1 from users u where u.id = t.user_id)")
    for row in orphans:
        if row["n"]:
            problems.append(f"{row['n']} orphan rows in {row['t']}")

    outbox = database.rows("select count(*) as n, count(*) filter (where sent_at is null) as unsent,"
                           " coalesce(max(attempts), 0) as attempts from outbox where kind = 'email'")[0]
    registered = sum(1 for a in accounts if a.id)
    if (outbox["n"], outbox["unsent"], outbox["attempts"]) != (registered, 0, 1):
        problems.append(f"outbox: {outbox}, expected {registered} mails all sent at the first attempt")
    duplicates = [email for email, n in model.mail_count.items() if n > 1]
    if model.mail_unknown or duplicates or sum(model.mail_count.values()) != registered:
        problems.append(f"mail files: {sum(model.mail_count.values())} for {registered} registrations,"
                        f" {len(duplicates)} recipients twice, {len(model.mail_unknown)} unknown")

    audit = {(row["event"], row["success"]): row["n"] for row in database.rows(
        "select event, success, count(*) as n from audit_log group by 1, 2")}
    if audit != dict(model.expected_audit) and not tainted:
        problems.append(f"audit log {sorted(audit.items())} but the requests imply"
                        f" {sorted(model.expected_audit.items())}")

    # Each request to a limited route is counted once, under its client's address. A counter may
    # also hold units the server reserved in a lease and has not used yet: leases double from one
    # unit, so the last one is at most half of a window's count plus one, and the unused part at
    # most (count - 1) / 2 per key and window.
    limits = {row["name"]: row for row in database.rows(
        "select split_part(key, ':', 1) as name, sum(count) as hits, sum((count - 1) / 2) as unused,"
        " count(distinct key) as keys,"
        " count(*) filter (where key like '%:127.0.0.1' or key like '%:unknown') as loopback"
        " from rate_limits group by 1")}
    for name, sent in sorted(model.sent_per_limit.items()):
        row = limits.get(name, {"hits": 0, "unused": 0, "keys": 0, "loopback": 0})
        want = (len(model.ips_per_limit[name]), 0)
        counted = sent <= row["hits"] <= sent + row["unused"]
        if (not counted or (row["keys"], row["loopback"]) != want) and args.seconds < 3000:
            problems.append(f"rate_limits '{name}': (hits, keys, loopback keys)"
                            f" {(row['hits'], row['keys'], row['loopback'])}, expected {sent} hits"
                            f" (up to {sent + row['unused']} with unused lease units) and (keys, loopback) {want}")

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


def verdict(args, model, traffic, monitor, database, failures, settled, after_rss, after_fds):
    """Runs every check, prints the summary line, writes the summary and samples files.
    Returns the exit status: 0 if everything passed, else 1."""
    ok_requests, load, latencies, fives = check_requests(args, traffic)
    ok_memory, rss_before, rss_end, rss_peak = check_memory(args, monitor.samples_rss, after_rss, after_fds)
    ok_connections, max_connections = check_connections(args, monitor.samples_pg, settled)
    ok_database, accounts = check_database(args, model, database)
    other = failures
    for failure in other:
        print(f"[FAIL] {failure}")

    duration = args.seconds
    summary = (f"soak: {len(load)} requests in {duration:g} s ({len(load) / duration:.1f}/s),"
               f" p50 {percentile_nearest(latencies, 50) * 1000:.1f} ms,"
               f" p99 {percentile_nearest(latencies, 99) * 1000:.1f} ms,"
               f" {fives} 5xx, RSS {mib(rss_before):.1f}\u2192{mib(rss_end):.1f} MiB (max {mib(rss_peak):.1f}),"
               f" max {max_connections} connections, {accounts} accounts consistent")
    passed = ok_requests and ok_memory and ok_connections and ok_database and not other
    if not passed:
        summary += " \u2014 FAILED"
    print("\n" + summary)
    if args.samples_file:
        with open(args.samples_file, "w", encoding="utf-8") as file:
            file.write("seconds,rss_kib,fds,threads,db_connections\n")
            connections = {round(s[0]): s[1] for s in monitor.samples_pg}
            for t, rss, fds, threads in monitor.samples_rss:
                file.write(f"{t:.1f},{rss},{fds},{threads},{connections.get(round(t), '')}\n")
    if args.summary_file:
        with open(args.summary_file, "w", encoding="utf-8") as file:
            file.write(summary + "\n")
    return 0 if passed else 1
