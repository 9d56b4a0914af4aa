/**
 * Test helpers shared by every op: the device a project runs on, seeded random tensors (never zeros),
 * poisoning, and typed-error assertions.
 */
import { bf16ToF32, devices, f32ToBf16, gpuAvailable, NsaError, NsaErrorCode, Tensor, type Device, type DType } from '../../lib';

/** 'cpu' in the unit project, 'cuda:0' in the gpu project (NSA_TEST_DEVICE=cuda:N picks another). */
export const TEST_DEVICE = (process.env.NSA_TEST_DEVICE ?? 'cpu') as Device;
export const ON_GPU = TEST_DEVICE !== 'cpu';

/**
 * The devices describeDevice runs each body on: TEST_DEVICE, or in the gpu project with
 * NSA_TEST_DEVICES=all every visible GPU (NSA_TEST_DEVICES=cuda:0,cuda:1 names them).
 */
export function testDevices(): Device[] {
  const list = process.env.NSA_TEST_DEVICES;
  if (!ON_GPU || list === undefined || list === '') return [TEST_DEVICE];
  if (list === 'all') return gpuAvailable() ? devices().map((d) => `cuda:${d.index}` as Device) : [TEST_DEVICE];
  return list.split(',').map((d) => d.trim() as Device);
}

/**
 * describe() for each of the project's devices. In the gpu project without a GPU the block is skipped,
 * or fails when NSA_REQUIRE_GPU=1.
 */
export function describeDevice(name: string, fn: (device: Device) => void): void {
  if (ON_GPU && !gpuAvailable()) {
    if (process.env.NSA_REQUIRE_GPU === '1') {
      describe(`${name} [${TEST_DEVICE}]`, () => {
        test('a GPU is present', () => {
          throw new Error('NSA_REQUIRE_GPU=1 but no GPU backend is active');
        });
      });
    } else {
      // The body is not run at all: describe bodies may allocate on the device while collecting.
      describe(`${name} [${TEST_DEVICE}]`, () => {
        test.skip('needs a GPU (none present)', () => undefined);
      });
    }
    return;
  }
  for (const device of testDevices()) describe(`${name} [${device}]`, () => fn(device));
}

/** GPU-only describe (skipped in the unit project). */
export function describeGpuOnly(name: string, fn: (device: Device) => void): void {
  if (!ON_GPU) return;
  describeDevice(name, fn);
}

// Math functions by local name: inside jest's vm context a global lookup per call made hot loops ~20x
// slower than in plain node (randFp8 draws one number per byte).
const { imul, floor, sqrt, log, cos, PI } = Math;

/** Deterministic PRNG (mulberry32) so failures reproduce; a fresh seed per call site. */
export class Rng {
  private s: number;
  constructor(seed = Math.floor(Math.random() * 2 ** 31)) {
    this.s = seed >>> 0;
    this.seed = seed;
  }
  readonly seed: number;
  next(): number {
    let t = (this.s += 0x6d2b79f5);
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + floor(this.next() * (hi - lo));
  }
  normal(): number {
    const u = this.next() || 1e-12;
    return sqrt(-2 * log(u)) * cos(2 * PI * this.next());
  }
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

/** Random int32 values in [lo, hi), never all equal. */
export function randInt32(rng: Rng, n: number, lo = -(2 ** 30), hi = 2 ** 30): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.int(lo, hi);
  return a;
}

/** bf16 bits of normal(0, scale) samples. */
export function randBf16(rng: Rng, n: number, scale = 1): Uint16Array {
  const a = new Uint16Array(n);
  for (let i = 0; i < n; i++) a[i] = f32ToBf16(rng.normal() * scale);
  return a;
}

export const POISON_BYTE = 0xa5;

/** A tensor filled with a poison byte pattern on `device`. */
export function poisoned<D extends DType>(shape: number[], dtype: D, device: Device): Tensor<D> {
  const t = Tensor.empty(shape, { dtype, device });
  const bytes = new Uint8Array(t.byteLength).fill(POISON_BYTE);
  const host = Tensor.empty(shape, { dtype });
  new Uint8Array(host.hostView().buffer).set(bytes);
  t.copyFrom(host);
  return t;
}

/** Asserts fn throws NsaError with `code` and a message matching `re`. */
export function expectNsaError(fn: () => unknown, code: NsaErrorCode, re?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(NsaError);
  expect((caught as NsaError).code).toBe(code);
  if (re) expect((caught as NsaError).message).toMatch(re);
}

export function bytesOf(t: Tensor): Uint8Array {
  const a = t.toTypedArraySync();
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** SPEC §2: byte of (token t, dim d) inside a page's K bytes (D = 128). */
export function kcacheOffset(layout: 'plain' | 'preshuffle', t: number, d: number): number {
  const D = 128;
  return layout === 'plain' ? t * D + d : (t >> 4) * 16 * D + (d >> 4) * 256 + (t & 15) * 16 + (d & 15);
}

/** Random fp8 e4m3 bytes without the NaN codes. */
export function randFp8(rng: Rng, n: number): Uint8Array {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let b = rng.int(0, 256);
    if ((b & 0x7f) === 0x7f) b ^= 1;
    a[i] = b;
  }
  return a;
}

export { bf16ToF32 };
