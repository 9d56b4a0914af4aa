// SPEC §1: fused / multi / per-tensor metadata copy and prepared plans. Destinations are poisoned
// with random data first; copied ranges must equal the source and everything else keep its bytes.
import { captureGraph, MetadataMode, MetadataSet, metadataCopy, prepareMetadataCopy, Stream, Tensor, type Device } from '../lib';
import { describeDevice, describeGpuOnly, expectNsaError, ON_GPU, randInt32, Rng } from './helpers';

interface Geometry {
  mode: MetadataMode;
  bs: number;
  rows: number;
  width: number;
  s: number;
  realWidth: number;
  metaLen: number;
  ld: number; // destination page-table row stride
  ldr: number;
  real: boolean;
  splits: boolean;
  meta: boolean;
}

type HostSet = Record<string, Int32Array>;

/**
 * Every tensor of `got` equals `want`, element for element (the first difference named). jest's
 * toEqual walks typed arrays element by element through its generic equality: seconds per test here.
 */
function expectSameSet(got: HostSet, want: HostSet): void {
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const k of Object.keys(want)) {
    const a = got[k], b = want[k];
    if (a.length !== b.length) throw new Error(`${k}: length ${a.length}, expected ${b.length}`);
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) throw new Error(`${k}[${i}]: got ${a[i]}, expected ${b[i]}`);
  }
}

function geometry(rng: Rng, mode: MetadataMode, bs: number, opts: { real: boolean; splits: boolean; meta: boolean }): Geometry {
  const decode = mode === 'decode';
  const rows = decode ? bs : bs * rng.int(1, 4);
  const s = decode ? bs : rows;
  const width = rng.int(1, 3) === 1 ? 4 * rng.int(1, 40) : rng.int(1, 150); // vec4 and scalar paths
  const realWidth = rng.int(1, 70);
  return { mode, bs, rows, width, s, realWidth, metaLen: rng.int(1, 300), ld: width + rng.int(0, 9), ldr: realWidth + rng.int(0, 5), ...opts };
}

function hostSource(rng: Rng, g: Geometry): HostSet {
  const src: HostSet = {
    cacheSeqlens: randInt32(rng, g.bs),
    cuSeqlensK: randInt32(rng, g.bs + 1),
    pageTable: randInt32(rng, g.rows * g.width),
    nsaCacheSeqlens: randInt32(rng, g.s),
    nsaCuSeqlensK: randInt32(rng, g.s + 1),
  };
  if (g.mode !== 'decode') src.seqlensExpanded = randInt32(rng, g.s);
  if (g.real) src.realPageTable = randInt32(rng, g.rows * g.realWidth);
  if (g.splits) src.flashmlaNumSplits = randInt32(rng, g.s + 1);
  if (g.meta) src.flashmlaMetadata = randInt32(rng, g.metaLen);
  return src;
}

/** Destination capacities: a little larger than needed, with extra rows. */
function hostDest(rng: Rng, g: Geometry): HostSet {
  const extraRows = rng.int(0, 3);
  const dst: HostSet = {
    cacheSeqlens: randInt32(rng, g.bs + rng.int(0, 4)),
    cuSeqlensK: randInt32(rng, g.bs + 1 + rng.int(0, 4)),
    pageTable: randInt32(rng, (g.rows + extraRows) * g.ld),
    nsaCacheSeqlens: randInt32(rng, g.s + rng.int(0, 4)),
    nsaCuSeqlensK: randInt32(rng, g.s + 1 + rng.int(0, 4)),
  };
  if (g.mode !== 'decode') dst.seqlensExpanded = randInt32(rng, g.s + rng.int(0, 4));
  if (g.real) dst.realPageTable = randInt32(rng, (g.rows + extraRows) * g.ldr);
  if (g.splits) dst.flashmlaNumSplits = randInt32(rng, g.s + 1 + rng.int(0, 4));
  if (g.meta) dst.flashmlaMetadata = randInt32(rng, g.metaLen + rng.int(0, 4));
  return dst;
}

/** The whole tensors behind each set (un-narrowed destination tables), for byte-exact read-back. */
const wholeOf = new WeakMap<MetadataSet, Record<string, Tensor<'int32'>>>();

function toDevice(h: HostSet, g: Geometry, device: Device, isSrc: boolean): MetadataSet {
  const whole: Record<string, Tensor<'int32'>> = {};
  for (const [k, v] of Object.entries(h)) {
    let shape = [v.length];
    if (k === 'pageTable') shape = isSrc ? [g.rows, g.width] : [v.length / g.ld, g.ld];
    if (k === 'realPageTable') shape = isSrc ? [g.rows, g.realWidth] : [v.length / g.ldr, g.ldr];
    whole[k] = Tensor.from(v, shape, { dtype: 'int32', device });
  }
  const set: Record<string, Tensor<'int32'>> = { ...whole };
  // Destination page tables are [rows, width] views with row stride ld: padding columns stay untouched.
  if (!isSrc) {
    set.pageTable = whole.pageTable.narrow(1, 0, g.width);
    if (whole.realPageTable) set.realPageTable = whole.realPageTable.narrow(1, 0, g.realWidth);
  }
  const ms = set as unknown as MetadataSet;
  wholeOf.set(ms, whole);
  return ms;
}

/** The expected destination: SPEC §1 copied ranges overwritten, everything else as before. */
function expected(src: HostSet, dst: HostSet, g: Geometry): HostSet {
  const out: HostSet = {};
  for (const [k, v] of Object.entries(dst)) out[k] = v.slice();
  out.cacheSeqlens.set(src.cacheSeqlens.subarray(0, g.bs));
  out.cuSeqlensK.set(src.cuSeqlensK.subarray(1, g.bs + 1), 1);
  for (let r = 0; r < g.rows; r++) out.pageTable.set(src.pageTable.subarray(r * g.width, (r + 1) * g.width), r * g.ld);
  if (g.mode !== 'decode') out.seqlensExpanded.set(src.seqlensExpanded.subarray(0, g.s));
  out.nsaCacheSeqlens.set(src.nsaCacheSeqlens.subarray(0, g.s));
  out.nsaCuSeqlensK.set(src.nsaCuSeqlensK.subarray(1, g.s + 1), 1);
  if (g.real) for (let r = 0; r < g.rows; r++) out.realPageTable.set(src.realPageTable.subarray(r * g.realWidth, (r + 1) * g.realWidth), r * g.ldr);
  if (g.splits) out.flashmlaNumSplits.set(src.flashmlaNumSplits.subarray(0, g.s + 1));
  if (g.meta) out.flashmlaMetadata.set(src.flashmlaMetadata.subarray(0, g.metaLen));
  return out;
}

async function readBack(set: MetadataSet): Promise<HostSet> {
  const out: HostSet = {};
  for (const [k, t] of Object.entries(wholeOf.get(set) ?? {})) out[k] = await t.toTypedArray();
  return out;
}

const combos = [
  { real: false, splits: false, meta: false },
  { real: true, splits: true, meta: true },
  { real: true, splits: false, meta: false },
  { real: false, splits: true, meta: false },
  { real: false, splits: false, meta: true },
];

describeDevice('SPEC §1 metadata copy', (device) => {
  const rng = new Rng();
  const modes: MetadataMode[] = ['decode', 'target_verify', 'draft_extend'];

  for (const mode of modes) {
    for (const opt of combos) {
      const tag = `${mode} real=${opt.real} splits=${opt.splits} meta=${opt.meta}`;
      test(`${tag}: fused single, multi (1..8) and per-tensor agree with the spec (seed ${rng.seed})`, async () => {
        for (const bs of [1, 3, 64, 257]) {
          const g = geometry(rng, mode, bs, opt);
          const src = hostSource(rng, g);
          const n = 1 + ((bs + combos.indexOf(opt)) % 8); // every count 1..8 across the grid
          const dstHost = Array.from({ length: n }, () => hostDest(rng, g));
          const srcDev = toDevice(src, g, device, true);
          for (const strategy of ['fused', 'per-tensor'] as const) {
            const dsts = dstHost.map((h) => toDevice(h, g, device, false));
            const launches = metadataCopy(srcDev, n === 1 ? dsts[0] : dsts, { mode, strategy });
            if (ON_GPU && strategy === 'fused') expect(launches).toBe(1);
            if (ON_GPU && strategy === 'per-tensor') expect(launches).toBeGreaterThanOrEqual(5 * n);
            for (let d = 0; d < n; d++) {
              const got = await readBack(dsts[d]);
              expectSameSet(got, expected(src, dstHost[d], g));
            }
          }
        }
      });
    }
  }

  test('a prepared plan copies new sizes and new data on every run', async () => {
    const g = geometry(rng, 'target_verify', 16, { real: true, splits: true, meta: true });
    const src = hostSource(rng, g);
    const dstHost = [hostDest(rng, g), hostDest(rng, g), hostDest(rng, g)];
    const srcDev = toDevice(src, g, device, true);
    const dsts = dstHost.map((h) => toDevice(h, g, device, false));
    const plan = prepareMetadataCopy(srcDev, dsts, { mode: 'target_verify' });
    expect(plan.numDsts).toBe(3);
    // smaller sizes: only the smaller ranges change
    const small: Geometry = { ...g, bs: 5, rows: 7, s: 7, width: Math.max(1, g.width - 3), realWidth: Math.max(1, g.realWidth - 2), metaLen: Math.min(11, g.metaLen) };
    // the source page table is dense at run's width: rebuild the expected source view
    const srcSmall: HostSet = { ...src, pageTable: src.pageTable.subarray(0, small.rows * small.width), realPageTable: src.realPageTable.subarray(0, small.rows * small.realWidth) };
    plan.run({ bs: 5, rows: 7, s: 7, width: small.width, realWidth: small.realWidth, metaLen: small.metaLen });
    for (let d = 0; d < 3; d++) expectSameSet(await readBack(dsts[d]), expected(srcSmall, dstHost[d], small));
  });

  test('zero sizes launch nothing and change nothing', async () => {
    const g = geometry(rng, 'decode', 4, { real: false, splits: false, meta: false });
    const src = toDevice(hostSource(rng, g), g, device, true);
    const h = hostDest(rng, g);
    const dst = toDevice(h, g, device, false);
    expect(prepareMetadataCopy(src, [dst]).run({ bs: 0 })).toBe(0);
    expect(await readBack(dst)).toEqual(h);
  });

  test('bad inputs: typed errors naming the argument, before any write', async () => {
    const g = geometry(rng, 'target_verify', 8, { real: true, splits: false, meta: false });
    const srcH = hostSource(rng, g);
    const src = toDevice(srcH, g, device, true);
    const dh = hostDest(rng, g);
    const dst = toDevice(dh, g, device, false);
    const i32 = (n: number) => Tensor.from(randInt32(rng, n), [n], { dtype: 'int32', device });
    expectNsaError(() => metadataCopy(src, [], { mode: 'target_verify' }), 'E_RANGE', /dst: got 0 destination/);
    expectNsaError(() => metadataCopy(src, Array(9).fill(dst), { mode: 'target_verify' }), 'E_RANGE', /1\.\.8/);
    expectNsaError(() => metadataCopy(src, dst, { mode: 'prefill' as never }), 'E_ARG', /mode: got prefill/);
    expectNsaError(() => metadataCopy(src, dst, { mode: 'target_verify', strategy: 'magic' as never }), 'E_ARG', /strategy/);
    expectNsaError(() => metadataCopy({ ...src, seqlensExpanded: undefined }, dst, { mode: 'target_verify' }), 'E_ARG', /src.seqlensExpanded: got nothing/);
    expectNsaError(() => metadataCopy(src, { ...dst, realPageTable: undefined }, { mode: 'target_verify' }), 'E_ARG', /dst\[0\].realPageTable: got nothing/);
    expectNsaError(() => metadataCopy({ ...src, cacheSeqlens: Tensor.from([1, 2], [2], { dtype: 'float32', device }) as never }, dst, { mode: 'target_verify' }), 'E_DTYPE', /src.cacheSeqlens.dtype: got float32, expected int32/);
    expectNsaError(() => metadataCopy({ ...src, cacheSeqlens: i32(8).view([2, 4]) }, dst, { mode: 'target_verify' }), 'E_SHAPE', /src.cacheSeqlens.shape/);
    expectNsaError(() => metadataCopy(src, { ...dst, cacheSeqlens: i32(2) }, { mode: 'target_verify' }), 'E_RANGE', /sizes.bs: got 8/);
    expectNsaError(() => metadataCopy(src, { ...dst, pageTable: (dst.pageTable as Tensor<'int32'>).narrow(0, 0, 1) }, { mode: 'target_verify' }), 'E_RANGE', /sizes.rows/);
    const other = toDevice(hostDest(rng, { ...g, ld: g.ld + 4 }), { ...g, ld: g.ld + 4 }, device, false);
    expectNsaError(() => metadataCopy(src, [dst, other], { mode: 'target_verify' }), 'E_SHAPE', /dst\[1\].pageTable.strides\[0\].*share one layout/);
    const plan = prepareMetadataCopy(src, [dst], { mode: 'target_verify' });
    expectNsaError(() => plan.run({ bs: -1 }), 'E_RANGE', /sizes.bs: got -1/);
    expectNsaError(() => plan.run({ width: g.width + 10_000 }), 'E_RANGE', /sizes.width/);
    expectNsaError(() => prepareMetadataCopy(src, [dst], { mode: 'decode' }).run({ bs: 3, rows: 4, s: 3 }), 'E_SHAPE', /rows == s == bs in DECODE/);
    if (ON_GPU) {
      const cpuDst = toDevice(dh, g, 'cpu', false);
      expectNsaError(() => metadataCopy(src, cpuDst, { mode: 'target_verify' }), 'E_DEVICE', new RegExp(`dst\\[0\\].cacheSeqlens.device: got cpu, expected ${device}`));
    }
    // nothing was written by any failed call
    expect(await readBack(dst)).toEqual(dh);
    wholeOf.get(dst)!.cacheSeqlens.dispose();
    expectNsaError(() => plan.run(), 'E_DISPOSED');
  });
});

describeGpuOnly('SPEC §1 plan inside graph capture', (device) => {
  test('a plan captured in a graph and replayed after the source changed copies the new data', async () => {
    const rng = new Rng();
    const g = geometry(rng, 'decode', 64, { real: true, splits: true, meta: true });
    const srcH = hostSource(rng, g);
    const srcDev = toDevice(srcH, g, device, true);
    const dstHost = [hostDest(rng, g), hostDest(rng, g), hostDest(rng, g)];
    const dsts = dstHost.map((h) => toDevice(h, g, device, false));
    const stream = Stream.create(device);
    const plan = prepareMetadataCopy(srcDev, dsts, { mode: 'decode' });
    const graph = captureGraph(stream, () => plan.run({}, { stream }));
    const fresh = hostSource(rng, g);
    const srcWhole = wholeOf.get(srcDev)!;
    for (const [k, v] of Object.entries(fresh)) srcWhole[k].copyFrom(Tensor.from(v, srcWhole[k].shape, { dtype: 'int32' }), { stream });
    graph.replay(stream);
    await stream.synchronized();
    for (let d = 0; d < 3; d++) expectSameSet(await readBack(dsts[d]), expected(fresh, dstHost[d], g));
    graph.dispose();
    stream.dispose();
  });
});
