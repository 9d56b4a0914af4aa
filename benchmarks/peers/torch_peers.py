"""What a user would otherwise write in PyTorch, timed on the same GPU in the same call as nsa-bench.

  python3 benchmarks/peers/torch_peers.py --json OUT.json

Suites: memcpy (device copy bandwidth), metadata-copy (per-tensor copy_ eager / graph-replayed,
_foreach_copy_), indexer-store (quantize + preshuffled scatter in torch ops), paged MQA logits and
torch.topk, ragged (prefill) logits.
Timing: CUDA events around many calls, median of 7 repeats (as nsa-bench).
"""
import argparse
import json
import statistics

import torch

PAGE = 64
D = 128


def time_events(fn, iters=50, repeats=7, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(iters):
            fn()
        b.record()
        b.synchronize()
        samples.append(a.elapsed_time(b) * 1000 / iters)
    return statistics.median(samples)


def time_graph(fn, calls=20):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        fn()  # warm
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(calls):
            fn()
    return time_events(g.replay, iters=20) / calls


def memcpy(results):
    for mib in (1, 256, 1024):
        n = mib * (1 << 20) // 4
        a = torch.randn(n, device="cuda")
        b = torch.empty_like(a)
        us = time_events(lambda: b.copy_(a), iters=10)
        results.append({"suite": "memcpy", "case": f"torch copy_ {mib} MiB", "us": us, "gbps": 2 * n * 4 / us / 1e3})


def metadata_sets(mode, bs, max_len, n):
    rows = bs if mode == "decode" else 2 * bs
    real_w = (max_len + PAGE - 1) // PAGE

    def one():
        f = {
            "cache_seqlens": torch.randint(0, 1000, (bs,), dtype=torch.int32, device="cuda"),
            "cu_seqlens_k": torch.randint(0, 1000, (bs + 1,), dtype=torch.int32, device="cuda"),
            "page_table": torch.randint(0, 1000, (rows, max_len), dtype=torch.int32, device="cuda"),
            "nsa_cache_seqlens": torch.randint(0, 1000, (rows,), dtype=torch.int32, device="cuda"),
            "nsa_cu_seqlens_k": torch.randint(0, 1000, (rows + 1,), dtype=torch.int32, device="cuda"),
            "real_page_table": torch.randint(0, 1000, (rows, real_w), dtype=torch.int32, device="cuda"),
            "flashmla_num_splits": torch.randint(0, 1000, (rows + 1,), dtype=torch.int32, device="cuda"),
            "flashmla_metadata": torch.randint(0, 1000, (1056,), dtype=torch.int32, device="cuda"),
        }
        if mode != "decode":
            f["seqlens_expanded"] = torch.randint(0, 1000, (rows,), dtype=torch.int32, device="cuda")
        return f

    return one(), [one() for _ in range(n)]


def metadata_copy(results, quick):
    shapes = [("decode", 64, 4096, 3), ("decode", 1, 4096, 3), ("target_verify", 64, 4096, 3)]
    if not quick:
        shapes += [("decode", 64, 32768, 3), ("decode", 64, 4096, 8), ("decode", 8, 4096, 1)]
    for mode, bs, max_len, n in shapes:
        src, dsts = metadata_sets(mode, bs, max_len, n)

        def per_tensor():
            for d in dsts:
                d["cache_seqlens"][:bs].copy_(src["cache_seqlens"])
                d["cu_seqlens_k"][1:].copy_(src["cu_seqlens_k"][1:])
                d["page_table"].copy_(src["page_table"])
                if "seqlens_expanded" in src:
                    d["seqlens_expanded"].copy_(src["seqlens_expanded"])
                d["nsa_cache_seqlens"].copy_(src["nsa_cache_seqlens"])
                d["nsa_cu_seqlens_k"][1:].copy_(src["nsa_cu_seqlens_k"][1:])
                d["real_page_table"].copy_(src["real_page_table"])
                d["flashmla_num_splits"].copy_(src["flashmla_num_splits"])
                d["flashmla_metadata"].copy_(src["flashmla_metadata"])

        keys = list(src.keys())
        dst_list = [d[k] for d in dsts for k in keys]
        src_list = [src[k] for _ in dsts for k in keys]

        def foreach():
            torch._foreach_copy_(dst_list, src_list)

        name = f"{mode} bs={bs} len={max_len} dsts={n}"
        eager = time_events(per_tensor, iters=20)
        graph = time_graph(per_tensor, calls=5)
        fe = time_events(foreach, iters=20)
        results.append({"suite": "metadata-copy", "case": f"torch per-tensor {name}", "us": graph, "extra": {"eagerUs": eager, "foreachEagerUs": fe, "timing": "graph-replayed per call"}})


def indexer_store(results, quick):
    """Quantize bf16 K to fp8 with ue8m0 scales and scatter into the preshuffled page layout."""
    for T in (4096, 16384, 65536) if not quick else (16384, 65536):
        pages = T // PAGE + 1
        cache = torch.zeros(pages, PAGE * (D + 4), dtype=torch.uint8, device="cuda")
        kbytes = cache[:, : PAGE * D].view(pages, PAGE // 16, D // 16, 16, 16)  # [page, tg, ct, ti, ci]
        scales = cache[:, PAGE * D :].view(torch.float32)  # [page, P]
        k = torch.randn(T, D, device="cuda", dtype=torch.bfloat16)
        slots = torch.arange(T, device="cuda", dtype=torch.int64) + 13

        def store():
            kf = k.float()
            amax = kf.abs().amax(dim=1).clamp_min(1e-4)
            scale = torch.exp2(torch.ceil(torch.log2(amax / 448.0)))
            q = (kf * (1.0 / scale)[:, None]).to(torch.float8_e4m3fn).view(torch.uint8)
            page, t = slots // PAGE, slots % PAGE
            kbytes[page, t // 16, :, t % 16, :] = q.view(T, D // 16, 16)
            scales[page, t] = scale

        us = time_events(store, iters=10)
        results.append({"suite": "indexer-cache", "case": f"torch store preshuffle p64 T={T}", "us": us, "bytes": T * (2 * D + 8 + D + 4)})


def mqa_and_topk(results, quick):
    """A straightforward PyTorch paged MQA logits (gather pages, fp8 -> float, einsum) and torch.topk."""
    B, N, H, ctx, P = 64, 1, 64, 8192, 64
    pages = B * ctx // P
    kq = torch.randint(0, 0x7E, (pages, P, D), device="cuda", dtype=torch.uint8).view(torch.float8_e4m3fn)
    ks = torch.rand(pages, P, device="cuda") + 0.5
    bt = torch.randperm(pages, device="cuda", dtype=torch.int32).view(B, ctx // P)
    q = torch.randint(0, 0x7E, (B, N, H, D), device="cuda", dtype=torch.uint8).view(torch.float8_e4m3fn)
    w = torch.randn(B * N, H, device="cuda")

    def logits():
        k = kq[bt.long()].view(B, ctx, D).float()  # gather pages
        s = torch.einsum("bnhd,bkd->bnhk", q.float(), k).relu_()
        return (s * w.view(B, N, H, 1)).sum(2).view(B * N, ctx) * ks[bt.long()].view(B, ctx)

    us = time_events(logits, iters=5)
    g = time_graph(logits, calls=2)
    results.append({"suite": "mqa-logits", "case": f"torch paged logits B={B} ctx={ctx}", "us": g, "extra": {"eagerUs": us}})
    for rows, n in ((64, 8192), (64, 65536)):
        x = torch.randn(rows, n, device="cuda")
        e = time_events(lambda: torch.topk(x, 2048, dim=1), iters=20)
        gg = time_graph(lambda: torch.topk(x, 2048, dim=1), calls=10)
        results.append({"suite": "topk", "case": f"torch.topk 2048 {rows}x{n}", "us": gg, "extra": {"eagerUs": e}})


def ragged_logits(results, quick):
    """A straightforward PyTorch prefill (ragged, causal) indexer score: one GEMM of every query head
    against every key (fp8 -> fp32 or bf16; the causal mask applied after, as a dense op does), relu,
    weighted head sum, key scale, -inf above the diagonal. Comparable with nsa-bench's
    `ragged S=.. Skv=.. causal exact|fast`."""
    S = Skv = 2048 if quick else 4096
    H = 64
    q = torch.randint(0, 0x7E, (S, H, D), device="cuda", dtype=torch.uint8).view(torch.float8_e4m3fn)
    k = torch.randint(0, 0x7E, (Skv, D), device="cuda", dtype=torch.uint8).view(torch.float8_e4m3fn)
    w = torch.randn(S, H, device="cuda")
    scale = torch.rand(Skv, device="cuda") + 0.5
    causal = torch.ones(S, Skv, device="cuda", dtype=torch.bool).tril_()

    def logits(dtype):
        s = torch.matmul(q.to(dtype).view(S * H, D), k.to(dtype).t()).view(S, H, Skv).relu_()
        out = torch.einsum("shk,sh->sk", s.float(), w) * scale
        return out.masked_fill_(~causal, float("-inf"))

    for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        us = time_events(lambda: logits(dtype), iters=3, repeats=3, warmup=1)
        results.append({"suite": "prefill", "case": f"torch ragged logits S={S} Skv={Skv} causal {name}", "us": us, "extra": {"timing": "eager"}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    results = []
    memcpy(results)
    metadata_copy(results, a.quick)
    indexer_store(results, a.quick)
    mqa_and_topk(results, a.quick)
    ragged_logits(results, a.quick)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "results": results}, f, indent=2)
    for r in results:
        print(f"{r['suite']:14s} {r['case']:48s} {r['us']:10.2f} us", json.dumps(r.get("extra", {})))


if __name__ == "__main__":
    main()
