// SPEC §2: fp8 quantize-and-store and gather, plain and preshuffled pages. The CPU implementation is
// the reference; on the GPU every byte of the cache must equal it.
import { bf16ToF32, f32ToBf16, f32ToFp8E4M3, gatherK, IndexerKCache, KCacheLayout, ScaleFormat, storeK, Tensor, type Device } from '../lib';
import { bytesOf, describeDevice, expectNsaError, kcacheOffset, ON_GPU, randBf16, Rng } from './helpers';
// Math functions by local name: inside jest's vm context a global lookup per call made hot reference
// loops ~20x slower than in plain node (Math.fround 11 s vs 0.5 s for 3e7 calls).
const { abs, fround, max } = Math;

const D = 128;

/** SPEC §2 byte of (t, d) inside a page. */
const kOffset = kcacheOffset;

/** Independent TS model of SPEC §2a for one token: [q bytes, scale]. */
function quantize(row: Uint16Array, fmt: ScaleFormat): [Uint8Array, number] {
  let amax = 0;
  for (const b of row) amax = max(amax, abs(bf16ToF32(b)));
  let scale = fround(max(amax, fround(1e-4)) / 448);
  if (fmt === 'ue8m0') scale = 2 ** Math.ceil(Math.log2(scale));
  const inv = fround(1 / scale);
  return [Uint8Array.from(row, (b) => f32ToFp8E4M3(fround(bf16ToF32(b) * inv))), scale];
}

/** K rows that exercise the quantizer: saturating values, amax < 1e-4, -0, mixed magnitudes. */
function testK(rng: Rng, T: number): Uint16Array {
  const k = randBf16(rng, T * D);
  for (let i = 0; i < T; i++) {
    const row = k.subarray(i * D, (i + 1) * D);
    switch (i % 6) {
      case 1: row.set(randBf16(rng, D, 1e-6)); break; // amax < 1e-4: scale floor
      case 2: row[rng.int(0, D)] = f32ToBf16(3e4); break; // one huge value
      case 3: row.fill(0x8000); row[5] = f32ToBf16(-2.5); break; // -0 everywhere but one
      case 4: for (let d = 0; d < D; d++) row[d] = f32ToBf16(rng.normal() * 10 ** rng.int(-5, 3)); break;
      default:
    }
  }
  return k;
}

describe('SPEC §2 layout examples (literal bytes)', () => {
  test('preshuffle offsets for P=64, D=128', () => {
    expect(kOffset('preshuffle', 1, 0)).toBe(16);
    expect(kOffset('preshuffle', 0, 16)).toBe(256);
    expect(kOffset('preshuffle', 16, 0)).toBe(2048);
    expect(kOffset('preshuffle', 37, 85)).toBe(5461);
    expect(kOffset('plain', 37, 85)).toBe(4821);
    expect(64 * D + 4 * 37).toBe(8340);
  });

  test('a stored token lands at the SPEC byte offsets in the real cache', () => {
    const rng = new Rng();
    for (const layout of ['plain', 'preshuffle'] as const) {
      const cache = IndexerKCache.alloc(2, { pageSize: 64, layout });
      const k = Uint16Array.from({ length: D }, (_, d) => f32ToBf16((d - 64) / 8 + 0.25 * rng.next()));
      storeK(cache, Tensor.from(k, [1, D], { dtype: 'bfloat16' }), Tensor.from([BigInt(64 + 37)], [1], { dtype: 'int64' }));
      const page = bytesOf(cache.tensor).subarray(8448, 2 * 8448);
      const [q, scale] = quantize(k, 'ue8m0');
      expect(page[layout === 'plain' ? 4821 : 5461]).toBe(q[85]);
      expect(page[kOffset(layout, 37, 0)]).toBe(q[0]);
      expect(new Float32Array(page.slice(8340, 8344).buffer)[0]).toBe(scale);
    }
  });
});

describeDevice('SPEC §2 store / gather', (device) => {
  const rng = new Rng();
  const configs: [number, KCacheLayout][] = [[64, 'preshuffle'], [64, 'plain'], [32, 'preshuffle'], [32, 'plain'], [16, 'preshuffle'], [16, 'plain'], [1, 'plain']];

  for (const [P, layout] of configs) {
    for (const fmt of ['ue8m0', 'fp32'] as const) {
      test(`P=${P} ${layout} ${fmt}: store equals the reference byte for byte; gather returns the stored bytes (seed ${rng.seed})`, async () => {
        const numPages = P === 1 ? 700 : Math.ceil(600 / P) + 3;
        const T = 517;
        const kHost = testK(rng, T);
        // distinct random slots, some negative (skipped)
        const slotsArr = rng.shuffle(Array.from({ length: numPages * P }, (_, i) => i)).slice(0, T).map((s, i) => (i % 29 === 7 ? -1 : s));
        const slots = BigInt64Array.from(slotsArr.map(BigInt));
        const init = new Uint8Array(numPages * P * (D + 4));
        for (let i = 0; i < init.length; i++) init[i] = rng.int(0, 256);
        const make = (dev: Device) => new IndexerKCache(Tensor.from(init, [numPages, P * (D + 4)], { dtype: 'uint8', device: dev }), { pageSize: P, layout });
        const cache = make(device);
        storeK(cache, Tensor.from(kHost, [T, D], { dtype: 'bfloat16', device }), Tensor.from(slots, [T], { dtype: 'int64', device }), { scaleFormat: fmt, checkBounds: true });
        const got = bytesOf(cache.tensor);
        // the independent TS model: stored tokens at their offsets, every other byte unchanged
        const want = init.slice();
        const pageBytes = P * (D + 4);
        for (let i = 0; i < T; i++) {
          const s = slotsArr[i];
          if (s < 0) continue;
          const [q, scale] = quantize(kHost.subarray(i * D, (i + 1) * D), fmt);
          const base = Math.floor(s / P) * pageBytes, t = s % P;
          for (let d = 0; d < D; d++) want[base + kOffset(layout, t, d)] = q[d];
          new DataView(want.buffer).setFloat32(base + P * D + 4 * t, scale, true);
        }
        expect(Buffer.compare(Buffer.from(got), Buffer.from(want))).toBe(0);
        if (ON_GPU) {
          const ref = make('cpu');
          storeK(ref, Tensor.from(kHost, [T, D], { dtype: 'bfloat16' }), Tensor.from(slots, [T], { dtype: 'int64' }), { scaleFormat: fmt });
          expect(Buffer.compare(Buffer.from(got), Buffer.from(bytesOf(ref.tensor)))).toBe(0);
        }

        // gather: requests over random block tables (permutations of the pages)
        const B = 5;
        const lens = [0, 1, P + 1, 2 * P - 1, rng.int(1, 3 * P)];
        const maxBlocks = max(...lens.map((l) => Math.ceil(l / P))) + 1;
        const bt = new Int32Array(B * maxBlocks);
        for (let b = 0; b < B; b++) bt.set(rng.shuffle(Array.from({ length: numPages }, (_, i) => i)).slice(0, maxBlocks), b * maxBlocks);
        const cu = new Int32Array(B + 1);
        for (let b = 0; b < B; b++) cu[b + 1] = cu[b] + lens[b];
        const out = gatherK(cache, Tensor.from(bt, [B, maxBlocks], { device }), Tensor.from(cu, [B + 1], { device }), { checkBounds: true });
        expect(out.k.shape).toEqual([cu[B], D]);
        const gk = bytesOf(out.k), gs = await out.scale.toTypedArray();
        for (let b = 0; b < B; b++)
          for (let p = 0; p < lens[b]; p++) {
            const i = cu[b] + p, base = bt[b * maxBlocks + Math.floor(p / P)] * pageBytes, t = p % P;
            for (let d = 0; d < D; d++) if (gk[i * D + d] !== want[base + kOffset(layout, t, d)]) throw new Error(`gather token ${i} dim ${d}`);
            expect(gs[i]).toBe(new DataView(want.buffer).getFloat32(base + P * D + 4 * t, true));
          }
      });
    }
  }

  test('gather(store(x)) returns the quantized rows', async () => {
    const cache = IndexerKCache.alloc(8, { pageSize: 64, layout: 'preshuffle', device });
    const T = 300;
    const k = testK(rng, T);
    storeK(cache, Tensor.from(k, [T, D], { dtype: 'bfloat16', device }), Tensor.from(BigInt64Array.from({ length: T }, (_, i) => BigInt(i + 64)), [T], { dtype: 'int64', device }));
    const bt = Tensor.from(Int32Array.from([1, 2, 3, 4, 5]), [1, 5], { device });
    const out = gatherK(cache, bt, Tensor.from(Int32Array.from([0, T]), [2], { device }), { numTokens: T });
    const gk = bytesOf(out.k), gs = await out.scale.toTypedArray();
    for (let i = 0; i < T; i++) {
      const [q, scale] = quantize(k.subarray(i * D, (i + 1) * D), 'ue8m0');
      expect(gs[i]).toBe(scale);
      expect(Buffer.compare(Buffer.from(gk.subarray(i * D, (i + 1) * D)), Buffer.from(q))).toBe(0);
    }
  });

  test('bad inputs: typed errors, and out-of-range slots / pages never touch memory outside the cache', () => {
    const cache = IndexerKCache.alloc(4, { pageSize: 64, layout: 'preshuffle', device });
    const k = Tensor.from(randBf16(rng, 2 * D), [2, D], { dtype: 'bfloat16', device });
    const slots = (v: number[]) => Tensor.from(BigInt64Array.from(v.map(BigInt)), [v.length], { dtype: 'int64', device });
    expectNsaError(() => IndexerKCache.alloc(4, { pageSize: 48 }), 'E_UNSUPPORTED', /pageSize: got 48/);
    expectNsaError(() => IndexerKCache.alloc(4, { pageSize: 1, layout: 'preshuffle' }), 'E_UNSUPPORTED', /preshuffle/);
    expectNsaError(() => IndexerKCache.alloc(4, { headDim: 64 }), 'E_UNSUPPORTED', /headDim: got 64/);
    expectNsaError(() => storeK(cache, Tensor.from([1, 2], [1, 2], { device }) as never, slots([0])), 'E_DTYPE', /k.dtype: got float32, expected bfloat16/);
    expectNsaError(() => storeK(cache, k, slots([0])), 'E_SHAPE', /slotMapping.shape: got \[1\], expected \[2\]/);
    expectNsaError(() => storeK(cache, k, Tensor.from([0, 1], [2], { dtype: 'int32', device }) as never), 'E_DTYPE', /slotMapping.dtype: got int32, expected int64/);
    expectNsaError(() => storeK(cache, k, slots([0, 1]), { scaleFormat: 'e5m2' as never }), 'E_ARG', /scaleFormat/);
    const before = bytesOf(cache.tensor);
    expectNsaError(() => storeK(cache, k, slots([3, 4 * 64]), { checkBounds: true }), 'E_RANGE', /slot/);
    if (!ON_GPU) expect(Buffer.compare(Buffer.from(bytesOf(cache.tensor)), Buffer.from(before))).toBe(0); // host: refused before any write
    const bt = Tensor.from(Int32Array.from([0, 9]), [1, 2], { device });
    // The host refuses before reading (naming the entry); the device writes zeros and reports the kind.
    expectNsaError(() => gatherK(cache, bt, Tensor.from(Int32Array.from([0, 100]), [2], { device }) as never, { numTokens: 100, checkBounds: true }), 'E_RANGE',
      ON_GPU ? /blockTable holds a page outside \[0, numPages\)/ : /blockTable\[0, 1\]: got 9, expected a page in \[0, 4\)/);
    expectNsaError(() => gatherK(cache, bt, Tensor.from(Int32Array.from([0, 200]), [2], { device }) as never, { numTokens: 200, checkBounds: true }), 'E_RANGE',
      ON_GPU ? /cuSeqLens asks for more blocks than blockTable has/ : /cuSeqLens \(request 0\): got 200, expected at most blockTable.shape\[1\] \* pageSize = 128 tokens/);
    expectNsaError(() => gatherK(cache, bt, Tensor.from(Int32Array.from([0, 1, 2]), [3], { device }) as never), 'E_SHAPE', /cuSeqLens.shape/);
  });
});
