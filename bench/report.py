#!/usr/bin/env python3
"""Composes bench/run's phases into one table (markdown on stdout): the peer harness's JSON
summaries (one worker pinned; two workers unpinned), bench/h2load.sh's table and the
instructions per request, with issue 15's goals beside the figures.

Usage: bench/report.py RESULTS_DIR COMMIT
"""
import glob
import json
import os
import re
import sys

CONFIG = {  # harness target -> the config whose instructions per request sit beside it
    "plain": "portcullis.toml",
    "realistic": "portcullis-realistic.toml",
    "cache-hit": "portcullis-cached.toml",
}


def summary(d):
    files = sorted(glob.glob(os.path.join(d, "*.json")))
    if not files:
        return {}, {}
    run = json.load(open(files[-1]))
    return run["summary"], run.get("idle", {})


def instructions(d):
    out = {}
    path = os.path.join(d, "instructions.md")
    if os.path.exists(path):
        for line in open(path):
            m = re.match(r"\|\s*(\S+)\s*\|\s*(\d+)\s*\|", line)
            if m:
                out[os.path.basename(m.group(1))] = int(m.group(2))
    return out


def num(v, fmt):
    return "—" if v is None or v != v else format(v, fmt)


def main():
    d, commit = sys.argv[1], sys.argv[2]
    one, idle = summary(os.path.join(d, "one"))
    two, _ = summary(os.path.join(d, "two"))
    ir = instructions(d)
    print(f"# Performance, {os.path.basename(d)} (commit {commit})\n")
    print("`bench/run` on this machine. Ratios are medians of per-round paired ratios to nginx")
    print("in the same run; absolute figures drift with the host, ratios much less. Every row")
    print("requests the same path, `/api/items?access_token=<RS256 JWT>` (the realistic route")
    print("reads the token from the query; the harness sends no headers), and so do the")
    print("instruction counts beside them.\n")
    print("## One worker each, proxy pinned to CPU 1\n")
    print("| target | proxy CPU µs/req | CPU/req vs nginx | rps | p99 ms | fixed-rate p99 ms "
          "| RSS idle MiB | KiB per idle conn | backend µs/req | instructions/req |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, s in one.items():
        i = idle.get(name, {})
        print(f"| {name} | {num(s['proxy_us_per_req'], '.2f')} | {num(s['cpu_ratio'], '.3f')} "
              f"| {num(s['rps'], ',.0f')} | {num(s['p99_ms'], '.3f')} "
              f"| {num(s['fixed_p99_ms'], '.3f')} | {num(s['rss_idle_kb'] / 1024, '.1f')} "
              f"| {num(i.get('kb_per_conn'), '.2f')} | {num(s['backend_us_per_req'], '.2f')} "
              f"| {num(ir.get(CONFIG.get(name, '')), ',')} |")
    if two:
        print("\n## Two workers each, nothing pinned (nginx `worker_processes 2`, "
              "Portcullis `--threads 2`)\n")
        print("| target | proxy CPU µs/req | CPU/req vs nginx | rps | rps vs own one-worker |")
        print("|---|---:|---:|---:|---:|")
        for name, s in two.items():
            base = one.get(name, {}).get("rps")
            scale = s["rps"] / base if base else None
            print(f"| {name} | {num(s['proxy_us_per_req'], '.2f')} "
                  f"| {num(s['cpu_ratio'], '.3f')} | {num(s['rps'], ',.0f')} "
                  f"| {num(scale, '.2f')} |")
    h2 = os.path.join(d, "h2.md")
    if os.path.exists(h2):
        print("\n## HTTP/2 (`bench/h2load.sh`, h2c, 8 connections x 10 streams)\n")
        text = open(h2).read()
        print(text[text.find("| target | proxy CPU"):].strip())
        if "portcullis-h2.toml" in ir:
            print(f"\nInstructions per HTTP/2 request: {ir['portcullis-h2.toml']:,}")
    print("\n## Against the goals of issue 15\n")
    goals = [
        ("plain route CPU/req vs nginx", one.get("plain", {}).get("cpu_ratio"), 1.0),
        ("realistic route vs nginx's plain", one.get("realistic", {}).get("cpu_ratio"), 1.1),
        ("cache hit vs nginx's plain", one.get("cache-hit", {}).get("cpu_ratio"), 0.5),
        ("KiB per idle keep-alive connection", idle.get("plain", {}).get("kb_per_conn"), 4.0),
        ("RSS idle MiB", (one.get("plain", {}).get("rss_idle_kb") or 0) / 1024 or None, 8.0),
        ("two workers: CPU/req vs nginx", two.get("plain", {}).get("cpu_ratio"), 1.0),
    ]
    print("| goal | figure | bar | met |\n|---|---:|---:|---|")
    for name, v, bar in goals:
        met = "—" if v is None else ("yes" if v <= bar else "no")
        print(f"| {name} | {num(v, '.3f')} | ≤ {bar} | {met} |")
    if two.get("plain") and one.get("plain"):
        s = two["plain"]["rps"] / one["plain"]["rps"]
        print(f"| two workers: rps vs own one-worker | {s:.2f} | ≥ 1.8 | "
              f"{'yes' if s >= 1.8 else 'no'} |")


main()
