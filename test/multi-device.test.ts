// Several GPUs in one process (issue #18) and the addon in worker threads. The worker tests run in
// both projects (on the CPU in CI); the two-GPU tests need two visible GPUs and are skipped otherwise.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { captureGraph, convert, devices, Event, gpuAvailable, IndexerKCache, pagedMqaLogits, storeK, Stream, Tensor, topk, type Device } from '../lib';
import { describeDevice, expectNsaError, ON_GPU, randInt32, Rng } from './helpers';
import { checkStep, type StepResult } from './helpers/indexer-step';

function runWorker<T>(data: Record<string, unknown>): Promise<T> {
  return new Promise((resolve, reject) => {
    const w = new Worker(path.join(__dirname, 'helpers', 'ts-worker.js'), { workerData: { script: path.join(__dirname, 'helpers', 'worker-jobs.ts'), ...data } });
    let result: T | undefined;
    w.on('message', (m: T) => (result = m));
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 && result !== undefined ? resolve(result) : reject(new Error(`worker exited with code ${code} before posting a result`))));
  });
}

const gpus = ON_GPU && gpuAvailable() ? devices().map((d) => `cuda:${d.index}` as Device) : [];

describeDevice('worker threads', (device) => {
  // Two threads, each its own device where there are two GPUs (else both on this one).
  const pair: Device[] = gpus.length >= 2 ? [gpus[0], gpus[1]] : [device, device];
  test(`two threads run the indexer concurrently on ${pair.join(' and ')}; results equal the CPU's`, async () => {
    const rng = new Rng();
    const seeds = pair.map(() => [rng.int(0, 2 ** 30), rng.int(0, 2 ** 30), rng.int(0, 2 ** 30)]);
    const results = await Promise.all(pair.map((d, i) => runWorker<StepResult[]>({ job: 'indexer', device: d, seeds: seeds[i] })));
    results.forEach((rs, i) => {
      expect(rs.map((r) => r.seed)).toEqual(seeds[i]);
      for (const r of rs) {
        expect(r.device).toBe(pair[i]);
        checkStep(r);
      }
    });
  });

  const describeGpu = ON_GPU ? describe : describe.skip;
  describeGpu('on a GPU', () => {
    test("a thread's exit frees the device memory it left allocated (3 x 60 % of the card, never disposed)", async () => {
      const d = gpus.length >= 2 ? gpus[1] : device;
      const info = devices()[Number(d.slice(5))];
      const bytes = Math.floor(info.totalMemory * 0.6);
      for (let i = 0; i < 3; i++) expect(await runWorker<{ allocated: number }>({ job: 'allocate', device: d, bytes })).toEqual({ allocated: bytes });
      // The main thread can still take the same amount.
      const t = Tensor.empty([bytes], { dtype: 'uint8', device: d });
      t.dispose();
    });
  });
});

const describeTwo = gpus.length >= 2 ? describe : describe.skip;
describeTwo('two GPUs in one process', () => {
  const [g0, g1]: Device[] = gpus.length >= 2 ? gpus : ['cuda:0', 'cuda:1'];
  const rng = new Rng();

  test('devices() lists each GPU with its peers', () => {
    const all = devices();
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const d of all) {
      expect(Array.isArray(d.peers)).toBe(true);
      expect(d.peers).not.toContain(d.index);
    }
  });

  test(`to() and copyFrom() between ${g0} and ${g1}, both ways: contiguous, row-pitched and strided (seed ${rng.seed})`, async () => {
    const host = randInt32(rng, 64 * 96);
    const a = Tensor.from(host, [64, 96], { device: g0 });
    const b = a.to(g1);
    expect(b.device).toBe(g1);
    expect(Array.from(await b.toTypedArray())).toEqual(Array.from(host));
    const back = b.to(g0);
    expect(Array.from(await back.toTypedArray())).toEqual(Array.from(host));
    // Row-pitched views (copy_2d) and a transposed-like strided view (staged) across devices.
    const rows = a.narrow(1, 8, 40);
    const dst = Tensor.from(randInt32(rng, 64 * 40), [64, 40], { device: g1 });
    dst.copyFrom(rows);
    const want = Array.from({ length: 64 * 40 }, (_, i) => host[Math.floor(i / 40) * 96 + 8 + (i % 40)]);
    expect(Array.from(await dst.toTypedArray())).toEqual(want);
    const col = a.select(1, 5); // stride 96
    const colDst = Tensor.from(randInt32(rng, 64), [64], { device: g1 });
    colDst.copyFrom(col);
    expect(Array.from(await colDst.toTypedArray())).toEqual(Array.from({ length: 64 }, (_, i) => host[i * 96 + 5]));
    for (const t of [a, b, back, dst, colDst]) t.dispose();
  });

  test('a copy between devices waits for the work queued on the source and outlives its dispose', async () => {
    // 64 M floats converted on g0 (queued, not finished when the copy is issued), copied to g1, source
    // disposed at once: the copy must see the conversion's output and the freed memory must not be reused
    // under it.
    const n = 1 << 26;
    const x = Tensor.full([n], 1.5, { device: g0 });
    const y = Tensor.empty([n], { dtype: 'bfloat16', device: g0 });
    for (let i = 0; i < 4; i++) convert(x, y);
    const z = y.to(g1);
    y.dispose();
    const junk = Tensor.full([n], 7, { dtype: 'bfloat16', device: g0 }); // would land in y's memory
    const got = await z.toTypedArray();
    expect(got.every((v) => v === 0x3fc0)).toBe(true); // bf16 1.5
    for (const t of [x, z, junk]) t.dispose();
  });

  test('inputs on different devices, or a stream of another device, are E_DEVICE before launch', () => {
    const cache = IndexerKCache.alloc(4, { pageSize: 64, device: g0 });
    const k = Tensor.from(new Uint16Array(2 * 128).fill(0x3f80), [2, 128], { dtype: 'bfloat16', device: g1 });
    const slots = Tensor.from(BigInt64Array.from([0n, 1n]), [2], { dtype: 'int64', device: g0 });
    expectNsaError(() => storeK(cache, k, slots), 'E_DEVICE', new RegExp(`k.device: got ${g1}, expected ${g0}`));
    const q = Tensor.full([1, 1, 64, 128], 1, { dtype: 'float8_e4m3fn', device: g0 });
    const w = Tensor.full([1, 64], 1, { device: g0 });
    const cl = Tensor.from(Int32Array.from([10]), [1], { device: g1 });
    const bt = Tensor.from(Int32Array.from([0]), [1, 1], { device: g0 });
    expectNsaError(() => pagedMqaLogits(q, cache, w, cl, bt, { maxContextLen: 64 }), 'E_DEVICE', new RegExp(`contextLens.device: got ${g1}, expected ${g0}`));
    const logits = Tensor.full([1, 64], 0, { device: g0 });
    expectNsaError(() => topk(logits, cl, { k: 8 }), 'E_DEVICE', /lengths.device/);
    const s1 = Stream.create(g1);
    const cl0 = cl.to(g0);
    expectNsaError(() => topk(logits, cl0, { k: 8, stream: s1 }), 'E_DEVICE', new RegExp(`stream: got ${g1}`));
    expectNsaError(() => pagedMqaLogits(q, cache, w, cl0, bt, { maxContextLen: 64, stream: s1 }), 'E_DEVICE', new RegExp(`stream: got ${g1}`));
    expectNsaError(() => new Event(g0).record(s1), 'E_DEVICE', /stream/);
    // A copy runs on a stream of the destination's device.
    const dst = Tensor.empty([1], { dtype: 'int32', device: g0 });
    expectNsaError(() => dst.copyFrom(cl, { stream: s1 }), 'E_DEVICE', new RegExp(`stream: got ${g1}`));
    s1.dispose();
    for (const t of [k, slots, q, w, cl, bt, logits, cl0, dst, cache.tensor]) t.dispose();
  });

  test('a copy between devices inside a graph capture is refused and the capture ends cleanly', () => {
    const s = Stream.create(g0);
    const a = Tensor.full([16], 2, { device: g1 });
    const b = Tensor.empty([16], { device: g0 });
    expectNsaError(() => captureGraph(s, () => b.copyFrom(a, { stream: s })), 'E_ARG', /inside a graph capture/);
    expect(s.capturing).toBe(false);
    b.copyFrom(a, { stream: s });
    s.synchronize();
    expect(Array.from(b.toTypedArraySync())).toEqual(new Array(16).fill(2));
    s.dispose();
    a.dispose();
    b.dispose();
  });
});
