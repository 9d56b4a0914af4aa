// SPEC §3 MQA logits. Unit project: the native CPU implementation against an independent TypeScript
// reference. GPU project: the kernel against the native CPU implementation. Outputs are poisoned
// first; valid positions must match within 1e-5 of the magnitude of their summands (the same op with
// |weights|: heads with mixed-sign weights can cancel, so the result itself is no scale), invalid ones
// must keep their poison bytes (or be -inf with clean).
import { captureGraph, fp8E4M3ToF32, IndexerKCache, KCacheLayout, type MqaPrecision, pagedMqaLogits, raggedMqaLogits, Stream, Tensor, topk, type Device } from '../lib';
import { describeDevice, expectNsaError, kcacheOffset, ON_GPU, randFp8, Rng } from './helpers';
// Math functions by local name: inside jest's vm context a global lookup per call made hot reference
// loops ~20x slower than in plain node (Math.fround 11 s vs 0.5 s for 3e7 calls).
const { abs, fround, max } = Math;

const D = 128;
const FP8 = Float32Array.from({ length: 256 }, (_, i) => fp8E4M3ToF32(i));

const kOffset = kcacheOffset;

interface Case {
  B: number; N: number; H: number; P: number; layout: KCacheLayout;
  lens: number[]; maxLen: number; numPages: number; maxBlocks: number;
  cache: Uint8Array; q: Uint8Array; w: Float32Array; bt: Int32Array; cl: Int32Array; cl2d: boolean;
}

function makeCase(rng: Rng, P: number, layout: KCacheLayout, N: number, H: number, lens: number[], cl2d = false): Case {
  const B = lens.length;
  const maxLen = max(1, ...lens) + rng.int(0, 40);
  const maxBlocks = Math.ceil(maxLen / P) + 1;
  const numPages = B * maxBlocks + 3;
  const pageBytes = P * (D + 4);
  const cache = randFp8(rng, numPages * pageBytes);
  const dv = new DataView(cache.buffer);
  for (let pg = 0; pg < numPages; pg++) for (let t = 0; t < P; t++) dv.setFloat32(pg * pageBytes + P * D + 4 * t, 0.25 + rng.next(), true);
  const perm = rng.shuffle(Array.from({ length: numPages }, (_, i) => i));
  const bt = new Int32Array(B * maxBlocks);
  for (let i = 0; i < bt.length; i++) bt[i] = perm[i];
  const w = Float32Array.from({ length: B * N * H }, () => rng.normal());
  let cl: Int32Array;
  if (cl2d) cl = Int32Array.from({ length: B * N }, (_, i) => max(0, lens[Math.floor(i / N)] - rng.int(0, 3)));
  else cl = Int32Array.from(lens);
  return { B, N, H, P, layout, lens, maxLen, numPages, maxBlocks, cache, q: randFp8(rng, B * N * H * D), w, bt, cl, cl2d };
}

function rowEnd(c: Case, b: number, n: number): number {
  const e = c.cl2d ? c.cl[b * c.N + n] : c.cl[b] - c.N + n + 1;
  return max(0, Math.min(e, c.maxLen));
}

/**
 * Independent TS reference for valid positions (NaN elsewhere); with `fastBound`, SPEC §3's allowance
 * for precision 'fast' instead: |scale| * sum_h |w_h| * 2^-10 * sum_d |q_hd * k_d|.
 */
function tsReference(c: Case, fastBound = false): Float32Array {
  const out = new Float32Array(c.B * c.N * c.maxLen).fill(NaN);
  const pageBytes = c.P * (D + 4);
  const dv = new DataView(c.cache.buffer);
  const kf = new Float32Array(D);
  for (let b = 0; b < c.B; b++)
    for (let n = 0; n < c.N; n++) {
      const r = b * c.N + n;
      for (let pos = 0; pos < rowEnd(c, b, n); pos++) {
        const page = c.bt[b * c.maxBlocks + Math.floor(pos / c.P)], t = pos % c.P;
        for (let d = 0; d < D; d++) kf[d] = FP8[c.cache[page * pageBytes + kOffset(c.layout, t, d)]];
        let acc = 0;
        for (let h = 0; h < c.H; h++) {
          let s = 0;
          const qo = (r * c.H + h) * D;
          if (fastBound) {
            for (let d = 0; d < D; d++) s += abs(FP8[c.q[qo + d]] * kf[d]);
            acc += abs(c.w[r * c.H + h]) * s * 2 ** -10;
            continue;
          }
          for (let d = 0; d < D; d++) s = fround(s + FP8[c.q[qo + d]] * kf[d]);
          acc = fround(acc + fround(c.w[r * c.H + h] * max(s, 0)));
        }
        const scale = dv.getFloat32(page * pageBytes + c.P * D + 4 * t, true);
        out[r * c.maxLen + pos] = fastBound ? abs(scale) * acc : fround(scale * acc);
      }
    }
  return out;
}

function withAbsWeights(c: Case): Case {
  return { ...c, w: c.w.map(Math.abs) };
}

/** The case on magnitudes: |q|, |k| (fp8 sign bits cleared), |weights|, |scales|. */
function withMagnitudes(c: Case): Case {
  const pageBytes = c.P * (D + 4);
  const cache = c.cache.slice();
  const dv = new DataView(cache.buffer);
  for (let pg = 0; pg < c.numPages; pg++) {
    for (let i = 0; i < c.P * D; i++) cache[pg * pageBytes + i] &= 0x7f;
    for (let t = 0; t < c.P; t++) dv.setFloat32(pg * pageBytes + c.P * D + 4 * t, abs(dv.getFloat32(pg * pageBytes + c.P * D + 4 * t, true)), true);
  }
  return { ...c, cache, q: c.q.map((b) => b & 0x7f), w: c.w.map(Math.abs) };
}

/** The case's inputs as tensors on `device`, in pagedMqaLogits' argument order. */
function inputsOf(c: Case, device: Device) {
  return [
    Tensor.from(c.q, [c.B, c.N, c.H, D], { dtype: 'float8_e4m3fn', device }),
    new IndexerKCache(Tensor.from(c.cache, [c.numPages, c.P * (D + 4)], { dtype: 'uint8', device }), { pageSize: c.P, layout: c.layout }),
    Tensor.from(c.w, [c.B * c.N, c.H], { device }),
    Tensor.from(c.cl, c.cl2d ? [c.B, c.N] : [c.B], { device }),
    Tensor.from(c.bt, [c.B, c.maxBlocks], { device }),
  ] as const;
}

function run(c: Case, device: Device, clean: boolean, poison: Float32Array, precision: MqaPrecision = 'exact'): Float32Array {
  const out = Tensor.from(poison, [c.B * c.N, c.maxLen], { device });
  pagedMqaLogits(...inputsOf(c, device), { maxContextLen: c.maxLen, clean, out, precision });
  return out.toTypedArraySync();
}

/** Valid positions within 1e-5 of the summands' magnitude (refAbs); invalid: poison or -inf. */
function compare(c: Case, got: Float32Array, ref: Float32Array, refAbs: Float32Array, poison: Float32Array, clean: boolean): number {
  let worst = 0;
  for (let r = 0; r < c.B * c.N; r++) {
    const end = rowEnd(c, Math.floor(r / c.N), r % c.N);
    for (let p = 0; p < c.maxLen; p++) {
      const i = r * c.maxLen + p;
      if (p < end) {
        const e = abs(got[i] - ref[i]) / max(abs(refAbs[i]), 1e-30);
        if (!(e <= 1e-5)) throw new Error(`row ${r} pos ${p}: ${got[i]} vs ${ref[i]} (rel ${e})`);
        worst = max(worst, e);
      } else if (clean ? got[i] !== -Infinity : !Object.is(got[i], poison[i])) {
        throw new Error(`row ${r} pos ${p} (invalid): ${got[i]}, expected ${clean ? '-inf' : 'untouched'}`);
      }
    }
  }
  return worst;
}

describeDevice('SPEC §3a paged MQA logits', (device) => {
  const rng = new Rng();
  const configs: [number, KCacheLayout][] = [[64, 'preshuffle'], [64, 'plain'], [32, 'preshuffle'], [32, 'plain'], [16, 'preshuffle'], [16, 'plain'], [1, 'plain']];
  configs.forEach(([P, layout], ci) => {
    for (const N of [1, 2, 3, 4]) {
      const H = (ci + N) % 2 ? 32 : 64;
      test(`P=${P} ${layout} N=${N} H=${H}: matches the reference; invalid positions untouched / -inf (seed ${rng.seed})`, () => {
        const lens = ON_GPU ? [0, 1, P - 1 + N, P + N, P + 1 + N, 700, 1500] : [1, P + N, P + 1 + N, 70];
        const c = makeCase(rng, P, layout, N, H, lens.map((l) => max(l, 0)), N === 2);
        const reference = (x: Case) => (ON_GPU ? run(x, 'cpu', false, new Float32Array(x.B * x.N * x.maxLen)) : tsReference(x));
        const ref = reference(c), refAbs = reference(withAbsWeights(c));
        for (const clean of [false, true]) {
          const poison = Float32Array.from({ length: c.B * c.N * c.maxLen }, () => rng.normal() * 1e6);
          compare(c, run(c, device, clean, poison), ref, refAbs, poison, clean);
        }
      });
    }
  });

  // 'fast' may use fp8 tensor-core accumulation: within SPEC §3's bound of the exact reference (the CPU
  // computes fast as exact, bit for bit).
  for (const [P, layout, N, H] of [[64, 'preshuffle', 1, 64], [64, 'plain', 2, 32], [16, 'preshuffle', 4, 64], [32, 'plain', 4, 64], [32, 'preshuffle', 3, 32]] as [number, KCacheLayout, number, number][]) {
    test(`precision 'fast': P=${P} ${layout} N=${N} H=${H} within the fast bound of exact`, () => {
      const c = makeCase(rng, P, layout, N, H, ON_GPU ? [1, P + N, 700, 1500] : [P + N, 70]);
      const poison = Float32Array.from({ length: c.B * c.N * c.maxLen }, () => rng.normal());
      const exact = run(c, 'cpu', false, new Float32Array(c.B * c.N * c.maxLen));
      const fast = run(c, device, false, poison, 'fast');
      // SPEC §3's fast allowance: on magnitudes every product is >= 0, so relu is the identity and the
      // exact op computes |scale| * sum_h |w_h| * sum_d |q_hd * k_d| (the native CPU op on the GPU
      // project, the TS reference on the CPU one).
      const zeros = () => new Float32Array(c.B * c.N * c.maxLen);
      const bound = ON_GPU ? run(withMagnitudes(c), 'cpu', false, zeros()).map((x) => x * 2 ** -10) : tsReference(c, true);
      const refAbs = run(withAbsWeights(c), 'cpu', false, zeros());
      if (!ON_GPU) expect(fast).toEqual(run(c, 'cpu', false, poison));
      for (let r = 0; r < c.B * c.N; r++)
        for (let p = 0; p < c.maxLen; p++) {
          const i = r * c.maxLen + p;
          if (p >= rowEnd(c, Math.floor(r / c.N), r % c.N)) {
            if (!Object.is(fast[i], poison[i])) throw new Error(`row ${r} pos ${p} (invalid) written`);
          } else if (!(abs(fast[i] - exact[i]) <= bound[i] + 1e-5 * abs(refAbs[i]))) {
            throw new Error(`row ${r} pos ${p}: fast ${fast[i]} vs exact ${exact[i]}, bound ${bound[i]}`);
          }
        }
    });
  }

  if (ON_GPU) {
    test('long and uneven: lengths 0, 1, 63, 64, 65, 8191, 70000 in one batch (P=64 preshuffle, H=64)', () => {
      const c = makeCase(rng, 64, 'preshuffle', 1, 64, [0, 1, 63, 64, 65, 8191, 70000]);
      const poison = Float32Array.from({ length: c.B * c.maxLen }, () => rng.normal());
      const zeros = new Float32Array(c.B * c.maxLen);
      const worst = compare(c, run(c, device, false, poison), run(c, 'cpu', false, zeros), run(withAbsWeights(c), 'cpu', false, zeros), poison, false);
      expect(worst).toBeLessThanOrEqual(1e-5);
    });

    // next_n 2-4 at H = 64 hold a large Q16, so the sm90 kernel runs one or two CTAs per SM with two or
    // four consumer warpgroups taking alternate tiles: requests long enough that every warpgroup of
    // every CTA takes tiles of several requests, and requests of one tile between them.
    test('next_n 2, 3 and 4 at H=64, both layouts: several consumer warpgroups per CTA', () => {
      for (const [layout, N] of [['preshuffle', 4], ['plain', 4], ['preshuffle', 3], ['plain', 3], ['preshuffle', 2]] as [KCacheLayout, number][]) {
        const lens = Array.from({ length: 16 }, (_, i) => (i % 5 === 2 ? rng.int(1, 65) : rng.int(1500, 3000)));
        const c = makeCase(rng, 64, layout, N, 64, lens);
        const poison = Float32Array.from({ length: c.B * c.N * c.maxLen }, () => rng.normal() * 1e6);
        const zeros = new Float32Array(c.B * c.N * c.maxLen);
        const worst = compare(c, run(c, device, false, poison), run(c, 'cpu', false, zeros), run(withAbsWeights(c), 'cpu', false, zeros), poison, false);
        expect(worst).toBeLessThanOrEqual(1e-5);
      }
    });

    // The sm90 kernel scans request lengths 32 at a time (the first 128 kept in registers): cover many
    // chunks, empty requests between long ones, and every CTA slice boundary falling inside a request.
    test('many requests: B=300, lengths 0..400 with empty ones (P=16 plain N=2 H=32; P=64 preshuffle N=1 H=64)', () => {
      for (const [P, layout, N, H] of [[16, 'plain', 2, 32], [64, 'preshuffle', 1, 64]] as [number, KCacheLayout, number, number][]) {
        const lens = Array.from({ length: 300 }, (_, i) => (i % 7 === 3 ? 0 : rng.int(1, 400)));
        const c = makeCase(rng, P, layout, N, H, lens);
        const poison = Float32Array.from({ length: c.B * c.N * c.maxLen }, () => rng.normal() * 1e6);
        const zeros = new Float32Array(c.B * c.N * c.maxLen);
        const worst = compare(c, run(c, device, false, poison), run(c, 'cpu', false, zeros), run(withAbsWeights(c), 'cpu', false, zeros), poison, false);
        expect(worst).toBeLessThanOrEqual(1e-5);
      }
    });

    // A call captured in a graph and replayed with new q each time writes every valid position of every
    // replay (per-call state in a kernel, e.g. a work counter, must be reset for the next replay).
    test('captured in a graph and replayed 4 times with new q: every replay writes every valid position', async () => {
      const c = makeCase(rng, 64, 'preshuffle', 1, 64, Array.from({ length: 64 }, (_, i) => (i % 9 === 4 ? rng.int(1, 64) : rng.int(500, 3000))));
      const stream = Stream.create(device);
      const inputs = inputsOf(c, device), q = inputs[0];
      const out = Tensor.empty([c.B, c.maxLen], { device });
      const graph = captureGraph(stream, () => pagedMqaLogits(...inputs, { maxContextLen: c.maxLen, out, stream }));
      const zeros = new Float32Array(c.B * c.maxLen);
      for (let replay = 0; replay < 4; replay++) {
        const x = { ...c, q: randFp8(rng, c.B * c.H * D) };
        const poison = Float32Array.from({ length: c.B * c.maxLen }, () => rng.normal() * 1e6);
        q.copyFrom(Tensor.from(x.q, q.shape, { dtype: 'float8_e4m3fn', device }), { stream });
        out.copyFrom(Tensor.from(poison, out.shape, { device }), { stream });
        graph.replay(stream);
        await stream.synchronized();
        compare(x, out.toTypedArraySync(), run(x, 'cpu', false, zeros), run(withAbsWeights(x), 'cpu', false, zeros), poison, false);
      }
      graph.dispose();
      stream.dispose();
    });
  }

  test('block-table entries past the last needed page are never read; bad entries are refused on the host', () => {
    const c = makeCase(rng, 64, 'preshuffle', 1, 64, [100, 5]);
    // poison the unused tail of each row with huge out-of-range pages
    for (let b = 0; b < c.B; b++) for (let j = Math.ceil(c.lens[b] / 64); j < c.maxBlocks; j++) c.bt[b * c.maxBlocks + j] = 1 << 30;
    const poison = new Float32Array(c.B * c.maxLen).fill(7);
    const reference = (x: Case) => (ON_GPU ? run(x, 'cpu', false, new Float32Array(x.B * x.maxLen)) : tsReference(x));
    const good = run(c, device, false, poison);
    compare(c, good, reference(c), reference(withAbsWeights(c)), poison, false);
    c.bt[0] = c.numPages; // a needed page outside the cache
    if (!ON_GPU) {
      expectNsaError(() => run(c, device, false, poison), 'E_RANGE', /blockTable\[0, 0\]: got/);
    } else {
      // Read as zeros, never out of bounds (memcheck proves that part): row 0's first page scores 0,
      // its second page and row 1 are what they were.
      const out = run(c, device, false, poison);
      for (let pos = 0; pos < 64; pos++) expect(out[pos]).toBe(0);
      for (let pos = 64; pos < c.lens[0]; pos++) expect(out[pos]).toBe(good[pos]);
      for (let pos = 0; pos < c.lens[1]; pos++) expect(out[c.maxLen + pos]).toBe(good[c.maxLen + pos]);
    }
  });

  test('bad inputs', () => {
    const c = makeCase(rng, 64, 'preshuffle', 1, 64, [10]);
    const cache = new IndexerKCache(Tensor.from(c.cache, [c.numPages, 64 * 132], { dtype: 'uint8', device }));
    const q = Tensor.from(c.q, [1, 1, 64, D], { dtype: 'float8_e4m3fn', device });
    const w = Tensor.from(c.w, [1, 64], { device });
    const cl = Tensor.from(c.cl, [1], { device });
    const bt = Tensor.from(c.bt, [1, c.maxBlocks], { device });
    expectNsaError(() => pagedMqaLogits(q, cache, w, cl, bt, { maxContextLen: -1 }), 'E_RANGE', /maxContextLen/);
    expectNsaError(() => pagedMqaLogits(q, cache, w, cl, bt, { maxContextLen: 64, precision: 'fp8' as never }), 'E_ARG', /precision: got fp8, expected 'exact' \| 'fast'/);
    expectNsaError(() => pagedMqaLogits(q.view([1, 1, 32, 256]) as never, cache, w, cl, bt, { maxContextLen: 64 }), 'E_UNSUPPORTED', /q.shape\[3\]: got 256/);
    expectNsaError(() => pagedMqaLogits(Tensor.from(randFp8(rng, 5 * 64 * D), [1, 5, 64, D], { dtype: 'float8_e4m3fn', device }) as never, cache, w, cl, bt, { maxContextLen: 64 }), 'E_RANGE', /next_n/);
    expectNsaError(() => pagedMqaLogits(q.view([1, 1, 16, 512]).view([1, 1, 64, 128]), cache, w.view([2, 32]) as never, cl, bt, { maxContextLen: 64 }), 'E_SHAPE', /weights.shape/);
    expectNsaError(() => pagedMqaLogits(q, cache, w, cl, bt, { maxContextLen: 64, out: Tensor.empty([1, 10], { device }) as never }), 'E_SHAPE', /out.shape\[1\]: got 10/);
    expectNsaError(() => pagedMqaLogits(q, cache, Tensor.from(c.w, [1, 64], { dtype: 'bfloat16', device }) as never, cl, bt, { maxContextLen: 64 }), 'E_DTYPE', /weights.dtype/);
  });
});

describeDevice('SPEC §3b ragged MQA logits', (device) => {
  const rng = new Rng();
  /**
   * Random ragged inputs with row ranges from `ranges`, and per position of each row: the exact
   * reference (fp32 sums in order), the same with |weights| (the magnitude the 1e-5 bound scales), and
   * SPEC §3's fast allowance (|scale| * sum_h |w_h| * 2^-10 * sum_d |q_hd * k_d|). NaN outside the rows.
   */
  function raggedCase(S: number, Skv: number, H: number, ranges: (i: number) => [number, number]) {
    const k = randFp8(rng, Skv * D);
    const kScale = Float32Array.from({ length: Skv }, () => 0.5 + rng.next());
    const q = randFp8(rng, S * H * D);
    const w = Float32Array.from({ length: S * H }, () => rng.normal());
    const ks = new Int32Array(S), ke = new Int32Array(S);
    for (let i = 0; i < S; i++) [ks[i], ke[i]] = ranges(i);
    const tensors = (qb: Uint8Array, kb: Uint8Array, sc: Float32Array, wt: Float32Array, dev: Device) =>
      [
        Tensor.from(qb, [S, H, D], { dtype: 'float8_e4m3fn', device: dev }),
        Tensor.from(kb, [Skv, D], { dtype: 'float8_e4m3fn', device: dev }),
        Tensor.from(sc, [Skv], { device: dev }),
        Tensor.from(wt, [S, H], { device: dev }),
        Tensor.from(ks, [S], { device: dev }),
        Tensor.from(ke, [S], { device: dev }),
      ] as const;
    const inputs = () => tensors(q, k, kScale, w, device);
    if (ON_GPU) {
      // The native CPU op (checked against the TS loops below in the unit project): exact, with
      // |weights|, and on magnitudes (every product >= 0: relu is the identity) for the fast allowance.
      const cpu = (qb: Uint8Array, kb: Uint8Array, wt: Float32Array) => {
        const out = Tensor.full([S, Skv], NaN);
        raggedMqaLogits(...tensors(qb, kb, kScale, wt, 'cpu'), { out }); // scales are > 0
        return out.toTypedArraySync();
      };
      const absW = w.map(Math.abs);
      const fastBound = cpu(q.map((b) => b & 0x7f), k.map((b) => b & 0x7f), absW).map((x) => x * 2 ** -10);
      return { S, Skv, ks, ke, ref: cpu(q, k, w), refAbs: cpu(q, k, absW), fastBound, inputs };
    }
    const ref = new Float32Array(S * Skv).fill(NaN), refAbs = new Float32Array(S * Skv).fill(NaN), fastBound = new Float32Array(S * Skv).fill(NaN);
    const qf = Float64Array.from(q, (b) => FP8[b]), kf = Float64Array.from(k, (b) => FP8[b]);
    for (let i = 0; i < S; i++)
      for (let p = ks[i]; p < ke[i]; p++) {
        let acc = 0, mag = 0, fast = 0;
        for (let h = 0; h < H; h++) {
          let s = 0, sAbs = 0;
          const qo = (i * H + h) * D, ko = p * D;
          for (let d = 0; d < D; d++) {
            const prod = qf[qo + d] * kf[ko + d];
            s = fround(s + prod);
            sAbs += abs(prod);
          }
          acc = fround(acc + fround(w[i * H + h] * max(s, 0)));
          mag += abs(w[i * H + h]) * max(s, 0);
          fast += abs(w[i * H + h]) * sAbs * 2 ** -10;
        }
        ref[i * Skv + p] = fround(kScale[p] * acc);
        refAbs[i * Skv + p] = kScale[p] * mag;
        fastBound[i * Skv + p] = kScale[p] * fast;
      }
    return { S, Skv, ks, ke, ref, refAbs, fastBound, inputs };
  }

  /**
   * Runs the case dense and compressed, with and without clean, into a poisoned buffer 5 columns wider
   * than the output (the padding must stay untouched). Valid positions: within 1e-5 of refAbs (exact)
   * or within the fast bound of the exact reference (fast); invalid ones poison, or -inf with clean.
   */
  function checkRagged(c: ReturnType<typeof raggedCase>, precision: MqaPrecision) {
    const W = max(1, ...Array.from(c.ks, (s, i) => c.ke[i] - s));
    for (const compressed of [false, true])
      for (const clean of [false, true]) {
        const cols = compressed ? W : c.Skv, ld = cols + 5;
        const poison = Float32Array.from({ length: c.S * ld }, () => rng.normal() * 1e3);
        const buf = Tensor.from(poison, [c.S, ld], { device });
        raggedMqaLogits(...c.inputs(), { clean, compressed, precision, out: buf.narrow(1, 0, cols) });
        const got = buf.toTypedArraySync();
        for (let i = 0; i < c.S; i++)
          for (let col = 0; col < ld; col++) {
            const j = i * ld + col, p = compressed ? c.ks[i] + col : col;
            const where = `${precision} compressed ${compressed} clean ${clean} row ${i}`;
            if (col < cols && p >= c.ks[i] && p < c.ke[i]) {
              const r = i * c.Skv + p, err = abs(got[j] - c.ref[r]);
              const ok = precision === 'fast' ? err <= c.fastBound[r] + 1e-5 * c.refAbs[r] : err <= 1e-5 * max(c.refAbs[r], 1e-30);
              if (!ok) throw new Error(`${where} pos ${p}: ${got[j]} vs ${c.ref[r]}`);
            } else if (clean && col < cols ? got[j] !== -Infinity : !Object.is(got[j], poison[j]))
              throw new Error(`${where} column ${col} (invalid): ${got[j]}`);
          }
      }
  }

  // Random rows (one full, one empty), S not a multiple of 4 and Skv not of 64 or 4 (the sm_90a kernel
  // takes rows 4 at a time and copies K tiles of 64 rows, scales 4 at a time).
  for (const precision of ['exact', 'fast'] as const)
    test(`random rows cover [ks, ke), ${precision}; others untouched / -inf (seed ${rng.seed})`, () => {
      const S = ON_GPU ? 41 : 6, Skv = ON_GPU ? 3001 : 301;
      const c = raggedCase(S, Skv, 64, (i) => {
        if (i === 0) return [0, Skv];
        const s = rng.int(0, Skv);
        return i === 1 ? [s, s] : [s, Math.min(Skv, s + rng.int(0, 700))];
      });
      checkRagged(c, precision);
    });

  // A causal chunk after a prefix (row i sees [0, prefix + i + 1)), and one of two requests packed in
  // one batch (the second request's rows start at its own ks): rows end inside, at and across tiles.
  for (const [H, precision] of [[32, 'exact'], [32, 'fast'], [64, 'fast']] as [number, MqaPrecision][])
    test(`causal rows after a prefix and two packed requests, H=${H} ${precision}`, () => {
      const S = ON_GPU ? 70 : 9, prefix = ON_GPU ? 190 : 60;
      checkRagged(raggedCase(S, prefix + S, H, (i) => [0, prefix + i + 1]), precision);
      const half = S >> 1, start2 = prefix + half; // request 2's keys start at start2
      checkRagged(raggedCase(S, start2 + prefix + S, H, (i) => (i < half ? [0, prefix + i + 1] : [start2, start2 + prefix + (i - half) + 1])), precision);
    });

  test('compressed output feeds topk: same indices as the dense output with rowStarts', () => {
    const S = ON_GPU ? 40 : 6, Skv = ON_GPU ? 3000 : 300;
    const c = raggedCase(S, Skv, 64, (i) => {
      const s = i === 0 ? 0 : rng.int(0, Skv);
      return [s, i === 0 ? Skv : Math.min(Skv, s + rng.int(0, 700))];
    });
    const W = max(...Array.from(c.ks, (s, i) => c.ke[i] - s));
    // Without `out`, the compressed width is the widest row (read from ks / ke), or maxRowLength.
    const compressedOut = raggedMqaLogits(...c.inputs(), { compressed: true });
    expect(compressedOut.shape).toEqual([S, W]);
    // topk reads compressed rows with lengths = ke - ks and no rowStarts: the same indices as the dense
    // output with rowStarts = ks.
    const lengths = Tensor.from(Int32Array.from(c.ks, (s, i) => c.ke[i] - s), [S], { device });
    const dense = raggedMqaLogits(...c.inputs());
    const viaDense = topk(dense, lengths, { k: 64, rowStarts: Tensor.from(c.ks, [S], { device }), deterministic: true }).toTypedArraySync();
    const viaCompressed = topk(compressedOut, lengths, { k: 64, deterministic: true }).toTypedArraySync();
    expect(Array.from(viaCompressed)).toEqual(Array.from(viaDense));
    expect(raggedMqaLogits(...c.inputs(), { compressed: true, maxRowLength: W + 7 }).shape).toEqual([S, W + 7]);
  });

  test('compressed rows wider than the output: E_RANGE on the CPU; on the GPU computed up to the width, nothing past it written', () => {
    const S = 3, Skv = 200, H = 32;
    const args = [
      Tensor.from(randFp8(rng, S * H * D), [S, H, D], { dtype: 'float8_e4m3fn', device }),
      Tensor.from(randFp8(rng, Skv * D), [Skv, D], { dtype: 'float8_e4m3fn', device }),
      Tensor.full([Skv], 1, { device }),
      Tensor.full([S, H], 1, { device }),
      Tensor.from(Int32Array.from([0, 10, 100]), [S], { device }),
      Tensor.from(Int32Array.from([50, 150, 200]), [S], { device }),
    ] as const;
    const buf = Tensor.full([S, 120], 7, { device });
    const run = () => raggedMqaLogits(...args, { compressed: true, clean: true, out: buf.narrow(1, 0, 100) });
    if (!ON_GPU) {
      expectNsaError(run, 'E_RANGE', /ke\[1\] - ks\[1\]: got 140, expected at most the compressed width out.shape\[1\] = 100/);
      return;
    }
    run();
    const got = buf.toTypedArraySync();
    for (let i = 0; i < S; i++) for (let c = 100; c < 120; c++) expect(got[i * 120 + c]).toBe(7);
    expect(got[1 * 120 + 99]).not.toBe(-Infinity); // row 1 (140 long) fills its 100 columns
    expect(got[0 * 120 + 50]).toBe(-Infinity); // row 0 (50 long): clean past its end
  });
});
