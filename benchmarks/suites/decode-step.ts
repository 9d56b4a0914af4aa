// The indexer's decode selection (issue #17): paged logits + top-k 2048 for B = 64 requests at ctx
// 8192, as two ops in one graph ("unfused"), and as one call to pagedMqaTopk ("fused": the same two
// kernels, the top-k reading its rows' lengths before its wait for the logits kernel). Graph replay on
// the GPU, a small shape on the CPU.
import { pagedMqaLogits, pagedMqaTopk, Stream, Tensor, topk } from '../../lib';
import { graphTime, hostTime } from '../timing';
import { BenchResult, Suite, withFloor } from '../types';
import { mqaInputs } from './mqa-logits';

export const decodeStepSuite: Suite = {
  name: 'decode-step',
  description: 'the decode selection: paged logits + top-k 2048 (B=64 ctx=8192), unfused (two ops, one graph) and fused (pagedMqaTopk)',
  inDefaultSet: true,
  async run(ctx) {
    const gpu = ctx.device !== 'cpu';
    const B = gpu ? 64 : 2, len = gpu ? 8192 : 4096;
    const x = mqaInputs(ctx.device, B, len, 64, 'preshuffle');
    const idx = Tensor.empty([B, 2048], { dtype: 'int32', device: ctx.device });
    const stream = gpu ? Stream.create(ctx.device) : undefined;
    try {
      const runs: Record<string, () => void> = {
        unfused: () => {
          pagedMqaLogits(x.q, x.cache, x.w, x.cl, x.bt, { maxContextLen: len, out: x.out, stream });
          topk(x.out, x.cl, { k: 2048, out: idx, stream });
        },
        fused: () => {
          pagedMqaTopk(x.q, x.cache, x.w, x.cl, x.bt, { maxContextLen: len, k: 2048, logitsOut: x.out, out: idx, stream });
        },
      };
      const results: BenchResult[] = [];
      for (const [name, run] of Object.entries(runs)) {
        const label = `decode-step B=${B} ctx=${len} ${name}`;
        ctx.progress(label);
        const t = gpu ? graphTime(stream!, run, { callsPerGraph: 10, iters: 10 }) : hostTime(run, { iters: 1, repeats: 3, warmup: 1 });
        results.push(withFloor({ suite: 'decode-step', case: label, device: ctx.device, us: t.us, bytes: x.bytes + B * 2048 * 4 }, ctx));
      }
      return results;
    } finally {
      stream?.dispose();
      idx.dispose();
      x.dispose();
    }
  },
};
