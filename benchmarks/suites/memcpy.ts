// Device copy bandwidth: the floor every other suite reports against (bytes read + bytes written).
import { Stream, Tensor } from '../../lib';
import { gpuTime, hostTime } from '../timing';
import { BenchContext, BenchResult, Suite } from '../types';

/** Measures copy bandwidth on ctx.device at `bytes` (bytes read + written per µs). */
export function measureCopy(ctx: BenchContext, bytes: number): { us: number; bytesPerUs: number } {
  const n = Math.floor(bytes / 4);
  const a = Tensor.full([n], 1.25, { device: ctx.device });
  const b = Tensor.empty([n], { device: ctx.device });
  try {
    const t = ctx.device === 'cpu'
      ? hostTime(() => b.copyFrom(a), { iters: 5, repeats: 5, warmup: 2 })
      : gpuTime(Stream.default(ctx.device), () => b.copyFrom(a), { iters: 10, repeats: 7, warmup: 3 });
    return { us: t.us, bytesPerUs: (2 * n * 4) / t.us };
  } finally {
    a.dispose();
    b.dispose();
  }
}

export const memcpySuite: Suite = {
  name: 'memcpy',
  description: 'device-to-device copy bandwidth (the floor other suites report against)',
  inDefaultSet: true,
  async run(ctx) {
    const sizes = ctx.device === 'cpu' ? [1 << 20, 64 << 20] : ctx.quick ? [1 << 20, 256 << 20] : [1 << 20, 16 << 20, 256 << 20, 1 << 30];
    const out: BenchResult[] = [];
    for (const bytes of sizes) {
      ctx.progress(`memcpy ${bytes >> 20} MiB`);
      const m = measureCopy(ctx, bytes);
      out.push({ suite: 'memcpy', case: `copy ${bytes >> 20} MiB`, device: ctx.device, us: m.us, bytes: 2 * bytes, gbps: m.bytesPerUs / 1e3, extra: { note: 'bytes = read + written' } });
    }
    return out;
  },
};
