/**
 * Top-k over logit rows (SPEC §4): int32 [rows, k] positions (relative to each row's start) of the k
 * largest of logits[row, start : start + len]; order unspecified, ties broken arbitrarily unless
 * `deterministic`. Rows with len <= k get 0..len-1 then -1 without reading logits. With `pageTable`
 * each index is mapped through page_table_1 of its row (or of its request, with `cuSeqlensQ`); with
 * `blockTable` + `pageSize` it becomes a global KV slot; -1 stays -1.
 */
import { TOPK_MAX_K, TOPK_MAX_NEXT_N } from './enums';
import { fail, options } from './errors';
import { native } from './native';
import { nativeStream, Stream } from './runtime';
import { nativeOf, Tensor } from './tensor';

export const INDEX_TOPK = 2048;

export interface TopKOptions {
  /** Default 2048; any 1..4096. */
  k?: number;
  /** int32 [rows]: first column of each row's window (default 0). */
  rowStarts?: Tensor<'int32'>;
  /** int32 [rows, W] (or [reqs, W] with cuSeqlensQ): map indices through it. */
  pageTable?: Tensor<'int32'>;
  /**
   * Global-slot output (what sparse MLA kernels such as FlashMLA consume): int32 [rows, maxBlocks] (or
   * [reqs, maxBlocks] with cuSeqlensQ) with `pageSize`: index i becomes blockTable[req, i / P] * P + i % P.
   */
  blockTable?: Tensor<'int32'>;
  /** The block table's page size P (a power of two); required with blockTable. */
  pageSize?: number;
  /** int32 [reqs + 1]: row -> request for pageTable / blockTable. */
  cuSeqlensQ?: Tensor<'int32'>;
  /**
   * Rows come in requests of nextN consecutive query rows (the paged logits of next_n tokens), and
   * pageTable / blockTable have one row per request. `lengths` is then either per request, int32
   * [rows / nextN]: row b * nextN + n has length lengths[b] - nextN + n + 1 (at least 0), the causal
   * rule of SPEC §3; or per row, int32 [rows / nextN, nextN] — the paged logits' 1-D or 2-D contextLens
   * as they are. Default 1 (lengths per row); not with cuSeqlensQ.
   */
  nextN?: number;
  /**
   * The k largest under (value desc, position asc), written in ascending position order: the same
   * output on every run and on every backend. Default false (order and tie choice unspecified).
   */
  deterministic?: boolean;
  /** int32 [rows, k] to write into instead of a new tensor. */
  out?: Tensor<'int32'>;
  stream?: Stream;
}

/**
 * logits: float32 [rows, C] (any row stride, unit column stride); lengths: int32 [rows]. Device-side
 * windows past C are clamped (never read out of bounds); host-side ones are refused (E_RANGE).
 */
export function topk(logits: Tensor<'float32'>, lengths: Tensor<'int32'>, opts?: TopKOptions): Tensor<'int32'> {
  nativeOf(logits, 'logits');
  return select(logits, lengths, options(opts));
}

/**
 * topk() right after the paged logits kernel that wrote `logits` on the same stream, with lengths (and
 * tables) that kernel only reads (pagedMqaTopk; not exported from the package): on the GPU each row's
 * length is read before the wait for that kernel (csrc/ops/topk/topk.h, window_before_wait).
 */
export function topkAfterLogits(logits: Tensor<'float32'>, lengths: Tensor<'int32'>, opts: TopKOptions): Tensor<'int32'> {
  nativeOf(logits, 'logits');
  return select(logits, lengths, options(opts), true);
}

/**
 * The trivial selection (SPEC §5, extend on MLA with every row <= k): row r gets 0..len-1 then -1,
 * through the same transforms as topk(), with no logits at all. A row longer than k gets its first k
 * positions.
 */
export function trivialTopk(lengths: Tensor<'int32'>, opts?: Omit<TopKOptions, 'rowStarts'>): Tensor<'int32'> {
  return select(undefined, lengths, options(opts));
}

function select(logits: Tensor<'float32'> | undefined, lengths: Tensor<'int32'>, o: TopKOptions, windowBeforeWait = false): Tensor<'int32'> {
  // Checked before the output is allocated (the native side checks it again with everything else).
  const k = checkedK(o.k);
  nativeOf(lengths, 'lengths');
  const nextN = o.nextN ?? 1;
  if (!Number.isInteger(nextN) || nextN < 1 || nextN > TOPK_MAX_NEXT_N) fail('E_RANGE', 'nextN', nextN, `an integer in [1, ${TOPK_MAX_NEXT_N}]`);
  const rows = logits?.shape[0] ?? (lengths.shape[0] ?? 0) * nextN;
  const out = o.out ?? Tensor.empty([rows, k], { dtype: 'int32', device: lengths.device, stream: o.stream });
  native.topk({
    logits: logits?.native(),
    lengths: lengths.native(),
    rowStarts: optionalNative(o.rowStarts, 'rowStarts'),
    pageTable: optionalNative(o.pageTable, 'pageTable'),
    blockTable: optionalNative(o.blockTable, 'blockTable'),
    pageSize: o.pageSize,
    cuSeqlensQ: optionalNative(o.cuSeqlensQ, 'cuSeqlensQ'),
    nextN,
    out: nativeOf(out, 'out'),
    k,
    deterministic: o.deterministic,
    windowBeforeWait,
    stream: nativeStream(o.stream),
  });
  return out;
}

/** The top-k size of an options object: default INDEX_TOPK, else an integer in [1, TOPK_MAX_K] (E_RANGE). */
export function checkedK(k: number | undefined): number {
  const v = k ?? INDEX_TOPK;
  if (!Number.isInteger(v) || v < 1 || v > TOPK_MAX_K) fail('E_RANGE', 'k', v, `an integer in [1, ${TOPK_MAX_K}]`);
  return v;
}

function optionalNative(t: Tensor | undefined, arg: string) {
  return t === undefined ? undefined : nativeOf(t, arg);
}
