#!/usr/bin/env python3
"""The soak's verdict (scripts/soak): reads the samples, the load generator's per-second CSV and
the gateway's log; prints the figures and exits non-zero on a failed request, a refused or
missing reload, a bounded map past its bound, or RSS / descriptors that grow."""

import csv
import json
import re
import sys


def rows(path):
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def mean(xs):
    return sum(xs) / len(xs) if xs else 0.0


def main():
    samples_path, load_path, log_path, reloads, final, status, load_rc, load_summary = sys.argv[1:9]
    samples, load = rows(samples_path), rows(load_path)
    reloads = int(reloads)
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    log = [ansi.sub("", line) for line in open(log_path, errors="replace").read().splitlines()]
    count = lambda needle: sum(1 for line in log if needle in line)
    problems = []

    sent = sum(r["sent"] for r in load)
    failed = sum(r["bad_status"] + r["errors"] for r in load)
    p99 = max((r["p99_ms"] for r in load), default=0)
    print(f"load: {load_summary}")
    print(f"requests: {sent:.0f} sent, {failed:.0f} failed; worst per-second p99 <= {p99:.1f} ms")
    if failed or load_rc != "0":
        problems.append(f"{failed:.0f} failed requests (load generator exit {load_rc})")

    access = count('"target":"access"') or count(" access: ")
    print(f"access log: {access} lines")

    hup, watched = count("SIGHUP: reloading"), count("config file changed: reloading")
    applied, refused = count("config reloaded"), count("config reload refused")
    generation = json.loads(status or "{}").get("generation", 0)
    print(f"reloads: {reloads} SIGHUPs sent, {hup} handled, {watched} by the file watch, "
          f"{applied} applied (each logged once), {refused} refused; generation {generation}; "
          f"final X-Soak-Config {final!r}")
    if hup != reloads or refused or applied != hup + watched or generation != 1 + applied:
        problems.append("reloads missing, refused or not logged once each")
    if final != str(reloads):
        problems.append(f"the last config is not in force: {final!r} != {reloads}")

    keys = max(r["rate_limit_keys"] for r in samples)
    bound = max(r["rate_limit_max_keys"] for r in samples)
    entries = max(r["cache_entries"] for r in samples)
    cache_bytes = max(r["cache_bytes"] for r in samples)
    print(f"bounded maps: rate-limit keys at most {keys:.0f} (bound {bound:.0f}); "
          f"cache at most {entries:.0f} entries, {cache_bytes / 1024:.0f} KiB")
    if keys > bound or bound == 0:
        problems.append(f"rate-limit keys {keys:.0f} past the bound {bound:.0f}")

    # Flat: the last tenth of the run against the second tenth (after the warm-up).
    n = len(samples)
    warm = samples[n // 10 : max(n // 5, n // 10 + 1)]
    end = samples[n - max(n // 10, 1) :]
    rss_warm = mean([r["rss_kb"] for r in warm]) / 1024
    rss_end = mean([r["rss_kb"] for r in end]) / 1024
    rss_max = max(r["rss_kb"] for r in samples) / 1024
    fds_warm = max(r["fds"] for r in warm)
    fds_end = max(r["fds"] for r in end)
    fds_max = max(r["fds"] for r in samples)
    print(f"RSS: {rss_warm:.1f} MiB after warm-up, {rss_end:.1f} MiB at the end, "
          f"{rss_max:.1f} MiB at most")
    print(f"descriptors: {fds_warm:.0f} after warm-up, {fds_end:.0f} at the end, "
          f"{fds_max:.0f} at most")
    if rss_end > rss_warm * 1.2 + 2:
        problems.append(f"RSS grew: {rss_warm:.1f} -> {rss_end:.1f} MiB")
    if fds_end > fds_warm + 50:
        problems.append(f"descriptors grew: {fds_warm:.0f} -> {fds_end:.0f}")

    for p in problems:
        print(f"FAILED: {p}")
    print("soak: ok" if not problems else "soak: FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
