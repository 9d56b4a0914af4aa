# Model and check of the sm_90a MQA kernel's schedule (csrc/ops/mqa_logits/mqa_logits_sm90.cu,
# `schedule`), on the host:
#  1. coverage: the cost-weighted slicing, written as the kernel does it (32-request chunks, warp
#     scans, ballots), gives every tile to exactly one CTA and a consistent first (request, tile);
#  2. the time model that motivated it: a CTA takes tiles x tile_us + requests x switch_us (H200,
#     fitted: 0.98 / 3.2 us exact, 0.74 / 2.0 us fast, per 4-row tile / request per SM); slices cut by
#     tiles alone (W = 0) reproduce the measured causal prefill times within 6 %; cut by cost (W = 3,
#     measured in session 8) the model runs 7-32 % under the measurements: what is left is per-tile work
#     and a fixed ~20-75 µs the model does not have, not the balance (W = 3..8 moves it by < 3 %).
#   python3 benchmarks/probes/schedule_sim.py
import math, random
W = 3  # kSwitchTiles
def cost_of(t): return t+W if t>0 else 0
def schedule(tiles, G, slice_):
    R=len(tiles); chunks=(R+31)//32
    C=sum(cost_of(t) for t in tiles); T=sum(tiles)
    c0=C*slice_//G; c1=C*(slice_+1)//G
    acc_c=acc_t=0; tile0=0; tile1=T; found0=False; first=None
    c=0
    while c<chunks and c0<c1:
        ts=[tiles[c*32+l] if c*32+l<R else 0 for l in range(32)]
        ks=[cost_of(t) for t in ts]
        it=[sum(ts[:l+1]) for l in range(32)]; ik=[sum(ks[:l+1]) for l in range(32)]
        def locate(x):
            hits=[l for l in range(32) if x<acc_c+ik[l]]
            if not hits: return -1,None
            s=hits[0]; sc=acc_c+ik[s]-ks[s]; st=acc_t+it[s]-ts[s]
            return st+min(max(x-sc-W,0),ts[s]), s
        if not found0:
            at,s=locate(c0)
            if at>=0:
                found0=True; tile0=at; first=(c*32+s, at-(acc_t+it[s]-ts[s]))
        at1,_=locate(c1)
        if at1>=0: tile1=at1; break
        acc_c+=ik[31]; acc_t+=it[31]; c+=1
    return (tile0, (tile1-tile0) if found0 else 0, first)
random.seed(1)
for trial in range(300):
    R=random.choice([1,3,31,32,33,100,129,300,700])
    tiles=[random.choice([0,0,1,2,3,5,16,64,200]) for _ in range(R)]
    G=random.choice([1,2,7,132,264,528])
    covered=[0]*sum(tiles); prefix=[0]
    for t in tiles: prefix.append(prefix[-1]+t)
    for s in range(G):
        t0,n,first=schedule(tiles,G,s)
        for i in range(t0,t0+n): covered[i]+=1
        if n>0:
            b,j=first
            assert prefix[b]+j==t0 and j<tiles[b], (trial,s,first,t0)
    assert all(x==1 for x in covered), (trial, R, G)
print("ok: every tile exactly once, first (request, tile) consistent")

def model(S, prefix, tile_us, sw_us, w, G=132):
    """Slowest CTA's time for a causal chunk of S rows after `prefix` keys, rows 4 per request."""
    req = [math.ceil((prefix + min(S, 4 * g + 4)) / 64) for g in range((S + 3) // 4)]
    cost = [t + w if t > 0 else 0 for t in req]
    C, starts, acc = sum(cost), [], 0
    for c in cost:
        starts.append(acc)
        acc += c
    worst = 0
    for s in range(G):
        c0, c1 = C * s // G, C * (s + 1) // G
        tiles = sw = 0
        for b, t in enumerate(req):
            lo = starts[b] + w
            n = max(0, min(lo + t, c1) - max(lo, c0))
            if n > 0:
                tiles, sw = tiles + n, sw + 1
        worst = max(worst, tiles * tile_us + sw * sw_us)
    return worst

# H200, µs, exact / fast: slices cut by tiles (session 7), then by cost with W = 3 (session 8, merged).
by_tiles = {(2048, 0): (188.9, 116.6), (4096, 0): (516.2, 338.7), (8192, 0): (1531, 1025), (4096, 61440): (7580, 5783)}
by_cost = {(2048, 0): (100.5, 84.7), (4096, 0): (326.7, 264.0), (8192, 0): (1133, 896), (4096, 61440): (7546, 5758)}
for (S, prefix), (exact, fast) in by_tiles.items():
    ce, cf = by_cost[(S, prefix)]
    print(f"S={S} prefix={prefix}: by tiles measured {exact} / {fast}, model {model(S, prefix, 0.98, 3.2, 0):.0f} / "
          f"{model(S, prefix, 0.74, 2.0, 0):.0f}; by cost (W={W}) measured {ce} / {cf}, model {model(S, prefix, 0.98, 3.2, W):.0f} / "
          f"{model(S, prefix, 0.74, 2.0, W):.0f}")
