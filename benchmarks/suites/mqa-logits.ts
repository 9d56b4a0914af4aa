// SPEC §3a paged MQA logits: preshuffled page 64 vs plain page 64 vs the plain page-1 baseline.
import { IndexerKCache, KCacheLayout, type MqaPrecision, pagedMqaLogits, Stream, Tensor, type Device } from '../../lib';
import { graphTime, hostTime } from '../timing';
import { BenchContext, BenchResult, Suite, withFloor } from '../types';
import { lcg32 } from './topk';

const D = 128;

// Distinct K pages generated per shape. The block table walks pages at an odd stride (7919), so when the
// pool size (a power of two) divides the page count, a row of up to kPagePool pages (131072 tokens at
// P = 64) reads no pool page twice, and its logits are distinct but for chance equalities, as real ones are.
const kPagePool = 2048;

// fp8 e4m3fn code for a random byte: its sign, |value| < 16 (codes 0x00-0x57: 0x57 is 2^3 x 1.875), never
// a NaN code.
const FP8_CODE = Uint8Array.from({ length: 256 }, (_, b) => (b & 0x80) | ((b & 0x7f) % 0x58));

/** Fills `out` with fp8 codes, four per step of a xorshift32 generator (every bit of it is random). */
function fp8Codes(out: Uint8Array, seed: number): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    for (let j = 0; j < 4 && i + j < out.length; j++) out[i + j] = FP8_CODE[(x >>> (8 * j)) & 0xff];
  }
}

/**
 * Inputs for one shape: fp8 K (no NaN codes), scales, q, weights, scattered block table. `lens` gives
 * every request its own context length (uneven batches); `ctx` is then the longest.
 */
export function mqaInputs(device: Device, B: number, ctx: number, P: number, layout: KCacheLayout, H = 64, N = 1, lens?: number[]) {
  const maxBlocks = Math.ceil(ctx / P);
  const lengths = lens ?? new Array<number>(B).fill(ctx);
  const numPages = lengths.reduce((a, l) => a + Math.ceil(l / P), 0);
  const pageBytes = P * (D + 4);
  // One page repeated gave every row 8 distinct logits (1024 keys equal to the 2048th largest: a
  // degenerate top-k in decode-step and the pipeline); now a pool of distinct pages (kPagePool).
  const poolPages = Math.min(numPages, kPagePool);
  const pool = new Uint8Array(poolPages * pageBytes);
  const seed = 0x6b5f + B * 31 + ctx;
  const next = lcg32(seed);
  for (let pg = 0; pg < poolPages; pg++) {
    const at = pg * pageBytes;
    fp8Codes(pool.subarray(at, at + P * D), seed * 7919 + pg);
    const scales = new Float32Array(pool.buffer, at + P * D, P);
    for (let t = 0; t < P; t++) scales[t] = 0.5 + next() / 2 ** 33;  // [0.5, 1)
  }
  const cacheHost = new Uint8Array(numPages * pageBytes);
  for (let pg = 0; pg < numPages; pg++) cacheHost.set(pool.subarray((pg % poolPages) * pageBytes, (pg % poolPages + 1) * pageBytes), pg * pageBytes);
  const cache = new IndexerKCache(Tensor.from(cacheHost, [numPages, pageBytes], { dtype: 'uint8', device }), { pageSize: P, layout });
  const bt = new Int32Array(B * maxBlocks);
  for (let b = 0, next = 0; b < B; b++) for (let j = 0; j < Math.ceil(lengths[b] / P); j++) bt[b * maxBlocks + j] = (next++ * 7919) % numPages;
  const tokens = lengths.reduce((a, l) => a + l, 0);
  const q = new Uint8Array(B * N * H * D);
  fp8Codes(q, seed ^ 0x51ed);
  return {
    cache,
    q: Tensor.from(q, [B, N, H, D], { dtype: 'float8_e4m3fn', device }),
    w: Tensor.from(Float32Array.from({ length: B * N * H }, (_, i) => Math.sin(i)), [B * N, H], { device }),
    cl: Tensor.from(Int32Array.from(lengths), [B], { device }),
    bt: Tensor.from(bt, [B, maxBlocks], { device }),
    out: Tensor.empty([B * N, ctx], { dtype: 'float32', device }),
    bytes: tokens * (D + 4) + B * N * H * (D + 4) + N * tokens * 4 + numPages * 4,
    flops: 2 * N * H * tokens * D,
    dispose() {
      for (const t of [this.q, this.w, this.cl, this.bt, this.out]) t.dispose();
      cache.dispose();
    },
  };
}

function timeOne(ctx: BenchContext, stream: Stream, B: number, len: number, P: number, layout: KCacheLayout, lens?: number[], N = 1, precision: MqaPrecision = 'exact'): { us: number; bytes: number; flops: number } {
  const x = mqaInputs(ctx.device, B, len, P, layout, 64, N, lens);
  try {
    const run = () => pagedMqaLogits(x.q, x.cache, x.w, x.cl, x.bt, { maxContextLen: len, out: x.out, stream, precision });
    const t = ctx.device === 'cpu' ? hostTime(run, { iters: 1, repeats: 3, warmup: 1 }) : graphTime(stream, run, { callsPerGraph: 10, iters: 10 });
    return { us: t.us, bytes: x.bytes, flops: x.flops };
  } finally {
    x.dispose();
  }
}

export const mqaLogitsSuite: Suite = {
  name: 'mqa-logits',
  description: 'paged MQA logits (H=64): preshuffle p64 vs plain p64 vs plain p1 baseline; next_n 2-4 at B=64 ctx=8192',
  inDefaultSet: true,
  async run(ctx) {
    const out: BenchResult[] = [];
    const gpu = ctx.device !== 'cpu';
    const stream = gpu ? Stream.create(ctx.device) : (undefined as unknown as Stream);
    const shapes: [number, number][] = !gpu ? [[2, 512]] : ctx.quick ? [[64, 8192], [1, 65536]] : [[64, 8192], [1, 2048], [1, 65536], [1, 131072], [16, 8192], [16, 65536], [64, 2048], [64, 65536], [128, 8192], [128, 65536]];
    for (const [B, len] of shapes) {
      ctx.progress(`mqa-logits B=${B} ctx=${len}`);
      const pre = timeOne(ctx, stream, B, len, 64, 'preshuffle');
      const plain = timeOne(ctx, stream, B, len, 64, 'plain');
      const p1 = B * len <= 64 * 65536 ? timeOne(ctx, stream, B, len, 1, 'plain') : undefined;
      const tflops = (f: number, us: number) => +(f / us / 1e6).toFixed(1);
      out.push(withFloor({ suite: 'mqa-logits', case: `B=${B} ctx=${len} preshuffle p64`, device: ctx.device, us: pre.us, bytes: pre.bytes, baseline: p1 ? 'plain p1' : undefined, baselineUs: p1?.us, extra: { tflops: tflops(pre.flops, pre.us), plainP64Us: +plain.us.toFixed(2) } }, ctx));
      out.push(withFloor({ suite: 'mqa-logits', case: `B=${B} ctx=${len} plain p64`, device: ctx.device, us: plain.us, bytes: plain.bytes, extra: { tflops: tflops(plain.flops, plain.us) } }, ctx));
      if (p1) out.push(withFloor({ suite: 'mqa-logits', case: `B=${B} ctx=${len} plain p1 (baseline)`, device: ctx.device, us: p1.us, bytes: p1.bytes + B * len * 4, extra: { tflops: tflops(p1.flops, p1.us) } }, ctx));
    }
    if (gpu) {
      // Uneven batch: one request at 128k, 63 at 1k. The work is split over SMs by tiles, not requests.
      const lens = [131072, ...new Array<number>(63).fill(1024)];
      ctx.progress('mqa-logits uneven 1x128k + 63x1k');
      const pre = timeOne(ctx, stream, 64, 131072, 64, 'preshuffle', lens);
      out.push(withFloor({ suite: 'mqa-logits', case: 'B=64 uneven 1x131072+63x1024 preshuffle p64', device: ctx.device, us: pre.us, bytes: pre.bytes, extra: { tflops: +(pre.flops / pre.us / 1e6).toFixed(1) } }, ctx));
      // Speculative decode (issue #17): next_n query tokens per request over the same K, both precisions
      // (fast: fp8 tensor cores). The bytes are the K read once; the FLOP grow with N. N = 1 only in DeepGEMM's
      // precision, fast (29.33 us in PEERS.md): "B=64 ctx=8192 preshuffle p64" above is N = 1 exact.
      for (const N of [1, 2, 3, 4])
        for (const precision of N === 1 ? (['fast'] as const) : (['exact', 'fast'] as const)) {
          ctx.progress(`mqa-logits B=64 ctx=8192 N=${N} ${precision}`);
          const t = timeOne(ctx, stream, 64, 8192, 64, 'preshuffle', undefined, N, precision);
          out.push(withFloor({ suite: 'mqa-logits', case: `B=64 ctx=8192 N=${N} preshuffle p64 ${precision}`, device: ctx.device, us: t.us, bytes: t.bytes, extra: { tflops: +(t.flops / t.us / 1e6).toFixed(1) } }, ctx));
        }
      stream.dispose();
    }
    return out;
  },
};
