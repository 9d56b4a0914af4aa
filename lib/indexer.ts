/**
 * NsaIndexer: one layer's lightning indexer, running what an AttentionPlan names (SPEC §5) on the ops
 * of this package: always store K; `trivial` -> indices 0..len-1 (-1 padded) with no logits; `paged`
 * -> paged MQA logits + top-k (pagedMqaTopk); `ragged` -> gather + ragged logits + top-k. Returns the indices, or null
 * for store_only.
 */
import { AttentionPlan } from './dispatcher';
import { MQA_PRECISIONS, MqaPrecision } from './enums';
import { fail, oneOf, options } from './errors';
import { gatherK, IndexerKCache, ScaleFormat, storeK } from './indexer-cache';
import { pagedMqaLogits, raggedMqaLogits } from './mqa-logits';
import { pagedMqaTopk, PagedMqaTopkOptions } from './paged-mqa-topk';
import { Stream } from './runtime';
import { Tensor } from './tensor';
import { INDEX_TOPK, topk, trivialTopk } from './topk';

export interface IndexerInputs {
  /** New K of this forward: bf16 [T, 128] and its cache slots int64 [T] (negative = skip). */
  k: Tensor<'bfloat16'>;
  slotMapping: Tensor<'int64'>;
  /**
   * Valid key positions per query row, int32 [rows] (trivial / ragged). Paged: leave it out and every
   * row's length follows from contextLens (SPEC §3's causal rule, any next_n; pagedMqaTopk); given, the
   * paged path runs pagedMqaLogits + topk with it.
   */
  lengths?: Tensor<'int32'>;
  /** Paged: q fp8 [B, N, H, 128], weights float32 [B*N, H], contextLens, blockTable, maxContextLen. */
  q?: Tensor<'float8_e4m3fn'>;
  weights?: Tensor<'float32'>;
  contextLens?: Tensor<'int32'>;
  blockTable?: Tensor<'int32'>;
  maxContextLen?: number;
  /** Ragged: q fp8 [S, H, 128] + weights [S, H] (as above), per-request cuSeqLens int32 [B+1] for gather, ks / ke int32 [S]. */
  cuSeqLens?: Tensor<'int32'>;
  ks?: Tensor<'int32'>;
  ke?: Tensor<'int32'>;
  /** Number of gathered tokens (cuSeqLens[B]); read from the device when absent. */
  numKvTokens?: number;
  /**
   * Ragged: the widest row, max(ke - ks). Given, the logits are compressed to [S, maxRowLength] (row i's
   * columns start at ks[i]) instead of [S, numKvTokens]: with several requests in one prefill batch the
   * gathered K holds all of them and each row reads only its own. The indices are the same.
   */
  maxRowLength?: number;
  /**
   * Transform: map indices through page_table_1 ([rows, W], or [reqs, W] with cuSeqlensQ; on the paged
   * path without `lengths`, [B, W]: one row per request).
   */
  pageTable?: Tensor<'int32'>;
  /**
   * Global-slot output instead (what sparse MLA attention consumes): the attention KV cache's block
   * table ([rows, maxBlocks], or [reqs, maxBlocks] with cuSeqlensQ; paged without `lengths`, [B,
   * maxBlocks]) and its page size; index i becomes
   * slotBlockTable[req, i / P] * P + i % P. (Not the indexer cache's `blockTable` above.)
   */
  slotBlockTable?: Tensor<'int32'>;
  slotPageSize?: number;
  cuSeqlensQ?: Tensor<'int32'>;
}

export class NsaIndexer {
  readonly cache: IndexerKCache;
  readonly topK: number;
  /** Top-k rows are the k largest under (value desc, position asc), ascending: identical run to run. */
  readonly deterministic: boolean;
  readonly scaleFormat: ScaleFormat;
  /** SPEC §3's precision of the logits (default 'exact'). */
  readonly precision: MqaPrecision;

  constructor(cache: IndexerKCache, opts?: { topK?: number; scaleFormat?: ScaleFormat; deterministic?: boolean; precision?: MqaPrecision }) {
    if (!(cache instanceof IndexerKCache)) fail('E_ARG', 'cache', typeof cache, 'an IndexerKCache');
    const o = options(opts);
    this.cache = cache;
    this.topK = o.topK ?? INDEX_TOPK;
    this.deterministic = o.deterministic ?? false;
    this.scaleFormat = o.scaleFormat ?? 'ue8m0';
    this.precision = oneOf(o.precision ?? 'exact', 'precision', MQA_PRECISIONS);
  }

  /** Runs the plan's indexer work for this layer; returns int32 [rows, topK] indices or null (store_only). */
  run(plan: AttentionPlan, x: IndexerInputs, opts?: { stream?: Stream }): Tensor<'int32'> | null {
    plan = options(plan, 'plan');
    x = options(x, 'inputs');
    const stream = options(opts).stream;
    storeK(this.cache, x.k, x.slotMapping, { scaleFormat: this.scaleFormat, stream });
    const transform = {
      pageTable: x.pageTable,
      blockTable: x.slotBlockTable,
      pageSize: x.slotPageSize,
      cuSeqlensQ: x.cuSeqlensQ,
      k: this.topK,
      deterministic: this.deterministic,
      stream,
    };
    const need = <T>(v: T | undefined, name: string): T => {
      if (v === undefined) fail('E_ARG', `inputs.${name}`, 'nothing', `a value (needed by the '${plan.indexer}' indexer)`);
      return v;
    };
    switch (plan.indexer) {
      case 'store_only':
        return null;
      case 'trivial': {
        // Every row is shorter than top-k: 0..len-1 without reading any logits.
        return trivialTopk(need(x.lengths, 'lengths'), transform);
      }
      case 'paged': {
        const q = need(x.q, 'q');
        const contextLens = need(x.contextLens, 'contextLens');
        if (x.lengths === undefined && x.cuSeqlensQ === undefined) {
          // Row lengths from contextLens, tables per request: the one-call decode selection.
          const output = pagedOutput(x);
          return pagedMqaTopk(q, this.cache, need(x.weights, 'weights'), contextLens, need(x.blockTable, 'blockTable'), { maxContextLen: need(x.maxContextLen, 'maxContextLen'), k: this.topK, deterministic: this.deterministic, precision: this.precision, stream, ...output });
        }
        const lengths: Tensor<'int32'> = x.lengths ?? (q.shape[1] === 1 && contextLens.shape.length === 1 ? contextLens : need<Tensor<'int32'>>(x.lengths, 'lengths'));
        const logits = pagedMqaLogits(q, this.cache, need(x.weights, 'weights'), contextLens, need(x.blockTable, 'blockTable'), { maxContextLen: need(x.maxContextLen, 'maxContextLen'), precision: this.precision, stream });
        try {
          return topk(logits, lengths, transform);
        } finally {
          logits.dispose({ stream });
        }
      }
      case 'ragged': {
        const g = gatherK(this.cache, need(x.blockTable, 'blockTable'), need(x.cuSeqLens, 'cuSeqLens'), { numTokens: x.numKvTokens, stream });
        const ks = need(x.ks, 'ks');
        const compressed = x.maxRowLength !== undefined;
        const logits = raggedMqaLogits(need(x.q, 'q'), g.k, g.scale, need(x.weights, 'weights'), ks, need(x.ke, 'ke'), { stream, compressed, maxRowLength: x.maxRowLength, precision: this.precision });
        try {
          // Compressed rows start at column 0; dense rows at ks. Either way the indices are relative to ks.
          return topk(logits, need(x.lengths, 'lengths'), compressed ? transform : { ...transform, rowStarts: ks });
        } finally {
          for (const t of [logits, g.k, g.scale]) t.dispose({ stream });
        }
      }
      default:
        return fail('E_ARG', 'plan.indexer', plan.indexer, "'store_only' | 'trivial' | 'paged' | 'ragged'");
    }
  }
}

/** pagedMqaTopk's output options for the indexer's transform inputs (one transform at most). */
function pagedOutput(x: IndexerInputs): Pick<PagedMqaTopkOptions, 'output' | 'pageTable' | 'slotBlockTable' | 'slotPageSize'> {
  if (x.pageTable !== undefined && x.slotBlockTable !== undefined)
    fail('E_ARG', 'inputs.slotBlockTable', 'a tensor beside pageTable', 'one output transform: pageTable or slotBlockTable');
  if (x.pageTable !== undefined) return { output: 'pageTable', pageTable: x.pageTable };
  if (x.slotBlockTable !== undefined) return { output: 'globalSlot', slotBlockTable: x.slotBlockTable, slotPageSize: x.slotPageSize };
  if (x.slotPageSize !== undefined) fail('E_ARG', 'inputs.slotPageSize', x.slotPageSize, 'no slotPageSize without slotBlockTable');
  return { output: 'positions' };
}

/**
 * Finds the prefill length where dense MHA stops being faster than MLA + sparse indexing, from the
 * caller's own timings: `measure(len)` runs their MHA and MLA attention at that length and returns
 * both times. Scans powers of two from `minLen` to `maxLen`, then bisects the first bracket where MHA
 * loses to `granularity` tokens. Use the result as DispatchConfig.threshold.
 */
export async function calibrateThreshold(
  measure: (len: number) => Promise<{ mhaUs: number; mlaUs: number }>,
  opts: { minLen?: number; maxLen?: number; granularity?: number } = {},
): Promise<{ threshold: number; samples: { len: number; mhaUs: number; mlaUs: number }[] }> {
  const minLen = opts.minLen ?? 256, maxLen = opts.maxLen ?? 32768, gran = opts.granularity ?? 64;
  if (!(Number.isInteger(minLen) && Number.isInteger(maxLen) && minLen >= 1 && maxLen >= minLen)) fail('E_RANGE', 'minLen/maxLen', `${minLen}/${maxLen}`, '1 <= minLen <= maxLen integers');
  const samples: { len: number; mhaUs: number; mlaUs: number }[] = [];
  const mhaWins = async (len: number) => {
    const t = await measure(len);
    samples.push({ len, ...t });
    return t.mhaUs <= t.mlaUs;
  };
  if (!(await mhaWins(minLen))) return { threshold: minLen - 1, samples };
  let lo = minLen, hi = -1;
  for (let len = minLen * 2; len <= maxLen; len *= 2) {
    if (await mhaWins(len)) lo = len;
    else {
      hi = len;
      break;
    }
  }
  if (hi < 0) return { threshold: lo, samples }; // MHA wins everywhere tried
  while (hi - lo > gran) {
    const mid = Math.round((lo + hi) / 2 / gran) * gran;
    if (mid <= lo || mid >= hi) break;
    if (await mhaWins(mid)) lo = mid;
    else hi = mid;
  }
  return { threshold: lo, samples };
}
