"""Writes BENCHMARKS.md from the JSON results of run.py, with each performance target marked.

Usage: report.py RESULTS.json BENCHMARKS.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

INIT_TARGET_MS = 30
# A function's median init may be at most this many times a bare lambda_http hello world's.
INIT_TARGET_RATIO = 3.0
ZIP_TARGET_BYTES = 4 * 1024 * 1024
RSS_TARGET_KIB = 20 * 1024
ME_P50_TARGET_MS = 2.0
# 10x the seed's /users/me at c=64 on this machine class (1,466 req/s, uvicorn with 2 workers)
ME_C64_TARGET_RPS = 17_500
ME_C64_P99_TARGET_MS = 10.0
HEALTH_C64_TARGET_RPS = 60_000
LOGIN_TARGET_MS = 40.0
BEFORE = Path(__file__).resolve().parent / "everything-off.json"


def mb(n_bytes: int) -> str:
    return f"{n_bytes / 1024 / 1024:.2f} MiB"


def mib_from_kib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def table_start(title: str, columns: list[str], intro: str = "") -> list[str]:
    """A section heading and a table header; the first column is left-aligned, numbers right."""
    lines = [f"## {title}", ""] + ([intro, ""] if intro else [])
    return lines + ["| " + " | ".join(columns) + " |", "|---|" + "---:|" * (len(columns) - 2) + "---|"]


def section_sizes(r: dict) -> tuple[list[str], bool]:
    lines = table_start("Artifact size", ["function", "binary", "zip", "≤ 4 MiB"])
    ok_all = True
    for name, s in r["sizes"].items():
        ok = s["zip_bytes"] <= ZIP_TARGET_BYTES
        ok_all &= ok
        lines.append(f"| {name} | {mb(s['binary_bytes'])} | {mb(s['zip_bytes'])} | {verdict(ok)} |")
    return lines + [""], ok_all


def section_cold(r: dict) -> tuple[list[str], bool]:
    runs = next(iter(r["cold_start"].values())).get("init_ms", {}).get("runs", "?")
    yardstick = r.get("cold_start_yardstick", {}).get("init_ms")
    intro = f"Process spawn to the first `next` call (init) and to the first response posted, {runs} runs each."
    if yardstick:
        intro += (f" The yardstick is a bare `lambda_http` hello world built and started the same way: init median "
                  f"{yardstick['median']} ms, p95 {yardstick['p95']} ms. A function's init median may be at most "
                  f"{INIT_TARGET_RATIO:g}× the hello world's, and its p95 at most {INIT_TARGET_MS} ms.")
    else:
        intro += " No hello-world yardstick was measured, so the ratio target is not met."
    lines = table_start(
        "Cold start (local Runtime API)",
        ["function", "init min", "init median", "init p95", "× hello world", "first response median", "p95",
         "first event", f"≤ {INIT_TARGET_RATIO:g}×, ≤ {INIT_TARGET_MS} ms"],
        intro,
    )
    ok_all = yardstick is not None
    for name, c in r["cold_start"].items():
        if "init_ms" not in c:
            ok_all = False
            lines.append(f"| {name} | failed: {c['errors']} | | | | | | | **not met** |")
            continue
        i, f = c["init_ms"], c["first_response_ms"]
        ratio = i["median"] / yardstick["median"] if yardstick else None
        ok = (ratio is not None and ratio <= INIT_TARGET_RATIO and i["p95"] <= INIT_TARGET_MS
              and not c["errors"])
        ok_all &= ok
        shown_ratio = f"{ratio:.2f}×" if ratio is not None else "–"
        lines.append(
            f"| {name} | {i['min']} ms | {i['median']} ms | {i['p95']} ms | {shown_ratio} | {f['median']} ms | "
            f"{f['p95']} ms | {c['exercises']} → {', '.join(c['statuses'])} | {verdict(ok)} |"
        )
    return lines + [""], ok_all


def section_memory(r: dict) -> tuple[list[str], bool]:
    lines = table_start("Memory (resident set)", ["function", "after init", "invocations", "after them", "peak", "≤ 20 MiB idle"])
    ok_all = True
    for name, m in r["memory"].items():
        ok = m["rss_after_init_kib"] <= RSS_TARGET_KIB and m["rss_after_invocations_kib"] <= RSS_TARGET_KIB
        ok_all &= ok
        lines.append(
            f"| {name} | {mib_from_kib(m['rss_after_init_kib'])} | {m['invocations']:,} ({m['invocations_per_second']}/s, "
            f"`{m['invocations_event']}`) | {mib_from_kib(m['rss_after_invocations_kib'])} | "
            f"{mib_from_kib(m['peak_rss_kib'])} | {verdict(ok)} |"
        )
    login = r.get("login_memory")
    if login:
        lines += [
            "",
            f"One login raises auth-api's peak resident memory by {mib_from_kib(login['login_peak_kib'])} "
            f"(argon2id, m = 19 MiB); afterwards the resident set is {mib_from_kib(login['rss_after_login_kib'])}.",
        ]
    latency = r.get("login_latency_ms")
    if latency and latency.get("logins"):
        lines += [
            "",
            f"A warm login invocation (a query and one argon2id hash) takes {latency['median']} ms median "
            f"({latency['min']}–{latency['p95']} ms, min–p95, {latency['logins']} logins) on one core of this machine.",
        ]
    return lines + [""], ok_all


def at(runs: list[dict], concurrency: int) -> dict:
    return next((run for run in runs if run["concurrency"] == concurrency), {})


def section_warm(r: dict) -> tuple[list[str], dict]:
    before = json.loads(BEFORE.read_text()) if BEFORE.exists() else {"warm": {}}
    lines = table_start(
        "Warm latency and throughput (devserver, wrk)",
        ["scenario", "concurrency", "req/s", "p50", "p99", "errors", "req/s before"],
        "Production settings: rate limits on (the benchmark client's limits raised; the refusal rows use a "
        "second devserver that keeps the seed's 100 a minute), request logs at info as JSON lines. "
        f"*Before*: the committed results of {before.get('machine', {}).get('date', 'the earlier run')}, "
        "with rate limits off and logs at warn, before the changes in the tuning log.",
    )
    verdicts = {}
    errors = 0
    for title, runs in r["warm"].items():
        for run in runs:
            errors += run["errors"]
            old = at(before["warm"].get(title, []), run["concurrency"]).get("requests_per_second")
            refused = f" ({run['refused']:,} refused)" if run.get("refused") else ""
            lines.append(
                f"| {title} | {run['concurrency']} | {run['requests_per_second']:,}{refused} | {run['p50_ms']} ms | "
                f"{run['p99_ms']} ms | {run['errors']} | {f'{old:,}' if old else '–'} |"
            )
    me_runs = r["warm"]["GET /api/v1/users/me"]
    me = me_runs[0]
    verdicts["me_p50"] = (me["p50_ms"] <= ME_P50_TARGET_MS, f"{me['p50_ms']} ms at concurrency 1")
    me64 = at(me_runs, 64)
    verdicts["me_c64"] = (
        me64["requests_per_second"] >= ME_C64_TARGET_RPS and me64["p99_ms"] <= ME_C64_P99_TARGET_MS and not me64["errors"],
        f"{me64['requests_per_second']:,} req/s, p99 {me64['p99_ms']} ms, {me64['errors']} errors",
    )
    health64 = at(r["warm"]["GET /api/v1/health/simple"], 64)
    verdicts["health_c64"] = (health64["requests_per_second"] >= HEALTH_C64_TARGET_RPS,
                              f"{health64['requests_per_second']:,} req/s")
    refusals = r["warm"].get("GET /api/v1/users/me past its limit (429)")
    if refusals:
        refused64 = at(refusals, 64)
        per_request = refusals[0].get("wal_bytes_per_request")
        cheaper = refused64["requests_per_second"] >= me64["requests_per_second"]
        no_writes = per_request is not None and per_request < 1
        verdicts["refusals"] = (
            cheaper and no_writes,
            f"{refused64['requests_per_second']:,} refusals/s against {me64['requests_per_second']:,} served/s; "
            f"{refusals[0].get('wal_bytes', 0):,} bytes of WAL in all {sum(run['requests'] for run in refusals):,} "
            f"refused requests ({per_request} per request)",
        )
    one = r["warm"]["POST /api/v1/auth/refresh (1 session)"]
    many = r["warm"]["POST /api/v1/auth/refresh (10,000 sessions)"]
    ratios = [m["p50_ms"] / o["p50_ms"] for o, m in zip(one, many) if o["p50_ms"]]
    worst = max(ratios) if ratios else float("inf")
    verdicts["refresh_flat"] = (worst <= 1.25, f"p50 with 10,000 sessions is at most {worst:.2f}× the p50 with 1")
    verdicts["zero_errors"] = (errors == 0, f"{errors} errors in all warm runs")
    invocation = r.get("warm_invocation_ms")
    if invocation and invocation.get("invocations"):
        statuses = ", ".join(f"{count:,} × {status}" for status, count in sorted(invocation["statuses"].items()))
        lines += [
            "",
            f"Warm `GET /api/v1/users/me` invocations of the users-api binary under the local Runtime API, with a "
            f"valid token and the same settings ({invocation['invocations']:,} in a row after a first one; answers: "
            f"{statuses}): {invocation['median']} ms median, {invocation['p99']} ms p99 (min {invocation['min']} ms), "
            "from the event handed out to the response posted: the duration Lambda bills.",
        ]
        all_served = set(invocation["statuses"]) == {"200"} and not invocation["errors"]
        verdicts["invocation"] = (all_served, f"p50 {invocation['median']} ms, p99 {invocation['p99']} ms ({statuses})")
    return lines + [""], verdicts


def main(results_path: str, out_path: str) -> int:
    r = json.loads(Path(results_path).read_text())
    m = r["machine"]
    out = [
        "# Benchmarks",
        "",
        "Regenerate with `scripts/bench` (about 15 minutes after the release build; loopback only).",
        "Numbers are from one run on the machine below; expect a few percent of noise between runs.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}; {m['rustc']}; {m['date']}.",
        "",
    ]
    if r.get("config", {}).get("profile_note"):
        out += [r["config"]["profile_note"], ""]
    targets = []
    sections = [
        ("sizes", section_sizes, "zip ≤ 4 MiB per function", "see Artifact size"),
        ("cold_start", section_cold,
         "cold init ≤ 3× a bare lambda_http hello world (median) and ≤ 30 ms (p95), per function", "see Cold start"),
        ("memory", section_memory, "idle RSS ≤ 20 MiB", "see Memory"),
    ]
    for key, section, target, detail in sections:
        if key in r:
            lines, ok = section(r)
            out += lines
            targets.append((target, ok, detail))
    if "warm" in r:
        lines, verdicts = section_warm(r)
        out += lines
        targets.append(("`/users/me` ≥ 17,500 req/s at concurrency 64, p99 ≤ 10 ms, no errors", *verdicts["me_c64"]))
        targets.append(("`/health/simple` ≥ 60,000 req/s at concurrency 64", *verdicts["health_c64"]))
        if "refusals" in verdicts:
            targets.append(("a client past its limit: refusals cheaper than served requests, no write per refusal",
                            *verdicts["refusals"]))
        if "invocation" in verdicts:
            targets.append(("warm `/users/me` Lambda invocation: p50 and p99 reported", *verdicts["invocation"]))
        targets.append(("warm `/users/me` p50 ≤ 2 ms at concurrency 1", *verdicts["me_p50"]))
        targets.append(("refresh cost flat from 1 to 10,000 sessions", *verdicts["refresh_flat"]))
        targets.append(("zero errors in every run", *verdicts["zero_errors"]))
    latency = r.get("login_latency_ms")
    if latency and latency.get("logins"):
        answers = latency.get("statuses", {})
        unhashed = set(answers) - {"401"}
        targets.append(("login ≤ 40 ms on one core (warm invocation, median)",
                        latency["median"] <= LOGIN_TARGET_MS and not unhashed,
                        f"{latency['median']} ms (answers: {answers})"))
    table = ["## Performance targets", "", "| target | result | detail |", "|---|---|---|"]
    table += [f"| {name} | {verdict(ok)} | {detail} |" for name, ok, detail in targets]
    out = out[:7] + table + [""] + out[7:]
    # The tuning log is written by hand: what changed, and the numbers before and after.
    tuning = Path(__file__).resolve().parent / "tuning.md"
    if tuning.exists():
        out += ["", tuning.read_text().rstrip()]
    Path(out_path).write_text("\n".join(out).rstrip() + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    sys.exit(main(sys.argv[1], sys.argv[2]))
