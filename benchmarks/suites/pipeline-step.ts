// One NSA decode step over L layers on one device, as a serving engine holds it: the fused metadata
// copy to 3 draft backends, then per layer K store and the decode selection (paged MQA logits + top-k
// 2048 in one pagedMqaTopk call, as NsaIndexer runs it), every output preallocated. The pipeline suite
// times it (and its stages, the logits and the top-k each alone); the multi-GPU driver runs one per device.
import { f32ToBf16, gatherK, IndexerKCache, MetadataSet, NsaIndexer, pagedMqaLogits, pagedMqaTopk, planAttention, prepareMetadataCopy, raggedMqaLogits, Stream, storeK, Tensor, topk, type Device } from '../../lib';
import { makeSet } from './metadata-copy';
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
    /** logits + top-k in one pagedMqaTopk call (what the step runs). */
    select(l: number, s?: Stream): void;
  };
  step(s?: Stream): void;
  dispose(): void;
}

/**
 * The step on `device`: next_n = 1 is a decode step (metadata mode decode); next_n > 1 the
 * target-verify pass of speculative decoding (next_n draft tokens per request, metadata mode
 * target_verify, logits over B x next_n rows, each row seeing up to its own token).
 */
export function decodeStep(device: Device, layers: number, nextN = 1): DecodeStep {
  const gpu = device !== 'cpu';
  const B = gpu ? 64 : 2, len = gpu ? 8192 : 512, L = gpu ? layers : Math.min(layers, 2), P = 64, K = 2048, N = nextN;
  const rows = B * N;
  // Metadata: one source set -> 3 destination sets (bs = B, page table width = len, N rows per request).
  const mode = N > 1 ? 'target_verify' : 'decode';
  const mset = (): MetadataSet => makeSet({ mode, bs: B, maxLen: len, dsts: 3, tokensPerRequest: N }, device).set;
  const src = mset();
  const dsts = [mset(), mset(), mset()];
  const plan = prepareMetadataCopy(src, dsts, { mode });
  // Per layer: its K cache holding len tokens per request, plus this step's N new tokens per request.
  const perLayer = Array.from({ length: L }, () => mqaInputs(device, B, len, P, 'preshuffle', 64, N));
  const kNew = Tensor.from(Uint16Array.from({ length: rows * D }, (_, i) => f32ToBf16(Math.cos(i))), [rows, D], { dtype: 'bfloat16', device });
  const btHost = perLayer[0].bt.toTypedArraySync();
  const maxBlocks = len / P;
  // the new tokens of request b overwrite its last N positions (keeps lengths fixed across replays)
  const slots = Tensor.from(
    Array.from({ length: rows }, (_, r) => BigInt(btHost[Math.floor(r / N) * maxBlocks + maxBlocks - 1] * P + P - N + (r % N))),
    [rows],
    { dtype: 'int64', device },
  );
  // Row (b, n) sees positions <= len - N + n (SPEC §3): its top-k length.
  const rowLens = N === 1 ? undefined : Tensor.from(Int32Array.from({ length: rows }, (_, r) => len - N + (r % N) + 1), [rows], { device });
  const idx = perLayer.map(() => Tensor.empty([rows, K], { dtype: 'int32', device }));
  const stages = {
    metadata: (s?: Stream) => plan.run({}, { stream: s }),
    store: (l: number, s?: Stream) => storeK(perLayer[l].cache, kNew, slots, { stream: s }),
    logits: (l: number, s?: Stream) => pagedMqaLogits(perLayer[l].q, perLayer[l].cache, perLayer[l].w, perLayer[l].cl, perLayer[l].bt, { maxContextLen: len, out: perLayer[l].out, stream: s }),
    topk: (l: number, s?: Stream) => topk(perLayer[l].out, rowLens ?? perLayer[l].cl, { k: K, out: idx[l], stream: s }),
    select: (l: number, s?: Stream) =>
      pagedMqaTopk(perLayer[l].q, perLayer[l].cache, perLayer[l].w, perLayer[l].cl, perLayer[l].bt, { maxContextLen: len, k: K, logitsOut: perLayer[l].out, out: idx[l], stream: s }),
  };
  return {
    name: `B=${B} ctx=${len}${N > 1 ? ` next_n=${N}` : ''} H=64 p64 preshuffle, 3 draft dsts`,
    layers: L,
    layerBytes: perLayer[0].bytes + rows * K * 4 + rows * (2 * D + 8 + D + 4),
    cacheBytes: perLayer[0].bytes,
    stages,
    step(s?: Stream) {
      stages.metadata(s);
      for (let l = 0; l < L; l++) {
        stages.store(l, s);
        stages.select(l, s);
      }
    },
    dispose() {
      plan.dispose();
      for (const x of perLayer) x.dispose();
      for (const t of [kNew, slots, ...idx, ...(rowLens ? [rowLens] : [])]) t.dispose();
      for (const set of [src, ...dsts]) for (const t of Object.values(set)) (t as Tensor).dispose();
    },
  };
}

/**
 * One prefill chunk of one layer through the indexer's ragged path: S new tokens after a prefix (the
 * issue's 4096 after 61440 on a GPU): store their K, gather the request's K (prefix + chunk), ragged
 * logits (row i sees positions [0, prefix + i + 1)), top-k 2048. `stages` run each step on
 * preallocated outputs; `indexer` is NsaIndexer.run on the ragged plan (allocating as it goes).
 */
export function prefillChunk(device: Device) {
  const gpu = device !== 'cpu';
  const S = gpu ? 4096 : 32, prefix = gpu ? 61440 : 2272, T = prefix + S, P = 64, H = 64, K = 2048; // T > K: the ragged plan
  const pages = T / P;
  const cache = IndexerKCache.alloc(pages, { pageSize: P, layout: 'preshuffle', device });
  const bt = Tensor.from(Int32Array.from({ length: pages }, (_, i) => i), [1, pages], { device });
  const bf16 = (n: number, seed: number) => Uint16Array.from({ length: n * D }, (_, i) => f32ToBf16(Math.sin(i * 0.37 + seed)));
  const slotsOf = (from: number, n: number) => Tensor.from(Array.from({ length: n }, (_, i) => BigInt(from + i)), [n], { dtype: 'int64', device });
  // The prefix is in the cache before the chunk.
  const kPrefix = Tensor.from(bf16(prefix, 1), [prefix, D], { dtype: 'bfloat16', device });
  const prefixSlots = slotsOf(0, prefix);
  storeK(cache, kPrefix, prefixSlots);
  const fp8 = Uint8Array.from({ length: S * H * D }, (_, i) => (i * 13 + 5) & 0x7e);
  const x = {
    k: Tensor.from(bf16(S, 2), [S, D], { dtype: 'bfloat16', device }),
    slotMapping: slotsOf(prefix, S),
    q: Tensor.from(fp8, [S, H, D], { dtype: 'float8_e4m3fn', device }),
    weights: Tensor.from(Float32Array.from({ length: S * H }, (_, i) => Math.cos(i)), [S, H], { device }),
    blockTable: bt,
    cuSeqLens: Tensor.from(Int32Array.from([0, T]), [2], { device }),
    ks: Tensor.zeros([S], { dtype: 'int32', device }),
    ke: Tensor.from(Int32Array.from({ length: S }, (_, i) => prefix + i + 1), [S], { device }),
    numKvTokens: T,
  };
  const lengths = x.ke; // ks = 0
  const gathered = { k: Tensor.empty([T, D], { dtype: 'float8_e4m3fn', device }), scale: Tensor.empty([T], { device }) };
  const logits = Tensor.empty([S, T], { device });
  const idx = Tensor.empty([S, K], { dtype: 'int32', device });
  const plan = planAttention({ mode: 'extend', seqLens: [T] }, { denseSupported: false });
  const indexer = new NsaIndexer(cache, { topK: K });
  return {
    name: `S=${S} after ${prefix} H=${H} p${P} preshuffle`,
    plan,
    /** The logits' FLOP: 2 x valid (query, key) pairs x H x 128. */
    flops: 2 * (S * prefix + (S * (S + 1)) / 2) * H * D,
    stages: {
      store: (s?: Stream) => storeK(cache, x.k, x.slotMapping, { stream: s }),
      gather: (s?: Stream) => gatherK(cache, bt, x.cuSeqLens, { numTokens: T, out: gathered, stream: s }),
      logits: (s?: Stream) => raggedMqaLogits(x.q, gathered.k, gathered.scale, x.weights, x.ks, x.ke, { out: logits, stream: s }),
      topk: (s?: Stream) => topk(logits, lengths, { k: K, rowStarts: x.ks, out: idx, stream: s }),
    },
    indexer: (s?: Stream) => indexer.run(plan, { ...x, lengths }, { stream: s })?.dispose({ stream: s }),
    dispose() {
      for (const t of [kPrefix, prefixSlots, x.k, x.slotMapping, x.q, x.weights, bt, x.cuSeqLens, x.ks, x.ke, gathered.k, gathered.scale, logits, idx]) t.dispose();
      cache.dispose();
    },
  };
}
