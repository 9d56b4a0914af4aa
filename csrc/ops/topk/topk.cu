// Top-k by radix select, one 1024-thread block per row: three passes (11 + 11 + 10 bits) over
// order-preserving keys build shared-memory histograms of the elements still in the running, narrowing
// to the exact k-th largest key T; every index with key > T is written, and just enough with key == T.
// Deterministic rows end with one ordered pass instead: a block-wide scan over the row in position order
// writes each selected index at its rank, so ties go to the smallest positions and rows repeat exactly.
// Rows up to kCacheElems keys are read from global memory once and kept in shared memory. When the top
// digit's bin holding T fits in the candidate space (the rest of shared memory; the usual case), one pass
// emits the keys above that bin and compacts the bin into a candidate list, and passes 2-3 and the final
// pick run over that list.
#include "gpu/check.h"
#include "ops/topk/topk.h"

namespace nsa {
namespace {

constexpr int kThreads = 1024;
constexpr int kBins = 2048;
#if defined(NSA_WITH_HIP)
constexpr int kCacheElems = 9216;  // rows up to this many keys are read from global memory once
#else
constexpr int kCacheElems = 32768;
#endif

// Every thread finds, among its two bins (bins taken from the top, two per thread), the one where the
// running count from the top reaches `remaining`; exactly one thread writes it and the count above it
// to shared memory. One scan over 32-thread groups and one over their totals: no serial walk of bins.
// The caller synchronizes before and after.
__device__ __forceinline__ void find_bin(const int* hist, int remaining, int* s_group, int* s_bin, int* s_above) {
  static_assert(kBins == 2 * kThreads, "two bins per thread");
  const int t = threadIdx.x, lane = t & 31, group = t >> 5;
  const int b_hi = kBins - 1 - 2 * t;
  const int c_hi = hist[b_hi], c_lo = hist[b_hi - 1], mine = c_hi + c_lo;
  int incl = mine;
  for (int d = 1; d < 32; d <<= 1) {
    const int v = gpu_shfl_up32(incl, d);
    if (lane >= d) incl += v;
  }
  if (lane == 31) s_group[group] = incl;
  __syncthreads();
  int g_incl = s_group[lane];  // group totals, scanned by every group alike
  for (int d = 1; d < 32; d <<= 1) {
    const int v = gpu_shfl_up32(g_incl, d);
    if (lane >= d) g_incl += v;
  }
  const int g_excl = gpu_shfl32(g_incl, group) - s_group[group];
  const int above = g_excl + incl - mine;  // keys in bins above b_hi
  if (above < remaining && above + c_hi >= remaining) {
    *s_bin = b_hi;
    *s_above = above;
  } else if (above + c_hi < remaining && above + mine >= remaining) {
    *s_bin = b_hi - 1;
    *s_above = above + c_hi;
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

// Exclusive prefix sum of one value per thread over the block; `total` gets the block's sum. s_warp
// holds 32 words; the caller synchronizes before reusing it.
__device__ __forceinline__ uint32_t block_exclusive_scan(uint32_t v, uint32_t* s_warp, uint32_t& total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  uint32_t incl = v;
  for (int d = 1; d < 32; d <<= 1) {
    const uint32_t u = gpu_shfl_up32(incl, d);
    if (lane >= d) incl += u;
  }
  if (lane == 31) s_warp[warp] = incl;
  __syncthreads();
  uint32_t w = lane < kThreads / 32 ? s_warp[lane] : 0u;
  uint32_t w_incl = w;
  for (int d = 1; d < 32; d <<= 1) {
    const uint32_t u = gpu_shfl_up32(w_incl, d);
    if (lane >= d) w_incl += u;
  }
  total = gpu_shfl32(w_incl, 31);
  return gpu_shfl32(w_incl - w, warp) + incl - v;
}

// The deterministic final pass: positions in ascending order; an element is selected when key > T, or
// key == T and fewer than `take_eq` equal keys come before it. Its output slot is (keys > T before it) +
// min(keys == T before it, take_eq). Each thread takes kPer consecutive positions per step; the two
// counts travel packed in one word (a step holds at most kThreads * kPer = 8192 < 2^16 keys).
template <class KeyAt>
__device__ __forceinline__ void emit_in_order(const TopKParams& p, int64_t row, int n, KeyAt key_at, uint32_t T, int take_eq,
                                              int32_t* out, uint32_t* s_warp) {
  constexpr int kPer = 8;
  uint32_t gt_before = 0, eq_before = 0;  // over earlier steps
  for (int base = 0; base < n; base += kThreads * kPer) {
    const int first = base + threadIdx.x * kPer;
    uint32_t key[kPer];
    uint32_t counts = 0;  // gt in the low half, eq in the high half
#pragma unroll
    for (int u = 0; u < kPer; ++u) {
      key[u] = first + u < n ? key_at(first + u) : 0u;
      const bool valid = first + u < n;
      counts += valid && key[u] > T ? 1u : valid && key[u] == T ? 0x10000u : 0u;
    }
    uint32_t step_total;
    const uint32_t excl = block_exclusive_scan(counts, s_warp, step_total);
    uint32_t gt = gt_before + (excl & 0xFFFFu), eq = eq_before + (excl >> 16);
#pragma unroll
    for (int u = 0; u < kPer; ++u) {
      if (first + u >= n) break;
      if (key[u] > T) {
        out[gt + min(eq, uint32_t(take_eq))] = topk_emit(p, row, first + u);
        ++gt;
      } else if (key[u] == T) {
        if (eq < uint32_t(take_eq)) out[gt + eq] = topk_emit(p, row, first + u);
        ++eq;
      }
    }
    gt_before += step_total & 0xFFFFu;
    eq_before += step_total >> 16;
    __syncthreads();  // s_warp is rewritten by the next step
  }
}

// Dynamic shared memory: [hist: kBins][region: kRegion words]. The region holds the cached row (first n
// words, rows up to kCacheElems) and after it the candidate keys and indices, as many as fit.
#if defined(NSA_WITH_HIP)
constexpr int kRegion = 14272;  // 64 KB less the static variables: AMD's LDS is 64 KB per workgroup
#else
constexpr int kRegion = 49152;  // 200 KB in all: 44 registers x 1024 threads already mean one CTA per SM
#endif
constexpr int kSmemBytes = (kBins + kRegion) * 4;

__global__ void __launch_bounds__(kThreads) topk_kernel(const TopKParams p) {
  extern __shared__ uint32_t smem_topk[];
  int* hist = reinterpret_cast<int*>(smem_topk);
  uint32_t* cache = smem_topk + kBins;
  __shared__ int s_bin, s_above, s_gt, s_eq, s_nc, s_group[kThreads / 32];
  __shared__ uint32_t s_scan[kThreads / 32];
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
  const int cand_cap = (kRegion - (cached ? n : 0)) / 2;
  uint32_t* cand_key = cache + (cached ? n : 0);
  int32_t* cand_idx = reinterpret_cast<int32_t*>(cand_key + cand_cap);

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
    find_bin(hist, remaining, s_group, &s_bin, &s_above);
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
  if (in_bin <= cand_cap) {
    // Few keys share the top digit of the k-th largest: emit every key above that digit now and move the
    // ones in it to a candidate list; the two remaining passes and the final pick run over that list only
    // (2 passes over the row instead of 4).
    const uint32_t top = prefix;  // digit bits 21..31 of the k-th largest
    visit<8>(n, row_key, [&](int i, uint32_t key) {
      if ((key & 0xFFE00000u) > top) {
        if (!p.deterministic) out[atomicAdd(&s_gt, 1)] = topk_emit(p, row, i);
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
    if (p.deterministic) {
      emit_in_order(p, row, n, row_key, prefix, remaining, out, s_scan);
      return;
    }
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
  if (p.deterministic) {
    emit_in_order(p, row, n, row_key, prefix, remaining, out, s_scan);
    return;
  }
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
