/**
 * Top-k over logit rows (SPEC §4): int32 [rows, k] positions (relative to each row's start) of the k
 * largest of logits[row, start : start + len]; order unspecified, ties broken arbitrarily. Rows with
 * len <= k get 0..len-1 then -1 without reading logits. With `pageTable` (the transform variant) each
 * index is mapped through page_table_1 of its row (or of its request, with `cuSeqlensQ`); -1 stays -1.
 */
import { fail } from './errors';
import { native } from './native';
import { Stream, streamHandle } from './runtime';
import { nativeOf, Tensor } from './tensor';

export const INDEX_TOPK = 2048;

export interface TopKOptions {
  /** Default 2048; any 1..4096. */
  k?: number;
  /** int32 [rows]: first column of each row's window (default 0). */
  rowStarts?: Tensor<'int32'>;
  /** int32 [rows, W] (or [reqs, W] with cuSeqlensQ): map indices through it. */
  pageTable?: Tensor<'int32'>;
  /** int32 [reqs + 1]: row -> request for pageTable. */
  cuSeqlensQ?: Tensor<'int32'>;
  /** int32 [rows, k] to write into instead of a new tensor. */
  out?: Tensor<'int32'>;
  stream?: Stream;
}

/**
 * logits: float32 [rows, C] (any row stride, unit column stride); lengths: int32 [rows]. Device-side
 * windows past C are clamped (never read out of bounds); host-side ones are refused (E_RANGE).
 */
export function topk(logits: Tensor<'float32'>, lengths: Tensor<'int32'>, opts: TopKOptions = {}): Tensor<'int32'> {
  const k = opts.k ?? INDEX_TOPK;
  if (!Number.isInteger(k)) fail('E_RANGE', 'k', k, 'an integer in [1, 4096]');
  nativeOf(logits, 'logits');
  const out = opts.out ?? Tensor.empty([logits.shape[0] ?? 0, k], { dtype: 'int32', device: logits.device, stream: opts.stream });
  native.topk(
    logits.native(),
    nativeOf(lengths, 'lengths'),
    opts.rowStarts === undefined ? undefined : nativeOf(opts.rowStarts, 'rowStarts'),
    opts.pageTable === undefined ? undefined : nativeOf(opts.pageTable, 'pageTable'),
    opts.cuSeqlensQ === undefined ? undefined : nativeOf(opts.cuSeqlensQ, 'cuSeqlensQ'),
    nativeOf(out, 'out'),
    k,
    streamHandle(opts.stream, logits.deviceIndex),
  );
  return out;
}
