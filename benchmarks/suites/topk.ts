// SPEC §4 top-k 2048 over logit rows.
import { Stream, Tensor, topk } from '../../lib';
import { graphTime, hostTime } from '../timing';
import { BenchResult, Suite, withFloor } from '../types';

export const topkSuite: Suite = {
  name: 'topk',
  description: 'top-k 2048 over rows of logits (radix select)',
  inDefaultSet: true,
  async run(ctx) {
    const out: BenchResult[] = [];
    const gpu = ctx.device !== 'cpu';
    const shapes: [number, number][] = gpu ? [[64, 8192], [64, 65536], [128, 131072]] : [[8, 8192]];
    const stream = gpu ? Stream.create(ctx.device) : undefined;
    for (const [rows, len] of shapes) {
      ctx.progress(`topk ${rows}x${len}`);
      const host = new Float32Array(rows * len);
      let s = 12345;
      for (let i = 0; i < host.length; i++) {
        s = (s * 1103515245 + 12345) >>> 0;
        host[i] = (s / 2 ** 32) * 20 - 10;
      }
      const logits = Tensor.from(host, [rows, len], { device: ctx.device }) as Tensor<'float32'>;
      const lengths = Tensor.from(new Int32Array(rows).fill(len), [rows], { device: ctx.device }) as Tensor<'int32'>;
      const o = Tensor.empty([rows, 2048], { dtype: 'int32', device: ctx.device }) as Tensor<'int32'>;
      const run = () => topk(logits, lengths, { k: 2048, out: o, stream });
      const t = gpu ? graphTime(stream!, run, { callsPerGraph: 10, iters: 10 }) : hostTime(run, { iters: 2, repeats: 3, warmup: 1 });
      out.push(withFloor({ suite: 'topk', case: `k=2048 ${rows}x${len}`, device: ctx.device, us: t.us, bytes: rows * len * 4 + rows * 2048 * 4 }, ctx));
      for (const x of [logits, lengths, o]) x.dispose();
    }
    stream?.dispose();
    return out;
  },
};
