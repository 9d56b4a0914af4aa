// SPEC §5 NsaIndexer: each plan runs the stages it names and equals composing the ops by hand;
// calibrateThreshold finds the crossover of user timings.
import { calibrateThreshold, f32ToBf16, gatherK, IndexerKCache, NsaIndexer, pagedMqaLogits, planAttention, raggedMqaLogits, storeK, Tensor, topk, type Device } from '../lib';
import { describeDevice, expectNsaError, randFp8, Rng } from './helpers';

const D = 128;

function rowsSorted(a: Int32Array, k: number): number[][] {
  const out: number[][] = [];
  for (let r = 0; r < a.length / k; r++) out.push(Array.from(a.subarray(r * k, (r + 1) * k)).sort((x, y) => x - y));
  return out;
}

describeDevice('SPEC §5 NsaIndexer', (device: Device) => {
  const rng = new Rng();
  const P = 64, B = 3, H = 64, topK = 64;
  const lens = [300, 50, 129];
  const maxBlocks = 6, numPages = B * maxBlocks;
  const bt = Tensor.from(Int32Array.from(rng.shuffle(Array.from({ length: numPages }, (_, i) => i))), [B, maxBlocks], { device });
  const fp8 = (n: number) => Uint8Array.from({ length: n }, () => rng.int(0, 0x7e));

  /** A cache holding every request's K (positions 0..len-1) plus the inputs of one decode step. */
  function setup() {
    const cache = IndexerKCache.alloc(numPages, { pageSize: P, device });
    const btHost = bt.toTypedArraySync();
    const slots: bigint[] = [];
    for (let b = 0; b < B; b++) for (let p = 0; p < lens[b]; p++) slots.push(BigInt(btHost[b * maxBlocks + Math.floor(p / P)] * P + (p % P)));
    const T = slots.length;
    const k = Tensor.from(Uint16Array.from({ length: T * D }, () => f32ToBf16(rng.normal())), [T, D], { dtype: 'bfloat16', device });
    const slotMapping = Tensor.from(slots, [T], { dtype: 'int64', device });
    const q = Tensor.from(fp8(B * H * D), [B, 1, H, D], { dtype: 'float8_e4m3fn', device });
    const weights = Tensor.from(Float32Array.from({ length: B * H }, () => rng.normal()), [B, H], { device });
    const contextLens = Tensor.from(Int32Array.from(lens), [B], { device });
    return { cache, k, slotMapping, q, weights, contextLens };
  }

  test("bad options: precision other than 'exact' | 'fast'", () => {
    const x = setup();
    expectNsaError(() => new NsaIndexer(x.cache, { precision: 'fp8' as never }), 'E_ARG', /precision: got fp8/);
    expect(new NsaIndexer(x.cache, { precision: 'fast' }).precision).toBe('fast');
  });

  test('paged (decode): equals storeK + pagedMqaLogits + topk composed by hand', async () => {
    const x = setup();
    const plan = planAttention({ mode: 'decode', seqLens: lens });
    const got = new NsaIndexer(x.cache, { topK }).run(plan, { ...x, blockTable: bt, maxContextLen: 320 });
    const cache2 = IndexerKCache.alloc(numPages, { pageSize: P, device });
    storeK(cache2, x.k, x.slotMapping);
    const logits = pagedMqaLogits(x.q, cache2, x.weights, x.contextLens, bt, { maxContextLen: 320 });
    const want = topk(logits, x.contextLens, { k: topK });
    expect(got).not.toBeNull();
    expect(rowsSorted(await got!.toTypedArray(), topK)).toEqual(rowsSorted(await want.toTypedArray(), topK));
  });

  test('trivial: indices 0..len-1 then -1, no logits; store_only: K stored, null returned', async () => {
    const x = setup();
    const lengths = Tensor.from(Int32Array.from([5, 0, 64]), [3], { device });
    const trivialPlan = planAttention({ mode: 'extend', seqLens: [64, 60] }, { denseSupported: false, topK });
    expect(trivialPlan.indexer).toBe('trivial');
    const idx = await new NsaIndexer(x.cache, { topK }).run(trivialPlan, { ...x, lengths })!.toTypedArray();
    const want = [5, 0, 64].flatMap((l) => Array.from({ length: topK }, (_, j) => (j < l ? j : -1)));
    expect(Array.from(idx)).toEqual(want);
    // store_only writes this step's K: two caches holding the same random bytes, one through the
    // indexer and one through storeK, end up identical, and different from where they started.
    const mhaPlan = planAttention({ mode: 'extend', seqLens: [64] }, { denseSupported: true });
    const noise = Tensor.from(randFp8(rng, numPages * P * 132), [numPages, P * 132], { dtype: 'uint8', device });
    const viaIndexer = new IndexerKCache(noise.to(device), { pageSize: P });
    const viaStore = new IndexerKCache(noise.to(device), { pageSize: P });
    expect(new NsaIndexer(viaIndexer, { topK }).run(mhaPlan, x)).toBeNull();
    storeK(viaStore, x.k, x.slotMapping);
    const stored = Buffer.from(await viaIndexer.tensor.toTypedArray());
    expect(Buffer.compare(stored, Buffer.from(await viaStore.tensor.toTypedArray()))).toBe(0);
    expect(Buffer.compare(stored, Buffer.from(await noise.toTypedArray()))).not.toBe(0);
  });

  test('paged with the global-slot output and deterministic rows: equal to topk over the same logits', async () => {
    const x = setup();
    const slotBt = Tensor.from(Int32Array.from({ length: B * 8 }, () => rng.int(0, 1000)), [B, 8], { device });
    const plan = planAttention({ mode: 'decode', seqLens: lens });
    const got = new NsaIndexer(x.cache, { topK, deterministic: true }).run(plan, { ...x, blockTable: bt, maxContextLen: 320, slotBlockTable: slotBt, slotPageSize: 64 });
    const logits = pagedMqaLogits(x.q, x.cache, x.weights, x.contextLens, bt, { maxContextLen: 320 });
    const want = topk(logits, x.contextLens, { k: topK, deterministic: true, blockTable: slotBt, pageSize: 64 });
    expect(await got!.toTypedArray()).toEqual(await want.toTypedArray());
  });

  test('ragged (prefill of two requests): equals storeK + gatherK + raggedMqaLogits + topk by hand; compressed logits give the same rows', async () => {
    // Request b: prefix[b] tokens already cached, news[b] new ones; its query rows see [0, prefix + j + 1)
    // of its own K, which starts at cu[b] in the gathered K.
    const prefix = [260, 170], news = [40, 30], tot = prefix.map((p, b) => p + news[b]);
    const cu = [0, tot[0], tot[0] + tot[1]];
    const cache = IndexerKCache.alloc(numPages, { pageSize: P, device });
    const btHost = bt.toTypedArraySync();
    const slotOf = (b: number, pos: number) => BigInt(btHost[b * maxBlocks + Math.floor(pos / P)] * P + (pos % P));
    const bf16 = (n: number) => Uint16Array.from({ length: n * D }, () => f32ToBf16(rng.normal()));
    const prefixSlots = [0, 1].flatMap((b) => Array.from({ length: prefix[b] }, (_, p) => slotOf(b, p)));
    storeK(cache, Tensor.from(bf16(prefixSlots.length), [prefixSlots.length, D], { dtype: 'bfloat16', device }), Tensor.from(prefixSlots, [prefixSlots.length], { dtype: 'int64', device }));
    const S = news[0] + news[1];
    const newSlots = [0, 1].flatMap((b) => Array.from({ length: news[b] }, (_, j) => slotOf(b, prefix[b] + j)));
    const ksHost = [0, 1].flatMap((b) => new Array<number>(news[b]).fill(cu[b]));
    const keHost = [0, 1].flatMap((b) => Array.from({ length: news[b] }, (_, j) => cu[b] + prefix[b] + j + 1));
    const x = {
      k: Tensor.from(bf16(S), [S, D], { dtype: 'bfloat16', device }),
      slotMapping: Tensor.from(newSlots, [S], { dtype: 'int64', device }),
      q: Tensor.from(fp8(S * H * D), [S, H, D], { dtype: 'float8_e4m3fn', device }),
      weights: Tensor.from(Float32Array.from({ length: S * H }, () => rng.normal()), [S, H], { device }),
      blockTable: bt.narrow(0, 0, 2),
      cuSeqLens: Tensor.from(Int32Array.from(cu), [3], { device }),
      ks: Tensor.from(Int32Array.from(ksHost), [S], { device }),
      ke: Tensor.from(Int32Array.from(keHost), [S], { device }),
      lengths: Tensor.from(Int32Array.from(keHost, (e, i) => e - ksHost[i]), [S], { device }),
      numKvTokens: cu[2],
    };
    const plan = planAttention({ mode: 'extend', seqLens: tot }, { denseSupported: false, topK });
    expect(plan.indexer).toBe('ragged');
    // By hand, on a copy of the cache as it was before this step (the prefix only).
    const cache2 = new IndexerKCache(cache.tensor.to(device), { pageSize: P });
    const indexer = new NsaIndexer(cache, { topK, deterministic: true });
    const got = await indexer.run(plan, x)!.toTypedArray();
    storeK(cache2, x.k, x.slotMapping);
    const g = gatherK(cache2, x.blockTable, x.cuSeqLens, { numTokens: cu[2] });
    const logits = raggedMqaLogits(x.q, g.k, g.scale, x.weights, x.ks, x.ke);
    const want = await topk(logits, x.lengths, { k: topK, rowStarts: x.ks, deterministic: true }).toTypedArray();
    expect(Array.from(got)).toEqual(Array.from(want));
    // Compressed: [S, max(ke - ks)] logits instead of [S, 500]; the same indices.
    const W = Math.max(...keHost.map((e, i) => e - ksHost[i]));
    expect(Array.from(await indexer.run(plan, { ...x, maxRowLength: W })!.toTypedArray())).toEqual(Array.from(want));
  });

  test('a stage missing its inputs throws E_ARG naming them', () => {
    const x = setup();
    expectNsaError(() => new NsaIndexer(x.cache).run(planAttention({ mode: 'decode', seqLens: lens }), { k: x.k, slotMapping: x.slotMapping }), 'E_ARG', /inputs.q/);
  });
});

describe('calibrateThreshold', () => {
  test('finds the crossover of synthetic timings to the granularity', async () => {
    // MHA grows quadratically, MLA linearly: crossover at 3000 tokens
    const r = await calibrateThreshold(async (len) => ({ mhaUs: (len * len) / 3000, mlaUs: len }), { granularity: 32 });
    expect(r.threshold).toBeGreaterThan(3000 - 64);
    expect(r.threshold).toBeLessThanOrEqual(3000);
    expect(r.samples.length).toBeLessThan(20);
    expect((await calibrateThreshold(async () => ({ mhaUs: 1, mlaUs: 2 }), { maxLen: 4096 })).threshold).toBe(4096);
    expect((await calibrateThreshold(async () => ({ mhaUs: 2, mlaUs: 1 }))).threshold).toBe(255);
  });
});
