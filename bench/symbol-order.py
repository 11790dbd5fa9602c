#!/usr/bin/env python3
"""callgrind outputs (made with --demangle=no) -> the functions of one binary that ran, hottest
first (self cost summed over the outputs), one mangled symbol name per line.
Usage: symbol-order.py BINARY-NAME OUT...   (bench/symbol-order.sh runs it)"""
import collections
import re
import sys

cost = collections.Counter()
for path in sys.argv[2:]:
    obs, fns = {}, {}
    cur_ob = cur_fn = None
    in_call = False
    for line in open(path, errors="replace"):
        if line.startswith("ob="):
            m = re.match(r"ob=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
            if m:
                if m.group(2): obs[m.group(1)] = m.group(2)
                cur_ob = obs.get(m.group(1))
            else:
                cur_ob = line[3:].strip()
        elif line.startswith("fn="):
            m = re.match(r"fn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
            if m.group(2): fns[m.group(1)] = m.group(2)
            cur_fn = fns.get(m.group(1))
        elif line.startswith(("cfn=", "cfi=", "cfl=", "cob=")):
            m = re.match(r"c(fn|ob)=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
            if m and m.group(3):
                (fns if m.group(1) == "fn" else obs)[m.group(2)] = m.group(3)
        elif line.startswith("calls="):
            in_call = True
        elif line[:1].isdigit() or line[:1] in "+-*":
            if in_call:
                in_call = False
                continue
            parts = line.split()
            if len(parts) >= 2 and cur_ob and cur_ob.endswith(sys.argv[1]) and cur_fn:
                try: cost[cur_fn] += int(parts[1])
                except ValueError: pass
for fn, c in cost.most_common():
    print(fn)
