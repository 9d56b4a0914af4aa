/**
 * Indexer K cache (SPEC §2): fp8 e4m3 K bytes plus one float32 scale per token, in pages of P tokens.
 * The cache tensor is uint8 [numPages, P * (128 + 4)]; the preshuffle layout stores each token's 16
 * consecutive dims as one 16-byte chunk of a 16x16 tile, which the paged MQA kernel reads directly.
 */
import { KCACHE_LAYOUTS, KCacheLayout, ScaleFormat } from './enums';
import { fail, oneOf, options } from './errors';
import { native, NativeKCache } from './native';
import { Device, deviceIndex, deviceName, nativeStream, Stream } from './runtime';
import { nativeOf, Tensor } from './tensor';

export type { KCacheLayout, ScaleFormat } from './enums';

export const INDEXER_HEAD_DIM = 128;

export interface KCacheOptions {
  /** Tokens per page: 16, 32 or 64 (both layouts), 1 (plain only). Default 64. */
  pageSize?: number;
  /** Default 'preshuffle'. */
  layout?: KCacheLayout;
  headDim?: number;
  device?: Device | string;
  stream?: Stream;
}

/** A paged fp8 K cache with its geometry. */
export class IndexerKCache {
  readonly tensor: Tensor<'uint8'>;
  readonly pageSize: number;
  readonly layout: KCacheLayout;
  readonly headDim: number;
  private desc: NativeKCache | undefined;

  /** Wraps an existing uint8 [numPages, pageSize * (headDim + 4)] tensor (checked on first use). */
  constructor(tensor: Tensor<'uint8'>, opts?: { pageSize?: number; layout?: KCacheLayout; headDim?: number }) {
    const o = options(opts);
    if (!(tensor instanceof Tensor)) fail('E_ARG', 'tensor', tensor === null ? 'null' : typeof tensor, 'a uint8 Tensor');
    this.tensor = tensor;
    this.pageSize = o.pageSize ?? 64;
    this.layout = oneOf(o.layout ?? 'preshuffle', 'layout', KCACHE_LAYOUTS);
    this.headDim = o.headDim ?? INDEXER_HEAD_DIM;
    native.checkKCache({ cache: this.nativeCache() }); // the geometry is checked now, not at first use
  }

  /** Allocates numPages pages (contents uninitialized on the device, zero on the host). */
  static alloc(numPages: number, opts?: KCacheOptions): IndexerKCache {
    const o = options(opts);
    const pageSize = o.pageSize ?? 64;
    const headDim = o.headDim ?? INDEXER_HEAD_DIM;
    if (!Number.isSafeInteger(numPages) || numPages < 0) fail('E_RANGE', 'numPages', numPages, 'a non-negative integer');
    if (!Number.isSafeInteger(pageSize) || !Number.isSafeInteger(headDim) || pageSize < 1 || headDim < 1)
      fail('E_ARG', 'pageSize/headDim', `${String(pageSize)}/${String(headDim)}`, 'positive integers');
    const t = Tensor.empty([numPages, pageSize * (headDim + 4)], { dtype: 'uint8', device: deviceName(deviceIndex(o.device ?? 'cpu')), stream: o.stream });
    try {
      return new IndexerKCache(t, { pageSize, layout: o.layout, headDim });
    } catch (e) {
      t.dispose();
      throw e;
    }
  }

  get numPages(): number {
    return this.tensor.shape[0];
  }
  get pageBytes(): number {
    return this.pageSize * (this.headDim + 4);
  }
  get device(): Device {
    return this.tensor.device;
  }

  /** Descriptor for native ops. */
  nativeCache(): NativeKCache {
    const t = nativeOf(this.tensor, 'cache');
    if (this.desc === undefined || this.desc.tensor !== t) this.desc = { tensor: t, pageSize: this.pageSize, layout: this.layout, headDim: this.headDim };
    return this.desc;
  }

  dispose(): void {
    this.tensor.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

function checkCache(cache: unknown): IndexerKCache {
  if (!(cache instanceof IndexerKCache)) fail('E_ARG', 'cache', typeof cache, 'an IndexerKCache');
  return cache;
}

/**
 * Quantizes bf16 K [T, 128] to fp8 with a per-token scale and writes token i to slot slotMapping[i]
 * (page = slot / P, row = slot % P); negative slots are skipped. Default scale format 'ue8m0'
 * (power-of-two scales, what DeepSeek-V3.2 uses). Slots past the cache never write out of bounds:
 * host slots are refused before any write; device slots are skipped by the kernel and, with
 * `checkBounds: true`, reported as E_RANGE (this synchronizes the stream).
 */
export function storeK(
  cache: IndexerKCache,
  k: Tensor<'bfloat16'>,
  slotMapping: Tensor<'int64'>,
  opts?: { scaleFormat?: ScaleFormat; checkBounds?: boolean; stream?: Stream },
): void {
  const c = checkCache(cache);
  const o = options(opts);
  native.storeK({
    cache: c.nativeCache(),
    k: nativeOf(k, 'k'),
    slotMapping: nativeOf(slotMapping, 'slotMapping'),
    scaleFormat: o.scaleFormat,
    checkBounds: o.checkBounds,
    stream: nativeStream(o.stream),
  });
}

export interface GatheredK {
  /** fp8 e4m3 bits [T, 128], row-major (de-shuffled). */
  k: Tensor<'float8_e4m3fn'>;
  /** float32 [T]. */
  scale: Tensor<'float32'>;
}

/**
 * Reads the K of every token of every request back, row-major: token p of request b comes from page
 * blockTable[b, p / P]. T = cuSeqLens[B]; pass `numTokens` to skip reading it from the device (a sync).
 * Device-side bad pages or lengths produce zero rows; `checkBounds: true` reports them as E_RANGE.
 */
export function gatherK(
  cache: IndexerKCache,
  blockTable: Tensor<'int32'>,
  cuSeqLens: Tensor<'int32'>,
  opts?: { numTokens?: number; checkBounds?: boolean; stream?: Stream; out?: GatheredK },
): GatheredK {
  const c = checkCache(cache);
  const o = options(opts);
  nativeOf(cuSeqLens, 'cuSeqLens');
  if (o.out !== undefined) options(o.out, 'out');
  let T = o.out?.k?.shape[0] ?? o.numTokens;
  if (T === undefined) {
    const n = cuSeqLens.numel;
    if (n < 1) fail('E_SHAPE', 'cuSeqLens.shape', cuSeqLens.shape, '[B + 1]');
    T = cuSeqLens.narrow(0, n - 1, 1).toTypedArraySync({ stream: o.stream })[0] as number;
  }
  // int32 cuSeqLens cannot name more tokens than 2^31 - 1: a larger count is refused before allocating.
  if (!Number.isInteger(T) || T < 0 || T > 2 ** 31 - 1) fail('E_RANGE', 'numTokens', T, 'an integer in [0, 2^31)');
  const device = c.device;
  const out = o.out ?? {
    k: Tensor.empty([T, c.headDim], { dtype: 'float8_e4m3fn', device, stream: o.stream }),
    scale: Tensor.empty([T], { dtype: 'float32', device, stream: o.stream }),
  };
  native.gatherK({
    cache: c.nativeCache(),
    blockTable: nativeOf(blockTable, 'blockTable'),
    cuSeqLens: nativeOf(cuSeqLens, 'cuSeqLens'),
    outK: nativeOf(out.k, 'out.k'),
    outScale: nativeOf(out.scale, 'out.scale'),
    checkBounds: o.checkBounds,
    stream: nativeStream(o.stream),
  });
  return out;
}
