// Top-k by radix select, one 1024-thread block per row: three passes (11 + 11 + 10 bits) over
// order-preserving keys build shared-memory histograms of the elements still in the running, narrowing
// to the exact k-th largest key T; a last pass writes every index with key > T and just enough with
// key == T. Rows up to kCacheElems keys are read from global memory once and kept in shared memory.
#include "gpu/check.h"
#include "ops/topk/topk.h"

namespace nsa {
namespace {

constexpr int kThreads = 1024;
constexpr int kBins = 2048;
constexpr int kCacheElems = 9216;  // 36 KB of keys + 8 KB histogram stays under the 48 KB default

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

__global__ void __launch_bounds__(kThreads) topk_kernel(const TopKParams p) {
  __shared__ uint32_t cache[kCacheElems];
  __shared__ int hist[kBins];
  __shared__ int s_bin, s_above, s_gt, s_eq;
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
  if (cached) {
    for (int i = threadIdx.x; i < n; i += kThreads) cache[i] = topk_key(src[i]);
  }
  uint32_t prefix = 0;
  int remaining = p.k;
  const int shifts[3] = {21, 10, 0};
  for (int pass = 0; pass < 3; ++pass) {
    const int shift = shifts[pass];
    const uint32_t digit_mask = pass < 2 ? 0x7FFu : 0x3FFu;
    const uint32_t hi_mask = pass == 0 ? 0u : ~((1u << (shift + (pass < 2 ? 11 : 10))) - 1u);
    for (int b = threadIdx.x; b < kBins; b += kThreads) hist[b] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += kThreads) {
      const uint32_t key = cached ? cache[i] : topk_key(src[i]);
      if ((key & hi_mask) == prefix) atomicAdd(&hist[(key >> shift) & digit_mask], 1);
    }
    __syncthreads();
    if (threadIdx.x < 32) find_bin(hist, remaining, &s_bin, &s_above);
    __syncthreads();
    prefix |= static_cast<uint32_t>(s_bin) << shift;
    remaining -= s_above;
    __syncthreads();  // s_bin / s_above are rewritten by the next pass
  }
  // prefix is now the k-th largest key; `remaining` of the elements equal to it are taken.
  if (threadIdx.x == 0) {
    s_gt = 0;
    s_eq = 0;
  }
  __syncthreads();
  const int gt_total = p.k - remaining;
  for (int i = threadIdx.x; i < n; i += kThreads) {
    const uint32_t key = cached ? cache[i] : topk_key(src[i]);
    if (key > prefix) {
      out[atomicAdd(&s_gt, 1)] = topk_emit(p, row, i);
    } else if (key == prefix) {
      const int e = atomicAdd(&s_eq, 1);
      if (e < remaining) out[gt_total + e] = topk_emit(p, row, i);
    }
  }
}

}  // namespace

void topk_gpu(const TopKParams& p, StreamHandle stream) {
  topk_kernel<<<static_cast<unsigned>(p.rows), kThreads, 0, reinterpret_cast<gpuStream_t>(stream)>>>(p);
  NSA_LAUNCH_CHECK("topk_kernel");
}

}  // namespace nsa
