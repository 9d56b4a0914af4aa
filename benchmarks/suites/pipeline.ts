// The package's main job: one NSA decode step over L layers (pipeline-step.ts), captured once into a
// CUDA graph and replayed. Reports µs per step and per layer with the breakdown by stage (each stage
// timed alone as a graph). With --devices (several GPUs): one pipeline per GPU concurrently, per GPU
// and aggregate throughput (pipeline-devices.ts). On the CPU: a small shape, host time.
import { Stream } from '../../lib';
import { graphTime, hostTime } from '../timing';
import { BenchResult, Suite, withFloor } from '../types';
import { decodeStep } from './pipeline-step';
import { multiDevicePipeline } from './pipeline-devices';

export const pipelineSuite: Suite = {
  name: 'pipeline',
  description: 'decode step over L layers (--layers): metadata copy + per layer K store, paged logits, top-k; graph-replayed; --devices: one per GPU',
  inDefaultSet: true,
  async run(ctx) {
    const device = ctx.device;
    ctx.progress(`pipeline: preparing ${ctx.layers} layers on ${device}`);
    const p = decodeStep(device, ctx.layers);
    const L = p.layers;
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
        out.push({ suite: 'pipeline', case: `decode step, ${L} layers [${p.name}]`, device, us: whole.us, extra: { perLayerUs: +((whole.us - part.metadata.us) / L).toFixed(2), layers: L } });
        out.push(withFloor({ suite: 'pipeline', case: 'per layer (step - metadata) / L', device, us: (whole.us - part.metadata.us) / L, bytes: p.layerBytes }, ctx));
        out.push({ suite: 'pipeline', case: '  stage: metadata copy (once per step)', device, us: part.metadata.us });
        out.push({ suite: 'pipeline', case: '  stage: K store (64 tokens)', device, us: part.store.us });
        out.push(withFloor({ suite: 'pipeline', case: '  stage: paged logits', device, us: part.logits.us, bytes: p.cacheBytes }, ctx));
        out.push({ suite: 'pipeline', case: '  stage: top-k 2048', device, us: part.topk.us });
      } else {
        const t = hostTime(() => p.step(), { iters: 1, repeats: 3, warmup: 1 });
        out.push({ suite: 'pipeline', case: `decode step, ${L} layers [${p.name}] [cpu]`, device, us: t.us, extra: { perLayerUs: +(t.us / L).toFixed(1) } });
      }
    } finally {
      p.dispose();
    }
    if (ctx.devices && ctx.devices.length > 1) out.push(...(await multiDevicePipeline(ctx, ctx.devices)));
    return out;
  },
};
