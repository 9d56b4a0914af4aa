// The package's main job: one NSA decode step over L layers, captured once into a CUDA graph and
// replayed: the fused metadata copy to 3 draft backends, then per layer K store, paged MQA logits and
// top-k 2048 (outputs preallocated, as a serving engine does). Reports µs per step and per layer with
// the breakdown by stage (each stage timed alone as a graph). On the CPU: a small shape, host time.
import { f32ToBf16, MetadataSet, pagedMqaLogits, prepareMetadataCopy, Stream, storeK, Tensor, topk } from '../../lib';
import { graphTime, hostTime } from '../timing';
import { BenchResult, Suite, withFloor } from '../types';
import { mqaInputs } from './mqa-logits';

const D = 128;

export const pipelineSuite: Suite = {
  name: 'pipeline',
  description: 'decode step over L layers (--layers): metadata copy + per layer K store, paged logits, top-k; graph-replayed',
  inDefaultSet: true,
  async run(ctx) {
    const gpu = ctx.device !== 'cpu';
    const B = gpu ? 64 : 2, len = gpu ? 8192 : 512, L = gpu ? ctx.layers : Math.min(ctx.layers, 2), P = 64, K = 2048;
    const device = ctx.device;
    ctx.progress(`pipeline: preparing ${L} layers (B=${B}, ctx=${len})`);
    // Metadata: one source set -> 3 destination sets (DECODE, bs = B, page table width = len).
    const i32 = (shape: number[]) => Tensor.full(shape, 3, { dtype: 'int32', device });
    const mset = (): MetadataSet => ({
      cacheSeqlens: i32([B]), cuSeqlensK: i32([B + 1]), pageTable: i32([B, len]), nsaCacheSeqlens: i32([B]), nsaCuSeqlensK: i32([B + 1]),
      realPageTable: i32([B, len / P]), flashmlaNumSplits: i32([B + 1]), flashmlaMetadata: i32([1056]),
    });
    const src = mset();
    const dsts = [mset(), mset(), mset()];
    const plan = prepareMetadataCopy(src, dsts, { mode: 'decode' });
    // Per layer: its K cache holding len tokens per request, plus this step's new token per request.
    const layers = Array.from({ length: L }, () => mqaInputs(device, B, len, P, 'preshuffle'));
    const kNew = Tensor.from(Uint16Array.from({ length: B * D }, (_, i) => f32ToBf16(Math.cos(i))), [B, D], { dtype: 'bfloat16', device });
    const btHost = layers[0].bt.toTypedArraySync();
    const maxBlocks = len / P;
    // the new token of request b overwrites its last position (keeps lengths fixed across replays)
    const slots = Tensor.from(Array.from({ length: B }, (_, b) => BigInt(btHost[b * maxBlocks + maxBlocks - 1] * P + P - 1)), [B], { dtype: 'int64', device });
    const idx = layers.map(() => Tensor.empty([B, K], { dtype: 'int32', device }));
    const stages = {
      metadata: (s?: Stream) => plan.run({}, { stream: s }),
      store: (l: number, s?: Stream) => storeK(layers[l].cache, kNew, slots, { stream: s }),
      logits: (l: number, s?: Stream) => pagedMqaLogits(layers[l].q, layers[l].cache, layers[l].w, layers[l].cl, layers[l].bt, { maxContextLen: len, out: layers[l].out, stream: s }),
      topk: (l: number, s?: Stream) => topk(layers[l].out, layers[l].cl, { k: K, out: idx[l], stream: s }),
    };
    const step = (s?: Stream) => {
      stages.metadata(s);
      for (let l = 0; l < L; l++) {
        stages.store(l, s);
        stages.logits(l, s);
        stages.topk(l, s);
      }
    };
    const out: BenchResult[] = [];
    const name = `B=${B} ctx=${len} H=64 p64 preshuffle, 3 draft dsts`;
    try {
      if (gpu) {
        const stream = Stream.create(device);
        ctx.progress(`pipeline: step graph (${L} layers)`);
        const whole = graphTime(stream, () => step(stream), { callsPerGraph: 1, iters: 10 });
        const part = {
          metadata: graphTime(stream, () => stages.metadata(stream), { callsPerGraph: 10 }),
          store: graphTime(stream, () => stages.store(0, stream), { callsPerGraph: 10 }),
          logits: graphTime(stream, () => stages.logits(0, stream), { callsPerGraph: 10 }),
          topk: graphTime(stream, () => stages.topk(0, stream), { callsPerGraph: 10 }),
        };
        stream.dispose();
        const layerBytes = layers[0].bytes + B * K * 4 + B * (2 * D + 8 + D + 4);
        out.push({ suite: 'pipeline', case: `decode step, ${L} layers [${name}]`, device, us: whole.us, extra: { perLayerUs: +((whole.us - part.metadata.us) / L).toFixed(2), layers: L } });
        out.push(withFloor({ suite: 'pipeline', case: 'per layer (step - metadata) / L', device, us: (whole.us - part.metadata.us) / L, bytes: layerBytes }, ctx));
        out.push({ suite: 'pipeline', case: '  stage: metadata copy (once per step)', device, us: part.metadata.us });
        out.push({ suite: 'pipeline', case: '  stage: K store (64 tokens)', device, us: part.store.us });
        out.push(withFloor({ suite: 'pipeline', case: '  stage: paged logits', device, us: part.logits.us, bytes: layers[0].bytes }, ctx));
        out.push({ suite: 'pipeline', case: '  stage: top-k 2048', device, us: part.topk.us });
      } else {
        const t = hostTime(() => step(), { iters: 1, repeats: 3, warmup: 1 });
        out.push({ suite: 'pipeline', case: `decode step, ${L} layers [${name}] [cpu]`, device, us: t.us, extra: { perLayerUs: +(t.us / L).toFixed(1) } });
      }
    } finally {
      for (const x of layers) x.dispose();
      for (const t of [kNew, slots, ...idx]) t.dispose();
      for (const set of [src, ...dsts]) for (const t of Object.values(set)) (t as Tensor).dispose();
    }
    return out;
  },
};
