/**
 * Fused decode-metadata copy (SPEC §1): copies the freshly computed attention metadata (source) into
 * the static buffers a captured decode graph reads (destinations), one launch for all fields and all
 * 1..8 destinations. `strategy: 'per-tensor'` is the unfused baseline (one copy per field per
 * destination) kept for A/B measurement.
 */
import { CopyStrategy, MetadataMode } from './enums';
import { fail, NsaError, options } from './errors';
import { native, NativeMetadataCopyPlan, NativeTensor } from './native';
import { nativeStream, Stream } from './runtime';
import { nativeOf, Tensor } from './tensor';

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

export type { CopyStrategy, MetadataMode } from './enums';

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
    if (t !== undefined && t !== null) out[f] = nativeOf(t, `${arg}.${f}`);
  }
  return out;
}

/**
 * A prepared copy: pointers resolved and validated once. `run(sizes)` does no validation walk and one
 * native call (cheap integer checks of the sizes, then one launch), and is legal inside graph capture.
 * The plan keeps its tensors' memory alive until `dispose()`; a run after one of them was disposed is
 * E_DISPOSED.
 */
export class MetadataCopyPlan {
  private plan: NativeMetadataCopyPlan | undefined;
  /** Host tensors have no native disposal flag: the plan checks them here. */
  private readonly tensors: Tensor[];
  readonly mode: MetadataMode;
  /** Sizes read off the source tensors' shapes at prepare. */
  readonly sourceSizes: Readonly<MetadataSizes>;
  readonly numDsts: number;

  constructor(src: MetadataSet, dsts: readonly MetadataSet[], mode: MetadataMode) {
    if (!Array.isArray(dsts)) fail('E_ARG', 'dst', typeof dsts, 'an array of MetadataSet');
    this.plan = new native.MetadataCopyPlan({ src: nativeSet(src, 'src'), dst: dsts.map((d, i) => nativeSet(d, `dst[${i}]`)), mode });
    this.mode = mode;
    this.tensors = [src, ...dsts].flatMap((set) => FIELDS.map((f) => set[f]).filter((t): t is Tensor<'int32'> => t instanceof Tensor));
    this.sourceSizes = Object.freeze(this.plan.sourceSizes());
    this.numDsts = this.plan.numDsts;
  }

  /** Copies with the given sizes (omitted ones from the source shapes); returns the copy launches issued. */
  run(sizes?: Partial<MetadataSizes>, opts?: { stream?: Stream; strategy?: CopyStrategy }): number {
    if (this.plan === undefined) throw new NsaError('E_DISPOSED', 'plan: used after dispose()');
    const z = options(sizes, 'sizes');
    const o = options(opts);
    for (const t of this.tensors) if (t.isDisposed) fail('E_DISPOSED', 'plan', 'a tensor disposed after prepare', 'live tensors');
    return this.plan.run({ sizes: z, strategy: o.strategy, stream: nativeStream(o.stream) });
  }

  /** Releases the plan's hold on its tensors (idempotent; later runs are E_DISPOSED). */
  dispose(): void {
    this.plan?.dispose();
    this.plan = undefined;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Validates once and returns a plan for repeated copies (see MetadataCopyPlan). */
export function prepareMetadataCopy(src: MetadataSet, dsts: MetadataSet | readonly MetadataSet[], opts?: { mode?: MetadataMode }): MetadataCopyPlan {
  return new MetadataCopyPlan(src, Array.isArray(dsts) ? dsts : [dsts as MetadataSet], options(opts).mode ?? 'decode');
}

/**
 * One-shot copy of `src` into one or more destinations (SPEC §1 single / multi / per-tensor).
 * Sizes default to the source shapes. Returns the number of copy launches issued (the plan is
 * disposed before returning).
 */
export function metadataCopy(
  src: MetadataSet,
  dst: MetadataSet | readonly MetadataSet[],
  opts?: { mode?: MetadataMode; sizes?: Partial<MetadataSizes>; strategy?: CopyStrategy; stream?: Stream },
): number {
  const o = options(opts);
  const plan = prepareMetadataCopy(src, dst, o);
  try {
    return plan.run(o.sizes, o);
  } finally {
    plan.dispose();
  }
}
