/**
 * Lightning-indexer scores (SPEC §3):
 *   logits[r, pos] = kScale[pos] * sum_h weights[r, h] * relu(sum_d q[b, n, h, d] * k[pos, d]),  r = b*N + n
 * fp8 products, fp32 accumulation (tensor cores on sm_89+). Valid positions are written; the rest of
 * each row is left as it was unless `clean: true` (then -inf), so the top-k bounds its reads by length.
 */
import { native } from './native';
import { IndexerKCache } from './indexer-cache';
import { fail } from './errors';
import { Stream, streamHandle } from './runtime';
import { nativeOf, Tensor } from './tensor';

export interface MqaLogitsOptions {
  /** -inf at every invalid position of each row (default false: left untouched). */
  clean?: boolean;
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
  const maxLen = opts.maxContextLen;
  if (!Number.isInteger(maxLen) || maxLen < 0) fail('E_RANGE', 'maxContextLen', maxLen, 'a non-negative integer');
  nativeOf(q, 'q');
  const rows = (q.shape[0] ?? 0) * (q.shape[1] ?? 0);
  const out = opts.out ?? Tensor.empty([rows, maxLen], { dtype: 'float32', device: q.device, stream: opts.stream });
  native.pagedMqaLogits(q.native(), cache.nativeCache(), nativeOf(weights, 'weights'), nativeOf(contextLens, 'contextLens'), nativeOf(blockTable, 'blockTable'), nativeOf(out, 'out'), maxLen, opts.clean ?? false, streamHandle(opts.stream, q.deviceIndex));
  return out;
}

/**
 * Ragged (prefill): q fp8 [S, H, 128], k fp8 [Skv, 128] + kScale float32 [Skv] (e.g. from gatherK),
 * weights float32 [S, H], ks / ke int32 [S]: row i covers columns [ks[i], ke[i]). Output [S, Skv].
 */
export function raggedMqaLogits(
  q: Tensor<'float8_e4m3fn'>,
  k: Tensor<'float8_e4m3fn'>,
  kScale: Tensor<'float32'>,
  weights: Tensor<'float32'>,
  ks: Tensor<'int32'>,
  ke: Tensor<'int32'>,
  opts: MqaLogitsOptions = {},
): Tensor<'float32'> {
  nativeOf(q, 'q');
  nativeOf(k, 'k');
  const out = opts.out ?? Tensor.empty([q.shape[0] ?? 0, k.shape[0] ?? 0], { dtype: 'float32', device: q.device, stream: opts.stream });
  native.raggedMqaLogits(q.native(), k.native(), nativeOf(kScale, 'kScale'), nativeOf(weights, 'weights'), nativeOf(ks, 'ks'), nativeOf(ke, 'ke'), nativeOf(out, 'out'), opts.clean ?? false, streamHandle(opts.stream, q.deviceIndex));
  return out;
}
