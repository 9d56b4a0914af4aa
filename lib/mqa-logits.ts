/**
 * Lightning-indexer scores (SPEC §3):
 *   logits[r, pos] = kScale[pos] * sum_h weights[r, h] * relu(sum_d q[b, n, h, d] * k[pos, d]),  r = b*N + n
 * fp8 products, fp32 accumulation (f16 tensor cores on exactly converted fp8 where the GPU has them:
 * mma.sync on sm_80+, wgmma in the sm_90a paged kernel). Valid positions are written; the rest of
 * each row is left as it was unless `clean: true` (then -inf), so the top-k bounds its reads by length.
 */
import { MqaPrecision } from './enums';
export type { MqaPrecision } from './enums';
import { native } from './native';
import { IndexerKCache } from './indexer-cache';
import { fail, options } from './errors';
import { nativeStream, Stream } from './runtime';
import { nativeOf, Tensor } from './tensor';

export interface MqaLogitsOptions {
  /** -inf at every invalid position of each row (default false: left untouched). */
  clean?: boolean;
  /**
   * SPEC §3: 'exact' (default) accumulates the exact fp8 products in fp32; 'fast' allows the GPU's
   * native fp8 tensor-core accumulation (each head's dot product within 2^-10 of sum |q*k|): the sm_90a
   * kernels (paged P >= 16, ragged) run fp8 wgmma; the CPU and the portable kernel compute 'fast' as 'exact'.
   */
  precision?: MqaPrecision;
  /** float32 [rows, >= columns] to write into (row stride free, unit column stride). */
  out?: Tensor<'float32'>;
  stream?: Stream;
}

/**
 * Paged (decode): q fp8 [B, N, H, 128] (N = next_n 1..4, H = 32 | 64), weights float32 [B*N, H],
 * contextLens int32 [B] (row (b, n) sees pos <= len - N + n) or [B, N] (pos < cl[b, n]), blockTable
 * int32 [B, maxBlocks] (K of pos in page blockTable[b, pos / P]). Output float32 [B*N, maxContextLen].
 * Block-table entries past a row's last needed page are never read; device-side entries outside the
 * cache are read as zeros (host-side ones are refused).
 */
export function pagedMqaLogits(
  q: Tensor<'float8_e4m3fn'>,
  cache: IndexerKCache,
  weights: Tensor<'float32'>,
  contextLens: Tensor<'int32'>,
  blockTable: Tensor<'int32'>,
  opts: MqaLogitsOptions & { maxContextLen: number },
): Tensor<'float32'> {
  if (!(cache instanceof IndexerKCache)) fail('E_ARG', 'cache', typeof cache, 'an IndexerKCache');
  const o = options(opts);
  const maxLen = o.maxContextLen;
  if (!Number.isSafeInteger(maxLen) || maxLen < 0) fail('E_RANGE', 'maxContextLen', maxLen, 'a non-negative integer');
  nativeOf(q, 'q');
  const rows = (q.shape[0] ?? 0) * (q.shape[1] ?? 0);
  const out = o.out ?? Tensor.empty([rows, maxLen], { dtype: 'float32', device: q.device, stream: o.stream });
  native.pagedMqaLogits({
    q: q.native(),
    cache: cache.nativeCache(),
    weights: nativeOf(weights, 'weights'),
    contextLens: nativeOf(contextLens, 'contextLens'),
    blockTable: nativeOf(blockTable, 'blockTable'),
    out: nativeOf(out, 'out'),
    maxContextLen: maxLen,
    clean: o.clean,
    precision: o.precision,
    stream: nativeStream(o.stream),
  });
  return out;
}

export interface RaggedMqaLogitsOptions extends MqaLogitsOptions {
  /**
   * Output [S, W] with column j of row i = position ks[i] + j (default false: [S, Skv], column =
   * position). At S = 8192 queries after a 65536-token prefix the dense output is 2.4 GB; compressed,
   * W = max(ke - ks). topk reads it with lengths = ke - ks and no rowStarts, and returns the same
   * indices (relative to ks) as the dense output with rowStarts = ks.
   */
  compressed?: boolean;
  /**
   * Compressed width W when no `out` is given (a row longer than W is refused on the CPU and computed up
   * to W on the GPU). Without it W = max(ke - ks), read from ks / ke (for device tensors a synchronizing
   * download).
   */
  maxRowLength?: number;
}

/**
 * Ragged (prefill): q fp8 [S, H, 128], k fp8 [Skv, 128] + kScale float32 [Skv] (e.g. from gatherK),
 * weights float32 [S, H], ks / ke int32 [S]: row i covers positions [ks[i], ke[i]). Output [S, Skv]
 * (column = position), or with `compressed` [S, W] (column j = position ks[i] + j).
 */
export function raggedMqaLogits(
  q: Tensor<'float8_e4m3fn'>,
  k: Tensor<'float8_e4m3fn'>,
  kScale: Tensor<'float32'>,
  weights: Tensor<'float32'>,
  ks: Tensor<'int32'>,
  ke: Tensor<'int32'>,
  opts?: RaggedMqaLogitsOptions,
): Tensor<'float32'> {
  const o = options(opts);
  nativeOf(q, 'q');
  nativeOf(k, 'k');
  const compressed = o.compressed ?? false; // (checked natively: a boolean)
  if (o.out !== undefined) nativeOf(o.out, 'out'); // a Tensor before its shape is read
  const width = (): number => {
    if (o.maxRowLength !== undefined) {
      if (!Number.isSafeInteger(o.maxRowLength) || o.maxRowLength < 1) fail('E_RANGE', 'maxRowLength', o.maxRowLength, 'a positive integer');
      return o.maxRowLength;
    }
    nativeOf(ks, 'ks');
    nativeOf(ke, 'ke');
    const s = ks.toTypedArraySync(), e = ke.toTypedArraySync();
    let w = 1;
    for (let i = 0; i < Math.min(s.length, e.length); i++) w = Math.max(w, e[i] - s[i]);
    return w;
  };
  const columns = compressed === true ? (o.out?.shape[1] ?? width()) : (k.shape[0] ?? 0);
  const out = o.out ?? Tensor.empty([q.shape[0] ?? 0, columns], { dtype: 'float32', device: q.device, stream: o.stream });
  native.raggedMqaLogits({
    q: q.native(),
    k: k.native(),
    kScale: nativeOf(kScale, 'kScale'),
    weights: nativeOf(weights, 'weights'),
    ks: nativeOf(ks, 'ks'),
    ke: nativeOf(ke, 'ke'),
    out: nativeOf(out, 'out'),
    clean: o.clean,
    precision: o.precision,
    compressed,
    stream: nativeStream(o.stream),
  });
  return out;
}
