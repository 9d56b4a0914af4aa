// One NSA decode step over L layers on one device, as a serving engine holds it: the fused metadata
// copy to 3 draft backends, then per layer K store, paged MQA logits and top-k 2048, every output
// preallocated. The pipeline suite times it (and its stages); the multi-GPU driver runs one per device.
import { f32ToBf16, MetadataSet, pagedMqaLogits, prepareMetadataCopy, Stream, storeK, Tensor, topk, type Device } from '../../lib';
import { mqaInputs } from './mqa-logits';

const D = 128;

export interface DecodeStep {
  name: string;
  layers: number;
  /** Bytes one layer must move (K cache read, q, logits, indices, the new K). */
  layerBytes: number;
  cacheBytes: number;
  stages: {
    metadata(s?: Stream): void;
    store(l: number, s?: Stream): void;
    logits(l: number, s?: Stream): void;
    topk(l: number, s?: Stream): void;
  };
  step(s?: Stream): void;
  dispose(): void;
}

export function decodeStep(device: Device, layers: number): DecodeStep {
  const gpu = device !== 'cpu';
  const B = gpu ? 64 : 2, len = gpu ? 8192 : 512, L = gpu ? layers : Math.min(layers, 2), P = 64, K = 2048;
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
  const perLayer = Array.from({ length: L }, () => mqaInputs(device, B, len, P, 'preshuffle'));
  const kNew = Tensor.from(Uint16Array.from({ length: B * D }, (_, i) => f32ToBf16(Math.cos(i))), [B, D], { dtype: 'bfloat16', device });
  const btHost = perLayer[0].bt.toTypedArraySync();
  const maxBlocks = len / P;
  // the new token of request b overwrites its last position (keeps lengths fixed across replays)
  const slots = Tensor.from(Array.from({ length: B }, (_, b) => BigInt(btHost[b * maxBlocks + maxBlocks - 1] * P + P - 1)), [B], { dtype: 'int64', device });
  const idx = perLayer.map(() => Tensor.empty([B, K], { dtype: 'int32', device }));
  const stages = {
    metadata: (s?: Stream) => plan.run({}, { stream: s }),
    store: (l: number, s?: Stream) => storeK(perLayer[l].cache, kNew, slots, { stream: s }),
    logits: (l: number, s?: Stream) => pagedMqaLogits(perLayer[l].q, perLayer[l].cache, perLayer[l].w, perLayer[l].cl, perLayer[l].bt, { maxContextLen: len, out: perLayer[l].out, stream: s }),
    topk: (l: number, s?: Stream) => topk(perLayer[l].out, perLayer[l].cl, { k: K, out: idx[l], stream: s }),
  };
  return {
    name: `B=${B} ctx=${len} H=64 p64 preshuffle, 3 draft dsts`,
    layers: L,
    layerBytes: perLayer[0].bytes + B * K * 4 + B * (2 * D + 8 + D + 4),
    cacheBytes: perLayer[0].bytes,
    stages,
    step(s?: Stream) {
      stages.metadata(s);
      for (let l = 0; l < L; l++) {
        stages.store(l, s);
        stages.logits(l, s);
        stages.topk(l, s);
      }
    },
    dispose() {
      plan.dispose();
      for (const x of perLayer) x.dispose();
      for (const t of [kNew, slots, ...idx]) t.dispose();
      for (const set of [src, ...dsts]) for (const t of Object.values(set)) (t as Tensor).dispose();
    },
  };
}
