// pagedMqaTopk (SPEC §3a then §4): equal to pagedMqaLogits + topk with every row's length written out by
// hand (next_n 1-4, 1-D and 2-D contextLens, both layouts), through the page-table and global-slot
// outputs; every bad argument refused before the logits run.
import { f32ToBf16, IndexerKCache, pagedMqaLogits, pagedMqaTopk, storeK, Tensor, topk, type Device, type KCacheLayout } from '../lib';
import { describeDevice, expectNsaError, randInt32, Rng } from './helpers';

const D = 128, P = 64;

describeDevice('pagedMqaTopk', (device: Device) => {
  const rng = new Rng();
  const numPages = 64, maxBlocks = 12, maxLen = maxBlocks * P;

  /** A cache of random K over every page, and one decode step of B requests with N query tokens each. */
  function makeStep(B: number, N: number, H: number, layout: KCacheLayout, twoD: boolean) {
    const cache = IndexerKCache.alloc(numPages, { pageSize: P, layout, device });
    const T = numPages * P;
    const k = Tensor.from(Uint16Array.from({ length: T * D }, () => f32ToBf16(rng.normal())), [T, D], { dtype: 'bfloat16', device });
    storeK(cache, k, Tensor.from(Array.from({ length: T }, (_, i) => BigInt(i)), [T], { dtype: 'int64', device }));
    const pages = rng.shuffle(Array.from({ length: numPages }, (_, i) => i));
    const blockTable = Tensor.from(Int32Array.from({ length: B * maxBlocks }, (_, i) => pages[i % numPages]), [B, maxBlocks], { device });
    // Lengths around k = 64 and up to the whole table: short rows (-1 padded), rows of exactly k, long rows.
    const ctx = Array.from({ length: B }, (_, b) => [0, 1, 64 + N - 1, 65 + N - 1, maxLen][b % 5] ?? rng.int(0, maxLen + 1));
    const perRow = Array.from({ length: B * N }, (_, r) => Math.max(ctx[Math.floor(r / N)] - N + 1 + (r % N), 0));
    const contextLens = twoD
      ? Tensor.from(Int32Array.from(perRow.map((l, r) => Math.max(0, l - rng.int(0, 3) * (r % 2)))), [B, N], { device })
      : Tensor.from(Int32Array.from(ctx), [B], { device });
    const rowLens = twoD ? Array.from(contextLens.to('cpu').toTypedArraySync()) : perRow;
    const q = Tensor.from(Uint8Array.from({ length: B * N * H * D }, () => rng.int(0, 0x7e)), [B, N, H, D], { dtype: 'float8_e4m3fn', device });
    const weights = Tensor.from(Float32Array.from({ length: B * N * H }, () => rng.normal()), [B * N, H], { device });
    return { cache, blockTable, contextLens, rowLens, q, weights, B, N };
  }

  for (const [N, H, layout, twoD] of [[1, 64, 'preshuffle', false], [2, 32, 'plain', false], [3, 64, 'preshuffle', true], [4, 64, 'plain', false], [4, 32, 'preshuffle', true]] as [number, number, KCacheLayout, boolean][]) {
    test(`next_n ${N}, H ${H}, ${layout}, ${twoD ? '2-D' : '1-D'} contextLens: equal to pagedMqaLogits + topk with row lengths by hand (seed ${rng.seed})`, async () => {
      const s = makeStep(7, N, H, layout, twoD);
      const lengths = Tensor.from(Int32Array.from(s.rowLens), [s.B * N], { device });
      const logitsOut = Tensor.from(Float32Array.from({ length: s.B * N * maxLen }, () => rng.normal() * 1e6), [s.B * N, maxLen], { device });
      const out = Tensor.from(randInt32(rng, s.B * N * 64), [s.B * N, 64], { dtype: 'int32', device }); // poisoned
      pagedMqaTopk(s.q, s.cache, s.weights, s.contextLens, s.blockTable, { maxContextLen: maxLen, k: 64, deterministic: true, logitsOut, out });
      const logits = pagedMqaLogits(s.q, s.cache, s.weights, s.contextLens, s.blockTable, { maxContextLen: maxLen });
      const want = topk(logits, lengths, { k: 64, deterministic: true });
      expect(await out.toTypedArray()).toEqual(await want.toTypedArray());
      // logitsOut holds the logits at every valid position.
      const [got, ref] = [await logitsOut.toTypedArray(), await logits.toTypedArray()];
      for (let r = 0; r < s.B * N; r++) for (let p = 0; p < s.rowLens[r]; p++) if (got[r * maxLen + p] !== ref[r * maxLen + p]) throw new Error(`logitsOut row ${r} pos ${p}`);
      // The default selection: the same sets.
      const loose = await pagedMqaTopk(s.q, s.cache, s.weights, s.contextLens, s.blockTable, { maxContextLen: maxLen, k: 64 }).toTypedArray();
      const strict = await want.toTypedArray();
      const sorted = (a: Int32Array, r: number) => Array.from(a.subarray(r * 64, r * 64 + 64)).sort((x, y) => x - y);
      for (let r = 0; r < s.B * N; r++) expect(sorted(loose, r)).toEqual(sorted(strict, r));
    });
  }

  test('outputs: page table and global slot, one table row per request', async () => {
    const s = makeStep(6, 2, 64, 'preshuffle', false);
    const W = maxLen;
    const pageTable = Tensor.from(randInt32(rng, s.B * W, 0, 1 << 20), [s.B, W], { device });
    const positions = await pagedMqaTopk(s.q, s.cache, s.weights, s.contextLens, s.blockTable, { maxContextLen: maxLen, k: 64, deterministic: true }).toTypedArray();
    const viaTable = await pagedMqaTopk(s.q, s.cache, s.weights, s.contextLens, s.blockTable, { maxContextLen: maxLen, k: 64, deterministic: true, output: 'pageTable', pageTable }).toTypedArray();
    const slots = await pagedMqaTopk(s.q, s.cache, s.weights, s.contextLens, s.blockTable, { maxContextLen: maxLen, k: 64, deterministic: true, output: 'globalSlot' }).toTypedArray();
    const [pt, bt] = [await pageTable.toTypedArray(), await s.blockTable.toTypedArray()];
    positions.forEach((i, j) => {
      const b = Math.floor(j / 64 / s.N);
      expect(viaTable[j]).toBe(i < 0 ? -1 : pt[b * W + i]);
      expect(slots[j]).toBe(i < 0 ? -1 : bt[b * maxBlocks + Math.floor(i / P)] * P + (i % P));
    });
  });

  test('bad inputs are refused before the logits run (logitsOut untouched)', async () => {
    const s = makeStep(5, 2, 64, 'plain', false);
    const poison = Float32Array.from({ length: s.B * 2 * maxLen }, () => rng.normal());
    const logitsOut = Tensor.from(poison, [s.B * 2, maxLen], { device });
    const call = (extra: object) => () => pagedMqaTopk(s.q, s.cache, s.weights, s.contextLens, s.blockTable, { maxContextLen: maxLen, logitsOut, ...extra });
    expectNsaError(call({ k: 0 }), 'E_RANGE', /k/);
    expectNsaError(call({ k: 5000 }), 'E_RANGE', /k/);
    expectNsaError(call({ output: 'slots' }), 'E_ARG', /output/);
    expectNsaError(call({ output: 'pageTable' }), 'E_ARG', /pageTable/);
    expectNsaError(call({ output: 'pageTable', pageTable: Tensor.zeros([s.B * 2, 8], { dtype: 'int32', device }) }), 'E_SHAPE', /pageTable/);
    expectNsaError(call({ output: 'pageTable', pageTable: Tensor.zeros([s.B, 8], { device }) }), 'E_DTYPE', /pageTable/);
    expectNsaError(call({ pageTable: Tensor.zeros([s.B, 8], { dtype: 'int32', device }) }), 'E_ARG', /pageTable/);
    expectNsaError(call({ output: 'globalSlot', slotBlockTable: s.blockTable }), 'E_ARG', /slotPageSize/);
    expectNsaError(call({ output: 'globalSlot', slotPageSize: 48 }), 'E_RANGE', /slotPageSize/);
    expectNsaError(call({ out: Tensor.zeros([s.B * 2, 100], { dtype: 'int32', device }) }), 'E_SHAPE', /out/);
    expectNsaError(call({ out: Tensor.zeros([s.B * 2, 2048], { device }) }), 'E_DTYPE', /out/);
    if (device === 'cpu') expectNsaError(() => pagedMqaTopk(s.q, s.cache, s.weights, Tensor.from(Int32Array.from([5, -1, 3, 3, 3])), s.blockTable, { maxContextLen: maxLen, logitsOut }), 'E_RANGE', /contextLens\[1\]/);
    expect(await logitsOut.toTypedArray()).toEqual(poison);
  });
});
