// Tensor API overheads: allocation from the stream-ordered pool, host<->device copies.
import { Tensor } from '../../lib';
import { hostTime } from '../timing';
import { BenchResult, Suite, withFloor } from '../types';

export const tensorSuite: Suite = {
  name: 'tensor',
  description: 'alloc/free (host µs) and host<->device copies',
  inDefaultSet: true,
  async run(ctx) {
    const out: BenchResult[] = [];
    const d = ctx.device;
    ctx.progress('tensor alloc/free');
    for (const bytes of [4096, 16 << 20]) {
      const t = hostTime(() => Tensor.empty([bytes], { dtype: 'uint8', device: d }).dispose(), { iters: 200 });
      out.push({ suite: 'tensor', case: `empty+dispose ${bytes >= 1 << 20 ? `${bytes >> 20} MiB` : `${bytes} B`}`, device: d, us: t.us, extra: { timing: 'host' } });
    }
    if (d !== 'cpu') {
      const bytes = ctx.quick ? 16 << 20 : 64 << 20;
      const host = Tensor.full([bytes / 4], 3, { dtype: 'float32' });
      const dev = Tensor.empty([bytes / 4], { dtype: 'float32', device: d });
      ctx.progress('tensor h2d/d2h');
      const h2d = hostTime(() => dev.copyFrom(host), { iters: 5, repeats: 5, warmup: 2 });
      out.push(withFloor({ suite: 'tensor', case: `host->device ${bytes >> 20} MiB (pageable)`, device: d, us: h2d.us, bytes, extra: { timing: 'host, synchronous' } }, ctx));
      const d2h = hostTime(() => host.copyFrom(dev), { iters: 5, repeats: 5, warmup: 2 });
      out.push(withFloor({ suite: 'tensor', case: `device->host ${bytes >> 20} MiB (pageable)`, device: d, us: d2h.us, bytes, extra: { timing: 'host, synchronous' } }, ctx));
      for (const r of out.slice(-2)) {
        // PCIe, not HBM: the device-copy floor does not apply.
        delete r.floorUs;
        delete r.pctOfFloor;
      }
      host.dispose();
      dev.dispose();
    }
    return out;
  },
};
