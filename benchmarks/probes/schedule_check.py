# Lane-level emulation of the sm_90a MQA kernel's schedule() (csrc/ops/mqa_logits/mqa_logits_sm90.cu):
# for random batches (1..3000 requests, tile counts 0..2000) and grids, every CTA's slice
# [tile(c0), tile(c1)) must tile [0, total) exactly once, and (first_b, first_tile) must name its first
# tile. Both paths: <= kKept * 32 requests walked from registers, more as per-lane blocks + one scan.
# Run after changing schedule(), walk() or cost_of():  python3 benchmarks/probes/schedule_check.py
import random
SW, KEPT = 3, 4
def cost_of(t): return t + SW if t > 0 else 0
def scan(v):
    out, acc = [], 0
    for x in v: acc += x; out.append(acc)
    return out
def ffs(bits): return next(i for i, b in enumerate(bits) if b)
def walk(tiles_of, x0, x1, T, b0, b1, acc_cost, acc_tiles):
    tile0, tile1, found0, fb, ft = 0, T, False, -1, 0
    c = b0
    while c < b1:
        t = [tiles_of[c + l] if c + l < b1 else 0 for l in range(32)]
        k = [cost_of(v) for v in t]
        it, ik = scan(t), scan(k)
        def locate(x):
            hit = [x < acc_cost + ik[l] for l in range(32)]
            if not any(hit): return -1, 0
            src = ffs(hit)
            return acc_tiles + it[src] - t[src] + min(max(x - (acc_cost + ik[src] - k[src]) - SW, 0), t[src]), src
        if not found0:
            at, src = locate(x0)
            if at >= 0: found0, tile0, fb, ft = True, at, c + src, at - (acc_tiles + it[src] - t[src])
        at1, _ = locate(x1)
        if at1 >= 0: tile1 = at1; break
        acc_cost += ik[31]; acc_tiles += it[31]; c += 32
    return (tile0, tile1 - tile0, fb, ft) if found0 else None
def schedule(tiles_of, grid, per_sm, cta):
    R = len(tiles_of)
    T = sum(tiles_of); C = sum(cost_of(t) for t in tiles_of)
    sms = grid // per_sm
    s = (cta % sms) * per_sm + cta // sms if grid % per_sm == 0 else cta
    c0, c1 = C * s // grid, C * (s + 1) // grid
    if c0 >= c1: return None
    if R <= KEPT * 32: return walk(tiles_of, c0, c1, T, 0, R, 0, 0)
    pl = (R + 31) // 32
    b0 = [min(l * pl, R) for l in range(32)]; b1 = [min(b0[l] + pl, R) for l in range(32)]
    tl = [sum(tiles_of[b0[l]:b1[l]]) for l in range(32)]; cl = [sum(cost_of(t) for t in tiles_of[b0[l]:b1[l]]) for l in range(32)]
    it, ic = scan(tl), scan(cl)
    s0 = ffs([c0 < ic[l] for l in range(32)])
    s1 = ffs([c1 < ic[l] for l in range(32)]) if c1 < C else s0
    return walk(tiles_of, c0, c1, T, b0[s0], b1[s1], ic[s0] - cl[s0], it[s0] - tl[s0])
random.seed(1)
for trial in range(300):
    R = random.choice([1, 2, 5, 31, 32, 33, 64, 100, 128, 129, 500, 1024, 2048, 3000])
    tiles_of = [random.choice([0, 0, 1, 2, 3, 17, 128, random.randint(0, 2000)]) for _ in range(R)]
    grid = random.choice([132, 264, 528, 7, 1]); per_sm = random.choice([1, 2, 4]) if grid >= 4 else 1
    T = sum(tiles_of); starts = [sum(tiles_of[:b]) for b in range(R)]
    got = []
    for cta in range(grid):
        r = schedule(tiles_of, grid, per_sm, cta)
        if r is None or r[1] == 0: continue
        t0, n, fb, ft = r
        assert starts[fb] + ft == t0 and ft < tiles_of[fb], (trial, cta, r)
        got.append((t0, n))
    got.sort(); pos = 0
    for t0, n in got:
        assert t0 == pos, (trial, got[:5]); pos += n
    assert pos == T, (trial, pos, T)
print('ok')
