/**
 * Typed tensor handles (SPEC §0): dtype, shape, strides in elements, device. Host tensors live in an
 * ArrayBuffer; device tensors in memory from CUDA's stream-ordered pool (cudaMallocAsync), freed by
 * dispose() (the finalizer is a safety net). Views share storage; disposing the owning tensor frees it.
 */
import { AnyTypedArray, checkDType, DType, DTYPE_SIZES, dtypeOfTypedArray, DTypeOfArray, encode, TypedArrayOf, typedArrayFor } from './dtype';
import { MAX_DIMS } from './enums';
import { fail, NsaError, options } from './errors';
import { native, NativeDeviceBuffer, NativeTensor } from './native';
import { Device, deviceIndex, deviceName, nativeStream, Stream } from './runtime';

export interface TensorOptions<D extends DType = DType> {
  dtype?: D;
  device?: Device | string;
  stream?: Stream;
}

/** Shared backing memory of a tensor and its views. */
class Storage {
  buf: ArrayBuffer | NativeDeviceBuffer | null;
  readonly bytes: number;
  readonly deviceIndex: number;
  constructor(buf: ArrayBuffer | NativeDeviceBuffer, bytes: number, deviceIndex: number) {
    this.buf = buf;
    this.bytes = bytes;
    this.deviceIndex = deviceIndex;
  }
  static alloc(bytes: number, deviceIdx: number, stream?: Stream): Storage {
    if (deviceIdx >= 0) return new Storage(new native.DeviceBuffer({ bytes, device: deviceIdx, stream: nativeStream(stream) }), bytes, deviceIdx);
    let buf: ArrayBuffer;
    try {
      buf = new ArrayBuffer(bytes);
    } catch {
      fail('E_RANGE', 'allocation', `${bytes} bytes of host memory`, 'a size this process can allocate');
    }
    return new Storage(buf, bytes, -1);
  }
  free(stream?: Stream): void {
    const b = this.buf;
    if (b !== null && this.deviceIndex >= 0) (b as NativeDeviceBuffer).dispose({ stream: nativeStream(stream) });
    this.buf = null;
  }
}

function contiguousStrides(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

function checkShape(shape: readonly number[], arg = 'shape'): number[] {
  if (!Array.isArray(shape) || shape.length > MAX_DIMS || shape.some((d) => !Number.isInteger(d) || d < 0))
    fail('E_SHAPE', arg, Array.isArray(shape) ? shape : String(shape), `an array of at most ${MAX_DIMS} non-negative integers`);
  if (shape.some((d) => d > Number.MAX_SAFE_INTEGER) || product(shape) > Number.MAX_SAFE_INTEGER) fail('E_RANGE', arg, shape, 'at most 2^53 elements');
  return [...shape];
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export class Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  /** Strides in elements. */
  readonly strides: readonly number[];
  /** Offset of element 0 in elements from the start of the storage. */
  readonly offset: number;
  private readonly storage: Storage;
  private readonly owner: boolean;
  private disposed = false;
  private desc: NativeTensor | undefined;

  private constructor(storage: Storage, dtype: D, shape: readonly number[], strides: readonly number[], offset: number, owner: boolean) {
    this.storage = storage;
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze([...strides]);
    this.offset = offset;
    this.owner = owner;
  }

  // ---- factories ----

  /** Uninitialized tensor. */
  static empty<D extends DType = 'float32'>(shape: readonly number[], opts?: TensorOptions<D>): Tensor<D> {
    opts = options(opts);
    const dtype = checkDType(opts.dtype ?? 'float32', 'dtype') as D;
    const sh = checkShape(shape);
    const idx = deviceIndex(opts.device ?? 'cpu');
    const bytes = product(sh) * DTYPE_SIZES[dtype];
    if (bytes > Number.MAX_SAFE_INTEGER) fail('E_RANGE', 'shape', sh, 'at most 2^53 bytes');
    const storage = Storage.alloc(bytes, idx, opts.stream);
    return new Tensor(storage, dtype, sh, contiguousStrides(sh), 0, true);
  }

  static zeros<D extends DType = 'float32'>(shape: readonly number[], opts?: TensorOptions<D>): Tensor<D> {
    opts = options(opts);
    const t = Tensor.empty(shape, opts);
    if (t.deviceIndex >= 0) native.fillBytes({ dst: t.native(), value: 0, stream: nativeStream(opts.stream) });
    return t; // a new ArrayBuffer is already zeroed
  }

  /** Every element = value (converted to the dtype: bf16 / fp8 round to nearest even). */
  static full<D extends DType = 'float32'>(shape: readonly number[], value: number | bigint, opts?: TensorOptions<D>): Tensor<D> {
    opts = options(opts);
    const dtype = checkDType(opts.dtype ?? 'float32', 'dtype') as D;
    const sh = checkShape(shape);
    const n = product(sh);
    const one = encode(dtype, [value]);
    const host = typedArrayFor(dtype, new ArrayBuffer(n * DTYPE_SIZES[dtype]), 0, n);
    (host as Float32Array).fill(one[0] as number);
    return Tensor.fromHost(host.buffer as ArrayBuffer, dtype, sh, opts);
  }

  /**
   * A tensor from a TypedArray or from numbers, by one rule: a TypedArray whose element width equals the
   * dtype's gives its bits as they are (Uint16Array -> bfloat16 bits, Uint8Array -> uint8 or fp8 bits,
   * Int32Array -> int32, Float32Array -> float32, BigInt64Array -> int64); anything else is converted
   * value by value to the dtype (numbers, or a TypedArray of another width: Float32Array -> bfloat16
   * rounds). Without a dtype: the TypedArray's own (the table above), float32 for numbers. Shape
   * defaults to 1-D. The result is typed from the dtype, or from the array when none is given.
   */
  static from<A extends AnyTypedArray, D extends DType = DTypeOfArray<A>>(data: A, shape?: readonly number[], opts?: TensorOptions<D>): Tensor<D>;
  static from<D extends DType = 'float32'>(data: readonly (number | bigint)[], shape?: readonly number[], opts?: TensorOptions<D>): Tensor<D>;
  static from<D extends DType>(data: AnyTypedArray | readonly (number | bigint)[], shape?: readonly number[], opts?: TensorOptions<D>): Tensor<D> {
    opts = options(opts);
    if (!Array.isArray(data) && !ArrayBuffer.isView(data)) fail('E_ARG', 'data', data === null ? 'null' : typeof data, 'a TypedArray or an array of numbers');
    const sh = checkShape(shape ?? [data.length]);
    if (product(sh) !== data.length) fail('E_SHAPE', 'shape', sh, `${data.length} elements to match the data`);
    const implied = Array.isArray(data) ? 'float32' : dtypeOfTypedArray(data as AnyTypedArray);
    if (implied === undefined) fail('E_DTYPE', 'data', (data as object).constructor.name, 'a Float32Array, Int32Array, BigInt64Array, Uint8Array or Uint16Array');
    const dtype = checkDType(opts.dtype ?? implied, 'dtype') as D;
    const ta = data as AnyTypedArray;
    const sameWidth = !Array.isArray(data) && DTYPE_SIZES[dtype] === ta.BYTES_PER_ELEMENT;
    // Same width: the bits, copied (int64 and the 8-byte BigInt64Array are the only 8-byte pair).
    const bits = sameWidth ? (new (ta.constructor as new (a: AnyTypedArray) => AnyTypedArray)(ta)) : encode(dtype, data as ArrayLike<number | bigint>);
    return Tensor.fromHost(bits.buffer as ArrayBuffer, dtype, sh, opts);
  }

  private static fromHost<D extends DType>(buf: ArrayBuffer, dtype: D, shape: number[], opts: TensorOptions): Tensor<D> {
    const host = new Tensor<D>(new Storage(buf, buf.byteLength, -1), dtype, shape, contiguousStrides(shape), 0, true);
    const idx = deviceIndex(opts.device ?? 'cpu');
    if (idx < 0) return host;
    const dev = Tensor.empty(shape, { dtype, device: deviceName(idx), stream: opts.stream });
    native.copy({ dst: dev.native(), src: host.native(), stream: nativeStream(opts.stream) });
    return dev;
  }

  // ---- properties ----

  get device(): Device {
    return deviceName(this.storage.deviceIndex);
  }
  get deviceIndex(): number {
    return this.storage.deviceIndex;
  }
  get numel(): number {
    return product(this.shape);
  }
  get byteLength(): number {
    return this.numel * DTYPE_SIZES[this.dtype];
  }
  get isContiguous(): boolean {
    let expect = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== expect) return false;
      expect *= this.shape[i];
    }
    return true;
  }
  get isDisposed(): boolean {
    return this.disposed || this.storage.buf === null;
  }

  /** The descriptor native ops read (cached; throws E_DISPOSED after dispose). */
  native(): NativeTensor {
    this.check();
    this.desc ??= {
      storage: this.storage.buf as ArrayBuffer | NativeDeviceBuffer,
      byteOffset: this.offset * DTYPE_SIZES[this.dtype],
      dtype: this.dtype,
      shape: [...this.shape],
      strides: [...this.strides],
    };
    return this.desc;
  }

  // ---- reading ----

  /** Element data as a new TypedArray (downloads device tensors; waits on a worker thread). */
  async toTypedArray(opts?: { stream?: Stream }): Promise<TypedArrayOf[D]> {
    opts = options(opts);
    const c = this.contiguous(opts);
    try {
      if (c.deviceIndex < 0) return c.hostView().slice() as TypedArrayOf[D];
      const buf = Storage.alloc(c.byteLength, -1).buf as ArrayBuffer;
      // The native side pins the device buffer until the copy is done: disposing meanwhile is safe.
      await native.toHostAsync({ src: c.native(), dst: buf, stream: nativeStream(opts.stream) });
      return typedArrayFor(this.dtype, buf, 0, c.numel);
    } finally {
      if (c !== this) c.dispose();
    }
  }

  /** Synchronous variant of toTypedArray (blocks on the device copy). */
  toTypedArraySync(opts?: { stream?: Stream }): TypedArrayOf[D] {
    opts = options(opts);
    const c = this.contiguous(opts);
    try {
      if (c.deviceIndex < 0) return c.hostView().slice() as TypedArrayOf[D];
      const host = Tensor.empty(c.shape, { dtype: this.dtype });
      native.copy({ dst: host.native(), src: c.native(), stream: nativeStream(opts.stream) });
      return host.hostView();
    } finally {
      if (c !== this) c.dispose();
    }
  }

  /** A live TypedArray over a contiguous host tensor's memory (no copy). */
  hostView(): TypedArrayOf[D] {
    this.check();
    if (this.deviceIndex >= 0) fail('E_DEVICE', 'tensor', this.device, 'a cpu tensor for hostView()');
    if (!this.isContiguous) fail('E_SHAPE', 'tensor', 'a non-contiguous view', 'a contiguous tensor for hostView()');
    return typedArrayFor(this.dtype, this.storage.buf as ArrayBuffer, this.offset * DTYPE_SIZES[this.dtype], this.numel);
  }

  // ---- copies ----

  /** A contiguous copy on `device` (a new tensor, also when the device is the same). */
  to(device: Device | string, opts?: { stream?: Stream }): Tensor<D> {
    opts = options(opts);
    this.check();
    const idx = deviceIndex(device);
    const out = Tensor.empty(this.shape, { dtype: this.dtype, device: deviceName(idx), stream: opts.stream });
    out.copyFrom(this, opts);
    return out;
  }

  /** This tensor itself when contiguous, else a contiguous copy on the same device. */
  contiguous(opts?: { stream?: Stream }): Tensor<D> {
    this.check();
    return this.isContiguous ? this : this.to(this.device, opts);
  }

  /** Copies `src` (same dtype and shape, any device) into this tensor. */
  copyFrom(src: Tensor<D>, opts?: { stream?: Stream }): this {
    opts = options(opts);
    this.check();
    nativeOf(src, 'src');
    if (src.dtype !== this.dtype) fail('E_DTYPE', 'src.dtype', src.dtype, this.dtype);
    if (src.shape.length !== this.shape.length || src.shape.some((d, i) => d !== this.shape[i])) fail('E_SHAPE', 'src.shape', src.shape, `[${this.shape.join(', ')}]`);
    const stream = nativeStream(opts.stream);
    if (this.deviceIndex === src.deviceIndex || (this.isContiguous && src.isContiguous)) {
      native.copy({ dst: this.native(), src: src.native(), stream }); // any layout on one device; memcpy across
      return this;
    }
    // Across devices with a strided side: stage through a contiguous tensor on one side.
    const from = src.isContiguous ? src : src.contiguous(opts);
    try {
      if (this.isContiguous) native.copy({ dst: this.native(), src: from.native(), stream });
      else {
        const tmp = from.to(this.device, opts);
        native.copy({ dst: this.native(), src: tmp.native(), stream });
        tmp.dispose(opts);
      }
    } finally {
      if (from !== src) from.dispose(opts);
    }
    return this;
  }

  // ---- views (no copies) ----

  /** Same data, new shape (contiguous tensors only; -1 infers one dim). */
  view(shape: readonly number[]): Tensor<D> {
    this.check();
    if (!Array.isArray(shape)) fail('E_SHAPE', 'shape', shape === null ? 'null' : typeof shape, 'an array of integers');
    if (!this.isContiguous) fail('E_SHAPE', 'tensor', 'a non-contiguous view', 'a contiguous tensor for view() (use reshape)');
    const sh = [...shape];
    const neg = sh.indexOf(-1);
    if (neg >= 0) {
      const rest = product(sh.filter((_, i) => i !== neg));
      sh[neg] = rest === 0 ? 0 : this.numel / rest;
    }
    checkShape(sh);
    if (product(sh) !== this.numel) fail('E_SHAPE', 'shape', shape, `${this.numel} elements`);
    return new Tensor(this.storage, this.dtype, sh, contiguousStrides(sh), this.offset, false);
  }

  /** view() when contiguous, else a contiguous copy reshaped. */
  reshape(shape: readonly number[]): Tensor<D> {
    return this.isContiguous ? this.view(shape) : this.contiguous().view(shape);
  }

  /** Elements [start, start + length) along `dim`. */
  narrow(dim: number, start: number, length: number): Tensor<D> {
    this.check();
    const d = this.dim(dim);
    if (!Number.isInteger(start) || !Number.isInteger(length)) fail('E_ARG', 'narrow', `start ${String(start)}, length ${String(length)}`, 'integers');
    if (start < 0 || length < 0 || start + length > this.shape[d])
      fail('E_RANGE', 'narrow', `[${start}, ${start + length})`, `a range within [0, ${this.shape[d]}) of dim ${d}`);
    const sh = [...this.shape];
    sh[d] = length;
    return new Tensor(this.storage, this.dtype, sh, this.strides, this.offset + start * this.strides[d], false);
  }

  /** Elements [start, end) along `dim` (end defaults to the size). */
  slice(dim: number, start: number, end?: number): Tensor<D> {
    const d = this.dim(dim);
    if (!Number.isInteger(start) || (end !== undefined && !Number.isInteger(end))) fail('E_ARG', 'slice', `start ${String(start)}, end ${String(end)}`, 'integers');
    return this.narrow(d, start, (end ?? this.shape[d]) - start);
  }

  /** Removes `dim`, keeping index `index`. */
  select(dim: number, index: number): Tensor<D> {
    const d = this.dim(dim);
    const n = this.narrow(d, index, 1);
    const sh = [...n.shape];
    const st = [...n.strides];
    sh.splice(d, 1);
    st.splice(d, 1);
    return new Tensor(this.storage, this.dtype, sh, st, n.offset, false);
  }

  private dim(dim: number): number {
    if (typeof dim !== 'number') fail('E_ARG', 'dim', dim, 'an integer');
    const d = dim < 0 ? dim + this.shape.length : dim;
    if (!Number.isInteger(d) || d < 0 || d >= this.shape.length) fail('E_RANGE', 'dim', dim, `a dimension of a ${this.shape.length}-D tensor`);
    return d;
  }

  // ---- lifetime ----

  /** Frees the memory (stream-ordered on the device). Idempotent; any later use throws E_DISPOSED. */
  dispose(opts?: { stream?: Stream }): void {
    if (this.disposed) return;
    opts = options(opts);
    if (this.owner) this.storage.free(opts.stream);
    this.disposed = true;
    this.desc = undefined;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  private check(): void {
    if (this.isDisposed) throw new NsaError('E_DISPOSED', `tensor [${this.shape.join(', ')}] ${this.dtype}: used after dispose()`);
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}], ${this.device})`;
  }
}

/** Requires `t` to be a live Tensor; returns its native descriptor. */
export function nativeOf(t: unknown, arg: string): NativeTensor {
  if (!(t instanceof Tensor)) fail('E_ARG', arg, t === undefined ? 'undefined' : typeof t, 'a Tensor');
  if (t.isDisposed) throw new NsaError('E_DISPOSED', `${arg}: used after dispose()`);
  return t.native();
}
