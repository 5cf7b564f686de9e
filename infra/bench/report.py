"""Writes BENCHMARKS.md from the JSON results of run.py, with each performance target marked.

Usage: report.py RESULTS.json BENCHMARKS.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

INIT_TARGET_MS = 30
ZIP_TARGET_BYTES = 4 * 1024 * 1024
RSS_TARGET_KIB = 30 * 1024
ME_P50_TARGET_MS = 2.0


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
    lines = table_start(
        "Cold start (local Runtime API)",
        ["function", "init min", "init median", "init p95", "first response median", "p95", "first event", "≤ 30 ms"],
        f"Process spawn to the first `next` call (init) and to the first response posted, {runs} runs each.",
    )
    ok_all = True
    for name, c in r["cold_start"].items():
        if "init_ms" not in c:
            ok_all = False
            lines.append(f"| {name} | failed: {c['errors']} | | | | | | **not met** |")
            continue
        ok = c["init_ms"]["p95"] <= INIT_TARGET_MS and not c["errors"]
        ok_all &= ok
        i, f = c["init_ms"], c["first_response_ms"]
        lines.append(
            f"| {name} | {i['min']} ms | {i['median']} ms | {i['p95']} ms | {f['median']} ms | {f['p95']} ms | "
            f"{c['exercises']} → {', '.join(c['statuses'])} | {verdict(ok)} |"
        )
    return lines + [""], ok_all


def section_memory(r: dict) -> tuple[list[str], bool]:
    lines = table_start("Memory (resident set)", ["function", "after init", "invocations", "after them", "peak", "≤ 30 MiB idle"])
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


def section_warm(r: dict) -> tuple[list[str], dict]:
    lines = table_start("Warm latency and throughput (devserver, wrk)", ["scenario", "concurrency", "req/s", "p50", "p99", "errors"])
    verdicts = {}
    errors = 0
    for title, runs in r["warm"].items():
        for run in runs:
            errors += run["errors"]
            lines.append(
                f"| {title} | {run['concurrency']} | {run['requests_per_second']:,} | {run['p50_ms']} ms | "
                f"{run['p99_ms']} ms | {run['errors']} |"
            )
    me = r["warm"]["GET /api/v1/users/me"][0]
    verdicts["me_p50"] = (me["p50_ms"] <= ME_P50_TARGET_MS, f"{me['p50_ms']} ms at concurrency 1")
    one = r["warm"]["POST /api/v1/auth/refresh (1 session)"]
    many = r["warm"]["POST /api/v1/auth/refresh (10,000 sessions)"]
    ratios = [m["p50_ms"] / o["p50_ms"] for o, m in zip(one, many) if o["p50_ms"]]
    worst = max(ratios) if ratios else float("inf")
    verdicts["refresh_flat"] = (worst <= 1.25, f"p50 with 10,000 sessions is at most {worst:.2f}× the p50 with 1")
    verdicts["zero_errors"] = (errors == 0, f"{errors} errors in all warm runs")
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
        ("cold_start", section_cold, "cold init ≤ 30 ms per function (p95)", "see Cold start"),
        ("memory", section_memory, "idle RSS ≤ 30 MiB", "see Memory"),
    ]
    for key, section, target, detail in sections:
        if key in r:
            lines, ok = section(r)
            out += lines
            targets.append((target, ok, detail))
    if "warm" in r:
        lines, verdicts = section_warm(r)
        out += lines
        targets.append(("warm `/users/me` p50 ≤ 2 ms at concurrency 1", *verdicts["me_p50"]))
        targets.append(("refresh cost flat from 1 to 10,000 sessions", *verdicts["refresh_flat"]))
        targets.append(("zero errors in every run", *verdicts["zero_errors"]))
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
