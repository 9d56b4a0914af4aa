// SPEC §4 top-k: compared tie-aware with the CPU reference (same sorted value multiset, distinct
// in-range indices), len <= k rows, rowStarts, the transform variant, bad inputs.
import { Tensor, topk, trivialTopk, type Device } from '../lib';
import { describeDevice, expectNsaError, ON_GPU, randInt32, Rng } from './helpers';

/** Rows of random floats with planted ties and -inf, [rows, C] in a buffer with row stride ld. */
function logitsRows(rng: Rng, rows: number, C: number, ld: number, tieHeavy: boolean): Float32Array {
  const a = new Float32Array(rows * ld);
  for (let i = 0; i < a.length; i++) {
    const c = i % ld;
    if (c >= C) a[i] = NaN; // padding: must never be read
    else if (tieHeavy) a[i] = rng.int(0, 40) / 4; // many equal values
    else a[i] = rng.normal() * 10;
    if (c < C && rng.next() < 0.01) a[i] = -Infinity;
  }
  return a;
}

function check(host: Float32Array, ld: number, out: Int32Array, k: number, starts: number[], lens: number[]): void {
  for (let r = 0; r < lens.length; r++) {
    const row = out.subarray(r * k, (r + 1) * k);
    const len = lens[r];
    if (len <= k) {
      for (let j = 0; j < k; j++) if (row[j] !== (j < len ? j : -1)) throw new Error(`row ${r}: trivial index ${j} = ${row[j]}`);
      continue;
    }
    const seen = new Set<number>();
    for (const i of row) {
      if (i < 0 || i >= len || seen.has(i)) throw new Error(`row ${r}: bad or repeated index ${i} (len ${len})`);
      seen.add(i);
    }
    const vals = Array.from(host.subarray(r * ld + starts[r], r * ld + starts[r] + len)).sort((a, b) => b - a).slice(0, k);
    const got = Array.from(row, (i) => host[r * ld + starts[r] + i]).sort((a, b) => b - a);
    for (let j = 0; j < k; j++) if (got[j] !== vals[j]) throw new Error(`row ${r}: value multiset differs at ${j}: ${got[j]} vs ${vals[j]}`);
  }
}

/** k = 2048 over rows [rows, C] of `host` (row stride ld; rowStarts when `starts` is given) on `device`:
 *  the default selection, into a poisoned output, checked tie-aware; the deterministic one equal to the
 *  CPU's. */
async function expectSelections(device: Device, rng: Rng, host: Float32Array, ld: number, C: number, lens: number[], starts?: number[]): Promise<void> {
  const k = 2048, rows = lens.length;
  const inputs = (on?: { device: Device }) => ({
    logits: Tensor.from(host, [rows, ld], on).narrow(1, 0, C),
    lengths: Tensor.from(Int32Array.from(lens), [rows], on),
    rowStarts: starts && Tensor.from(Int32Array.from(starts), [rows], on),
  });
  const gpu = inputs({ device }), cpu = inputs();
  const out = Tensor.from(randInt32(rng, rows * k), [rows, k], { dtype: 'int32', device });
  topk(gpu.logits, gpu.lengths, { k, out, rowStarts: gpu.rowStarts });
  check(host, ld, await out.toTypedArray(), k, starts ?? new Array(rows).fill(0), lens);
  const det = await topk(gpu.logits, gpu.lengths, { k, rowStarts: gpu.rowStarts, deterministic: true }).toTypedArray();
  const want = topk(cpu.logits, cpu.lengths, { k, rowStarts: cpu.rowStarts, deterministic: true }).toTypedArraySync();
  expect(Array.from(det)).toEqual(Array.from(want));
}

describeDevice('SPEC §4 top-k', (device: Device) => {
  const rng = new Rng();

  for (const [k, C, tieHeavy] of [[2048, 9000, false], [2048, 70000, false], [2048, 9000, true], [2048, 8192, false], [2048, 8192, true], [512, 3000, true], [4096, 20000, false], [1, 100, true]] as const) {
    test(`k=${k} C=${C}${tieHeavy ? ' (ties)' : ''}: tie-aware equal to the reference; short rows trivial (seed ${rng.seed})`, async () => {
      const lens = [0, 1, k - 1, k, k + 1, C, Math.min(C, 8191), rng.int(k, C + 1), rng.int(1, C + 1)];
      const rows = lens.length;
      const ld = C + 5;
      const host = logitsRows(rng, rows, C, ld, tieHeavy);
      const logits = Tensor.from(host, [rows, ld], { device }).narrow(1, 0, C);
      const lengths = Tensor.from(Int32Array.from(lens), [rows], { device });
      const out = Tensor.from(randInt32(rng, rows * k), [rows, k], { dtype: 'int32', device }); // poisoned
      topk(logits, lengths, { k, out });
      check(host, ld, await out.toTypedArray(), k, new Array(rows).fill(0), lens);
    });
  }

  // Mostly one repeated value: the bin holding the k-th key is larger than the candidate space, so the
  // kernel sweeps the whole row instead of a candidate list (the 4-pass path). C = 40000: a cached row of
  // 30000 and an uncached one of 40000; C = 32768: both rows cached, the bin larger than the space left
  // next to them. Default tie-aware, deterministic equal to the CPU.
  for (const C of [40000, 32768]) {
    test(`rows whose threshold bin overflows the candidate space (C = ${C})`, async () => {
      const lens = [30000, C];
      const host = new Float32Array(lens.length * C);
      for (let i = 0; i < host.length; i++) host[i] = rng.next() < 0.97 ? 1.5 : rng.normal() * 10;
      await expectSelections(device, rng, host, C, C, lens);
    });
  }

  test('rowStarts: windows inside longer rows', async () => {
    const k = 256, C = 5000, rows = 6;
    const host = logitsRows(rng, rows, C, C, false);
    const starts = [0, 17, 1000, 4000, 4999, 0];
    const lens = [5000, 300, 4000, 1000, 1, 200];
    const out = topk(Tensor.from(host, [rows, C], { device }), Tensor.from(Int32Array.from(lens), [rows], { device }), {
      k,
      rowStarts: Tensor.from(Int32Array.from(starts), [rows], { device }),
    });
    check(host, C, await out.toTypedArray(), k, starts, lens);
  });

  test('transform: indices mapped through page_table_1 per row and per request', async () => {
    const k = 64, C = 700, rows = 5, W = 800;
    const host = logitsRows(rng, rows, C, C, false);
    const lens = [700, 10, 65, 64, 0];
    const logits = Tensor.from(host, [rows, C], { device });
    const lengths = Tensor.from(Int32Array.from(lens), [rows], { device });
    // Deterministic: planted -inf ties are broken the same way in every run being compared.
    const plain = await topk(logits, lengths, { k, deterministic: true }).toTypedArray();
    const pt = randInt32(rng, rows * W, 0, 1 << 20);
    const mapped = await topk(logits, lengths, { k, deterministic: true, pageTable: Tensor.from(pt, [rows, W], { device }) }).toTypedArray();
    // GPU output order is unspecified (and may differ run to run): compare each row as a multiset.
    const rowSorted = (a: Int32Array, r: number, f: (v: number) => number) => Array.from(a.subarray(r * k, (r + 1) * k), f).sort((x, y) => x - y);
    for (let r = 0; r < rows; r++) expect(rowSorted(mapped, r, (v) => v)).toEqual(rowSorted(plain, r, (v) => (v < 0 ? -1 : pt[r * W + v])));
    // per request: rows 0-1 -> req 0, rows 2-4 -> req 1
    const reqPt = randInt32(rng, 2 * W, 0, 1 << 20);
    const byReq = await topk(logits, lengths, {
      k,
      deterministic: true,
      pageTable: Tensor.from(reqPt, [2, W], { device }),
      cuSeqlensQ: Tensor.from(Int32Array.from([0, 2, 5]), [3], { device }),
    }).toTypedArray();
    for (let r = 0; r < rows; r++) expect(rowSorted(byReq, r, (v) => v)).toEqual(rowSorted(plain, r, (v) => (v < 0 ? -1 : reqPt[(r < 2 ? 0 : 1) * W + v])));
  });

  // Long rows with few rows in the batch are split over a cluster of CTAs on sm_90: B = 1 rows of 128k and
  // 256k keys, and one batch with lengths from 0 to 131072 (trivial rows, rows of K and K + 1, short and
  // long ones, a row of -inf), default and deterministic.
  const longCases: [string, number[]][] = [
    ['B=1 x 131072', [131072]],
    ['B=1 x 262144', [262144]],
    ['mixed lengths 0..131072', [0, 1, 2048, 2049, 3000, 9000, 16384, 40000, 65536, 100000, 131072, 131071]],
  ];
  for (const [name, lens] of longCases) {
    test(`long rows (${name}): default tie-aware, deterministic exact`, async () => {
      const k = 2048, C = Math.max(...lens), rows = lens.length;
      const host = logitsRows(rng, rows, C, C, false);
      if (rows > 3) host.fill(-Infinity, 9 * C, 10 * C); // row 9: all -inf
      const logits = Tensor.from(host, [rows, C], { device });
      const lengths = Tensor.from(Int32Array.from(lens), [rows], { device });
      const out = Tensor.from(randInt32(rng, rows * k), [rows, k], { dtype: 'int32', device });
      topk(logits, lengths, { k, out });
      check(host, C, await out.toTypedArray(), k, new Array(rows).fill(0), lens);
      const det = await topk(logits, lengths, { k, deterministic: true }).toTypedArray();
      for (let r = 0; r < rows; r++) {
        const n = lens[r];
        const base = r * C;
        const idx = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => host[base + b] - host[base + a] || a - b);
        const want = new Int32Array(k).fill(-1);
        want.set(idx.subarray(0, Math.min(n, k)).sort());
        const got = det.subarray(r * k, (r + 1) * k);
        if (!want.every((v, j) => v === got[j])) throw new Error(`row ${r} (len ${n}): deterministic output differs`);
      }
    });
  }

  // C = 40000: uncached rows; C = 9000: cached rows; C = 8192: the register kernel (rows of up to 8192 keys).
  for (const C of [40000, 9000, 8192]) {
    test(`deterministic: the k largest under (value desc, position asc), ascending, equal to the CPU, over 16-level ties (C = ${C})`, async () => {
      const k = 2048;
      const lens = [C, Math.min(30000, C - 1), Math.min(9000, C - 2), k + 1, k, 5000, 0];
      const rows = lens.length;
      const host = new Float32Array(rows * C);
      for (let i = 0; i < host.length; i++) host[i] = rng.int(0, 16) / 2; // 16 levels: heavy ties
      for (let i = 0; i < C; i += 97) host[i] = -Infinity;
      const logits = Tensor.from(host, [rows, C], { device });
      const lengths = Tensor.from(Int32Array.from(lens), [rows], { device });
      // The expected rows: sort positions by (value desc, position asc), take k, sort ascending.
      const want = new Int32Array(rows * k).fill(-1);
      for (let r = 0; r < rows; r++) {
        const n = lens[r];
        const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => host[r * C + b] - host[r * C + a] || a - b);
        const sel = idx.slice(0, Math.min(n, k)).sort((a, b) => a - b);
        want.set(sel, r * k);
      }
      const runs = ON_GPU ? 100 : 2;
      for (let t = 0; t < runs; t++) {
        const out = Tensor.from(randInt32(rng, rows * k), [rows, k], { dtype: 'int32', device });
        topk(logits, lengths, { k, out, deterministic: true });
        expect(await out.toTypedArray()).toEqual(want);
        out.dispose();
      }
    });
  }

  // Rows of up to 8192 keys run 1024 threads per row while the batch fits on the SMs, 512 (two per SM)
  // up to twice that, 256 (four per SM) beyond: on a 132-SM H100 / H200, 200 rows take 512 and 300 rows
  // take 256 (the other tests: 1024). Mixed lengths, rowStarts, ties; default tie-aware, deterministic
  // equal to the CPU.
  test.each([200, 300])('a batch of %i rows of up to 8192 keys (the register kernel at every block size)', async (rows) => {
    const C = 8192; // (rows wider than 8192 take the general kernel)
    const host = logitsRows(rng, rows, C, C, false);
    for (let i = 0; i < host.length; i += 3) host[i] = rng.int(0, 16); // a third of the keys tied on 16 levels
    const starts = Array.from({ length: rows }, (_, r) => (r % 7 === 0 ? 0 : rng.int(0, 65)));
    const lens = starts.map((s, r) => (r % 5 === 0 ? C - s : rng.int(0, C - s + 1)));
    await expectSelections(device, rng, host, C, C, lens, starts);
  });

  // Rows without rowStarts at every block size of the register kernel: the columns past each length hold
  // NaN and must never count.
  test.each([64, 200, 300])('%i rows of up to 8192 keys without rowStarts: columns past the length never count', async (rows) => {
    const C = 8192;
    const host = logitsRows(rng, rows, C, C, false);
    const lens = Array.from({ length: rows }, (_, r) => (r % 4 === 0 ? C : rng.int(0, C + 1)));
    lens.forEach((n, r) => host.fill(NaN, r * C + n, (r + 1) * C));
    await expectSelections(device, rng, host, C, C, lens);
  });

  // Batches of long rows: 64 x 65536 on the register kernel's clusters of two 1024 x 32 CTAs (132-SM
  // GPU); beyond them the general kernel, over pairs of CTAs while the pairs all fit (40 x 70000, slices
  // of 35000 streamed from global memory twice) and one CTA per row beyond (140 x 40000 and 80 x
  // 131072; slices of up to 32768 copied whole into shared memory: the B = 1 x 262144 test above).
  // Rows at odd offsets (row stride C + 3, rowStarts) and odd lengths: the streamed reads' first and
  // last positions are read singly. Row 1: 97 % one value (the whole-slice path: the threshold bin
  // overflows the candidate space; deterministic rows by the ordered pass); row 2: 16 levels (more keys
  // equal to the k-th largest than taken); the rest continuous (deterministic rows from the candidates'
  // bitmaps). Default tie-aware, deterministic equal to the CPU.
  test.each([
    [64, 65536, 0],
    [40, 70000, 3],
    [140, 40000, 3],
    [80, 131072, 0],
  ])('%i rows of %i keys (row stride + %i): the general kernel, default tie-aware, deterministic equal to the CPU', async (rows, C, pad) => {
    const ld = C + pad;
    const host = logitsRows(rng, rows, C, ld, false);
    for (let i = 0; i < host.length; i += 5) if (i % ld < C) host[i] = rng.int(0, 16); // a fifth tied on 16 levels
    for (let i = ld; i < ld + C; i++) if (rng.next() < 0.97) host[i] = 1.5;
    for (let i = 2 * ld; i < 2 * ld + C; i++) host[i] = rng.int(0, 16) / 2;
    const starts = Array.from({ length: rows }, (_, r) => (pad === 0 || r % 2 === 0 ? 0 : rng.int(1, 8)));
    const lens = starts.map((s, r) => (r % 3 === 0 ? C - s : rng.int(0, C - s + 1)));
    await expectSelections(device, rng, host, ld, C, lens, starts);
  });

  test('global slot: blockTable[req, i / P] * P + i % P, per row and per request, -1 kept', async () => {
    const k = 128, C = 3000, rows = 4, P = 64, maxBlocks = Math.ceil(C / P);
    const host = logitsRows(rng, rows, C, C, false);
    const lens = [3000, 100, 129, 2000];
    const logits = Tensor.from(host, [rows, C], { device });
    const lengths = Tensor.from(Int32Array.from(lens), [rows], { device });
    const plain = await topk(logits, lengths, { k, deterministic: true }).toTypedArray();
    const bt = randInt32(rng, 2 * maxBlocks, 0, 1 << 16);
    const cu = Tensor.from(Int32Array.from([0, 1, 4]), [3], { device });
    const got = await topk(logits, lengths, { k, deterministic: true, blockTable: Tensor.from(bt, [2, maxBlocks], { device }), pageSize: P, cuSeqlensQ: cu }).toTypedArray();
    const want = Int32Array.from(plain, (v, j) => {
      const req = Math.floor(j / k) < 1 ? 0 : 1;
      return v < 0 ? -1 : bt[req * maxBlocks + Math.floor(v / P)] * P + (v % P);
    });
    expect(got).toEqual(want);
  });

  test('trivialTopk: 0..len-1 then -1 without logits, through the transforms', async () => {
    const k = 16, lens = [0, 3, 16, 20];
    const lengths = Tensor.from(Int32Array.from(lens), [4], { device });
    const got = await trivialTopk(lengths, { k }).toTypedArray();
    const want = new Int32Array(4 * k).fill(-1);
    lens.forEach((l, r) => {
      for (let j = 0; j < Math.min(l, k); j++) want[r * k + j] = j;
    });
    expect(got).toEqual(want);
    const bt = Tensor.from(Int32Array.from([5, 9, 2, 7, 1, 1, 3, 3]), [4, 2], { device });
    const slots = await trivialTopk(lengths, { k, blockTable: bt, pageSize: 8 }).toTypedArray();
    expect(Array.from(slots.subarray(k, k + 4))).toEqual([2 * 8, 2 * 8 + 1, 2 * 8 + 2, -1]);
  });

  // nextN: requests of nextN rows, lengths per request (the causal rule of SPEC §3) or [reqs, nextN] per
  // row, tables per request. Equal to the same rows with per-row lengths and per-row tables.
  test('nextN: lengths and tables per request equal per-row lengths and repeated table rows', async () => {
    const k = 64, N = 3, reqs = 9, C = 300, rows = reqs * N, W = C;
    const host = logitsRows(rng, rows, C, C, true);
    const logits = Tensor.from(host, [rows, C], { device });
    const ctx = Array.from({ length: reqs }, (_, b) => [0, 1, k + 1, k + N, C][b] ?? rng.int(0, C + 1));
    const perRow = Array.from({ length: rows }, (_, r) => Math.max(ctx[Math.floor(r / N)] - N + 1 + (r % N), 0));
    const twoD = Array.from({ length: rows }, () => rng.int(0, C + 1));
    const table = randInt32(rng, reqs * W, 0, 1 << 20);
    const rowTable = Int32Array.from({ length: rows * W }, (_, i) => table[Math.floor(i / W / N) * W + (i % W)]);
    const run = (lengths: Int32Array, shape: number[], opts: object) => topk(logits, Tensor.from(lengths, shape, { device }), { k, deterministic: true, ...opts }).toTypedArray();
    const pt = Tensor.from(table, [reqs, W], { device }), rowPt = Tensor.from(rowTable, [rows, W], { device });
    expect(await run(Int32Array.from(ctx), [reqs], { nextN: N })).toEqual(await run(Int32Array.from(perRow), [rows], {}));
    expect(await run(Int32Array.from(ctx), [reqs], { nextN: N, pageTable: pt })).toEqual(await run(Int32Array.from(perRow), [rows], { pageTable: rowPt }));
    expect(await run(Int32Array.from(twoD), [reqs, N], { nextN: N, pageTable: pt })).toEqual(await run(Int32Array.from(twoD), [rows], { pageTable: rowPt }));
    const bt = Tensor.from(table.map((v) => v & 0xffff), [reqs, W], { device }), rowBt = Tensor.from(rowTable.map((v) => v & 0xffff), [rows, W], { device });
    expect(await run(Int32Array.from(ctx), [reqs], { nextN: N, blockTable: bt, pageSize: 16 })).toEqual(await run(Int32Array.from(perRow), [rows], { blockTable: rowBt, pageSize: 16 }));
    // trivial rows: rows = lengths * nextN
    const triv = await trivialTopk(Tensor.from(Int32Array.from([2, 0]), [2], { device }), { k: 4, nextN: 2 }).toTypedArray();
    expect(Array.from(triv)).toEqual([0, -1, -1, -1, 0, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]);
    // bad nextN
    const lens = Tensor.from(Int32Array.from(ctx), [reqs], { device });
    expectNsaError(() => topk(logits, lens, { k, nextN: 0 }), 'E_RANGE', /nextN: got 0/);
    expectNsaError(() => topk(logits, lens, { k, nextN: 1.5 }), 'E_RANGE', /nextN/);
    expectNsaError(() => topk(logits, lens, { k, nextN: 2 }), 'E_SHAPE', /logits.shape\[0\]: got 27, expected a multiple of nextN = 2/);
    expectNsaError(() => topk(logits, Tensor.from(Int32Array.from(perRow), [rows], { device }), { k, nextN: N }), 'E_SHAPE', /lengths.shape/);
    expectNsaError(() => topk(logits, Tensor.from(Int32Array.from(twoD), [reqs, N], { device }), { k, nextN: 1 }), 'E_SHAPE', /lengths.shape/);
    expectNsaError(() => topk(logits, lens, { k, nextN: N, pageTable: rowPt }), 'E_SHAPE', /pageTable.shape/);
    expectNsaError(() => topk(logits, lens, { k, nextN: N, pageTable: pt, cuSeqlensQ: Tensor.from(Int32Array.from([0, 27]), [2], { device }) }), 'E_ARG', /cuSeqlensQ/);
  });

  test('bad inputs', () => {
    const logits = Tensor.from(new Float32Array(40), [4, 10], { device });
    const lengths = Tensor.from(Int32Array.from([1, 2, 3, 4]), [4], { device });
    expectNsaError(() => topk(logits, lengths, { k: 0 }), 'E_RANGE', /k: got 0/);
    expectNsaError(() => topk(logits, lengths, { k: 5000 }), 'E_RANGE', /k: got 5000/);
    expectNsaError(() => topk(Tensor.from(new Int32Array(40), [4, 10], { device }) as never, lengths, { k: 2 }), 'E_DTYPE', /logits.dtype: got int32, expected float32/);
    expectNsaError(() => topk(logits, Tensor.from(Int32Array.from([1, 2]), [2], { device }) as never, { k: 2 }), 'E_SHAPE', /lengths.shape: got \[2\], expected \[4\]/);
    expectNsaError(() => topk(logits, lengths, { k: 2, cuSeqlensQ: lengths }), 'E_ARG', /cuSeqlensQ/);
    expectNsaError(() => topk(logits, lengths, { k: 2, pageTable: Tensor.from(new Int32Array(6), [3, 2], { device }) as never }), 'E_SHAPE', /pageTable.shape/);
    if (!ON_GPU) expectNsaError(() => topk(logits, Tensor.from(Int32Array.from([1, 2, 11, 4]), [4], { device }) as never, { k: 2 }), 'E_RANGE', /window inside/);
    const bt = Tensor.from(new Int32Array(8), [4, 2], { device });
    expectNsaError(() => topk(logits, lengths, { k: 2, blockTable: bt }), 'E_RANGE', /pageSize: got 0/);
    expectNsaError(() => topk(logits, lengths, { k: 2, blockTable: bt, pageSize: 48 }), 'E_RANGE', /pageSize: got 48, expected a power of two/);
    expectNsaError(() => topk(logits, lengths, { k: 2, blockTable: bt, pageSize: 64, pageTable: bt }), 'E_ARG', /one output transform/);
    expectNsaError(() => topk(logits, lengths, { k: 2, pageSize: 64 }), 'E_ARG', /pageSize/);
    expectNsaError(() => topk(logits, lengths, { k: 2, deterministic: 1 as never }), 'E_ARG', /deterministic: got 1, expected true or false/);
    expectNsaError(() => topk(logits, lengths, { k: -1 }), 'E_RANGE', /k: got -1/);
    expectNsaError(() => topk(logits, lengths, { k: 2 ** 32 + 8 }), 'E_RANGE', /k: got 4294967304/);
    expectNsaError(() => topk(logits, lengths, null as never), 'E_ARG', /options: got null/);
  });
});
