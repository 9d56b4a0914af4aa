# Summarises mqa_trace.js output for the last call: times (µs) relative to the earliest CTA entry.
import sys, statistics as st
calls, cur = [], None
for line in sys.stdin:
    if line.startswith("CALL"):
        cur = []; calls.append(cur)
    elif line.startswith("T ") and cur is not None:
        f = line.split(); cur.append([int(v) for v in f[1:]])
rows = calls[-1]
t0 = min(r[3] for r in rows)
def us(v): return (v - t0) / 1000
work = [r for r in rows if r[2] > 0]
def q(name, vals):
    vals = sorted(vals)
    print(f"{name:28s} min {vals[0]:7.2f}  p50 {vals[len(vals)//2]:7.2f}  p90 {vals[int(len(vals)*.9)]:7.2f}  max {vals[-1]:7.2f}")
print(f"CTAs {len(rows)}, with tiles {len(work)}, tiles/CTA {min(r[2] for r in work)}..{max(r[2] for r in work)}")
q("entry", [us(r[3]) for r in rows])
q("lengths summed (tid 0)", [us(r[9]) for r in rows])
q("schedule done", [us(r[4]) for r in rows])
q("producer: first request end", [us(r[10]) for r in work])
q("producer: block table read", [us(r[11]) for r in work])
q("first TMA issued", [us(r[5]) for r in work])
q("first tile landed", [us(r[6]) for r in work])
q("q staged", [us(r[7]) for r in work])
q("exit", [us(r[8]) for r in rows])
q("exit - first landed", [(r[8] - r[6]) / 1000 for r in work])
