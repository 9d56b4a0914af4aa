"""table.py OUT: case x variant table (median over rounds, us) from OUT/bench-VARIANT-ROUND.json."""
import collections, glob, json, os, statistics, sys

out = sys.argv[1]
us = collections.defaultdict(lambda: collections.defaultdict(list))
cases, variants = [], []
for f in sorted(glob.glob(os.path.join(out, 'bench-*.json')), key=os.path.getmtime):  # variants in run order
    variant = os.path.basename(f)[len('bench-'):-len('.json')].rsplit('-', 1)[0]
    try:
        results = json.load(open(f))['results']
    except (OSError, ValueError, KeyError):
        continue
    if variant not in variants:
        variants.append(variant)
    for r in results:
        case = f"{r['suite']} | {r['case']}"
        if case not in cases:
            cases.append(case)
        us[case][variant].append(r['us'])
width = max(map(len, cases), default=4)
print('case'.ljust(width), *(v[:10].rjust(10) for v in variants), sep='  ')
for case in cases:
    cells = (('%.2f' % statistics.median(us[case][v])) if us[case][v] else '-' for v in variants)
    print(case.ljust(width), *(c.rjust(10) for c in cells), sep='  ')
