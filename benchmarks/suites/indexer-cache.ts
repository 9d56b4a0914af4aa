// SPEC §2: quantize-and-store and gather throughput against the copy floor.
import { gatherK, IndexerKCache, storeK, Stream, Tensor, f32ToBf16 } from '../../lib';
import { graphTime, hostTime } from '../timing';
import { BenchResult, Suite, withFloor } from '../types';

const D = 128;

export const indexerCacheSuite: Suite = {
  name: 'indexer-cache',
  description: 'fp8 K store (quantize + preshuffled write) and gather at T tokens',
  inDefaultSet: true,
  async run(ctx) {
    const out: BenchResult[] = [];
    const gpu = ctx.device !== 'cpu';
    const sizes = gpu ? (ctx.quick ? [4096, 65536] : [64, 4096, 16384, 65536]) : [64, 4096];
    for (const layout of ['preshuffle', 'plain'] as const) {
      for (const T of sizes) {
        ctx.progress(`indexer-cache ${layout} T=${T}`);
        const P = 64;
        const pages = Math.ceil(T / P) + 1;
        const cache = IndexerKCache.alloc(pages, { pageSize: P, layout, device: ctx.device });
        const kHost = new Uint16Array(T * D);
        for (let i = 0; i < kHost.length; i++) kHost[i] = f32ToBf16(Math.sin(i * 0.37) * 3);
        const k = Tensor.from(kHost, [T, D], { dtype: 'bfloat16', device: ctx.device });
        // contiguous slots starting mid-page, the common prefill pattern
        const slots = Tensor.from(BigInt64Array.from({ length: T }, (_, i) => BigInt(i + 13)), [T], { dtype: 'int64', device: ctx.device });
        const order = Array.from({ length: pages }, (_, i) => (i * 7919) % pages);
        const bt = Tensor.from(Int32Array.from(order), [1, pages], { dtype: 'int32', device: ctx.device });
        const cu = Tensor.from(Int32Array.from([0, T]), [2], { dtype: 'int32', device: ctx.device });
        storeK(cache, k, slots);
        const gathered = gatherK(cache, bt, cu, { numTokens: T });
        const storeBytes = T * (2 * D + 8 + D + 4);
        const gatherBytes = T * 2 * (D + 4) + (pages + 2) * 4;
        if (gpu) {
          const stream = Stream.create(ctx.device);
          const st = graphTime(stream, () => storeK(cache, k, slots, { stream }), { callsPerGraph: 10 });
          const ga = graphTime(stream, () => gatherK(cache, bt, cu, { numTokens: T, stream, out: gathered }), { callsPerGraph: 10 });
          stream.dispose();
          out.push(withFloor({ suite: 'indexer-cache', case: `store ${layout} p${P} T=${T}`, device: ctx.device, us: st.us, bytes: storeBytes }, ctx));
          out.push(withFloor({ suite: 'indexer-cache', case: `gather ${layout} p${P} T=${T}`, device: ctx.device, us: ga.us, bytes: gatherBytes }, ctx));
        } else {
          const st = hostTime(() => storeK(cache, k, slots), { iters: 3, repeats: 3, warmup: 1 });
          const ga = hostTime(() => gatherK(cache, bt, cu, { numTokens: T, out: gathered }), { iters: 3, repeats: 3, warmup: 1 });
          out.push(withFloor({ suite: 'indexer-cache', case: `store ${layout} p${P} T=${T} [cpu]`, device: 'cpu', us: st.us, bytes: storeBytes }, ctx));
          out.push(withFloor({ suite: 'indexer-cache', case: `gather ${layout} p${P} T=${T} [cpu]`, device: 'cpu', us: ga.us, bytes: gatherBytes }, ctx));
        }
        for (const t of [k, slots, bt, cu, gathered.k, gathered.scale]) t.dispose();
        cache.dispose();
      }
    }
    return out;
  },
};
