/**
 * The names every enum crosses the JS <-> native boundary with. The addon exports its own tables
 * (`native.constants`, from the C++ enums' name tables); lib/native.ts compares the two at load, so a
 * disagreement (or a stale prebuilt binary) fails loudly instead of mislabelling data.
 */
export const DTYPES = ['float32', 'bfloat16', 'float8_e4m3fn', 'int32', 'int64', 'uint8'] as const;
export const KCACHE_LAYOUTS = ['plain', 'preshuffle'] as const;
export const SCALE_FORMATS = ['ue8m0', 'fp32'] as const;
export const METADATA_MODES = ['decode', 'target_verify', 'draft_extend'] as const;
export const COPY_STRATEGIES = ['fused', 'per-tensor'] as const;
export const MQA_PRECISIONS = ['exact', 'fast'] as const;
/** Limits shared with the native side (checked at load too). */
export const MAX_DIMS = 8;
export const TOPK_MAX_K = 4096;
export const TOPK_MAX_NEXT_N = 1024;
export const METADATA_MAX_DSTS = 8;

export type DType = (typeof DTYPES)[number];
export type KCacheLayout = (typeof KCACHE_LAYOUTS)[number];
export type ScaleFormat = (typeof SCALE_FORMATS)[number];
export type MetadataMode = (typeof METADATA_MODES)[number];
export type CopyStrategy = (typeof COPY_STRATEGIES)[number];
export type MqaPrecision = (typeof MQA_PRECISIONS)[number];
