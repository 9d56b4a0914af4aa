/**
 * Indexer K cache (SPEC §2): fp8 e4m3 K bytes plus one float32 scale per token, in pages of P tokens.
 * The cache tensor is uint8 [numPages, P * (128 + 4)]; the preshuffle layout stores each token's 16
 * consecutive dims as one 16-byte chunk of a 16x16 tile, which the paged MQA kernel reads directly.
 */
import { fail } from './errors';
import { native, NativeKCache } from './native';
import { Device, deviceIndex, deviceName, Stream, streamHandle } from './runtime';
import { nativeOf, Tensor } from './tensor';

export type KCacheLayout = 'plain' | 'preshuffle';
export type ScaleFormat = 'ue8m0' | 'fp32';

export const INDEXER_HEAD_DIM = 128;
const LAYOUTS: Record<KCacheLayout, number> = { plain: 0, preshuffle: 1 };

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
  constructor(tensor: Tensor<'uint8'>, opts: { pageSize?: number; layout?: KCacheLayout; headDim?: number } = {}) {
    this.tensor = tensor;
    this.pageSize = opts.pageSize ?? 64;
    this.layout = opts.layout ?? 'preshuffle';
    if (!(this.layout in LAYOUTS)) fail('E_ARG', 'layout', this.layout, "'plain' | 'preshuffle'");
    this.headDim = opts.headDim ?? INDEXER_HEAD_DIM;
  }

  /** Allocates numPages pages (contents uninitialized on the device, zero on the host). */
  static alloc(numPages: number, opts: KCacheOptions = {}): IndexerKCache {
    const pageSize = opts.pageSize ?? 64;
    const headDim = opts.headDim ?? INDEXER_HEAD_DIM;
    if (!Number.isInteger(numPages) || numPages < 0) fail('E_RANGE', 'numPages', numPages, 'a non-negative integer');
    const t = Tensor.empty([numPages, pageSize * (headDim + 4)], { dtype: 'uint8', device: deviceName(deviceIndex(opts.device ?? 'cpu')), stream: opts.stream });
    const cache = new IndexerKCache(t, { pageSize, layout: opts.layout, headDim });
    try {
      native.checkKCache(cache.nativeCache()); // validate the geometry now, not at first use
    } catch (e) {
      t.dispose();
      throw e;
    }
    return cache;
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
    if (this.desc === undefined || this.desc.t !== t) this.desc = { t, pageSize: this.pageSize, layout: LAYOUTS[this.layout], headDim: this.headDim };
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
  opts: { scaleFormat?: ScaleFormat; checkBounds?: boolean; stream?: Stream } = {},
): void {
  const c = checkCache(cache);
  const fmt = opts.scaleFormat ?? 'ue8m0';
  if (fmt !== 'ue8m0' && fmt !== 'fp32') fail('E_ARG', 'scaleFormat', fmt, "'ue8m0' | 'fp32'");
  native.storeK(c.nativeCache(), nativeOf(k, 'k'), nativeOf(slotMapping, 'slotMapping'), fmt === 'ue8m0' ? 0 : 1, opts.checkBounds ?? false, streamHandle(opts.stream, c.tensor.deviceIndex));
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
  opts: { numTokens?: number; checkBounds?: boolean; stream?: Stream; out?: GatheredK } = {},
): GatheredK {
  const c = checkCache(cache);
  nativeOf(cuSeqLens, 'cuSeqLens');
  let T = opts.out?.k.shape[0] ?? opts.numTokens;
  if (T === undefined) {
    const n = cuSeqLens.numel;
    if (n < 1) fail('E_SHAPE', 'cuSeqLens.shape', cuSeqLens.shape, '[B + 1]');
    T = cuSeqLens.narrow(0, n - 1, 1).toTypedArraySync({ stream: opts.stream })[0] as number;
  }
  if (!Number.isInteger(T) || T < 0) fail('E_RANGE', 'numTokens', T, 'a non-negative integer');
  const device = c.device;
  const out = opts.out ?? {
    k: Tensor.empty([T, c.headDim], { dtype: 'float8_e4m3fn', device, stream: opts.stream }),
    scale: Tensor.empty([T], { dtype: 'float32', device, stream: opts.stream }),
  };
  native.gatherK(c.nativeCache(), nativeOf(blockTable, 'blockTable'), nativeOf(cuSeqLens, 'cuSeqLens'), nativeOf(out.k, 'out.k'), nativeOf(out.scale, 'out.scale'), opts.checkBounds ?? false, streamHandle(opts.stream, c.tensor.deviceIndex));
  return out;
}
