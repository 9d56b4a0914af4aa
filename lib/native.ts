/**
 * Loads the addon (see `load` for the order) and types the surface of csrc/binding.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NsaError } from './errors';

/** A tensor as the native side reads it (csrc/binding/js.cc `tensor`). */
export interface NativeTensor {
  s: ArrayBuffer | NativeDeviceBuffer;
  o: number; // byte offset
  d: number; // dtype code
  sh: number[];
  st: number[];
}

export interface NativeDeviceBuffer {
  readonly bytes: number;
  readonly device: number;
  readonly address: number;
  dispose(stream?: number): void;
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
}

export interface NativeMetadataCopyPlan {
  readonly numDsts: number;
  run(bs: number, rows: number, width: number, s: number, realWidth: number, metaLen: number, strategy: number, stream: number): number;
  sourceSizes(): { bs: number; rows: number; width: number; s: number; realWidth: number; metaLen: number };
}

export interface NativeKCache {
  t: NativeTensor;
  pageSize: number;
  layout: number;
  headDim: number;
}

export interface NativeAddon {
  DeviceBuffer: new (bytes: number, device: number, stream?: number) => NativeDeviceBuffer;
  MetadataCopyPlan: new (src: object, dsts: object[], mode: number) => NativeMetadataCopyPlan;
  setErrorClass(cls: typeof NsaError): void;
  backend(): NativeBackend;
  devices(): NativeDeviceInfo[];
  defaultStream(device: number): number;
  streamCreate(device: number): number;
  streamDestroy(stream: number, device: number): void;
  streamSynchronize(stream: number): void;
  streamSynchronizeAsync(stream: number): Promise<void>;
  streamIsCapturing(stream: number): boolean;
  streamWaitEvent(stream: number, event: number): void;
  eventCreate(device: number): number;
  eventDestroy(event: number): void;
  eventRecord(event: number, stream: number): void;
  eventSynchronize(event: number): void;
  eventElapsed(start: number, end: number): number;
  graphBeginCapture(stream: number): void;
  graphEndCapture(stream: number): number;
  graphLaunch(exec: number, stream: number): void;
  graphDestroy(exec: number): void;
  copy(dst: NativeTensor, src: NativeTensor, stream: number): void;
  fillBytes(dst: NativeTensor, value: number, stream: number): void;
  toHostAsync(src: NativeTensor, dst: ArrayBuffer, stream: number): Promise<void>;
  convert(src: NativeTensor, dst: NativeTensor, opts: { intrinsic?: boolean }, stream: number): void;
  checkKCache(cache: NativeKCache): void;
  pagedMqaLogits(q: NativeTensor, cache: NativeKCache, weights: NativeTensor, contextLens: NativeTensor, blockTable: NativeTensor, out: NativeTensor, maxContextLen: number, clean: boolean, stream: number): void;
  raggedMqaLogits(q: NativeTensor, k: NativeTensor, kScale: NativeTensor, weights: NativeTensor, ks: NativeTensor, ke: NativeTensor, out: NativeTensor, clean: boolean, stream: number): void;
  topk(logits: NativeTensor, lengths: NativeTensor, rowStarts: NativeTensor | undefined, pageTable: NativeTensor | undefined, cuSeqlensQ: NativeTensor | undefined, out: NativeTensor, k: number, stream: number): void;
  storeK(cache: NativeKCache, k: NativeTensor, slots: NativeTensor, scaleFormat: number, checkBounds: boolean, stream: number): void;
  gatherK(cache: NativeKCache, blockTable: NativeTensor, cu: NativeTensor, outK: NativeTensor, outScale: NativeTensor, checkBounds: boolean, stream: number): void;
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
  return addon;
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
