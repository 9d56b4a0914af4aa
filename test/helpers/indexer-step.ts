/**
 * One decode step of the indexer from a seed, on any device: store K into a page-64 cache, paged MQA
 * logits (clean), deterministic top-k. The worker-thread and multi-device tests run it on a device in a
 * worker and check the result against the CPU (checkStep) in the main thread.
 */
import { f32ToBf16, IndexerKCache, pagedMqaLogits, storeK, Tensor, topk, type Device } from '../../lib';
import { randFp8, Rng } from './index';

const D = 128, P = 64, H = 64, B = 4, K = 512, MAX_LEN = 2048;

export interface StepResult {
  seed: number;
  device: Device;
  lens: number[];
  cache: Uint8Array;
  logits: Float32Array;
  idx: Int32Array;
}

export function indexerStep(device: Device, seed: number): StepResult {
  const rng = new Rng(seed);
  const maxBlocks = MAX_LEN / P, numPages = B * maxBlocks + 3;
  const lens = Array.from({ length: B }, () => rng.int(1, MAX_LEN + 1));
  const pages = rng.shuffle(Array.from({ length: numPages }, (_, i) => i)).slice(0, B * maxBlocks);
  const slots: bigint[] = [];
  for (let b = 0; b < B; b++) for (let p = 0; p < lens[b]; p++) slots.push(BigInt(pages[b * maxBlocks + Math.floor(p / P)] * P + (p % P)));
  const T = slots.length;
  const kHost = Uint16Array.from({ length: T * D }, () => f32ToBf16(rng.normal()));
  const qHost = Uint8Array.from({ length: B * H * D }, () => rng.int(0, 0x7f));
  const wHost = Float32Array.from({ length: B * H }, () => Math.abs(rng.normal())); // >= 0: |sum| = sum of |terms|
  const initHost = randFp8(rng, numPages * P * (D + 4));
  const owned: Tensor[] = [];
  const on = <T extends Tensor>(t: T): T => (owned.push(t), t);
  try {
    const cache = new IndexerKCache(on(Tensor.from(initHost, [numPages, P * (D + 4)], { dtype: 'uint8', device })), { pageSize: P });
    storeK(cache, on(Tensor.from(kHost, [T, D], { dtype: 'bfloat16', device })), on(Tensor.from(slots, [T], { dtype: 'int64', device })));
    const cl = on(Tensor.from(Int32Array.from(lens), [B], { device }));
    const logits = on(
      pagedMqaLogits(
        on(Tensor.from(qHost, [B, 1, H, D], { dtype: 'float8_e4m3fn', device })),
        cache,
        on(Tensor.from(wHost, [B, H], { device })),
        cl,
        on(Tensor.from(Int32Array.from(pages), [B, maxBlocks], { device })),
        { maxContextLen: MAX_LEN, clean: true },
      ),
    );
    const idx = on(topk(logits, cl, { k: K, deterministic: true }));
    const cacheBytes = cache.tensor.toTypedArraySync();
    return { seed, device, lens, cache: new Uint8Array(cacheBytes.buffer, cacheBytes.byteOffset, cacheBytes.byteLength), logits: logits.toTypedArraySync(), idx: idx.toTypedArraySync() };
  } finally {
    for (const t of owned) t.dispose();
  }
}

/**
 * Throws unless `got` (from any device) matches the CPU: the cache bytes equal, valid logits within 1e-5
 * relative (the terms are all >= 0), invalid ones -inf, and the indices equal the CPU's deterministic
 * top-k of the same logits.
 */
export function checkStep(got: StepResult): void {
  const want = indexerStep('cpu', got.seed);
  if (JSON.stringify(got.lens) !== JSON.stringify(want.lens)) throw new Error(`seed ${got.seed}: lengths differ`);
  const badByte = got.cache.findIndex((v, i) => v !== want.cache[i]);
  if (badByte >= 0 || got.cache.length !== want.cache.length) throw new Error(`seed ${got.seed} on ${got.device}: cache byte ${badByte} differs from the CPU's`);
  for (let r = 0; r < B; r++)
    for (let p = 0; p < MAX_LEN; p++) {
      const i = r * MAX_LEN + p, g = got.logits[i], w = want.logits[i];
      const ok = p < got.lens[r] ? Math.abs(g - w) <= 1e-5 * Math.abs(w) : g === -Infinity;
      if (!ok) throw new Error(`seed ${got.seed} on ${got.device}: logits row ${r} pos ${p}: ${g}, CPU ${w}`);
    }
  const cl = Tensor.from(Int32Array.from(got.lens), [B]);
  // Copied: arrays posted by a worker belong to another realm than this one's TypedArray classes.
  const idx = topk(Tensor.from(Float32Array.from(got.logits), [B, MAX_LEN]), cl, { k: K, deterministic: true }).toTypedArraySync();
  const badIdx = idx.findIndex((v, i) => v !== got.idx[i]);
  if (badIdx >= 0) throw new Error(`seed ${got.seed} on ${got.device}: index ${badIdx}: ${got.idx[badIdx]}, CPU top-k of the same logits ${idx[badIdx]}`);
}
