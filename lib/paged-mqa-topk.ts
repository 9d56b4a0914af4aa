/**
 * The decode selection in one call: the paged MQA logits of every query row (SPEC §3a), then the top-k
 * of each row over its valid positions (SPEC §4). Every row's length comes from contextLens by the
 * causal rule of SPEC §3 (no lengths tensor to build for next_n > 1), and the indices come out as
 * positions, through a page table, or as global KV slots. It runs the two kernels back to back on the
 * stream (the logits of a decode batch, ~2 MB at B = 64 x 8192, stay in L2 between them); on sm_90 the
 * top-k's CTAs are placed during the logits kernel's tail and read their rows' lengths before waiting
 * for it (contextLens is the logits kernel's input, never its output). The two-op path (pagedMqaLogits +
 * topk) stays for A/B. Every argument is checked before the first launch.
 */
import { fail, oneOf, options } from './errors';
import { IndexerKCache } from './indexer-cache';
import { pagedMqaLogits } from './mqa-logits';
import { Stream } from './runtime';
import { nativeOf, Tensor } from './tensor';
import { checkedK, topk, topkAfterLogits, TopKOptions } from './topk';
import { MqaPrecision } from './enums';

export type PagedMqaTopkOutput = 'positions' | 'pageTable' | 'globalSlot';
const OUTPUTS: readonly PagedMqaTopkOutput[] = ['positions', 'pageTable', 'globalSlot'];

export interface PagedMqaTopkOptions {
  /** Columns of the logits (as pagedMqaLogits): positions at or past it are never selected. */
  maxContextLen: number;
  /** Default 2048; any 1..4096. */
  k?: number;
  /** The k largest under (value desc, position asc), ascending: identical run to run and CPU == GPU. */
  deterministic?: boolean;
  /**
   * 'positions' (default); 'pageTable': index i of request b becomes pageTable[b, i]; 'globalSlot':
   * slotBlockTable[b, i / P] * P + i % P with P = slotPageSize — by default the indexer's own
   * blockTable and page size (what sparse MLA attention consumes when its KV cache shares the pages).
   */
  output?: PagedMqaTopkOutput;
  /** int32 [B, W] with output 'pageTable'. */
  pageTable?: Tensor<'int32'>;
  /** With output 'globalSlot': the attention KV cache's block table int32 [B, maxBlocks] and page size. */
  slotBlockTable?: Tensor<'int32'>;
  slotPageSize?: number;
  /** SPEC §3's precision of the logits (pagedMqaLogits' `precision`; default 'exact'). */
  precision?: MqaPrecision;
  /** float32 [B*N, >= maxContextLen]: keep the logits there (default: a scratch freed on the stream). */
  logitsOut?: Tensor<'float32'>;
  /** int32 [B*N, k] to write the indices into. */
  out?: Tensor<'int32'>;
  stream?: Stream;
}

/**
 * q fp8 [B, N, H, 128], weights float32 [B*N, H], contextLens int32 [B] or [B, N], blockTable int32
 * [B, maxBlocks] (as pagedMqaLogits). Returns int32 [B*N, k]: row b*N + n holds the top-k positions of
 * query token n of request b (-1 past a short row's length), mapped as `output` says.
 */
export function pagedMqaTopk(
  q: Tensor<'float8_e4m3fn'>,
  cache: IndexerKCache,
  weights: Tensor<'float32'>,
  contextLens: Tensor<'int32'>,
  blockTable: Tensor<'int32'>,
  opts: PagedMqaTopkOptions,
): Tensor<'int32'> {
  if (!(cache instanceof IndexerKCache)) fail('E_ARG', 'cache', typeof cache, 'an IndexerKCache');
  const o = options(opts);
  nativeOf(q, 'q'); // a Tensor before its shape is read
  const B = q.shape[0] ?? 0, N = q.shape[1] ?? 0;
  const select = selection(o, B, N, blockTable, cache.pageSize);
  checkOut(o.out, B * N, select.k!, q);
  checkHostLengths(contextLens);
  const logits = pagedMqaLogits(q, cache, weights, contextLens, blockTable, { maxContextLen: o.maxContextLen, precision: o.precision, out: o.logitsOut, stream: o.stream });
  try {
    // The top-k may read contextLens ahead of its wait only right behind a logits kernel that ran (with
    // maxContextLen 0 the logits op launches nothing, and the kernel ahead could be one writing them).
    const selectTopk = o.maxContextLen > 0 ? topkAfterLogits : topk;
    return selectTopk(logits, contextLens, { ...select, nextN: N, out: o.out, stream: o.stream });
  } finally {
    if (o.logitsOut === undefined) logits.dispose({ stream: o.stream });
  }
}

/** The top-k options of the call, checked as topk would check them (so nothing fails after the logits launch). */
function selection(o: PagedMqaTopkOptions, B: number, N: number, blockTable: Tensor<'int32'>, cachePageSize: number): TopKOptions {
  const k = checkedK(o.k);
  if (!Number.isInteger(N) || N < 1) fail('E_SHAPE', 'q.shape', `[${B}, ${N}, ...]`, '[B, N >= 1, H, 128]');
  const output = oneOf(o.output ?? 'positions', 'output', OUTPUTS);
  const unused = (name: 'pageTable' | 'slotBlockTable' | 'slotPageSize', want: PagedMqaTopkOutput) => {
    if (o[name] !== undefined && output !== want) fail('E_ARG', name, 'a value', `none unless output is '${want}'`);
  };
  unused('pageTable', 'pageTable');
  unused('slotBlockTable', 'globalSlot');
  unused('slotPageSize', 'globalSlot');
  const base: TopKOptions = { k, deterministic: o.deterministic };
  if (output === 'pageTable') {
    if (o.pageTable === undefined) fail('E_ARG', 'pageTable', 'nothing', "int32 [B, W] (output 'pageTable')");
    checkTable(o.pageTable, 'pageTable', B);
    return { ...base, pageTable: o.pageTable };
  }
  if (output === 'globalSlot') {
    const table = o.slotBlockTable ?? blockTable;
    const pageSize = o.slotPageSize ?? (o.slotBlockTable === undefined ? cachePageSize : undefined);
    if (pageSize === undefined) fail('E_ARG', 'slotPageSize', 'nothing', 'the page size of slotBlockTable');
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 2 ** 20 || (pageSize & (pageSize - 1)) !== 0)
      fail('E_RANGE', 'slotPageSize', pageSize, 'a power of two in [1, 2^20]');
    checkTable(table, o.slotBlockTable === undefined ? 'blockTable' : 'slotBlockTable', B);
    return { ...base, blockTable: table, pageSize };
  }
  return base;
}

/** int32 [B, W] with unit column stride, on q's device (topk's own check, run before any launch). */
function checkTable(t: Tensor<'int32'>, name: string, B: number): void {
  if (!(t instanceof Tensor)) fail('E_ARG', name, typeof t, 'a Tensor');
  if (t.dtype !== 'int32') fail('E_DTYPE', name, t.dtype, 'int32');
  if (t.shape.length !== 2 || t.shape[0] !== B) fail('E_SHAPE', `${name}.shape`, `[${t.shape.join(', ')}]`, `[${B}, W] (one row per request)`);
  if (t.shape[1] > 1 && t.strides[1] !== 1) fail('E_SHAPE', `${name}.strides[1]`, t.strides[1], '1');
}

function checkOut(out: Tensor<'int32'> | undefined, rows: number, k: number, q: Tensor): void {
  if (out === undefined) return;
  if (!(out instanceof Tensor)) fail('E_ARG', 'out', typeof out, 'a Tensor');
  if (out.dtype !== 'int32') fail('E_DTYPE', 'out', out.dtype, 'int32');
  if (out.shape.length !== 2 || out.shape[0] !== rows || out.shape[1] !== k) fail('E_SHAPE', 'out.shape', `[${out.shape.join(', ')}]`, `[${rows}, ${k}]`);
  if (out.shape[1] > 1 && (out.strides[1] !== 1 || (out.shape[0] > 1 && out.strides[0] !== k))) fail('E_SHAPE', 'out.strides', `[${out.strides.join(', ')}]`, 'contiguous');
  if (out.device !== q.device) fail('E_DEVICE', 'out', out.device, q.device);
}

/** Negative host contextLens: the logits op reads them as empty rows, topk refuses them — after the logits ran. */
function checkHostLengths(contextLens: Tensor<'int32'>): void {
  if (!(contextLens instanceof Tensor) || contextLens.device !== 'cpu' || contextLens.dtype !== 'int32' || !contextLens.isContiguous) return;
  const lens = contextLens.hostView();
  for (let i = 0; i < lens.length; i++) if (lens[i] < 0) fail('E_RANGE', `contextLens[${i}]`, lens[i], 'a non-negative length');
}
