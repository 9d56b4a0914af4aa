// The package's main job: one NSA decode step over L layers (pipeline-step.ts), captured once into a
// CUDA graph and replayed. Reports µs per step and per layer with the breakdown by stage (each stage
// timed alone as a graph). With --devices (several GPUs): one pipeline per GPU concurrently, per GPU
// and aggregate throughput (pipeline-devices.ts). On the CPU: a small shape, host time.
import { Stream } from '../../lib';
import { gpuTime, graphTime, hostTime } from '../timing';
import { BenchContext, BenchResult, Suite, withFloor } from '../types';
import { decodeStep, prefillChunk } from './pipeline-step';
import { multiDevicePipeline } from './pipeline-devices';

export const pipelineSuite: Suite = {
  name: 'pipeline',
  description: 'decode step over L layers (--layers): metadata copy + per layer K store, paged logits, top-k; graph-replayed; --devices: one per GPU',
  inDefaultSet: true,
  async run(ctx) {
    if (ctx.mode === 'prefill') return prefillChunkCases(ctx);
    const device = ctx.device;
    const nextN = ctx.mode === 'verify' ? 4 : 1;
    ctx.progress(`pipeline: preparing ${ctx.layers} layers on ${device}${nextN > 1 ? ' (target verify, next_n 4)' : ''}`);
    const p = decodeStep(device, ctx.layers, nextN);
    const L = p.layers;
    const what = nextN > 1 ? 'verify step (next_n 4)' : 'decode step';
    const out: BenchResult[] = [];
    try {
      if (device !== 'cpu') {
        const stream = Stream.create(device);
        ctx.progress(`pipeline: step graph (${L} layers)`);
        const whole = graphTime(stream, () => p.step(stream), { callsPerGraph: 1, iters: 10 });
        const part = {
          metadata: graphTime(stream, () => p.stages.metadata(stream), { callsPerGraph: 10 }),
          store: graphTime(stream, () => p.stages.store(0, stream), { callsPerGraph: 10 }),
          logits: graphTime(stream, () => p.stages.logits(0, stream), { callsPerGraph: 10 }),
          topk: graphTime(stream, () => p.stages.topk(0, stream), { callsPerGraph: 10 }),
        };
        stream.dispose();
        out.push({ suite: 'pipeline', case: `${what}, ${L} layers [${p.name}]`, device, us: whole.us, extra: { perLayerUs: +((whole.us - part.metadata.us) / L).toFixed(2), layers: L } });
        out.push(withFloor({ suite: 'pipeline', case: `${nextN > 1 ? 'verify: ' : ''}per layer (step - metadata) / L`, device, us: (whole.us - part.metadata.us) / L, bytes: p.layerBytes }, ctx));
        const tag = nextN > 1 ? 'verify ' : '';
        out.push({ suite: 'pipeline', case: `  ${tag}stage: metadata copy (once per step)`, device, us: part.metadata.us });
        out.push({ suite: 'pipeline', case: `  ${tag}stage: K store (${64 * nextN} tokens)`, device, us: part.store.us });
        out.push(withFloor({ suite: 'pipeline', case: `  ${tag}stage: paged logits`, device, us: part.logits.us, bytes: p.cacheBytes }, ctx));
        out.push({ suite: 'pipeline', case: `  ${tag}stage: top-k 2048`, device, us: part.topk.us });
      } else {
        const t = hostTime(() => p.step(), { iters: 1, repeats: 3, warmup: 1 });
        out.push({ suite: 'pipeline', case: `${what}, ${L} layers [${p.name}] [cpu]`, device, us: t.us, extra: { perLayerUs: +(t.us / L).toFixed(1) } });
      }
    } finally {
      p.dispose();
    }
    if (ctx.devices && ctx.devices.length > 1 && nextN === 1) out.push(...(await multiDevicePipeline(ctx, ctx.devices)));
    return out;
  },
};

/**
 * --mode prefill: one layer's prefill chunk through NsaIndexer's ragged path (eager, as prefill runs:
 * events around 3 x 3 runs), and each stage alone on preallocated outputs.
 */
async function prefillChunkCases(ctx: BenchContext): Promise<BenchResult[]> {
  const device = ctx.device;
  ctx.progress(`pipeline: preparing a prefill chunk on ${device}`);
  const c = prefillChunk(device);
  const out: BenchResult[] = [];
  try {
    const stream = device === 'cpu' ? undefined : Stream.create(device);
    const time = (fn: () => void) => (stream ? gpuTime(stream, fn, { iters: 3, repeats: 3, warmup: 1 }) : hostTime(fn, { iters: 1, repeats: 3, warmup: 1 }));
    ctx.progress('pipeline: prefill chunk through NsaIndexer');
    const whole = time(() => c.indexer(stream));
    const part = {
      store: time(() => c.stages.store(stream)),
      gather: time(() => c.stages.gather(stream)),
      logits: time(() => c.stages.logits(stream)),
      topk: time(() => c.stages.topk(stream)),
    };
    stream?.dispose();
    out.push({ suite: 'pipeline', case: `prefill chunk [${c.name}] via NsaIndexer (${c.plan.indexer})`, device, us: whole.us });
    out.push({ suite: 'pipeline', case: '  prefill stage: K store', device, us: part.store.us });
    out.push({ suite: 'pipeline', case: '  prefill stage: gather K', device, us: part.gather.us });
    out.push({ suite: 'pipeline', case: '  prefill stage: ragged logits (exact)', device, us: part.logits.us, extra: { tflops: +(c.flops / part.logits.us / 1e6).toFixed(1) } });
    out.push({ suite: 'pipeline', case: '  prefill stage: top-k 2048', device, us: part.topk.us });
  } finally {
    c.dispose();
  }
  return out;
}
