// SPEC §0 rules under adversarial use (issue #14): no input, dispose order or misuse of streams and
// graphs crashes the process or faults the GPU; every mistake is a typed NsaError before any launch.
// Each GPU test ends by running a real op, so a device fault would fail the test that caused it.
import {
  captureGraph,
  gatherK,
  Graph,
  IndexerKCache,
  metadataCopy,
  NsaError,
  NsaIndexer,
  pagedMqaLogits,
  pagedMqaTopk,
  planAttention,
  prepareMetadataCopy,
  raggedMqaLogits,
  Stream,
  storeK,
  Tensor,
  topk,
  type Device,
  type MetadataSet,
} from '../lib';
import { native } from '../lib/native';
import { describeDevice, describeGpuOnly, expectNsaError, ON_GPU, randFp8, Rng } from './helpers';

const i32 = (v: number[], device: Device, shape = [v.length]) => Tensor.from(Int32Array.from(v), shape, { device });

/**
 * For calls that must return or throw an NsaError: `attempt` runs one, `escaped` lists those that threw
 * anything else (label: class: message).
 */
function escapeCollector(): { attempt: (label: string, f: () => unknown) => void; escaped: string[] } {
  const escaped: string[] = [];
  const attempt = (label: string, f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (!(e instanceof NsaError)) escaped.push(`${label}: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    }
  };
  return { attempt, escaped };
}

/** A small top-k whose answer is known: proves the process and its GPU context still work. */
async function stillWorks(device: Device): Promise<void> {
  const logits = Tensor.from(Float32Array.from([3, 1, 4, 1, 5, 9, 2, 6]), [1, 8], { device });
  const out = await topk(logits, i32([8], device), { k: 2, deterministic: true }).toTypedArray();
  expect(Array.from(out)).toEqual([5, 7]);
}

function metadataSet(device: Device, bs: number, width: number): MetadataSet {
  return {
    cacheSeqlens: i32(new Array(bs).fill(7), device),
    cuSeqlensK: i32(new Array(bs + 1).fill(1), device),
    pageTable: Tensor.from(new Int32Array(bs * width).fill(3), [bs, width], { device }),
    nsaCacheSeqlens: i32(new Array(bs).fill(5), device),
    nsaCuSeqlensK: i32(new Array(bs + 1).fill(2), device),
  };
}

describeDevice('SPEC §0 robustness', (device: Device) => {
  const rng = new Rng();

  test('forged tensor descriptors: wrapped extents, unknown dtypes, non-tensors -> typed errors', () => {
    const t = Tensor.zeros([4], { dtype: 'float32', device });
    const src = Tensor.zeros([4], { dtype: 'float32', device });
    const d = t.native();
    d.shape = [2 ** 62];
    d.strides = [-4];
    expectNsaError(() => t.copyFrom(src), 'E_RANGE', /dst.shape\[0\]/);
    d.shape = [2 ** 40];
    d.strides = [2 ** 12];
    expectNsaError(() => t.copyFrom(src), 'E_RANGE', /dst: got a view reaching outside its storage/);
    d.shape = [4];
    d.strides = [1];
    d.dtype = 'float64' as never;
    expectNsaError(() => t.copyFrom(src), 'E_DTYPE', /dst.dtype: got float64/);
    d.dtype = 'float32';
    d.byteOffset = -8;
    expectNsaError(() => t.copyFrom(src), 'E_RANGE', /dst.byteOffset/);
    d.byteOffset = 0;
    t.copyFrom(src); // repaired descriptor works again
    expectNsaError(() => native.copy({ dst: { storage: 5 } as never, src: src.native() }), 'E_ARG', /dst: got an object without tensor storage/);
    expectNsaError(() => (native.copy as (a: unknown) => void)(null), 'E_ARG', /copy\(arguments\)/);
  });

  test('forged streams and graphs are E_ARG, never a crash', () => {
    const logits = Tensor.zeros([1, 8], { device });
    const lens = i32([8], device);
    expectNsaError(() => topk(logits, lens, { stream: { deviceIndex: 0, handle: 0xdeadbeef } as never }), 'E_ARG', /stream: got object, expected a Stream/);
    expectNsaError(() => native.topk({ logits: logits.native(), lengths: lens.native(), out: Tensor.zeros([1, 2], { dtype: 'int32', device }).native(), k: 2, stream: { handle: 1 } as never }), 'E_ARG', /stream/);
    expectNsaError(() => new Graph(0x1234 as never, { handle: 0 } as never).replay(), 'E_ARG');
    expectNsaError(() => captureGraph(undefined as never, () => undefined), 'E_ARG', /stream/);
  });

  test('host allocations that cannot fit are E_RANGE', () => {
    expectNsaError(() => Tensor.empty([2 ** 40], { dtype: 'uint8', device }), 'E_RANGE');
    expectNsaError(() => Tensor.empty([1e300]), 'E_RANGE', /shape/);
    expectNsaError(() => IndexerKCache.alloc(130150525, { device }), 'E_RANGE');
    const cache = IndexerKCache.alloc(2, { device });
    expectNsaError(() => gatherK(cache, Tensor.zeros([1, 2], { dtype: 'int32', device }), i32([0, 1], device), { numTokens: 2 ** 33 }), 'E_RANGE', /numTokens/);
  });

  test('null and wrongly typed arguments are E_ARG (never a TypeError)', () => {
    const cache = IndexerKCache.alloc(2, { device });
    const k = Tensor.zeros([1, 128], { dtype: 'bfloat16', device });
    const slots = Tensor.from([0n], [1], { dtype: 'int64', device });
    const logits = Tensor.zeros([1, 8], { device });
    const lens = i32([8], device);
    const set = metadataSet(device, 2, 4);
    expectNsaError(() => storeK(cache, k, slots, null as never), 'E_ARG', /options: got null/);
    expectNsaError(() => topk(logits, lens, null as never), 'E_ARG');
    expectNsaError(() => metadataCopy(set, metadataSet(device, 2, 4), null as never), 'E_ARG');
    expectNsaError(() => metadataCopy(set, metadataSet(device, 2, 4), { sizes: null as never }), 'E_ARG', /sizes/);
    const q = Tensor.zeros([1, 1, 64, 128], { dtype: 'float8_e4m3fn', device });
    const w = Tensor.zeros([1, 64], { device });
    expectNsaError(() => (pagedMqaLogits as (...a: unknown[]) => unknown)(q, cache, w, i32([1], device), Tensor.zeros([1, 1], { dtype: 'int32', device })), 'E_RANGE', /maxContextLen/);
    expectNsaError(() => logits.copyFrom(null as never), 'E_ARG', /src/);
    expectNsaError(() => Tensor.from(null as never), 'E_ARG', /data/);
    expectNsaError(() => Tensor.from([1.5], [1], { dtype: 'int64' }), 'E_ARG', /an integer/);
    expectNsaError(() => Tensor.full([2], 1.5, { dtype: 'int64' }), 'E_ARG', /an integer/);
    expectNsaError(() => logits.view(null as never), 'E_SHAPE');
    expectNsaError(() => planAttention(null as never), 'E_ARG', /batch/);
    expectNsaError(() => planAttention({ mode: 'extend', seqLens: 5 as never }), 'E_ARG', /seqLens/);
    expectNsaError(() => new NsaIndexer(cache).run(null as never, { k, slotMapping: slots }), 'E_ARG', /plan/);
    expectNsaError(() => new IndexerKCache(Tensor.zeros([1, 8448], { dtype: 'uint8', device }), { pageSize: 2 ** 32 + 64 }), 'E_RANGE', /pageSize/);
    expectNsaError(() => storeK(cache, k, slots, { scaleFormat: 'e8m0' as never }), 'E_ARG', /scaleFormat: got e8m0, expected 'ue8m0' \| 'fp32'/);
    // Found by a CPU fuzz of every op's arguments (session 12): shapes read before the type was checked,
    // and error messages that interpolated a Symbol or did arithmetic on a BigInt.
    const bt = Tensor.zeros([1, 1], { dtype: 'int32', device });
    expectNsaError(() => pagedMqaTopk([] as never, cache, w, i32([1], device), bt, { maxContextLen: 8 }), 'E_ARG', /q: got object, expected a Tensor/);
    const rq = Tensor.zeros([2, 64, 128], { dtype: 'float8_e4m3fn', device }), rk = Tensor.zeros([2, 128], { dtype: 'float8_e4m3fn', device });
    const ragged = [rq, rk, Tensor.zeros([2], { device }), Tensor.zeros([2, 64], { device }), i32([0, 0], device), i32([1, 2], device)] as const;
    expectNsaError(() => raggedMqaLogits(...ragged, { compressed: true, out: 0 as never }), 'E_ARG', /out: got number, expected a Tensor/);
    expectNsaError(() => logits.narrow(Symbol('d') as never, 0, 1), 'E_ARG', /dim: got Symbol\(d\)/);
    expectNsaError(() => logits.narrow(1, 1n as never, 2), 'E_ARG', /narrow: got start 1, length 2/);
    expectNsaError(() => logits.slice(1, 0, 4n as never), 'E_ARG', /slice/);
    expectNsaError(() => logits.select(0, Symbol('i') as never), 'E_ARG', /narrow: got start Symbol\(i\)/);
    expectNsaError(() => IndexerKCache.alloc(2, { pageSize: Symbol('p') as never, device }), 'E_ARG', /pageSize\/headDim: got Symbol\(p\)\/128/);
  });

  test('metadata plans: dispose(), and no run after a tensor was disposed', () => {
    const src = metadataSet(device, 2, 4);
    const dst = metadataSet(device, 2, 4);
    const plan = prepareMetadataCopy(src, dst);
    expect(plan.run()).toBeGreaterThanOrEqual(1);
    dst.pageTable.dispose();
    expectNsaError(() => plan.run(), 'E_DISPOSED', /plan/);
    plan.dispose();
    plan.dispose();
    expectNsaError(() => plan.run(), 'E_DISPOSED');
  });

  test('unaligned views: refused before launch where kernels use 16-byte accesses, correct elsewhere', async () => {
    const H = 32, D = 128;
    const cache = IndexerKCache.alloc(2, { device, layout: 'plain' });
    const w = Tensor.from(Float32Array.from({ length: 2 * H }, () => rng.normal()), [2, H], { device });
    const bt = Tensor.from(Int32Array.from([0, 1]), [2, 1], { device });
    const qBytes = Tensor.from(randFp8(rng, 2 * H * D + 16), [2 * H * D + 16], { dtype: 'float8_e4m3fn', device });
    const qOff1 = qBytes.narrow(0, 1, 2 * H * D).view([2, 1, H, D]);
    expectNsaError(() => pagedMqaLogits(qOff1, cache, w, i32([10, 20], device), bt, { maxContextLen: 64 }), 'E_ARG', /q: got a view starting 1 bytes past a 16-byte boundary/);
    expectNsaError(() => raggedMqaLogits(qOff1.view([2, H, D]), Tensor.zeros([4, D], { dtype: 'float8_e4m3fn', device }), Tensor.zeros([4], { device }), w, i32([0, 0], device), i32([4, 4], device)), 'E_ARG', /q: got a view starting 1 bytes/);
    // 16 bytes in: aligned, so it runs (and agrees with the aligned copy).
    const q16 = qBytes.narrow(0, 16, 2 * H * D).view([2, 1, H, D]);
    const a = await pagedMqaLogits(q16, cache, w, i32([10, 20], device), bt, { maxContextLen: 64, clean: true }).toTypedArray();
    const b = await pagedMqaLogits(q16.contiguous().to(device), cache, w, i32([10, 20], device), bt, { maxContextLen: 64, clean: true }).toTypedArray();
    expect(a).toEqual(b);
    // gatherK: the cache and out.k as views at byte offsets
    const P = 64, page = P * (D + 4);
    const raw = Tensor.zeros([2 * page + 16], { dtype: 'uint8', device });
    expectNsaError(() => new IndexerKCache(raw.narrow(0, 1, 2 * page).view([2, page])), 'E_ARG', /cache: got a view starting 1 bytes past/);
    const c16 = new IndexerKCache(raw.narrow(0, 16, 2 * page).view([2, page]), { layout: 'plain' });
    const kBf16 = Tensor.from(Float32Array.from({ length: 3 * D }, () => rng.normal()), [3, D], { dtype: 'bfloat16', device });
    storeK(c16, kBf16, Tensor.from([0n, 1n, 2n], [3], { dtype: 'int64', device }));
    const g = gatherK(c16, Tensor.from(Int32Array.from([0]), [1, 1], { device }), i32([0, 3], device), { numTokens: 3 });
    expect((await g.scale.toTypedArray()).every((s) => s > 0)).toBe(true);
    const outRaw = Tensor.empty([3 * D + 1], { dtype: 'float8_e4m3fn', device });
    const outK = outRaw.narrow(0, 1, 3 * D).view([3, D]);
    expectNsaError(() => gatherK(c16, Tensor.from(Int32Array.from([0]), [1, 1], { device }), i32([0, 3], device), { out: { k: outK, scale: Tensor.empty([3], { device }) } }), 'E_ARG', /out.k: got a view starting 1 bytes/);
    // blockTable, cuSeqLens and out.scale as views at element offsets of larger tensors: read and written
    // as 4-byte scalars, so any element offset is legal and gives the same bytes.
    const btBig = Tensor.from(Int32Array.from([7, 0, 7]), [3], { device });
    const cuBig = Tensor.from(Int32Array.from([9, 0, 3]), [3], { device });
    const scaleBig = Tensor.empty([4], { device });
    const kOut = Tensor.empty([3, D], { dtype: 'float8_e4m3fn', device });
    const viaViews = gatherK(c16, btBig.narrow(0, 1, 1).view([1, 1]), cuBig.narrow(0, 1, 2), { out: { k: kOut, scale: scaleBig.narrow(0, 1, 3) } });
    expect(await viaViews.scale.toTypedArray()).toEqual(await g.scale.toTypedArray());
    expect(await viaViews.k.toTypedArray()).toEqual(await g.k.toTypedArray());
    await stillWorks(device);
  });

  // Every index tensor of every op filled with hostile values (negative, INT32_MIN / MAX, just past the
  // cache, the columns or the batch): host-side ones are refused with an NsaError, device-side ones give
  // some result (SPEC §0: read as zeros, skipped, -1) and never fault the GPU (the last line proves it).
  test('hostile index values in every index tensor: an NsaError or a result, never a fault', async () => {
    const hostile = [-1, -(2 ** 31), 2 ** 31 - 1, 0, 255, 257, 65536];
    const t = (v: number[], shape = [v.length]) => i32(v, device, shape);
    const H = 64, D = 128, S = 8;
    const cache = IndexerKCache.alloc(8, { pageSize: 64, device });
    const q = Tensor.zeros([2, 1, H, D], { dtype: 'float8_e4m3fn', device }), w = Tensor.zeros([2, H], { device });
    const q2 = Tensor.zeros([2, 2, H, D], { dtype: 'float8_e4m3fn', device }), w2 = Tensor.zeros([4, H], { device });
    const rag = [Tensor.zeros([S, H, D], { dtype: 'float8_e4m3fn', device }), Tensor.zeros([S, D], { dtype: 'float8_e4m3fn', device }), Tensor.zeros([S], { device }), Tensor.zeros([S, H], { device })] as const;
    const logits = Tensor.from(Float32Array.from({ length: 4 * 300 }, (_, i) => Math.sin(i)), [4, 300], { device });
    const bt = t([0, 1, 2, 3, 4, 5, 6, 7], [2, 4]);
    const kBf16 = Tensor.zeros([2, D], { dtype: 'bfloat16', device });
    const { attempt, escaped } = escapeCollector();
    for (const a of hostile)
      for (const b of hostile) {
        attempt(`paged contextLens ${a} ${b}`, () => pagedMqaLogits(q, cache, w, t([a, b]), bt, { maxContextLen: 256 }));
        attempt(`paged 2-D contextLens ${a} ${b}`, () => pagedMqaTopk(q2, cache, w2, t([a, b, b, a], [2, 2]), bt, { maxContextLen: 256, k: 16 }));
        attempt(`paged blockTable ${a} ${b}`, () => pagedMqaLogits(q, cache, w, t([200, 256]), t([a, 1, b, 3, 4, a, 6, b], [2, 4]), { maxContextLen: 256 }));
        attempt(`ragged ks ${a} ke ${b}`, () => raggedMqaLogits(...rag, t(new Array(S).fill(a)), t(new Array(S).fill(b)), { compressed: true, maxRowLength: 8 }));
        attempt(`topk lengths ${a} rowStarts ${b}`, () => topk(logits, t([a, a, b, b]), { k: 16, rowStarts: t([b, 0, a, 0]) }));
        attempt(`topk blockTable ${a} ${b}`, () => topk(logits, t([300, 10, 0, 250]), { k: 16, blockTable: t([a, b, a, b, 1, 2, 3, 4], [2, 4]), pageSize: 64, cuSeqlensQ: t([0, 2, 4]) }));
        attempt(`topk cuSeqlensQ ${a} ${b}`, () => topk(logits, t([300, 10, 0, 250]), { k: 16, blockTable: bt, pageSize: 64, cuSeqlensQ: t([0, a, b]) }));
        attempt(`storeK slots ${a} ${b}`, () => storeK(cache, kBf16, Tensor.from([BigInt(a), BigInt(b)], [2], { dtype: 'int64', device })));
        attempt(`gatherK cuSeqLens ${a} ${b}`, () => gatherK(cache, bt, t([0, a, b]), { numTokens: 64 }));
        attempt(`gatherK blockTable ${a} ${b}`, () => gatherK(cache, t([a, 1, 2, 3, 4, 5, 6, b], [2, 4]), t([0, 100, 300])));
      }
    expect(escaped).toEqual([]);
    await stillWorks(device);
  });
});

describeGpuOnly('SPEC §0 robustness on the GPU: lifecycle', (device: Device) => {
  const rng = new Rng();

  test('dispose while a download is in flight; 100 downloads with every other tensor disposed', async () => {
    const n = 1 << 16;
    const host = Float32Array.from({ length: n }, () => rng.normal());
    const t = Tensor.from(host, [n], { device });
    const p = t.toTypedArray();
    t.dispose();
    const reuse = Tensor.from(new Float32Array(n).fill(7), [n], { device }); // may take the same memory
    expect(await p).toEqual(host);
    reuse.dispose();
    const tensors = Array.from({ length: 100 }, (_, i) => Tensor.full([4096], i, { device }));
    const downloads = tensors.map((x) => x.toTypedArray());
    tensors.forEach((x, i) => {
      if (i % 2 === 1) x.dispose();
    });
    const got = await Promise.all(downloads);
    got.forEach((a, i) => expect(a[4095]).toBe(i));
    for (const x of tensors) x.dispose();
    await stillWorks(device);
  });

  test('a disposed stream: ops, graphs captured on it and synchronize are E_DISPOSED', async () => {
    const logits = Tensor.from(Float32Array.from({ length: 64 }, () => rng.normal()), [1, 64], { device });
    const lens = i32([64], device);
    const out = Tensor.empty([1, 4], { dtype: 'int32', device });
    const s = Stream.create(device);
    const graph = captureGraph(s, () => void topk(logits, lens, { k: 4, out, stream: s }));
    graph.replay();
    s.synchronize();
    s.dispose();
    expectNsaError(() => topk(logits, lens, { k: 4, stream: s }), 'E_DISPOSED', /stream/);
    expectNsaError(() => graph.replay(), 'E_DISPOSED', /stream/);
    expectNsaError(() => s.synchronize(), 'E_DISPOSED');
    graph.replay(Stream.default(device)); // on a live stream it still works
    Stream.default(device).synchronize();
    graph.dispose();
    expectNsaError(() => graph.replay(), 'E_DISPOSED');
    await stillWorks(device);
  });

  test('device allocations that cannot fit are E_RANGE', async () => {
    expectNsaError(() => Tensor.empty([2 ** 50], { dtype: 'uint8', device }), 'E_RANGE', /out of memory/);
    await stillWorks(device);
  });
});

// Every argument and option of every op replaced, one at a time, by a value of the wrong kind: each call
// returns or throws an NsaError, never a TypeError or RangeError from inside the library. (The checks are
// TypeScript and the native argument reader, the same for every device: run on the CPU.) A getter that
// throws is the caller's own error and propagates; it is not among the values.
(ON_GPU ? describe.skip : describe)('SPEC §0 robustness: argument fuzz [cpu]', () => {
  const device: Device = 'cpu';
  const H = 64, D = 128, P = 64;
  const t32 = (v: number[], shape = [v.length]) => i32(v, device, shape);
  const fp8 = (shape: number[]) => Tensor.from(new Uint8Array(shape.reduce((a, b) => a * b, 1)).fill(0x38), shape, { dtype: 'float8_e4m3fn', device });
  const f32 = (shape: number[]) => Tensor.from(new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i)), shape, { device });
  const disposed = t32([1, 2]);
  disposed.dispose();
  const odd: Record<string, unknown> = {
    undefined: undefined, null: null, zero: 0, negative: -1, fraction: 1.5, NaN: NaN, Infinity: Infinity, '2^53': 2 ** 53, string: 'x',
    object: {}, array: [], true: true, symbol: Symbol('s'), bigint: 10n, function: () => 1, disposed, 'int32 [3]': t32([1, 2, 3]),
    'float32 [2, 2]': f32([2, 2]), 'forged tensor': { shape: [1], dtype: 'int32', device: 'cpu', strides: [1] }, 'huge array': [2 ** 40, 2 ** 40],
  };
  /** An op as (valid arguments, call): its last argument is the options object. */
  type Op = [unknown[], (a: unknown[]) => unknown];
  const call = (f: unknown) => (a: unknown[]) => (f as (...x: unknown[]) => unknown)(...a);
  const ops = (): Record<string, Op> => {
    const cache = IndexerKCache.alloc(8, { pageSize: P, device });
    const q = fp8([2, 1, H, D]), w = f32([2, H]), cl = t32([100, 200]), bt = t32([0, 1, 2, 3, 4, 5, 6, 7], [2, 4]);
    const ragged = [fp8([8, H, D]), fp8([8, D]), f32([8]), f32([8, H]), t32(new Array(8).fill(0)), t32([1, 2, 3, 4, 5, 6, 7, 8])];
    const logits = f32([4, 300]), lengths = t32([300, 10, 0, 250]);
    const kBf16 = Tensor.from(new Uint16Array(4 * D).fill(0x3f80), [4, D], { dtype: 'bfloat16', device });
    const slots = Tensor.from([0n, 1n, 2n, 3n], [4], { dtype: 'int64', device });
    return {
      pagedMqaLogits: [[q, cache, w, cl, bt, { maxContextLen: 256, precision: 'exact', clean: true, out: undefined, stream: undefined }], call(pagedMqaLogits)],
      pagedMqaTopk: [[q, cache, w, cl, bt, { maxContextLen: 256, k: 16, deterministic: false, output: 'positions', pageTable: undefined, slotBlockTable: undefined, slotPageSize: undefined, precision: 'fast', logitsOut: undefined, out: undefined }], call(pagedMqaTopk)],
      raggedMqaLogits: [[...ragged, { precision: 'exact', clean: false, out: undefined, compressed: false, maxRowLength: undefined }], call(raggedMqaLogits)],
      'raggedMqaLogits compressed': [[...ragged, { compressed: true, maxRowLength: 8, out: undefined }], call(raggedMqaLogits)],
      topk: [[logits, lengths, { k: 16, rowStarts: undefined, pageTable: undefined, blockTable: undefined, pageSize: undefined, cuSeqlensQ: undefined, nextN: undefined, deterministic: true, out: undefined }], call(topk)],
      storeK: [[cache, kBf16, slots, { scaleFormat: 'fp32', checkBounds: true }], call(storeK)],
      gatherK: [[cache, bt, t32([0, 100, 300]), { numTokens: 300, checkBounds: true, out: undefined }], call(gatherK)],
      metadataCopy: [[metadataSet(device, 2, 4), [metadataSet(device, 2, 4)], { mode: 'decode', sizes: undefined, strategy: undefined }], call(metadataCopy)],
      planAttention: [[{ mode: 'extend', seqLens: [100, 200], extendLens: [100, 50], prefixLens: [0, 150] }, {}], call(planAttention)],
      'Tensor.narrow': [[1, 0, 2], (a) => logits.narrow(...(a as [number, number, number]))],
      'Tensor.view': [[[8, 150]], (a) => logits.view(...(a as [number[]]))],
    };
  };

  test('every argument and option of the wrong kind: an NsaError or a result', () => {
    const { attempt, escaped } = escapeCollector();
    for (const [name, [args, run]] of Object.entries(ops())) {
      attempt(`${name} (valid)`, () => run(args));
      const last = args[args.length - 1];
      const keys = last !== null && typeof last === 'object' && !Array.isArray(last) ? Object.keys(last) : [];
      for (const [what, v] of Object.entries(odd)) {
        for (let i = 0; i < args.length; i++) attempt(`${name} argument ${i} = ${what}`, () => run(args.map((a, j) => (j === i ? v : a))));
        for (const key of keys) attempt(`${name} ${key} = ${what}`, () => run([...args.slice(0, -1), { ...(last as object), [key]: v }]));
      }
    }
    expect(escaped).toEqual([]);
  });
});
