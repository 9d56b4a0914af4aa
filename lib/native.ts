/**
 * Loads the addon (see `load` for the order) and types the surface of csrc/binding.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COPY_STRATEGIES, DTYPES, MQA_PRECISIONS, DType, KCACHE_LAYOUTS, KCacheLayout, MAX_DIMS, METADATA_MAX_DSTS, METADATA_MODES, SCALE_FORMATS, TOPK_MAX_K, TOPK_MAX_NEXT_N } from './enums';
import { NsaError } from './errors';

/** A tensor as the native side reads it (csrc/binding/js.cc `NapiArgs::tensor_value`). */
export interface NativeTensor {
  storage: ArrayBuffer | NativeDeviceBuffer;
  byteOffset: number;
  dtype: DType;
  shape: number[];
  strides: number[];
}

export interface NativeDeviceBuffer {
  readonly bytes: number;
  readonly device: number;
  dispose(args?: { stream?: NativeStream }): void;
}

/** A GPU stream object (csrc/binding/js.h NativeStream): no raw handle ever crosses the boundary. */
export interface NativeStream {
  readonly device: number;
  dispose(): void;
  synchronize(): void;
  synchronized(): Promise<void>;
  isCapturing(): boolean;
  waitEvent(event: NativeEvent): void;
  beginCapture(): void;
  endCapture(): NativeGraph;
}

export interface NativeEvent {
  record(stream: NativeStream): void;
  synchronize(): void;
  elapsedMs(end: NativeEvent): number;
  dispose(): void;
}

export interface NativeGraph {
  launch(stream: NativeStream): void;
  dispose(): void;
}

export interface NativeBackend {
  backend: 'cuda' | 'hip' | 'cpu';
  reason: string;
  deviceCount: number;
  driverVersion: number;
  runtimeVersion: number;
  compiledWithGpu: boolean;
}

export interface NativeDeviceInfo {
  index: number;
  name: string;
  computeCapability: string;
  arch: string;
  smCount: number;
  totalMemory: number;
  freeMemory: number;
  l2Bytes: number;
  sharedMemPerBlockOptin: number;
  warpSize: number;
  /** Indices of the devices this one reads and writes directly (NVLink / PCIe peer access). */
  peers: number[];
}

/** The cache argument every cache-reading op takes (csrc/ops/indexer_cache `read_kcache`). */
export interface NativeKCache {
  tensor: NativeTensor;
  pageSize: number;
  layout: KCacheLayout;
  headDim: number;
}

/**
 * The named arguments of one op entry: tensors, numbers, enum names, flags, nested objects and the
 * optional `stream`. Each op's names are declared in its lib/<op>.ts and read in csrc/ops/<op>/<op>.cc.
 */
export interface NativeArgs {
  stream?: NativeStream;
  [name: string]: unknown;
}

export interface NativeMetadataCopyPlan {
  readonly numDsts: number;
  run(args: NativeArgs): number;
  sourceSizes(): { bs: number; rows: number; width: number; s: number; realWidth: number; metaLen: number };
  dispose(): void;
}

export interface NativeConstants {
  dtypes: string[];
  kcacheLayouts: string[];
  scaleFormats: string[];
  metadataModes: string[];
  copyStrategies: string[];
  mqaPrecisions: string[];
  maxDims: number;
  topkMaxK: number;
  topkMaxNextN: number;
  metadataMaxDsts: number;
}

/** The addon's whole surface. Every entry takes one object of named arguments. */
export interface NativeAddon {
  DeviceBuffer: new (args: { bytes: number; device: number; stream?: NativeStream }) => NativeDeviceBuffer;
  Stream: new (args: { device: number }) => NativeStream;
  Event: new (args: { device: number }) => NativeEvent;
  MetadataCopyPlan: new (args: NativeArgs) => NativeMetadataCopyPlan;
  constants: NativeConstants;
  setErrorClass(cls: typeof NsaError): void;
  backend(): NativeBackend;
  devices(): NativeDeviceInfo[];
  defaultStream(args: { device: number }): NativeStream;
  copy(args: { dst: NativeTensor; src: NativeTensor; stream?: NativeStream }): void;
  fillBytes(args: { dst: NativeTensor; value: number; stream?: NativeStream }): void;
  toHostAsync(args: { src: NativeTensor; dst: ArrayBuffer; stream?: NativeStream }): Promise<void>;
  // ops (csrc/binding/ops_binding.cc)
  convert(args: NativeArgs): void;
  checkKCache(args: NativeArgs): void;
  storeK(args: NativeArgs): void;
  gatherK(args: NativeArgs): void;
  pagedMqaLogits(args: NativeArgs): void;
  raggedMqaLogits(args: NativeArgs): void;
  topk(args: NativeArgs): void;
}

/** Where the addon came from, for `nsa-bench info`. */
export let addonPath = '';
/** Why a binary that was present was not used (the ROCm variant on a machine without a HIP runtime). */
export const addonNotes: string[] = [];

/**
 * The order: `NSA_ADDON_PATH`; then the ROCm variant (`build-hip/Release/nsa_kernels.node` for
 * developers, `prebuilds/<platform>-<arch>-rocm/nsa-kernels.node` in a package; that folder name is
 * invisible to node-gyp-build) when it is present and a HIP runtime loads and sees a GPU, or
 * `NSA_ROCM=1` forces it; then node-gyp-build (`build/Release`, then `prebuilds/<platform>-<arch>/`,
 * the CUDA build, which also runs everything on the CPU). Loading never fails for lack of a GPU or a
 * driver: the addon reports backend 'cpu' and why.
 */
function load(): NativeAddon {
  const here = path.join(__dirname, '..');
  // lib/ (ts-jest) and dist/lib/ (compiled) both sit one or two levels under the package root.
  const pkgRoot = fs.existsSync(path.join(here, 'package.json')) ? here : path.join(here, '..');
  let addon: NativeAddon | undefined;
  const explicit = process.env.NSA_ADDON_PATH;
  if (explicit) {
    addonPath = path.resolve(explicit);
    addon = require(addonPath) as NativeAddon;
  } else {
    addon = loadRocm(pkgRoot);
  }
  if (!addon) {
    const nodeGypBuild = require('node-gyp-build') as { (dir: string): NativeAddon; resolve(dir: string): string };
    addonPath = nodeGypBuild.resolve(pkgRoot);
    addon = require(addonPath) as NativeAddon;
  }
  addon.setErrorClass(NsaError);
  checkConstants(addon);
  return addon;
}

/** The addon's enum names and limits must be this file's (a stale prebuild or a one-sided edit fails here). */
function checkConstants(addon: NativeAddon): void {
  const c = addon.constants;
  const want: Record<keyof NativeConstants, unknown> = {
    dtypes: DTYPES,
    kcacheLayouts: KCACHE_LAYOUTS,
    scaleFormats: SCALE_FORMATS,
    metadataModes: METADATA_MODES,
    copyStrategies: COPY_STRATEGIES,
    mqaPrecisions: MQA_PRECISIONS,
    maxDims: MAX_DIMS,
    topkMaxK: TOPK_MAX_K,
    topkMaxNextN: TOPK_MAX_NEXT_N,
    metadataMaxDsts: METADATA_MAX_DSTS,
  };
  for (const key of Object.keys(want) as (keyof NativeConstants)[]) {
    const got = JSON.stringify(c?.[key]);
    if (got !== JSON.stringify(want[key]))
      throw new NsaError('E_UNSUPPORTED', `the native addon (${addonPath}) does not match this package: constants.${key} is ${got}, lib/enums.ts says ${JSON.stringify(want[key])} (rebuild it: npm run build)`);
  }
}

function loadRocm(pkgRoot: string): NativeAddon | undefined {
  const candidates = [
    path.join(pkgRoot, 'build-hip', 'Release', 'nsa_kernels.node'),
    path.join(pkgRoot, 'prebuilds', `${process.platform}-${process.arch}-rocm`, 'nsa-kernels.node'),
  ];
  const file = candidates.find((f) => fs.existsSync(f));
  if (!file) return undefined;
  const forced = process.env.NSA_ROCM === '1';
  // /dev/kfd is the AMD GPU kernel driver: without it (and unforced) the HIP runtime is not even loaded.
  if (!forced && !fs.existsSync('/dev/kfd')) {
    addonNotes.push(`ROCm variant ${file} skipped: no /dev/kfd (no AMD GPU driver); NSA_ROCM=1 forces it`);
    return undefined;
  }
  let addon: NativeAddon;
  try {
    addon = require(file) as NativeAddon;
  } catch (e) {
    if (forced) throw e;
    addonNotes.push(`ROCm variant ${file} skipped: it did not load (${(e as Error).message.split('\n')[0]})`);
    return undefined;
  }
  const b = addon.backend();
  if (!forced && b.backend !== 'hip') {
    addonNotes.push(`ROCm variant ${file} skipped: the HIP runtime loaded but ${b.reason}`);
    return undefined;
  }
  addonPath = file;
  return addon;
}

export const native: NativeAddon = load();
