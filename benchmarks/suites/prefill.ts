// Prefill indexer (issue #16): ragged MQA logits over causal chunks (row i of a chunk of S queries after
// a prefix of Skv - S tokens sees positions [0, Skv - S + i + 1)), and the top-k over 8192 causal rows
// (row i has i + 1 keys). Reports µs, TFLOP/s (2 x valid pairs x H x 128) and % of the H100's dense
// tensor-core peak for the precision (f16 989 TFLOP/s for `exact`, fp8 1979 for `fast`). Graph replay
// on the GPU, small shapes on the CPU.
import { raggedMqaLogits, Stream, Tensor, topk, type Device } from '../../lib';
import { TENSOR_PEAK_TFLOPS } from '../report/data';
import { graphTime, hostTime } from '../timing';
import { BenchResult, Suite, withFloor } from '../types';
import { lcg32, uniformLogits } from './topk';

const D = 128, H = 64;

/** Inputs of one causal chunk: S queries after Skv - S prefix tokens (also probes/ncu_cases.js). */
export function causalChunk(device: Device, S: number, Skv: number) {
  const bytes = (n: number, seed: number) => {
    const a = new Uint8Array(n);
    const next = lcg32(seed);
    for (let i = 0; i < n; i++) a[i] = (next() >>> 24) & 0x7e; // positive fp8, no NaN codes
    return a;
  };
  const prefix = Skv - S;
  const ks = new Int32Array(S), ke = Int32Array.from({ length: S }, (_, i) => prefix + i + 1);
  const t = {
    q: Tensor.from(bytes(S * H * D, 1), [S, H, D], { dtype: 'float8_e4m3fn', device }),
    k: Tensor.from(bytes(Skv * D, 2), [Skv, D], { dtype: 'float8_e4m3fn', device }),
    kScale: Tensor.full([Skv], 0.01, { device }),
    w: Tensor.from(Float32Array.from({ length: S * H }, (_, i) => Math.sin(i)), [S, H], { device }),
    ks: Tensor.from(ks, [S], { device }),
    ke: Tensor.from(ke, [S], { device }),
    out: Tensor.empty([S, Skv], { device }),
  };
  const pairs = S * prefix + (S * (S + 1)) / 2;
  return { ...t, flops: 2 * pairs * H * D, dispose: () => Object.values(t).forEach((x) => x.dispose()) };
}

export const prefillSuite: Suite = {
  name: 'prefill',
  description: 'prefill indexer: ragged logits over causal chunks (TFLOP/s, % of tensor-core peak), top-k over causal rows',
  inDefaultSet: true,
  async run(ctx) {
    const gpu = ctx.device !== 'cpu';
    const out: BenchResult[] = [];
    const stream = gpu ? Stream.create(ctx.device) : undefined;
    const time = (fn: () => void, heavy: boolean) =>
      gpu ? graphTime(stream!, fn, { callsPerGraph: heavy ? 1 : 3, iters: heavy ? 3 : 5, repeats: heavy ? 3 : 5 }) : hostTime(fn, { iters: 1, repeats: 3, warmup: 1 });
    const shapes: [number, number][] = gpu ? (ctx.quick ? [[2048, 2048], [8192, 8192]] : [[2048, 2048], [4096, 4096], [8192, 8192], [4096, 65536]]) : [[256, 256]];
    for (const [S, Skv] of shapes) {
      const c = causalChunk(ctx.device, S, Skv);
      try {
        for (const precision of ['fast', 'exact'] as const) {
          const name = `ragged S=${S} Skv=${Skv} causal ${precision}`;
          ctx.progress(`prefill ${name}`);
          const t = time(() => raggedMqaLogits(c.q, c.k, c.kScale, c.w, c.ks, c.ke, { out: c.out, stream, precision }), Skv * S > 16e6);
          const tflops = c.flops / t.us / 1e6, peak = TENSOR_PEAK_TFLOPS[precision === 'fast' ? 'fp8' : 'f16'];
          out.push({ suite: 'prefill', case: name, device: ctx.device, us: t.us, extra: { tflops: +tflops.toFixed(1), pctOfPeak: +((100 * tflops) / peak).toFixed(1) } });
        }
      } finally {
        c.dispose();
      }
    }
    // Top-k over the causal rows of an 8192-token prefill: row i has i + 1 keys (rows <= 2048 trivial).
    const R = gpu ? 8192 : 3000;
    const name = `topk prefill ${R} causal rows`;
    ctx.progress(name);
    const logits = Tensor.from(uniformLogits(R * R, 99), [R, R], { device: ctx.device });
    const lengths = Tensor.from(Int32Array.from({ length: R }, (_, i) => i + 1), [R], { device: ctx.device });
    const idx = Tensor.empty([R, 2048], { dtype: 'int32', device: ctx.device });
    try {
      const t = time(() => topk(logits, lengths, { k: 2048, out: idx, stream }), false);
      let read = 0;
      for (let i = 0; i < R; i++) if (i + 1 > 2048) read += (i + 1) * 4;
      out.push(withFloor({ suite: 'prefill', case: name, device: ctx.device, us: t.us, bytes: read + R * 2048 * 4 }, ctx));
    } finally {
      for (const x of [logits, lengths, idx]) x.dispose();
      stream?.dispose();
    }
    return out;
  },
};
