/**
 * Fused decode-metadata copy (SPEC §1): copies the freshly computed attention metadata (source) into
 * the static buffers a captured decode graph reads (destinations), one launch for all fields and all
 * 1..8 destinations. `strategy: 'per-tensor'` is the unfused baseline (one copy per field per
 * destination) kept for A/B measurement.
 */
import { fail } from './errors';
import { native, NativeMetadataCopyPlan, NativeTensor } from './native';
import { Stream, streamHandle } from './runtime';
import { Tensor } from './tensor';

/** One metadata set; every tensor int32. Source shapes in brackets, destinations need at least as much. */
export interface MetadataSet {
  /** [bs] */
  cacheSeqlens: Tensor<'int32'>;
  /** [bs+1]; element 0 is never written. */
  cuSeqlensK: Tensor<'int32'>;
  /** Source: page_indices [R, W] dense. Destination: page_table_1 [>=R, ld], row stride ld >= W. */
  pageTable: Tensor<'int32'>;
  /** [S]; TARGET_VERIFY / DRAFT_EXTEND only. */
  seqlensExpanded?: Tensor<'int32'>;
  /** [S] */
  nsaCacheSeqlens: Tensor<'int32'>;
  /** [S+1]; element 0 is never written. */
  nsaCuSeqlensK: Tensor<'int32'>;
  /** Optional [R, Wr] (both sides or neither). */
  realPageTable?: Tensor<'int32'>;
  /** Optional [S+1]. */
  flashmlaNumSplits?: Tensor<'int32'>;
  /** Optional flat [M]. */
  flashmlaMetadata?: Tensor<'int32'>;
}

export type MetadataMode = 'decode' | 'target_verify' | 'draft_extend';
export type CopyStrategy = 'fused' | 'per-tensor';

/** Per-run sizes. DECODE: rows = s = bs. Omitted fields default to the source tensors' shapes. */
export interface MetadataSizes {
  bs: number;
  /** Page-table rows R. */
  rows: number;
  /** Page-table width W (the source page table is dense [R, W]). */
  width: number;
  /** S: entries of the nsa / expanded arrays. */
  s: number;
  /** Real page table width Wr. */
  realWidth: number;
  /** flashmla metadata length M. */
  metaLen: number;
}

const MODES: Record<MetadataMode, number> = { decode: 0, target_verify: 1, draft_extend: 2 };
const STRATEGIES: Record<CopyStrategy, number> = { fused: 0, 'per-tensor': 1 };
const FIELDS = [
  'cacheSeqlens',
  'cuSeqlensK',
  'pageTable',
  'seqlensExpanded',
  'nsaCacheSeqlens',
  'nsaCuSeqlensK',
  'realPageTable',
  'flashmlaNumSplits',
  'flashmlaMetadata',
] as const;

function nativeSet(set: MetadataSet, arg: string): Record<string, NativeTensor | undefined> {
  if (set === null || typeof set !== 'object') fail('E_ARG', arg, String(set), 'a MetadataSet');
  const out: Record<string, NativeTensor | undefined> = {};
  for (const f of FIELDS) {
    const t = set[f];
    if (t === undefined || t === null) continue;
    if (!(t instanceof Tensor)) fail('E_ARG', `${arg}.${f}`, typeof t, 'a Tensor');
    out[f] = t.native();
  }
  return out;
}

function checkMode(mode: unknown): number {
  if (typeof mode !== 'string' || !(mode in MODES)) fail('E_ARG', 'mode', mode, Object.keys(MODES).join(' | '));
  return MODES[mode as MetadataMode];
}
function checkStrategy(strategy: unknown): number {
  if (typeof strategy !== 'string' || !(strategy in STRATEGIES)) fail('E_ARG', 'strategy', strategy, Object.keys(STRATEGIES).join(' | '));
  return STRATEGIES[strategy as CopyStrategy];
}

/**
 * A prepared copy: pointers resolved and validated once. `run(sizes)` does no validation walk and one
 * native call (cheap integer checks of the sizes, then one launch), and is legal inside graph capture.
 */
export class MetadataCopyPlan {
  private readonly plan: NativeMetadataCopyPlan;
  private readonly deviceIndex: number;
  /** Host plans check their tensors in JS (device buffers are checked natively on every run). */
  private readonly hostTensors: Tensor[];
  readonly mode: MetadataMode;
  /** Sizes read off the source tensors' shapes at prepare. */
  readonly sourceSizes: Readonly<MetadataSizes>;

  constructor(src: MetadataSet, dsts: readonly MetadataSet[], mode: MetadataMode) {
    const m = checkMode(mode);
    if (!Array.isArray(dsts)) fail('E_ARG', 'dst', typeof dsts, 'an array of MetadataSet');
    this.plan = new native.MetadataCopyPlan(nativeSet(src, 'src'), dsts.map((d, i) => nativeSet(d, `dst[${i}]`)), m);
    this.mode = mode;
    this.deviceIndex = src.cacheSeqlens.deviceIndex;
    this.hostTensors = this.deviceIndex >= 0 ? [] : [src, ...dsts].flatMap((set) => FIELDS.map((f) => set[f]).filter((t): t is Tensor<'int32'> => t instanceof Tensor));
    this.sourceSizes = Object.freeze(this.plan.sourceSizes());
  }

  get numDsts(): number {
    return this.plan.numDsts;
  }

  /** Copies with the given sizes (omitted ones from the source shapes); returns the launches issued. */
  run(sizes: Partial<MetadataSizes> = {}, opts: { stream?: Stream; strategy?: CopyStrategy } = {}): number {
    for (const t of this.hostTensors) if (t.isDisposed) fail('E_DISPOSED', 'plan', 'a tensor disposed after prepare', 'live tensors');
    const z = this.sourceSizes;
    const bs = sizes.bs ?? z.bs;
    const decode = this.mode === 'decode';
    return this.plan.run(
      bs,
      sizes.rows ?? (decode ? bs : z.rows),
      sizes.width ?? z.width,
      sizes.s ?? (decode ? bs : z.s),
      sizes.realWidth ?? z.realWidth,
      sizes.metaLen ?? z.metaLen,
      opts.strategy === undefined ? 0 : checkStrategy(opts.strategy),
      streamHandle(opts.stream, this.deviceIndex),
    );
  }
}

/** Validates once and returns a plan for repeated copies (see MetadataCopyPlan). */
export function prepareMetadataCopy(src: MetadataSet, dsts: MetadataSet | readonly MetadataSet[], opts: { mode?: MetadataMode } = {}): MetadataCopyPlan {
  return new MetadataCopyPlan(src, Array.isArray(dsts) ? dsts : [dsts as MetadataSet], opts.mode ?? 'decode');
}

/**
 * One-shot copy of `src` into one or more destinations (SPEC §1 single / multi / per-tensor).
 * Sizes default to the source shapes. Returns the number of launches issued.
 */
export function metadataCopy(
  src: MetadataSet,
  dst: MetadataSet | readonly MetadataSet[],
  opts: { mode?: MetadataMode; sizes?: Partial<MetadataSizes>; strategy?: CopyStrategy; stream?: Stream } = {},
): number {
  return prepareMetadataCopy(src, dst, opts).run(opts.sizes, opts);
}
