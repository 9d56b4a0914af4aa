// SPEC §0 conversions: exhaustive over all fp8 and bf16 codes, f32 edge cases, TS == native, and on the
// GPU our portable kernels == CUDA's intrinsics.
import { bf16ToF32, convert, f32ToBf16, f32ToFp8E4M3, fp8E4M3ToF32, Tensor } from '../lib';
import { describeDevice, describeGpuOnly, Rng } from './helpers';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fromBits = (u: number) => {
  u32[0] = u >>> 0;
  return f32[0];
};

/** Edge-case floats: signed zeros, infinities, NaNs, fp8/bf16 boundaries, ties, subnormals, and random. */
function edgeFloats(rng: Rng): Float32Array {
  const v: number[] = [0, -0, Infinity, -Infinity, NaN, fromBits(0x7fc00001), fromBits(0xffc00000), fromBits(0x7f800001)];
  for (const x of [448, 449, 464, 464.0001, 480, 1e9, 2 ** -6, 2 ** -7, 2 ** -9, 2 ** -10, 2 ** -10 + 2 ** -20, 3 * 2 ** -10, 1e-30, 1.40129846e-45, 3.4028235e38, 1.0625, 1.1875, 1.125]) {
    v.push(x, -x, Math.fround(x * (1 + 2 ** -23)), Math.fround(x * (1 - 2 ** -24)));
  }
  // every fp8 value and the midpoints between neighbours (ties to even), plus one ulp either side
  for (let c = 0; c < 0x7f; c++) {
    const a = fp8E4M3ToF32(c), b = fp8E4M3ToF32(c + 1);
    const mid = Math.fround((a + b) / 2);
    u32[0] = 0;
    f32[0] = mid;
    const m = u32[0];
    v.push(a, mid, fromBits(m + 1), fromBits(m - 1 < 0 ? 0 : m - 1), -mid);
  }
  // bf16 ties: low 16 bits exactly 0x8000 with odd and even upper halves
  for (let i = 0; i < 200; i++) {
    const hi = rng.int(0, 0x7f80) << 16;
    v.push(fromBits(hi | 0x8000), fromBits((hi + 0x10000) | 0x8000), fromBits(hi | 0x7fff), fromBits(hi | 0x8001));
  }
  for (let i = 0; i < 20000; i++) v.push(fromBits(rng.int(0, 2 ** 31) * 2 + rng.int(0, 2)));
  for (let i = 0; i < 20000; i++) v.push(rng.normal() * 10 ** rng.int(-8, 4));
  return Float32Array.from(v);
}

describe('SPEC §0 conversions (TypeScript)', () => {
  test('fp8 e4m3fn decodes every code to the OCP value', () => {
    expect(fp8E4M3ToF32(0x00)).toBe(0);
    expect(Object.is(fp8E4M3ToF32(0x80), -0)).toBe(true);
    expect(fp8E4M3ToF32(0x01)).toBe(2 ** -9);
    expect(fp8E4M3ToF32(0x08)).toBe(2 ** -6);
    expect(fp8E4M3ToF32(0x38)).toBe(1);
    expect(fp8E4M3ToF32(0x7e)).toBe(448);
    expect(fp8E4M3ToF32(0xfe)).toBe(-448);
    expect(fp8E4M3ToF32(0x7f)).toBeNaN();
    expect(fp8E4M3ToF32(0xff)).toBeNaN();
  });

  test('every finite fp8 code round-trips f32 -> fp8 exactly', () => {
    for (let c = 0; c < 256; c++) {
      if ((c & 0x7f) === 0x7f) continue;
      expect(f32ToFp8E4M3(fp8E4M3ToF32(c))).toBe(c);
    }
  });

  test('fp8: saturation, NaN, ties to even, signed zero', () => {
    expect(f32ToFp8E4M3(Infinity)).toBe(0x7e);
    expect(f32ToFp8E4M3(-Infinity)).toBe(0xfe);
    expect(f32ToFp8E4M3(1e6)).toBe(0x7e);
    expect(f32ToFp8E4M3(NaN)).toBe(0x7f);
    expect(f32ToFp8E4M3(-0)).toBe(0x80);
    expect(f32ToFp8E4M3(1.0625)).toBe(0x38); // halfway 1 .. 1.125 -> even (1)
    expect(f32ToFp8E4M3(1.1875)).toBe(0x3a); // halfway 1.125 .. 1.25 -> even (1.25)
    expect(f32ToFp8E4M3(2 ** -10)).toBe(0x00); // halfway 0 .. 2^-9 -> 0
    expect(f32ToFp8E4M3(3 * 2 ** -10)).toBe(0x02); // halfway 1 .. 2 (x 2^-9) -> 2
    expect(f32ToFp8E4M3(-(2 ** -11))).toBe(0x80);
  });

  test('every bf16 code round-trips and NaN is 0x7FFF', () => {
    for (let b = 0; b < 65536; b++) {
      const x = bf16ToF32(b);
      if (Number.isNaN(x)) expect(f32ToBf16(x)).toBe(0x7fff);
      else expect(f32ToBf16(x)).toBe(b);
    }
    expect(f32ToBf16(fromBits(0x3f808000))).toBe(0x3f80); // tie, even stays
    expect(f32ToBf16(fromBits(0x3f818000))).toBe(0x3f82); // tie, odd rounds up
    expect(f32ToBf16(fromBits(0x7f7fffff))).toBe(0x7f80); // rounds to +inf
  });
});

describeDevice('SPEC §0 conversions (native == TypeScript)', (device) => {
  const rng = new Rng();
  const xs = edgeFloats(rng);
  const src = Tensor.from(xs, [xs.length], { device });

  test(`f32 -> fp8 / bf16 on ${device} equal the TS helpers bit for bit (seed ${rng.seed})`, async () => {
    const fp8 = convert(src, Tensor.empty([xs.length], { dtype: 'float8_e4m3fn', device }));
    const bf = convert(src, Tensor.empty([xs.length], { dtype: 'bfloat16', device }));
    const a = await fp8.toTypedArray();
    const b = await bf.toTypedArray();
    for (let i = 0; i < xs.length; i++) {
      if (a[i] !== f32ToFp8E4M3(xs[i])) throw new Error(`fp8(${xs[i]}) = ${a[i]}, TS ${f32ToFp8E4M3(xs[i])}`);
      if (b[i] !== f32ToBf16(xs[i])) throw new Error(`bf16(${xs[i]}) = ${b[i]}, TS ${f32ToBf16(xs[i])}`);
    }
  });

  test('all 256 fp8 and 65536 bf16 codes decode like the TS helpers', async () => {
    const codes8 = Uint8Array.from({ length: 256 }, (_, i) => i);
    const codes16 = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const f8 = await convert(Tensor.from(codes8, [256], { dtype: 'float8_e4m3fn', device }), Tensor.empty([256], { device })).toTypedArray();
    const f16 = await convert(Tensor.from(codes16, [65536], { dtype: 'bfloat16', device }), Tensor.empty([65536], { device })).toTypedArray();
    for (let c = 0; c < 256; c++) expect(Object.is(f8[c], Math.fround(fp8E4M3ToF32(c))) || (Number.isNaN(f8[c]) && Number.isNaN(fp8E4M3ToF32(c)))).toBe(true);
    for (let c = 0; c < 65536; c++) {
      const want = bf16ToF32(c);
      if (!(Object.is(f16[c], want) || (Number.isNaN(f16[c]) && Number.isNaN(want)))) throw new Error(`bf16 code ${c}`);
    }
  });
});

describeGpuOnly('SPEC §0 conversions (portable kernels == CUDA intrinsics)', (device) => {
  const rng = new Rng();
  const xs = edgeFloats(rng);
  const src = Tensor.from(xs, [xs.length], { device });
  for (const dtype of ['float8_e4m3fn', 'bfloat16'] as const) {
    test(`f32 -> ${dtype}: ours == intrinsic on every edge case (seed ${rng.seed})`, async () => {
      const ours = await convert(src, Tensor.empty([xs.length], { dtype, device })).toTypedArray();
      const theirs = await convert(src, Tensor.empty([xs.length], { dtype, device }), { intrinsic: true }).toTypedArray();
      const bad: string[] = [];
      for (let i = 0; i < xs.length && bad.length < 10; i++) if (ours[i] !== theirs[i]) bad.push(`${xs[i]}: ours ${ours[i]} intrinsic ${theirs[i]}`);
      expect(bad).toEqual([]);
    });
  }
  test('all fp8 / bf16 codes decode like the intrinsics', async () => {
    const codes8 = Tensor.from(Uint8Array.from({ length: 256 }, (_, i) => i), [256], { dtype: 'float8_e4m3fn', device });
    const codes16 = Tensor.from(Uint16Array.from({ length: 65536 }, (_, i) => i), [65536], { dtype: 'bfloat16', device });
    for (const codes of [codes8, codes16]) {
      const a = await convert(codes, Tensor.empty(codes.shape, { device })).toTypedArray();
      const b = await convert(codes, Tensor.empty(codes.shape, { device }), { intrinsic: true }).toTypedArray();
      const ua = new Uint32Array(a.buffer), ub = new Uint32Array(b.buffer);
      for (let i = 0; i < ua.length; i++) {
        const nan = Number.isNaN(a[i]) && Number.isNaN(b[i]);
        if (!nan && ua[i] !== ub[i]) throw new Error(`code ${i}: ${a[i]} vs ${b[i]}`);
      }
    }
  });
});
