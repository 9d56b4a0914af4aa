/**
 * Adaptive attention dispatcher (SPEC §5): per forward batch, dense MHA one-shot for short prefill,
 * MLA with the sparse indexer otherwise, and which indexer work that implies. Pure and synchronous
 * (no device access once the defaults are resolved), cheap enough to call per batch per layer.
 *
 * Unlike the original system, the indexer skip follows the attention decision, not the top-k size:
 * raising the threshold above top-k makes more prefill batches dense and skips their logits too.
 */
import { fail, options } from './errors';
import { devices, gpuAvailable } from './runtime';

export type ForwardMode = 'decode' | 'extend' | 'target_verify' | 'draft_extend' | 'idle';
export type AttentionPath = 'mha_one_shot' | 'mla';
/**
 * store_only: store K, no q / logits / top-k (dense attention reads everything).
 * trivial: store K; every request is shorter than top-k, so the indices are 0..len-1 (-1 padded).
 * paged: paged MQA logits over the K cache + top-k (decode and speculative modes).
 * ragged: gather K + ragged prefill logits + top-k (long prefill on MLA).
 */
export type IndexerWork = 'store_only' | 'trivial' | 'paged' | 'ragged';

export interface ForwardBatch {
  mode: ForwardMode;
  /** Total KV length per request, prefix included. */
  seqLens: ArrayLike<number>;
  /** New tokens per request (extend); defaults to seqLens. */
  extendLens?: ArrayLike<number>;
}

export interface DispatchConfig {
  /** Index top-k (default 2048). */
  topK?: number;
  /** MHA one-shot only when max(seqLens) <= threshold (default = topK). */
  threshold?: number;
  /** MHA one-shot only when sum(seqLens) <= this (default 131072). */
  maxChunkCapacity?: number;
  /** Whether the device has the dense prefill path (default: CUDA sm_90 / sm_100-class GPU). */
  denseSupported?: boolean;
  /** Prefill context parallelism on: always MLA (default false). */
  contextParallel?: boolean;
}

export interface AttentionPlan {
  attention: AttentionPath;
  indexer: IndexerWork;
  /** Why, in decision order. */
  reasons: string[];
  maxSeqLen: number;
  sumSeqLens: number;
  /** Query rows the indexer scores (sum of extendLens for extend, requests otherwise). */
  queryTokens: number;
}

const MODES: readonly ForwardMode[] = ['decode', 'extend', 'target_verify', 'draft_extend', 'idle'];

let denseDefault: boolean | undefined;

/** The dense-path default: a CUDA GPU of compute capability 9.0 (Hopper) or 10.x (Blackwell DC). */
export function defaultDenseSupported(): boolean {
  if (denseDefault === undefined) {
    const d = gpuAvailable() ? devices()[0] : undefined;
    denseDefault = d !== undefined && d.arch.startsWith('sm_') && (d.computeCapability === '9.0' || d.computeCapability.startsWith('10.'));
  }
  return denseDefault;
}

function positiveInt(v: number | undefined, dflt: number, arg: string): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1) fail('E_RANGE', arg, v, 'a positive integer');
  return v;
}

/**
 * Decides the attention path and the indexer work for one forward batch (SPEC §5).
 * - decode / idle / target_verify / draft_extend: MLA + paged indexer.
 * - extend: MHA one-shot iff max(seqLens) <= threshold, sum(seqLens) <= maxChunkCapacity, the dense
 *   path is supported and context parallelism is off; then the indexer only stores K.
 * - extend on MLA: trivial indices when max(seqLens) <= topK, else gather + ragged logits + top-k.
 */
export function planAttention(batch: ForwardBatch, config?: DispatchConfig): AttentionPlan {
  // Validate
  batch = options(batch, 'batch');
  config = options(config, 'config');
  if (!MODES.includes(batch.mode)) fail('E_ARG', 'batch.mode', batch.mode, MODES.join(' | '));
  const topK = positiveInt(config.topK, 2048, 'config.topK');
  const threshold = positiveInt(config.threshold, topK, 'config.threshold');
  const capacity = positiveInt(config.maxChunkCapacity, 131072, 'config.maxChunkCapacity');
  const lens = batch.seqLens;
  const ext = batch.extendLens;
  const isList = (v: unknown) => Array.isArray(v) || ArrayBuffer.isView(v);
  if (!isList(lens)) fail('E_ARG', 'batch.seqLens', typeof lens, 'an array of per-request lengths');
  if (ext !== undefined && !isList(ext)) fail('E_ARG', 'batch.extendLens', typeof ext, 'an array of per-request lengths');
  if (ext !== undefined && ext.length !== lens.length) fail('E_SHAPE', 'batch.extendLens.length', ext.length, `${lens.length} (one per request)`);
  let maxLen = 0, sum = 0, queries = 0;
  for (let i = 0; i < lens.length; i++) {
    const l = lens[i];
    if (!Number.isInteger(l) || l < 0) fail('E_RANGE', `batch.seqLens[${i}]`, l, 'a non-negative integer');
    if (l > maxLen) maxLen = l;
    sum += l;
    if (ext !== undefined) {
      const e = ext[i];
      if (!Number.isInteger(e) || e < 0 || e > l) fail('E_RANGE', `batch.extendLens[${i}]`, e, `an integer in [0, seqLens[${i}] = ${l}]`);
      queries += e;
    }
  }
  if (ext === undefined) queries = batch.mode === 'extend' ? sum : lens.length;

  // Non-extend modes: always MLA with the full indexer
  if (batch.mode !== 'extend') {
    return { attention: 'mla', indexer: 'paged', reasons: [`${batch.mode}: MLA with paged logits + top-k`], maxSeqLen: maxLen, sumSeqLens: sum, queryTokens: queries };
  }

  // Extend: dense MHA one-shot when every condition holds
  const reasons: string[] = [];
  const dense = config.denseSupported ?? defaultDenseSupported();
  let mha = true;
  if (lens.length === 0) reasons.push('empty batch');
  if (maxLen > threshold) {
    mha = false;
    reasons.push(`max seq len ${maxLen} > threshold ${threshold}`);
  }
  if (sum > capacity) {
    mha = false;
    reasons.push(`sum of seq lens ${sum} > chunk capacity ${capacity}`);
  }
  if (!dense) {
    mha = false;
    reasons.push('dense MHA path not supported on this device');
  }
  if (config.contextParallel) {
    mha = false;
    reasons.push('prefill context parallelism is on');
  }
  if (mha) {
    reasons.push(`max seq len ${maxLen} <= threshold ${threshold}: MHA one-shot, indexer stores K only`);
    return { attention: 'mha_one_shot', indexer: 'store_only', reasons, maxSeqLen: maxLen, sumSeqLens: sum, queryTokens: queries };
  }
  if (maxLen <= topK) {
    reasons.push(`max seq len ${maxLen} <= top-k ${topK}: every position is selected, trivial indices`);
    return { attention: 'mla', indexer: 'trivial', reasons, maxSeqLen: maxLen, sumSeqLens: sum, queryTokens: queries };
  }
  reasons.push(`max seq len ${maxLen} > top-k ${topK}: gather + ragged logits + top-k`);
  return { attention: 'mla', indexer: 'ragged', reasons, maxSeqLen: maxLen, sumSeqLens: sum, queryTokens: queries };
}
