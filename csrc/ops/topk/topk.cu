// Top-k by radix select, one 1024-thread block per row: three passes (11 + 11 + 10 bits) over
// order-preserving keys build shared-memory histograms of the elements still in the running, narrowing
// to the exact k-th largest key T; every index with key > T is written, and just enough with key == T.
// Rows up to kCacheElems keys are read from global memory once and kept in shared memory. When the top
// digit's bin holding T has at most kCand keys (the usual case), one pass emits the keys above that bin
// and compacts the bin into a candidate list, and passes 2-3 and the final pick run over that list.
#include "gpu/check.h"
#include "ops/topk/topk.h"

namespace nsa {
namespace {

constexpr int kThreads = 1024;
constexpr int kBins = 2048;
constexpr int kCacheElems = 9216;  // rows up to this many keys are read from global memory once

// Warp 0 finds the bin (scanning from the top) where the running count reaches `remaining`; returns
// through shared memory the bin and the count above it.
__device__ __forceinline__ void find_bin(const int* hist, int remaining, int* s_bin, int* s_above) {
  const int lane = threadIdx.x;  // called by threads 0..31
  constexpr int kPerLane = kBins / 32;
  const int top = kBins - kPerLane * lane;  // lane 0 holds the highest bins
  int sum = 0;
  for (int j = 1; j <= kPerLane; ++j) sum += hist[top - j];
  int incl = sum;
  for (int d = 1; d < 32; d <<= 1) {
    const int v = gpu_shfl_up32(incl, d);
    if (lane >= d) incl += v;
  }
  const uint32_t hit = gpu_ballot32(incl >= remaining);
  const int first = __ffs(hit) - 1;  // remaining <= total, so some lane reaches it
  if (lane == first) {
    int acc = incl - sum;
    for (int j = 1; j <= kPerLane; ++j) {
      const int b = top - j;
      if (acc + hist[b] >= remaining) {
        *s_bin = b;
        *s_above = acc;
        break;
      }
      acc += hist[b];
    }
  }
}

// Calls body(i, key_at(i)) for i = threadIdx.x, + kThreads, ... < count, loading kUnroll keys into
// registers before using any: global reads of a row then overlap instead of paying one memory latency
// per element (the shared-memory atomics in the bodies keep the compiler from reordering on its own).
template <int kUnroll, class KeyAt, class Body>
__device__ __forceinline__ void visit(int count, KeyAt key_at, Body body) {
  for (int base = threadIdx.x; base < count; base += kThreads * kUnroll) {
    uint32_t key[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = base + u * kThreads;
      key[u] = i < count ? key_at(i) : 0u;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = base + u * kThreads;
      if (i < count) body(i, key[u]);
    }
  }
}

// Dynamic shared memory: [cache: kCacheElems keys][hist: kBins][candidate keys: kCand][candidate idx: kCand].
#if defined(NSA_WITH_HIP)
constexpr int kCand = 1024;  // 52 KB in all: AMD's LDS is 64 KB per workgroup
#else
constexpr int kCand = 4096;
#endif
constexpr int kSmemBytes = (kCacheElems + kBins + 2 * kCand) * 4;

__global__ void __launch_bounds__(kThreads) topk_kernel(const TopKParams p) {
  extern __shared__ uint32_t smem_topk[];
  uint32_t* cache = smem_topk;
  int* hist = reinterpret_cast<int*>(cache + kCacheElems);
  uint32_t* cand_key = reinterpret_cast<uint32_t*>(hist + kBins);
  int32_t* cand_idx = reinterpret_cast<int32_t*>(cand_key + kCand);
  __shared__ int s_bin, s_above, s_gt, s_eq, s_nc;
  const int64_t row = blockIdx.x;
  int64_t start, len;
  topk_window(p, row, start, len);
  int32_t* out = p.out + row * p.k;
  if (len <= p.k) {  // every position selected: no logits read
    for (int j = threadIdx.x; j < p.k; j += kThreads) out[j] = topk_emit(p, row, j < len ? j : -1);
    return;
  }
  const float* src = p.logits + row * p.row_stride + start;
  const int n = static_cast<int>(len);
  const bool cached = n <= kCacheElems;

  // One radix pass over `count` keys (key_at(i)) still matching `prefix` on the bits above `shift`:
  // histogram the digit, find the bin holding the remaining-th largest, narrow prefix / remaining.
  uint32_t prefix = 0;
  int remaining = p.k;
  const int shifts[3] = {21, 10, 0};
  auto pass = [&](int pi, int count, auto key_at, bool fill_cache) {
    const int shift = shifts[pi];
    const uint32_t digit_mask = pi < 2 ? 0x7FFu : 0x3FFu;
    const uint32_t hi_mask = pi == 0 ? 0u : ~((1u << (shift + (pi < 2 ? 11 : 10))) - 1u);
    for (int b = threadIdx.x; b < kBins; b += kThreads) hist[b] = 0;
    __syncthreads();
    visit<8>(count, key_at, [&](int i, uint32_t key) {
      if (fill_cache) cache[i] = key;  // the first pass over a short row also caches its keys
      if ((key & hi_mask) == prefix) atomicAdd(&hist[(key >> shift) & digit_mask], 1);
    });
    __syncthreads();
    if (threadIdx.x < 32) find_bin(hist, remaining, &s_bin, &s_above);
    __syncthreads();
    prefix |= static_cast<uint32_t>(s_bin) << shift;
    remaining -= s_above;
    const int in_bin = hist[s_bin];
    __syncthreads();  // s_bin / s_above / hist are rewritten by the next pass
    return in_bin;
  };
  auto row_key = [&](int i) { return cached ? cache[i] : topk_key(src[i]); };

  if (threadIdx.x == 0) {
    s_gt = 0;
    s_eq = 0;
    s_nc = 0;
  }
  const int in_bin = pass(0, n, [&](int i) { return topk_key(src[i]); }, cached);
  if (in_bin <= kCand) {
    // Few keys share the top digit of the k-th largest: emit every key above that digit now and move the
    // ones in it to a candidate list; the two remaining passes and the final pick run over that list only
    // (2 passes over the row instead of 4).
    const uint32_t top = prefix;  // digit bits 21..31 of the k-th largest
    visit<8>(n, row_key, [&](int i, uint32_t key) {
      if ((key & 0xFFE00000u) > top) {
        out[atomicAdd(&s_gt, 1)] = topk_emit(p, row, i);
      } else if ((key & 0xFFE00000u) == top) {
        const int c = atomicAdd(&s_nc, 1);
        cand_key[c] = key;
        cand_idx[c] = i;
      }
    });
    __syncthreads();
    const int nc = s_nc;
    pass(1, nc, [&](int i) { return cand_key[i]; }, false);
    pass(2, nc, [&](int i) { return cand_key[i]; }, false);
    const int gt_total = p.k - remaining;
    for (int i = threadIdx.x; i < nc; i += kThreads) {
      const uint32_t key = cand_key[i];
      if (key > prefix) {
        out[atomicAdd(&s_gt, 1)] = topk_emit(p, row, cand_idx[i]);
      } else if (key == prefix) {
        const int e = atomicAdd(&s_eq, 1);
        if (e < remaining) out[gt_total + e] = topk_emit(p, row, cand_idx[i]);
      }
    }
    return;
  }
  pass(1, n, row_key, false);
  pass(2, n, row_key, false);
  // prefix is now the k-th largest key; `remaining` of the elements equal to it are taken.
  const int gt_total = p.k - remaining;
  visit<8>(n, row_key, [&](int i, uint32_t key) {
    if (key > prefix) {
      out[atomicAdd(&s_gt, 1)] = topk_emit(p, row, i);
    } else if (key == prefix) {
      const int e = atomicAdd(&s_eq, 1);
      if (e < remaining) out[gt_total + e] = topk_emit(p, row, i);
    }
  });
}

}  // namespace

void topk_gpu(const TopKParams& p, StreamHandle stream) {
  static bool configured[64] = {};  // > 48 KB of dynamic shared memory needs the opt-in, per device
  int device = 0;
  NSA_GPU_CHECK(gpuGetDevice(&device));
  if (device < 64 && !configured[device]) {
    NSA_GPU_CHECK(gpuFuncSetAttribute(reinterpret_cast<const void*>(topk_kernel), gpuFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
    configured[device] = true;
  }
  topk_kernel<<<static_cast<unsigned>(p.rows), kThreads, kSmemBytes, reinterpret_cast<gpuStream_t>(stream)>>>(p);
  NSA_LAUNCH_CHECK("topk_kernel");
}

}  // namespace nsa
