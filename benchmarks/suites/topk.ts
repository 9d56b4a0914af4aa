// SPEC §4 top-k 2048 over logit rows: the B x L shapes, each also `deterministic`, and the fused
// global-slot output at 64 x 8192. Graph replay on the GPU; bytes = the logits read once + the indices.
import { Stream, Tensor, topk, type TopKOptions } from '../../lib';
import { graphTime, hostTime } from '../timing';
import { BenchResult, Suite, withFloor } from '../types';

/** The benchmarks' fixed generator: successive states of the 32-bit LCG s -> 1103515245 s + 12345 (mod
 *  2^32), as uint32, from `seed`. (Math.imul: the product in doubles rounds past 2^53, and a generator
 *  stepped that way cycled through 7323 values.) */
export function lcg32(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0);
}

/** n floats uniform in [-10, 10) from the fixed LCG (the same rows on every run), seeded. */
export function uniformLogits(n: number, seed: number): Float32Array {
  const host = new Float32Array(n);
  const next = lcg32(seed);
  for (let i = 0; i < n; i++) host[i] = (next() / 2 ** 32) * 20 - 10;
  return host;
}

const GPU_SHAPES: [number, number][] = [[1, 131072], [4, 65536], [16, 8192], [16, 65536], [64, 8192], [64, 65536], [128, 131072]];
const PAGE = 64;

export const topkSuite: Suite = {
  name: 'topk',
  description: 'top-k 2048 over rows of logits (radix select): default, deterministic, global slot',
  inDefaultSet: true,
  async run(ctx) {
    const out: BenchResult[] = [];
    const gpu = ctx.device !== 'cpu';
    const shapes: [number, number][] = gpu ? (ctx.quick ? [[64, 8192], [1, 131072]] : GPU_SHAPES) : [[8, 8192]];
    const stream = gpu ? Stream.create(ctx.device) : undefined;
    for (const [rows, len] of shapes) {
      const logits = Tensor.from(uniformLogits(rows * len, 12345), [rows, len], { device: ctx.device });
      const lengths = Tensor.from(new Int32Array(rows).fill(len), [rows], { device: ctx.device });
      const o = Tensor.empty([rows, 2048], { dtype: 'int32', device: ctx.device });
      const blocks = Math.ceil(len / PAGE);
      const blockTable = Tensor.from(Int32Array.from({ length: rows * blocks }, (_, i) => (i * 7919) % (rows * blocks)), [rows, blocks], { device: ctx.device });
      const variants: [string, TopKOptions][] = [
        ['', {}],
        [' deterministic', { deterministic: true }],
      ];
      if (rows === 64 && len === 8192) variants.push([` globalslot p${PAGE}`, { blockTable, pageSize: PAGE }]);
      for (const [suffix, extra] of variants) {
        const name = `k=2048 ${rows}x${len}${suffix}`;
        ctx.progress(`topk ${name}`);
        const run = () => topk(logits, lengths, { k: 2048, out: o, stream, ...extra });
        const t = gpu ? graphTime(stream!, run, { callsPerGraph: 10, iters: 10 }) : hostTime(run, { iters: 2, repeats: 3, warmup: 1 });
        out.push(withFloor({ suite: 'topk', case: name, device: ctx.device, us: t.us, bytes: rows * len * 4 + rows * 2048 * 4 }, ctx));
      }
      for (const x of [logits, lengths, o, blockTable]) x.dispose();
    }
    stream?.dispose();
    return out;
  },
};
