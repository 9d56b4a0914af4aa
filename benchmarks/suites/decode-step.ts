// The indexer's decode selection (issue #17): paged logits + top-k 2048 for B = 64 requests at ctx
// 8192, as two ops in one graph ("unfused"). The fused pagedMqaTopk the issue asks for will be the
// `fused` case beside it. Graph replay on the GPU, a small shape on the CPU.
import { pagedMqaLogits, Stream, Tensor, topk } from '../../lib';
import { graphTime, hostTime } from '../timing';
import { BenchResult, Suite, withFloor } from '../types';
import { mqaInputs } from './mqa-logits';

export const decodeStepSuite: Suite = {
  name: 'decode-step',
  description: 'the decode selection: paged logits + top-k 2048 (B=64 ctx=8192), unfused (two ops, one graph)',
  inDefaultSet: true,
  async run(ctx) {
    const gpu = ctx.device !== 'cpu';
    const B = gpu ? 64 : 2, len = gpu ? 8192 : 4096;
    const x = mqaInputs(ctx.device, B, len, 64, 'preshuffle');
    const idx = Tensor.empty([B, 2048], { dtype: 'int32', device: ctx.device });
    const stream = gpu ? Stream.create(ctx.device) : undefined;
    try {
      ctx.progress(`decode-step B=${B} ctx=${len} unfused`);
      const run = () => {
        pagedMqaLogits(x.q, x.cache, x.w, x.cl, x.bt, { maxContextLen: len, out: x.out, stream });
        topk(x.out, x.cl, { k: 2048, out: idx, stream });
      };
      const t = gpu ? graphTime(stream!, run, { callsPerGraph: 10, iters: 10 }) : hostTime(run, { iters: 1, repeats: 3, warmup: 1 });
      const r: BenchResult = withFloor({ suite: 'decode-step', case: `decode-step B=${B} ctx=${len} unfused`, device: ctx.device, us: t.us, bytes: x.bytes + B * 2048 * 4 }, ctx);
      return [r];
    } finally {
      stream?.dispose();
      idx.dispose();
      x.dispose();
    }
  },
};
