// SPEC §5: planAttention host cost per call (target <= 1 µs at 64 requests).
import { planAttention } from '../../lib';
import { hostTime } from '../timing';
import { BenchResult, Suite } from '../types';

export const dispatcherSuite: Suite = {
  name: 'dispatcher',
  description: 'planAttention host cost per call (pure TypeScript)',
  inDefaultSet: true,
  async run(ctx) {
    const out: BenchResult[] = [];
    const decode = Int32Array.from({ length: 64 }, (_, i) => 1000 + 37 * i);
    const prefill = Int32Array.from({ length: 64 }, (_, i) => 100 + 13 * i);
    const long = Int32Array.from({ length: 64 }, (_, i) => 3000 + i);
    const cases: [string, () => unknown][] = [
      ['decode 64 reqs', () => planAttention({ mode: 'decode', seqLens: decode }, { denseSupported: true })],
      ['extend 64 reqs -> MHA', () => planAttention({ mode: 'extend', seqLens: prefill }, { denseSupported: true })],
      ['extend 64 reqs -> MLA ragged', () => planAttention({ mode: 'extend', seqLens: long }, { denseSupported: true })],
    ];
    for (const [name, fn] of cases) {
      ctx.progress(`dispatcher ${name}`);
      const t = hostTime(fn, { iters: 20000, repeats: 9, warmup: 20000 });
      out.push({ suite: 'dispatcher', case: `planAttention ${name}`, device: 'host', us: t.us, extra: { timing: 'host' } });
    }
    return out;
  },
};
