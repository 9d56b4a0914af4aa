/**
 * dtypes and bit-exact scalar conversions (SPEC §0), identical to csrc/core/dtype.h: bf16 and fp8 e4m3fn
 * have no JS TypedArray, so they live as Uint16Array / Uint8Array bit patterns.
 */
import { DType, DTYPES } from './enums';
import { fail } from './errors';

export type { DType } from './enums';

export const DTYPE_SIZES: Readonly<Record<DType, number>> = {
  float32: 4,
  bfloat16: 2,
  float8_e4m3fn: 1,
  int32: 4,
  int64: 8,
  uint8: 1,
};

/** The TypedArray holding each dtype's elements (bit patterns for bf16 / fp8). */
export interface TypedArrayOf {
  float32: Float32Array;
  bfloat16: Uint16Array;
  float8_e4m3fn: Uint8Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
}

export type AnyTypedArray = TypedArrayOf[DType];

/** The dtype a TypedArray stands for when none is named (Uint16Array: bfloat16 bits; Uint8Array: uint8). */
export type DTypeOfArray<A> = A extends Float32Array
  ? 'float32'
  : A extends Int32Array
    ? 'int32'
    : A extends BigInt64Array
      ? 'int64'
      : A extends Uint16Array
        ? 'bfloat16'
        : A extends Uint8Array
          ? 'uint8'
          : DType;

export const ALL_DTYPES: readonly DType[] = DTYPES;

export function checkDType(v: unknown, arg: string): DType {
  if (typeof v !== 'string' || !(DTYPES as readonly string[]).includes(v)) fail('E_DTYPE', arg, v, ALL_DTYPES.join(' | '));
  return v as DType;
}

export function typedArrayFor<D extends DType>(dtype: D, buffer: ArrayBuffer, byteOffset: number, length: number): TypedArrayOf[D] {
  switch (dtype) {
    case 'float32': return new Float32Array(buffer, byteOffset, length) as TypedArrayOf[D];
    case 'bfloat16': return new Uint16Array(buffer, byteOffset, length) as TypedArrayOf[D];
    case 'int32': return new Int32Array(buffer, byteOffset, length) as TypedArrayOf[D];
    case 'int64': return new BigInt64Array(buffer, byteOffset, length) as TypedArrayOf[D];
    default: return new Uint8Array(buffer, byteOffset, length) as TypedArrayOf[D];
  }
}

/** The dtype a TypedArray implies when none is named (Uint16Array -> bfloat16 bits). */
export function dtypeOfTypedArray(a: ArrayBufferView): DType | undefined {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Uint8Array) return 'uint8';
  if (a instanceof Uint16Array) return 'bfloat16';
  return undefined;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}
function bitsF32(u: number): number {
  u32[0] = u >>> 0;
  return f32[0];
}

/** float32 -> bfloat16 bits, round to nearest even; NaN -> 0x7FFF. */
export function f32ToBf16(x: number): number {
  const u = f32Bits(x);
  if ((u & 0x7fffffff) >>> 0 > 0x7f800000) return 0x7fff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16ToF32(b: number): number {
  return bitsF32((b & 0xffff) << 16);
}

/** float32 -> OCP e4m3fn bits: round to nearest even, saturate to +-448 (inf too), NaN -> 0x7F. */
export function f32ToFp8E4M3(x: number): number {
  const u = f32Bits(x);
  const sign = (u >>> 24) & 0x80;
  const a = (u & 0x7fffffff) >>> 0;
  if (a > 0x7f800000) return 0x7f;
  if (a >= 0x43e00000) return sign | 0x7e;
  if (a < 0x3c800000) {
    const scaled = Math.fround(bitsF32(a) * 512);
    let m = Math.floor(scaled);
    const frac = scaled - m;
    if (frac > 0.5 || (frac === 0.5 && (m & 1) === 1)) m += 1;
    return sign | m;
  }
  const r = Math.floor((a + 0x7ffff + ((a >>> 20) & 1)) / 0x100000);
  const code = r - ((127 - 7) << 3);
  return sign | (code > 0x7e ? 0x7e : code);
}

export function fp8E4M3ToF32(v: number): number {
  const neg = (v & 0x80) !== 0;
  const e = (v >>> 3) & 0xf;
  const m = v & 7;
  if (e === 0xf && m === 7) return NaN;
  const mag = e === 0 ? m / 512 : (1 + m / 8) * 2 ** (e - 7);
  return neg ? -mag : mag;
}

/** Converts numbers to the element representation of a dtype (bits for bf16 / fp8). */
export function encode(dtype: DType, values: ArrayLike<number | bigint>): AnyTypedArray {
  const n = values.length;
  const out = typedArrayFor(dtype, new ArrayBuffer(n * DTYPE_SIZES[dtype]), 0, n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    switch (dtype) {
      case 'bfloat16': out[i] = f32ToBf16(Number(v)); break;
      case 'float8_e4m3fn': out[i] = f32ToFp8E4M3(Number(v)); break;
      case 'int64':
        if (typeof v !== 'bigint' && !Number.isSafeInteger(v)) fail('E_ARG', `values[${i}]`, v, 'an integer (int64 holds integers only)');
        (out as BigInt64Array)[i] = BigInt(v);
        break;
      default: (out as Float32Array)[i] = Number(v);
    }
  }
  return out;
}

/** Element values as numbers (decodes bf16 / fp8 bits; int64 via Number). */
export function decode(dtype: DType, data: AnyTypedArray): number[] {
  const out = new Array<number>(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (dtype === 'bfloat16') out[i] = bf16ToF32(v as number);
    else if (dtype === 'float8_e4m3fn') out[i] = fp8E4M3ToF32(v as number);
    else out[i] = Number(v);
  }
  return out;
}
