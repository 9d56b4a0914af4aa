// SPEC §0 tensors and the runtime: factories, views, copies across devices, dispose, errors.
import { backend, captureGraph, devices, Event, NsaError, Stream, Tensor } from '../lib';
import { describeDevice, describeGpuOnly, expectNsaError, ON_GPU, randInt32, Rng } from './helpers';

describe('backend', () => {
  test('reports a backend with a reason', () => {
    const b = backend();
    expect(['cuda', 'hip', 'cpu']).toContain(b.backend);
    expect(b.reason.length).toBeGreaterThan(0);
    if (b.backend === 'cpu') expect(devices()).toEqual([]);
    else expect(devices()[0].smCount).toBeGreaterThan(0);
  });
  test('NSA_DEVICE=cpu forces the CPU backend', () => {
    const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
    const code = "const n=require(process.argv[1]);console.log(JSON.stringify(n.backend()))";
    const r = spawnSync(process.execPath, ['-e', code, require('node-gyp-build').resolve(require('node:path').join(__dirname, '..'))], {
      env: { ...process.env, NSA_DEVICE: 'cpu' },
      encoding: 'utf8',
    });
    const b = JSON.parse(r.stdout);
    expect(b.backend).toBe('cpu');
    expect(b.reason).toMatch(/NSA_DEVICE=cpu|built without GPU/);
  });
});

describeDevice('Tensor', (device) => {
  const rng = new Rng();

  test('from / toTypedArray round trip for every dtype', async () => {
    const vals = randInt32(rng, 24, -100, 100);
    for (const dtype of ['float32', 'int32', 'uint8', 'bfloat16', 'float8_e4m3fn', 'int64'] as const) {
      const src = Array.from(vals, (v) => (dtype === 'uint8' ? Math.abs(v) : v / 4));
      const t = Tensor.from(dtype === 'int64' ? src.map((v) => BigInt(Math.round(v))) : src, [2, 3, 4], { dtype, device });
      expect(t.shape).toEqual([2, 3, 4]);
      expect(t.strides).toEqual([12, 4, 1]);
      expect(t.device).toBe(device);
      expect(t.numel).toBe(24);
      const host = Tensor.from(dtype === 'int64' ? src.map((v) => BigInt(Math.round(v))) : src, [2, 3, 4], { dtype });
      expect(Array.from((await t.toTypedArray()) as Iterable<unknown>)).toEqual(Array.from(host.hostView() as Iterable<unknown>));
      expect(Array.from(t.toTypedArraySync() as Iterable<unknown>)).toEqual(Array.from(host.hostView() as Iterable<unknown>));
      t.dispose();
    }
  });

  test('Tensor.from: same element width = the bits, anything else converted; the dtype follows the array', async () => {
    const bits = Tensor.from(Int32Array.from([0x3f800000, -1]), [2], { dtype: 'float32', device }); // same width: bits
    expect(Array.from(await bits.toTypedArray())).toEqual([1, NaN]);
    const rounded = Tensor.from(Float32Array.from([1.00390625, -2]), [2], { dtype: 'bfloat16', device }); // 4 -> 2 bytes: converted
    expect(Array.from(await rounded.toTypedArray())).toEqual([0x3f80, 0xc000]);
    const bf16 = Tensor.from(Uint16Array.from([0x3f80]), [1], { device }); // no dtype: the array's (bf16 bits)
    expect(bf16.dtype).toBe('bfloat16');
    const widened = Tensor.from(Int32Array.from([-3, 5]), [2], { dtype: 'int64', device }); // 4 -> 8 bytes: converted
    expect(Array.from(await widened.toTypedArray())).toEqual([-3n, 5n]);
    expect(Tensor.from([1.5, 2]).dtype).toBe('float32');
    const t: Tensor<'int32'> = Tensor.from(Int32Array.from([1])); // typed from the array, no cast
    expect(t.dtype).toBe('int32');
  });

  test('zeros, full, views, narrow, select, copyFrom', async () => {
    const z = Tensor.zeros([3, 5], { dtype: 'int32', device });
    expect(Array.from(await z.toTypedArray())).toEqual(new Array(15).fill(0));
    const f = Tensor.full([4], 1.5, { dtype: 'bfloat16', device });
    expect(Array.from(await f.toTypedArray())).toEqual(new Array(4).fill(0x3fc0));
    const data = randInt32(rng, 60);
    const t = Tensor.from(data, [3, 4, 5], { dtype: 'int32', device });
    const n = t.narrow(1, 1, 2);
    expect(n.shape).toEqual([3, 2, 5]);
    expect(n.isContiguous).toBe(false);
    const got = await n.toTypedArray();
    const want: number[] = [];
    for (let a = 0; a < 3; a++) for (let b = 1; b < 3; b++) for (let c = 0; c < 5; c++) want.push(data[a * 20 + b * 5 + c]);
    expect(Array.from(got)).toEqual(want);
    const s = t.select(0, 2);
    expect(s.shape).toEqual([4, 5]);
    expect(Array.from(await s.toTypedArray())).toEqual(Array.from(data.slice(40)));
    expect(Array.from(await t.view([12, 5]).slice(0, 10, 12).toTypedArray())).toEqual(Array.from(data.slice(50)));
    // copy into a strided window: only that window changes
    const dst = Tensor.from(randInt32(rng, 60), [3, 4, 5], { dtype: 'int32', device });
    const before = await dst.toTypedArray();
    const patch = randInt32(rng, 30);
    dst.narrow(1, 1, 2).copyFrom(Tensor.from(patch, [3, 2, 5], { dtype: 'int32', device }));
    const after = await dst.toTypedArray();
    let k = 0;
    for (let a = 0; a < 3; a++)
      for (let b = 0; b < 4; b++)
        for (let c = 0; c < 5; c++) {
          const i = a * 20 + b * 5 + c;
          expect(after[i]).toBe(b >= 1 && b < 3 ? patch[k++] : before[i]);
        }
  });

  test('to() moves between host and device', async () => {
    const data = randInt32(rng, 1000);
    const t = Tensor.from(data, [10, 100], { dtype: 'int32', device });
    const h = t.to('cpu');
    expect(h.device).toBe('cpu');
    expect(Array.from(h.hostView())).toEqual(Array.from(data));
    const back = h.to(device);
    expect(Array.from(await back.toTypedArray())).toEqual(Array.from(data));
  });

  test('dispose is idempotent and later use throws E_DISPOSED', () => {
    const t = Tensor.from([1, 2, 3], [3], { device });
    const v = t.view([3]);
    t.dispose();
    t.dispose();
    expectNsaError(() => t.toTypedArraySync(), 'E_DISPOSED');
    expectNsaError(() => v.toTypedArraySync(), 'E_DISPOSED');
    {
      using u = Tensor.from([1], [1], { device });
      expect(u.isDisposed).toBe(false);
    }
  });

  test('bad arguments get typed errors naming the argument', () => {
    expectNsaError(() => Tensor.empty([2, -1]), 'E_SHAPE', /shape/);
    expectNsaError(() => Tensor.empty([2], { dtype: 'float16' as never }), 'E_DTYPE', /dtype: got float16/);
    expectNsaError(() => Tensor.from([1, 2, 3], [2, 2]), 'E_SHAPE', /shape: got \[2, 2\], expected 3 elements/);
    expectNsaError(() => Tensor.empty([2], { device: 'tpu:0' }), 'E_DEVICE', /device: got tpu:0/);
    const t = Tensor.from([1, 2, 3, 4], [2, 2], { device });
    expectNsaError(() => t.narrow(1, 1, 2), 'E_RANGE', /narrow/);
    expectNsaError(() => t.copyFrom(Tensor.from([1, 2], [2], { device }) as never), 'E_SHAPE', /src.shape/);
    expectNsaError(() => t.copyFrom(Tensor.from([1, 2, 3, 4], [2, 2], { dtype: 'int32', device }) as never), 'E_DTYPE', /src.dtype/);
    expect(() => Tensor.empty([1], { device: ON_GPU ? 'cuda:99' : 'cuda:0' })).toThrow(NsaError);
  });
});

describeGpuOnly('Stream, Event, Graph', (device) => {
  test('async synchronize, event timing, and a captured graph replays copies', async () => {
    const stream = Stream.create(device);
    const a = Tensor.from(randInt32(new Rng(), 4096), [4096], { dtype: 'int32', device });
    const b = Tensor.empty([4096], { dtype: 'int32', device });
    const e0 = new Event(device).record(stream);
    const graph = captureGraph(stream, () => b.copyFrom(a, { stream }));
    const e1 = new Event(device).record(stream);
    await stream.synchronized();
    expect(e0.elapsedMs(e1)).toBeGreaterThanOrEqual(0);
    // the graph was captured, not run: b is still unwritten; replay after changing a copies new data
    const fresh = randInt32(new Rng(), 4096);
    a.copyFrom(Tensor.from(fresh, [4096], { dtype: 'int32' }), { stream });
    graph.replay();
    stream.synchronize();
    expect(Array.from(await b.toTypedArray({ stream }))).toEqual(Array.from(fresh));
    expectNsaError(() => captureGraph(stream, () => stream.synchronize()), 'E_ARG', /while the stream is being captured/);
    // the stream is usable after the failed capture
    graph.replay();
    stream.synchronize();
    graph.dispose();
    stream.dispose();
  });
});
