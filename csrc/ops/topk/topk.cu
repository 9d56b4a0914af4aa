// Top-k by radix select, 1024 threads per row (or per slice of a row): three passes (11 + 11 + 10 bits)
// over order-preserving keys build shared-memory histograms of the elements still in the running,
// narrowing to the exact k-th largest key T (the third pass is skipped when the second's bin is taken
// whole); every index with key > T is written, and just enough with key == T. Rows (slices) up to
// kCacheElems keys are copied from global memory once into shared memory (cp.async); longer ones are
// streamed through a ring in shared memory, twice. When the top digit's bin holding T fits in the
// candidate space (the rest of shared memory; the usual case), one pass emits the keys above that bin
// and compacts the bin into a candidate list, and passes 2-3 and the final pick run over that list.
//
// Long rows are split over a thread-block cluster (sm_90) as wide as lets every cluster of the batch run
// at once (cluster_size): each CTA of the cluster takes one slice of the row, and the CTAs add their
// histograms through distributed shared memory after each pass, so all of them narrow to the same T;
// the output counters live in rank 0's shared memory. B = 1 then uses up to 8 SMs instead of one.
//
// Deterministic rows end with the candidates marked in bitmaps of positions and written in position
// order after one block scan (slices after the counts of the slices before them), so ties go to the
// smallest positions and rows repeat exactly; rows whose bin overflows the candidate space take one
// ordered pass over the slice instead.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "gpu/check.h"
#include "gpu/pdl.h"
#include "ops/topk/topk.h"
#if defined(NSA_WITH_CUDA)
#include <cooperative_groups.h>
#endif

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
  const int incl = gpu_inclusive_scan32(mine);
  if (lane == 31) s_group[group] = incl;
  __syncthreads();
  const int g_incl = gpu_inclusive_scan32(s_group[lane]);  // group totals, scanned by every group alike
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


// A slice of a row in global memory as a key source: key_at(i) like the others, and visited 16 bytes a
// load (visit_keys below).
struct GlobalRow {
  const float* src;
  float4* ring;  // visit_row's ring in shared memory
  __device__ __forceinline__ uint32_t operator()(int i) const { return topk_key(src[i]); }
};

// visit() for a row in global memory, 16 bytes a copy: each thread streams its float4s through its own
// kRingStages slots of a ring in shared memory (cp.async), kRingStages - 1 copies ahead of the one it
// uses; it reads back only what it copied itself, so the ring needs no barrier, and 48 KB per CTA stay
// in flight without holding registers. (With 8 scalar loads a step a 1024-thread CTA streaming a row
// kept 32 KB in flight and spent 47 % of its stall samples waiting on them: ncu, H200, 128 x 131072,
// DRAM at 30 % of peak. Register float4s instead spill at 64 registers.) Positions before the first
// 16-byte boundary and after the last one are read singly.
constexpr int kRingStages = 4;
#if defined(NSA_WITH_HIP)
constexpr int kRingWords = 0;  // (no cp.async: rows are read with plain loads)
#else
constexpr int kRingWords = kRingStages * kThreads * 4;
#endif

// `count` floats from src as 16-byte pieces: `head` floats before src's first 16-byte boundary, then
// `vecs` float4s, then the rest (fewer than 4).
struct Split16 {
  int head, vecs;
};
__device__ __forceinline__ Split16 split16(const float* src, int count) {
  const int misaligned = static_cast<int>((reinterpret_cast<uintptr_t>(src) & 15) / 4);
  const int head = min(count, misaligned == 0 ? 0 : 4 - misaligned);
  return Split16{head, (count - head) / 4};
}

template <class Body>
__device__ __forceinline__ void visit_row(const float* src, int count, float4* ring, Body body) {
  const Split16 split = split16(src, count);
  const int head = split.head, vecs = split.vecs;
  const int t = threadIdx.x;
  if (t < head) body(t, topk_key(src[t]));
  const float4* v = reinterpret_cast<const float4*>(src + head);
  float4* mine = ring + t;  // this thread's slot s: mine[s * kThreads]
  auto copy = [&](int j, int slot) {
    gpu_copy_async<16>(reinterpret_cast<uint8_t*>(mine + slot * kThreads), reinterpret_cast<const uint8_t*>(v + j), j < vecs);
    gpu_copy_commit();  // (a group a step, empty past the end: wait<> counts groups)
  };
#pragma unroll
  for (int s = 0; s < kRingStages - 1; ++s) copy(t + s * kThreads, s);
  for (int j = t, slot = 0; j < vecs; j += kThreads, slot = slot + 1 == kRingStages ? 0 : slot + 1) {
    // The slot copied into now was read (and its values used) in the step before.
    copy(j + (kRingStages - 1) * kThreads, slot == 0 ? kRingStages - 1 : slot - 1);
    gpu_copy_wait<kRingStages - 1>();  // this step's copy has landed
    const float4 f = mine[slot * kThreads];
    const int i = head + 4 * j;
    body(i, topk_key(f.x));
    body(i + 1, topk_key(f.y));
    body(i + 2, topk_key(f.z));
    body(i + 3, topk_key(f.w));
  }
  gpu_copy_wait<0>();  // (only empty or unread copies can be pending: none writes after return)
  const int tail = head + 4 * vecs + t;
  if (tail < count) body(tail, topk_key(src[tail]));
}

// A slice of `count` floats into dst in shared memory (cp.async; all copies issued, none waited for),
// 16 bytes a copy after the first 16-byte boundary of src. dst must share src's offset within 16 bytes
// (dst + i is 16-byte aligned where src + i is).
__device__ __forceinline__ void copy_slice(const float* src, int count, uint32_t* dst) {
  const Split16 split = split16(src, count);
  const int head = split.head, vecs = split.vecs;
  const int t = threadIdx.x;
  auto to = [&](int i) { return reinterpret_cast<uint8_t*>(dst + i); };
  auto from = [&](int i) { return reinterpret_cast<const uint8_t*>(src + i); };
  if (t < head) gpu_copy_async<4>(to(t), from(t), true);
  for (int j = t; j < vecs; j += kThreads) gpu_copy_async<16>(to(head + 4 * j), from(head + 4 * j), true);
  const int tail = head + 4 * vecs + t;
  if (tail < count) gpu_copy_async<4>(to(tail), from(tail), true);
}

// Every sweep of the general kernel: rows in global memory through visit_row, keys in shared memory
// (the cached slice, the candidates) through visit.
template <class KeyAt, class Body>
__device__ __forceinline__ void visit_keys(int count, KeyAt key_at, Body body) {
  visit<8>(count, key_at, body);
}
template <class Body>
__device__ __forceinline__ void visit_keys(int count, GlobalRow row, Body body) {
#if defined(NSA_CP_ASYNC)
  visit_row(row.src, count, row.ring, body);
#else
  visit<8>(count, row, body);
#endif
}
#if defined(NSA_WITH_CUDA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define NSA_TOPK_CLUSTERS 1
__device__ __forceinline__ int cluster_ctas() { return static_cast<int>(cooperative_groups::this_cluster().num_blocks()); }
__device__ __forceinline__ int cluster_rank() { return static_cast<int>(cooperative_groups::this_cluster().block_rank()); }
__device__ __forceinline__ void cluster_sync() { cooperative_groups::this_cluster().sync(); }
// The same shared variable in CTA `rank` of the cluster.
template <class T>
__device__ __forceinline__ T* cluster_peer(T* local, int rank) { return cooperative_groups::this_cluster().map_shared_rank(local, rank); }
#else
__device__ __forceinline__ int cluster_ctas() { return 1; }
__device__ __forceinline__ int cluster_rank() { return 0; }
__device__ __forceinline__ void cluster_sync() { __syncthreads(); }
template <class T>
__device__ __forceinline__ T* cluster_peer(T* local, int) { return local; }
#endif

constexpr int kMaxPeers = 8;  // CTAs of a cluster of the general kernel (launch: kMaxCluster)

// After each CTA built its histogram of its slice: the row's histogram, in `merged` (= hist for one CTA).
// Two cluster barriers: every histogram is complete before any is read, and every remote read is done
// before any CTA clears its histogram for the next pass.
__device__ __forceinline__ const int* merge_hist(int* hist, int* merged, int ctas) {
  if (ctas == 1) {
    __syncthreads();
    return hist;
  }
  cluster_sync();
  // Two bins a thread, every peer's count loaded before any is added (as in cluster_choose_bin: a sum
  // after each load costs a remote round trip per peer).
  static_assert(kBins == 2 * kThreads, "two bins a thread");
  int lo[kMaxPeers] = {}, hi[kMaxPeers] = {};
#pragma unroll
  for (int r = 0; r < kMaxPeers; ++r) {
    if (r < ctas) {
      const int* peer = cluster_peer(hist, r);
      lo[r] = peer[threadIdx.x];
      hi[r] = peer[threadIdx.x + kThreads];
    }
  }
  int sum_lo = 0, sum_hi = 0;
#pragma unroll
  for (int r = 0; r < kMaxPeers; ++r) {
    sum_lo += lo[r];
    sum_hi += hi[r];
  }
  merged[threadIdx.x] = sum_lo;
  merged[threadIdx.x + kThreads] = sum_hi;
  cluster_sync();
  return merged;
}

// Exclusive prefix sum of one value per thread over the block; `total` gets the block's sum. s_warp
// holds 32 words; the caller synchronizes before reusing it.
template <int kBlock = kThreads>
__device__ __forceinline__ uint32_t block_exclusive_scan(uint32_t v, uint32_t* s_warp, uint32_t& total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const uint32_t incl = gpu_inclusive_scan32(v);
  if (lane == 31) s_warp[warp] = incl;
  __syncthreads();
  const uint32_t w = lane < kBlock / 32 ? s_warp[lane] : 0u;
  const uint32_t w_incl = gpu_inclusive_scan32(w);
  total = gpu_shfl32(w_incl, 31);
  return gpu_shfl32(w_incl - w, warp) + incl - v;
}

// The deterministic final pass over one slice (positions base + i, i < n): an element is selected when
// key > T, or key == T and fewer than `take_eq` equal keys come before it in the row. Its output slot is
// (keys > T before it) + min(keys == T before it, take_eq); gt_before / eq_before count the row's earlier
// slices. Each thread takes kPer consecutive positions per step; the two counts travel packed in one
// word (a step holds at most kThreads * kPer = 8192 < 2^16 keys).
template <TopKOutput kOut, class KeyAt>
__device__ __forceinline__ void emit_in_order(const TopKParams& p, int64_t row, int base_pos, int n, KeyAt key_at, uint32_t T,
                                              int take_eq, uint32_t gt_before, uint32_t eq_before, int32_t* out, uint32_t* s_warp) {
  constexpr int kPer = 8;
  for (int base = 0; base < n; base += kThreads * kPer) {
    const int first = base + threadIdx.x * kPer;
    uint32_t key[kPer];
    uint32_t counts = 0;  // gt in the low half, eq in the high half
#pragma unroll
    for (int u = 0; u < kPer; ++u) {
      const bool valid = first + u < n;
      key[u] = valid ? key_at(first + u) : 0u;
      counts += valid && key[u] > T ? 1u : valid && key[u] == T ? 0x10000u : 0u;
    }
    uint32_t step_total;
    const uint32_t excl = block_exclusive_scan(counts, s_warp, step_total);
    uint32_t gt = gt_before + (excl & 0xFFFFu), eq = eq_before + (excl >> 16);
#pragma unroll
    for (int u = 0; u < kPer; ++u) {
      if (first + u >= n) break;
      if (key[u] > T) {
        out[gt + min(eq, uint32_t(take_eq))] = topk_emit_as<kOut>(p, row, base_pos + first + u);
        ++gt;
      } else if (key[u] == T) {
        if (eq < uint32_t(take_eq)) out[gt + eq] = topk_emit_as<kOut>(p, row, base_pos + first + u);
        ++eq;
      }
    }
    gt_before += step_total & 0xFFFFu;
    eq_before += step_total >> 16;
    __syncthreads();  // s_warp is rewritten by the next step
  }
}

// A radix pass whose chosen bin holds exactly the keys still to take (count == remaining; after two
// digits the usual case on continuous data, the bin being 2^-13 of an octave wide) ends the selection:
// every key >= the bin's lowest key `lowest`, with no ties to break, so the next pass is skipped. The
// threshold becomes T = lowest - 1 with no key equal to it taken (lowest 0 has no such T: the passes go
// on). Both kernels; counts and `remaining` are the row's, so a cluster decides alike.
__device__ __forceinline__ bool bin_taken_whole(uint32_t lowest, int count, int remaining, uint32_t& T) {
  if (count != remaining || lowest == 0u) return false;
  T = lowest - 1u;
  return true;
}

// pdl_wait() (launch_topk) and the row's window: the window first, through L2, when the caller said that
// the kernel ahead does not write lengths or row starts (TopKParams::window_before_wait), so its round
// trip overlaps that kernel's tail; else after the wait. The register kernel starts with it (H200,
// pagedMqaTopk B=64 ctx=8192: 32.0 -> 31.6 us); the general kernel keeps the plain order (with it there,
// 128 x 131072 measured +0.9 us without the flag set: its long rows do not notice 0.6 us anyway).
#if defined(NSA_WITH_CUDA)
struct TopKL2Load {
  __device__ __forceinline__ int32_t operator()(const int32_t* a, int64_t i) const { return __ldcg(a + i); }
};
#else
using TopKL2Load = TopKPlainLoad;  // (HIP: pdl_wait() is a no-op, nothing to run ahead of)
#endif
__device__ __forceinline__ void wait_and_window(const TopKParams& p, int64_t row, int64_t& start, int64_t& len) {
  if (p.window_before_wait) {
    topk_window(p, row, start, len, TopKL2Load{});
    pdl_wait();
  } else {
    pdl_wait();
    topk_window(p, row, start, len);
  }
}

// Dynamic shared memory: [hist: kBins][merged: kBins][region: kRegion words]. The region holds the cached
// slice (n words from offset 0-3, slices up to kCacheElems) and after it the candidate keys and indices,
// as many as fit. Uncached slices stream through visit_row's ring in the region's last kRingWords words,
// their candidates before it. `merged` is the cluster's histogram (unused by single-CTA rows).
#if defined(NSA_WITH_HIP)
constexpr int kRegion = 12160;  // 64 KB less both histograms and the static variables: AMD's LDS is 64 KB
#else
constexpr int kRegion = 49152;  // 208 KB in all: 1024 threads of ~54 registers already mean one CTA per SM
#endif
static_assert(kCacheElems + 4 <= kRegion, "a cached slice at any offset within 16 bytes");
constexpr int kSmemBytes = (2 * kBins + kRegion) * 4;

template <bool kDeterministic, TopKOutput kOut>
__global__ void __launch_bounds__(kThreads) topk_kernel(const TopKParams p) {
  extern __shared__ __align__(16) uint32_t smem_topk[];
  int* hist = reinterpret_cast<int*>(smem_topk);
  int* merged_space = hist + kBins;
  uint32_t* cache = smem_topk + 2 * kBins;
  __shared__ int s_bin, s_above, s_gt, s_eq, s_nc, s_group[kThreads / 32];
  __shared__ uint32_t s_scan[kThreads / 32];
  __shared__ uint32_t s_count_gt, s_count_eq;
  const int ctas = cluster_ctas(), rank = cluster_rank();
  const int64_t row = blockIdx.x / ctas;
  int64_t start, len;
  pdl_wait();  // (launch_topk) no global access before this (window_before_wait: see wait_and_window)
  topk_window(p, row, start, len);
  int32_t* out = p.out + row * p.k;
  if (len <= p.k) {  // every position selected: no logits read (one CTA of the cluster writes)
    if (rank == 0)
      for (int j = threadIdx.x; j < p.k; j += kThreads) out[j] = topk_emit_as<kOut>(p, row, j < len ? j : -1);
    return;
  }
  // This CTA's slice of the row: positions [lo, lo + n).
  const int slice = static_cast<int>((len + ctas - 1) / ctas);
  const int lo = rank * slice;
  const int n = len - lo <= 0 ? 0 : len - lo < slice ? static_cast<int>(len - lo) : slice;
  const float* src = p.logits + row * p.row_stride + start + lo;
  // Uniform over the cluster (from the slice size, not n): every CTA takes the same branches below.
  const bool cached = slice <= kCacheElems;
  // A cached slice's keys: keys[i], placed at src's offset within 16 bytes (copy_slice), candidates after.
  uint32_t* keys = cache + (reinterpret_cast<uintptr_t>(src) & 15) / 4;
  const int cand_cap = (kRegion - (cached ? slice + 4 : kRingWords)) / 2;
  uint32_t* cand_key = cache + (cached ? slice + 4 : 0);
  int32_t* cand_idx = reinterpret_cast<int32_t*>(cand_key + cand_cap);
  // Output counters: rank 0's, shared by the cluster (a single CTA keeps shared-memory atomics).
  auto count_gt = [&]() { return ctas == 1 ? atomicAdd(&s_gt, 1) : atomicAdd(cluster_peer(&s_gt, 0), 1); };
  auto count_eq = [&]() { return ctas == 1 ? atomicAdd(&s_eq, 1) : atomicAdd(cluster_peer(&s_eq, 0), 1); };

  // Histogram `count` keys (key_at(i)) into bin_of(key) (callers skip keys outside the running prefix
  // by returning -1), merge over the cluster, and find the bin holding the remaining-th largest: s_bin,
  // s_above (keys in higher bins). Returns the row's count in that bin.
  auto histogram_pass = [&](int count, auto key_at, auto bin_of, bool fill_cache, int remaining) {
    for (int b = threadIdx.x; b < kBins; b += kThreads) hist[b] = 0;
    __syncthreads();
    visit_keys(count, key_at, [&](int i, uint32_t key) {
      if (fill_cache) keys[i] = key;  // a cached slice's floats become its keys in pass 0
      const int bin = bin_of(key);
      if (bin >= 0) atomicAdd(&hist[bin], 1);
    });
    const int* row_hist = merge_hist(hist, merged_space, ctas);
    find_bin(row_hist, remaining, s_group, &s_bin, &s_above);
    __syncthreads();
    return row_hist[s_bin];
  };
  // Radix pass pi (digits of 11, 11 and 10 bits from the top) over `count` keys still matching `prefix`
  // above the digit: narrows prefix / remaining to the bin of the remaining-th largest and returns the
  // row's count in that bin. After pass 2, prefix is the exact k-th largest key.
  uint32_t prefix = 0;
  int remaining = p.k;
  auto radix_pass = [&](int pi, int count, auto key_at, bool fill_cache) {
    const int shift = pi == 0 ? 21 : pi == 1 ? 10 : 0;
    const uint32_t digit_mask = pi < 2 ? 0x7FFu : 0x3FFu;
    const uint32_t hi_mask = pi == 0 ? 0u : ~((1u << (shift + (pi < 2 ? 11 : 10))) - 1u);
    const int in_bin = histogram_pass(
        count, key_at, [&](uint32_t key) { return (key & hi_mask) == prefix ? int((key >> shift) & digit_mask) : -1; }, fill_cache, remaining);
    prefix |= static_cast<uint32_t>(s_bin) << shift;
    remaining -= s_above;
    __syncthreads();  // s_bin / s_above / the histograms are rewritten by the next pass
    return in_bin;
  };
  // After pass 1 (prefix: the bin's lowest key): pass 2 unless the bin is taken whole, then prefix is
  // the threshold below it and no key equal to it is taken.
  auto last_pass = [&](int in_bin, auto key_at, int count) {
    if (bin_taken_whole(prefix, in_bin, remaining, prefix)) remaining = 0;
    else radix_pass(2, count, key_at, false);
  };
  // The slice's keys after pass 0: from shared memory when cached, else read again. The passes below
  // are instantiated once per source (the `cached` test is hoisted out of every loop).
  auto cached_key = [&](int i) { return keys[i]; };
  const GlobalRow global_key{src, reinterpret_cast<float4*>(cache + kRegion - kRingWords)};
  // A cluster's deterministic rows: adds to a and b the totals of the cluster's CTAs before this one
  // (each CTA publishes its own in s_count_gt / s_count_eq). Every CTA calls it; the caller ends on a
  // cluster barrier so that the totals outlive every peer's read.
  auto add_earlier_ctas = [&](uint32_t total_a, uint32_t total_b, uint32_t& a, uint32_t& b) {
    if (threadIdx.x == 0) {
      s_count_gt = total_a;
      s_count_eq = total_b;
    }
    cluster_sync();
    for (int r = 0; r < rank; ++r) {
      a += *cluster_peer(&s_count_gt, r);
      b += *cluster_peer(&s_count_eq, r);
    }
  };
  // Deterministic: the counts of earlier slices, then the ordered pass; a cluster ends on a barrier so
  // rank 0's counters outlive every CTA's use of them.
  auto finish_in_order = [&](auto key_at) {
    uint32_t gt0 = 0, eq0 = 0;
    if (ctas > 1) {
      uint32_t total_gt, total_eq;
      uint32_t gt_l = 0, eq_l = 0;
      visit_keys(n, key_at, [&](int, uint32_t key) {
        gt_l += key > prefix;
        eq_l += key == prefix;
      });
      block_exclusive_scan(gt_l, s_scan, total_gt);
      __syncthreads();
      block_exclusive_scan(eq_l, s_scan, total_eq);
      add_earlier_ctas(total_gt, total_eq, gt0, eq0);
    }
    emit_in_order<kOut>(p, row, lo, n, key_at, prefix, remaining, gt0, eq0, out, s_scan);
    if (ctas > 1) cluster_sync();
  };
  // Deterministic rows from the candidates (every key >= T is one): each CTA marks its slice's keys
  // above T and equal to T in two bitmaps of positions, scans the per-thread counts once, and writes its
  // marked positions in order, offset by the cluster's earlier CTAs' counts; a key equal to T is taken
  // while fewer than `remaining` equal keys come before it in the row. The ordered pass instead reads the
  // slice once more with a block scan per 8192 keys (H200, 128 x 131072: 121 us, 52 by default). The
  // bitmaps: the histograms (free after the last pass) when both fit there (slices up to 32768), else
  // above T there and equal to T in the ring's words (an uncached slice's ring is idle by now).
  const int mark_words = (slice + 31) / 32;  // (uniform over the cluster, like the branches below)
  const bool marks_fit = mark_words <= kBins || (!cached && mark_words <= 2 * kBins && mark_words <= kRingWords);
  auto finish_by_marks = [&](int nc) {
    uint32_t* above_marks = reinterpret_cast<uint32_t*>(hist);  // hist and merged_space, contiguous
    uint32_t* equal_marks = mark_words <= kBins ? above_marks + mark_words : cache + kRegion - kRingWords;
    const int words = (n + 31) / 32;
    for (int w = threadIdx.x; w < words; w += kThreads) above_marks[w] = equal_marks[w] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < nc; i += kThreads) {
      const uint32_t key = cand_key[i];
      const int at = cand_idx[i];
      if (key >= prefix) atomicOr(&(key > prefix ? above_marks : equal_marks)[at >> 5], 1u << (at & 31));
    }
    __syncthreads();
    const int per = (words + kThreads - 1) / kThreads, w0 = threadIdx.x * per, w1 = min(w0 + per, words);  // this thread's words
    uint32_t n_above = 0, n_equal = 0, total_above, total_equal;
    for (int w = w0; w < w1; ++w) {
      n_above += __popc(above_marks[w]);
      n_equal += __popc(equal_marks[w]);
    }
    uint32_t above = block_exclusive_scan(n_above, s_scan, total_above);
    __syncthreads();
    uint32_t equal = block_exclusive_scan(n_equal, s_scan, total_equal);
    if (ctas > 1) add_earlier_ctas(total_above, total_equal, above, equal);
    const uint32_t take_equal = static_cast<uint32_t>(remaining);
    for (int w = w0; w < w1; ++w) {
      const uint32_t a = above_marks[w], q = equal_marks[w];
      for (uint32_t b = a | q; b != 0; b &= b - 1) {
        const int j = __ffs(b) - 1;
        const int64_t pos = lo + 32 * w + j;
        if (a >> j & 1u) out[above++ + min(equal, take_equal)] = topk_emit_as<kOut>(p, row, static_cast<int32_t>(pos));
        else if (equal < take_equal) out[above + equal++] = topk_emit_as<kOut>(p, row, static_cast<int32_t>(pos));
      }
    }
    if (ctas > 1) cluster_sync();  // rank 0's counts outlive every peer's read
  };

  if (threadIdx.x == 0) {
    s_gt = 0;
    s_eq = 0;
    s_nc = 0;
  }
  // Pass 0: a cached slice is first copied whole into shared memory (every copy in flight at once, the
  // floats turned into keys in place by the pass), an uncached one streamed through the ring. It ends on
  // cluster barriers: the counters are zero before any CTA emits.
  int in_bin;
  if (cached) {
    copy_slice(src, n, keys);
    gpu_copy_commit();
    gpu_copy_wait<0>();
    __syncthreads();
    in_bin = radix_pass(0, n, [&](int i) { return topk_key(__uint_as_float(keys[i])); }, true);
  } else {
    in_bin = radix_pass(0, n, global_key, false);
  }
  auto rest = [&](auto slice_key) {
    // (deterministic rows keep the keys above the bin as candidates too, for finish_by_marks)
    if (in_bin + (kDeterministic ? p.k - remaining : 0) <= cand_cap) {
      // Few keys share the top digit of the k-th largest: emit every key above that digit now and move the
      // ones in it to a candidate list; passes 1-2 and the final pick run over that list only (2 passes over
      // the slice instead of 4).
      const uint32_t top = prefix;  // digit bits 21..31 of the k-th largest
      auto keep = [&](int i, uint32_t key) {
        const int c = atomicAdd(&s_nc, 1);
        cand_key[c] = key;
        cand_idx[c] = i;
      };
      visit_keys(n, slice_key, [&](int i, uint32_t key) {
        if ((key & 0xFFE00000u) > top) {
          if (kDeterministic) keep(i, key);
          else out[count_gt()] = topk_emit_as<kOut>(p, row, lo + i);
        } else if ((key & 0xFFE00000u) == top) {
          keep(i, key);
        }
      });
      __syncthreads();
      const int nc = s_nc;
      auto cand = [&](int i) { return cand_key[i]; };
      last_pass(radix_pass(1, nc, cand, false), cand, nc);
      if (kDeterministic) {
        if (marks_fit) finish_by_marks(nc);
        else finish_in_order(slice_key);
        return;
      }
      const int gt_total = p.k - remaining;
      for (int i = threadIdx.x; i < nc; i += kThreads) {
        const uint32_t key = cand_key[i];
        if (key > prefix) {
          out[count_gt()] = topk_emit_as<kOut>(p, row, lo + cand_idx[i]);
        } else if (key == prefix) {
          const int e = count_eq();
          if (e < remaining) out[gt_total + e] = topk_emit_as<kOut>(p, row, lo + cand_idx[i]);
        }
      }
      if (ctas > 1) cluster_sync();
      return;
    }
    // Many keys share the top digit (heavy ties): passes 1-2 over the whole slice.
    last_pass(radix_pass(1, n, slice_key, false), slice_key, n);
    // prefix is now the k-th largest key (or one less than the taken bin's lowest); `remaining` of the
    // elements equal to it are taken.
    if (kDeterministic) {
      finish_in_order(slice_key);
      return;
    }
    const int gt_total = p.k - remaining;
    visit_keys(n, slice_key, [&](int i, uint32_t key) {
      if (key > prefix) {
        out[count_gt()] = topk_emit_as<kOut>(p, row, lo + i);
      } else if (key == prefix) {
        const int e = count_eq();
        if (e < remaining) out[gt_total + e] = topk_emit_as<kOut>(p, row, lo + i);
      }
    });
    if (ctas > 1) cluster_sync();
  };
  if (cached) rest(cached_key);
  else rest(global_key);
}

// ---- rows of up to 8 x 16384 keys: every key in registers, long rows over a thread-block cluster ----
//
// kBlock threads per CTA, thread t of cluster rank r holding positions r * kSlice + kKeys * t .. + kKeys
// - 1 (kSlice = kBlock * kKeys) as keys in registers: the row is read from global memory once and no
// pass touches memory again. Rows of up to 8192 keys run on one CTA (1024 x 8 for small batches, 512 x
// 16 two per SM, 256 x 32 four per SM beyond: register_shape); longer rows (sm_90) on a cluster of up
// to 8 CTAs of 1024 x 8 or 1024 x 16, so that B = 1 spreads over 8 SMs and every slice still lives in
// registers.
//
// Three passes (the general kernel's digits: 11 + 11 + 10 bits from the top; the third skipped when the
// second's bin is taken whole) histogram the keys still matching the digits chosen so far; 256 threads
// choose each bin from the CTA's histogram, or in a cluster warp 0 of every CTA from every CTA's group
// sums and then the chosen group's bins (cluster_choose_bin), so all of them choose the same bin after
// one cluster barrier a pass. With the
// threshold known, one block scan over per-thread counts (plus the counts of the cluster's earlier
// CTAs) gives every selected key its output slot in position order: rows are deterministic by
// construction (the k largest under (value desc, position asc), ascending), at no extra cost.
//
// Why: a row's time is a chain of block-wide phases, each paying its warps' issue slots and latencies.
// clock64 per phase on the H100 (1024 threads, a row of 8192, cycles): lengths 1020, load 1470, then
// per pass histogram + bin choice 2400 / 2470 / 1720, scan 1350, staging 1550, write-out 560 (~6.5 us
// of the 7.1 us measured per launch). The general kernel spends ~37.7 k warp instructions on the same
// row (ncu; per-key sweeps over shared memory); here a pass over the registers is ~3 instructions a
// key. Measured and not kept: compacting pass 0's bin to a shared list (the compaction cost what the
// later passes saved), 8-bit digits (four passes), every thread choosing bins (kPer-way bank
// conflicts until read as vectors), scattered global stores of the output (~2000 cycles).

// Probe build only (-DNSA_TOPK_TRACE; benchmarks/probes/topk_trace.js): thread 0 of each CTA of row 0
// prints the clock64 cycles between the register kernel's phase marks.
#if defined(NSA_TOPK_TRACE)
#define NSA_TOPK_MARK(i) \
  do {                   \
    if (threadIdx.x == 0) trace_at[i] = clock64(); \
  } while (0)
#else
#define NSA_TOPK_MARK(i) \
  do {                   \
  } while (0)
#endif

constexpr int kRegMaxLen = 8192;       // rows of one CTA
constexpr int kRegMaxCluster = 8;      // CTAs of a long row (the portable cluster size)
constexpr int kRegMaxClusterLen = kRegMaxCluster * 16384;

#if defined(NSA_TOPK_CLUSTERS)
// Split cluster barrier: arrive (release: this thread's earlier shared-memory writes and remote accesses
// are ordered before) and wait (acquire). Every thread of the CTA executes both.
__device__ __forceinline__ void cluster_arrive() { asm volatile("barrier.cluster.arrive.release.aligned;" ::: "memory"); }
__device__ __forceinline__ void cluster_wait() { asm volatile("barrier.cluster.wait.acquire.aligned;" ::: "memory"); }
#else
__device__ __forceinline__ void cluster_arrive() {}
__device__ __forceinline__ void cluster_wait() {}
#endif

// This thread's keys: positions first .. first + kKeys - 1 of the row (count of them valid), float4
// loads when the row is 16-byte aligned.
template <int kKeys>
__device__ __forceinline__ void load_keys(const float* src, int first, int count, uint32_t (&key)[kKeys]) {
  if (count == kKeys && (reinterpret_cast<uintptr_t>(src) & 15) == 0) {
#pragma unroll
    for (int v = 0; v < kKeys / 4; ++v) {
      const float4 f = reinterpret_cast<const float4*>(src + first)[v];
      key[4 * v] = topk_key(f.x);
      key[4 * v + 1] = topk_key(f.y);
      key[4 * v + 2] = topk_key(f.z);
      key[4 * v + 3] = topk_key(f.w);
    }
    return;
  }
#pragma unroll
  for (int u = 0; u < kKeys; ++u) key[u] = u < count ? topk_key(src[first + u]) : 0u;
}

constexpr int kRegFinders = 256;  // threads choosing each bin: 8 bins each

// find_bin for the register kernel: the first kRegFinders threads take 8 bins each (the other warps'
// issue slots stay free: with all 1024 threads taking two bins a choice cost ~1000 cycles, clock64 on
// the H100), read as two int4 vectors (8 consecutive bins per thread at a stride of 8 words would
// conflict 8-way in the banks), and clear the bins they read when `zero` is set, for the next
// histogram without another barrier. (The general kernel keeps find_bin: a shared version slowed its
// uncached sweeps by 30-45 % on the H100, 64x65536 and 128x131072.) Every thread calls it; the caller
// synchronizes before and after.
struct BinChoice {
  int bin;    // the bin holding the remaining-th largest key (counted from the top)
  int above;  // keys of the row in higher bins
  int count;  // keys of the row in the bin
};
__device__ __forceinline__ void choose_bin(int* hist, int remaining, int* s_group, BinChoice* s_choice, bool zero) {
  constexpr int kPer = kBins / kRegFinders;
  static_assert(kPer == 8, "two int4 per finder");
  const int t = threadIdx.x, lane = t & 31, group = t >> 5;
  const bool finder = t < kRegFinders;
  const int top = kBins - 1 - kPer * t;  // a finder's bins: top, top - 1, ..., top - 7
  int4 lo = make_int4(0, 0, 0, 0), hi = lo;  // bins top - 7 .. top - 4, top - 3 .. top
  if (finder) {
    int4* v = reinterpret_cast<int4*>(hist + top - (kPer - 1));
    lo = v[0];
    hi = v[1];
    if (zero) v[0] = v[1] = make_int4(0, 0, 0, 0);
  }
  const int c[kPer] = {hi.w, hi.z, hi.y, hi.x, lo.w, lo.z, lo.y, lo.x};  // c[j]: bin top - j
  int mine = 0;
#pragma unroll
  for (int j = 0; j < kPer; ++j) mine += c[j];
  const int incl = gpu_inclusive_scan32(mine);
  if (finder && lane == 31) s_group[group] = incl;
  __syncthreads();
  if (!finder) return;
  const int g_incl = gpu_inclusive_scan32(lane < kRegFinders / 32 ? s_group[lane] : 0);  // group totals
  int above = gpu_shfl32(g_incl, group) - s_group[group] + incl - mine;  // keys in bins above `top`
  if (above >= remaining || above + mine < remaining) return;  // not this thread
#pragma unroll
  for (int j = 0; j < kPer; ++j) {
    if (above + c[j] >= remaining) {
      *s_choice = BinChoice{top - j, above, c[j]};
      return;
    }
    above += c[j];
  }
}

// Adds the keys of this thread that lie in the bin `prefix` (their bits `shift`.. 31) to hist by their
// next digit (bits `shift - digit_bits` .. shift - 1). Pass 0 has shift 32 and takes every key.
template <int kKeys>
__device__ __forceinline__ void count_digit(const uint32_t (&key)[kKeys], int n, int shift, uint32_t prefix, int digit_bits, int* hist) {
  const uint32_t mask = (1u << digit_bits) - 1u;
  if (n == 0) return;  // (see the kernel: whole warps past a short row's end skip their key loops)
  if (shift == 32 && n == kKeys) {  // pass 0 of a full thread (nearly all): no per-key test or branch
#pragma unroll
    for (int u = 0; u < kKeys; ++u) atomicAdd(&hist[key[u] >> (32 - digit_bits)], 1);
    return;
  }
#pragma unroll
  for (int u = 0; u < kKeys; ++u) {
    const bool in_bin = shift == 32 || (key[u] >> shift) == prefix;
    gpu_shared_add1_if(u < n && in_bin, &hist[(key[u] >> (shift - digit_bits)) & mask]);
  }
}

// ---- a row over a cluster: the bin choice without gathering the histograms ----
// Every CTA counts its slice into its own 2048 bins and sums them in 64 groups of 32; after one cluster
// barrier warp 0 of every CTA reads the 64 group sums of every peer (two groups per lane), picks the
// group holding the remaining-th largest key, then reads that group's 32 bins of every peer (one per
// lane) and picks the bin: 3 KB of distributed shared memory per CTA and pass, two dependent rounds of
// remote loads. (Measured on the H200 and replaced: remote atomics of every nonzero bin into every peer,
// 2100-8800 cycles a pass; all peers' 2048 bins gathered as int4, 64 KB per CTA at ~15 bytes per cycle,
// 4400-5200 cycles a pass.)
constexpr int kGroupBins = 32;                   // bins per group: one per lane
constexpr int kBinGroups = kBins / kGroupBins;      // 64: two per lane

// This CTA's group sums of `local` into `sums` (a warp per group). The caller syncs the CTA before
// (counts complete) and the cluster after.
template <int kBlock>
__device__ __forceinline__ void group_sums(const int* local, int* sums) {
  const int lane = threadIdx.x & 31;
  for (int g = threadIdx.x >> 5; g < kBinGroups; g += kBlock / 32) {
    const int v = gpu_warp_sum32(local[g * kGroupBins + lane]);
    if (lane == 0) sums[g] = v;
  }
}

// Warp 0: the bin of the row's remaining-th largest key (counted from the top) from every CTA's counts
// `local` and group sums `sums`, into s_choice. The caller syncs the cluster before (every CTA's counts
// and sums complete) and the CTA after. kMaxCtas: the widest cluster of this slice size (register_shape).
template <int kMaxCtas>
__device__ __forceinline__ void cluster_choose_bin(const int* local, const int* sums, int ctas, int remaining, BinChoice* s_choice) {
  if (threadIdx.x >= 32) return;
  const int lane = threadIdx.x;
  const int g_hi = kBinGroups - 1 - 2 * lane, g_lo = g_hi - 1;  // this lane's groups, from the top
  // Every peer's words are loaded before any is added: the remote loads overlap instead of costing a
  // round trip each (clock64, H200, 1 x 131072: ~4000-5000 cycles a pass for this function while each
  // load's sum came before the next load; 16.79 -> 13.72 us). Ranks past the cluster read this CTA's
  // own words (a local load, dropped from the sum), and the loops stop at the slice size's widest
  // cluster (H200: pairs of 32768-key slices, 64 x 65536, paid 1 us for six extra reads of rank 0, and
  // spilled with six local ones; predicated loads instead cost 1 x 131072 / 4 x 65536 0.15-0.2 us).
  int hi[kMaxCtas], lo[kMaxCtas];
#pragma unroll
  for (int r = 0; r < kMaxCtas; ++r) {
    const int* peer = r < ctas ? cluster_peer(sums, r) : sums;
    hi[r] = peer[g_hi];
    lo[r] = peer[g_lo];
  }
  int c_hi = 0, c_lo = 0;
#pragma unroll
  for (int r = 0; r < kMaxCtas; ++r) {
    c_hi += r < ctas ? hi[r] : 0;
    c_lo += r < ctas ? lo[r] : 0;
  }
  const int mine = c_hi + c_lo, incl = gpu_inclusive_scan32(mine), above = incl - mine;
  // The lane whose groups hold it (the counts of the prefix bin sum to at least `remaining`).
  const int src = __ffs(gpu_ballot32(above < remaining && remaining <= incl)) - 1;
  const bool in_hi = above + c_hi >= remaining;
  const int group = gpu_shfl32(in_hi ? g_hi : g_lo, src), above_group = gpu_shfl32(in_hi ? above : above + c_hi, src);
  const int bin = group * kGroupBins + kGroupBins - 1 - lane;  // this lane's bin of the group, from the top
  int counts[kMaxCtas];
#pragma unroll
  for (int r = 0; r < kMaxCtas; ++r) counts[r] = (r < ctas ? cluster_peer(local, r) : local)[bin];
  int c = 0;
#pragma unroll
  for (int r = 0; r < kMaxCtas; ++r) c += r < ctas ? counts[r] : 0;
  const int above_bin = above_group + gpu_inclusive_scan32(c) - c;
  if (above_bin < remaining && above_bin + c >= remaining) *s_choice = BinChoice{bin, above_bin, c};
}

// kCluster: a row over a cluster of CTAs (launched with a cluster dimension); else one CTA per row.
template <TopKOutput kOut, int kBlock, int kKeys, bool kCluster>
__global__ void __launch_bounds__(kBlock, 1024 / kBlock) topk_registers_kernel(const TopKParams p) {
  static_assert(!kCluster || kBlock == 1024, "clusters of 1024-thread CTAs");
  constexpr int kSlice = kBlock * kKeys;  // keys per CTA (< 2^16: the packed counts below)
  static_assert(kSlice < 65536, "counts are packed in 16 bits");
  constexpr int kMaxCtas = kRegMaxClusterLen / kSlice < kRegMaxCluster ? kRegMaxClusterLen / kSlice : kRegMaxCluster;
  // This CTA's counts (int4: choose_bin's vectors) and, in a cluster, group sums: there two of each,
  // alternating between passes, so a peer's reads of one pass never meet this CTA's counting of the next.
  __shared__ int4 hist_words[kCluster ? 2 : 1][kBins / 4];
  __shared__ int group_words[kCluster ? 2 : 1][kCluster ? kBinGroups : 1];
  auto local_hist = [&](int d) { return reinterpret_cast<int*>(hist_words[kCluster ? d & 1 : 0]); };
  __shared__ int32_t stage[kTopKMax];  // this CTA's selected positions, by output slot
  __shared__ int s_group[32];
  __shared__ BinChoice s_choice;
  __shared__ uint32_t s_scan[32], s_totals[2], s_before[2];
#if defined(NSA_TOPK_TRACE)
  long long trace_at[16] = {};
#endif
  NSA_TOPK_MARK(0);
  const int ctas = kCluster ? cluster_ctas() : 1, rank = kCluster ? cluster_rank() : 0;
  // Rows are taken last to first: the GPU starts CTAs in index order, and in a causal prefill later rows
  // are longer, so the longest start first and the short (or trivial) ones fill the last wave.
  const int64_t row = p.rows - 1 - blockIdx.x / ctas;
  int64_t start, len;
  wait_and_window(p, row, start, len);  // (no global access before it)
  int32_t* out = p.out + row * p.k;
  if (len <= p.k) {  // every position selected, nothing read (the same for every CTA of the row)
    if (rank == 0)
      for (int j = threadIdx.x; j < p.k; j += kBlock) out[j] = topk_emit_as<kOut>(p, row, j < len ? j : -1);
    return;
  }
  NSA_TOPK_MARK(1);
  const int first = rank * kSlice + static_cast<int>(threadIdx.x) * kKeys;  // this thread's first position
  const int64_t rest = len - first;
  const int count = rest <= 0 ? 0 : rest < kKeys ? static_cast<int>(rest) : kKeys;  // this thread's valid keys
  // Threads past a short row's end (count 0) skip every key loop below (count_digit, the counts, the
  // staging): whole warps of them then issue only the barriers and bin choices. Prefill rows (row i of
  // i + 1 keys in CTAs of 8192) leave on average a third of their warps so.
  uint32_t key[kKeys];
  load_keys<kKeys>(p.logits + row * p.row_stride + start, first, count, key);
  for (int b = threadIdx.x; b < (kCluster ? 2 : 1) * kBins; b += kBlock) reinterpret_cast<int*>(hist_words)[b] = 0;
  __syncthreads();
  NSA_TOPK_MARK(2);

  uint32_t prefix = 0;  // the digits chosen so far
  int remaining = p.k;  // keys still to take from the chosen bin
  // The selection: every key above T, and the first take_eq keys equal to it.
  uint32_t T = 0, take_eq = 0;
#pragma unroll
  for (int d = 0; d < 3; ++d) {
    const int shift = d == 0 ? 32 : d == 1 ? 21 : 10, digit_bits = d == 2 ? 10 : 11;  // bits shift - digit_bits .. shift - 1
    count_digit<kKeys>(key, count, shift, prefix, digit_bits, local_hist(d));
    __syncthreads();
    NSA_TOPK_MARK(3 + 3 * d);
    if (kCluster) {
      group_sums<kBlock>(local_hist(d), group_words[d & 1]);
      cluster_sync();  // every CTA's counts and group sums of this pass are complete
      NSA_TOPK_MARK(4 + 3 * d);
      cluster_choose_bin<kMaxCtas>(local_hist(d), group_words[d & 1], ctas, remaining, &s_choice);
      // This CTA's counts of the pass before: every peer read them before arriving at the barrier above.
      for (int b = threadIdx.x; b < kBins; b += kBlock) local_hist(d + 1)[b] = 0;
    } else {
      choose_bin(local_hist(d), remaining, s_group, &s_choice, d < 2);
    }
    __syncthreads();
    NSA_TOPK_MARK(5 + 3 * d);
    const BinChoice choice = s_choice;
    prefix = prefix << digit_bits | static_cast<uint32_t>(choice.bin);
    remaining -= choice.above;
    const int low = shift - digit_bits;  // bits below this digit
    if (d == 2) {  // T is the k-th largest key; `remaining` keys equal to it are taken, the first ones
      T = prefix;
      take_eq = static_cast<uint32_t>(remaining);
    } else if (bin_taken_whole(prefix << low, choice.count, remaining, T)) {
      take_eq = 0;
      break;
    }
  }

  // A selected key's slot: keys above T before it in the row + min(keys matching T before it, take_eq).
  // Slots are staged in shared memory and written out in one coalesced sweep (scattered 4-byte global
  // stores cost ~2000 cycles per row); a cluster's CTAs own consecutive slot ranges.
  // When no key equal to T is taken (take_eq 0: the last pass was skipped and T lies just below the
  // taken bin), only the keys above T count, and the loops below test that alone (a uniform branch;
  // about half the instructions a key).
  const bool above_only = take_eq == 0u;
  uint32_t counts = 0;  // above T in the low half, matching T in the high half
  if (count > 0) {
    if (above_only) {
#pragma unroll
      for (int u = 0; u < kKeys; ++u) counts += u < count && key[u] > T ? 1u : 0u;
    } else {
#pragma unroll
      for (int u = 0; u < kKeys; ++u) counts += u >= count ? 0u : key[u] > T ? 1u : key[u] == T ? 0x10000u : 0u;
    }
  }
  uint32_t total;
  const uint32_t excl = block_exclusive_scan<kBlock>(counts, s_scan, total);
  NSA_TOPK_MARK(12);
  uint32_t gt_before = 0, eq_before = 0;  // in the cluster's earlier CTAs
  if (kCluster) {
    if (threadIdx.x == 0) {
      s_totals[0] = total & 0xFFFFu;
      s_totals[1] = total >> 16;
    }
    cluster_sync();
    if (threadIdx.x < 32) {
      uint32_t g = 0, e = 0;
      if (static_cast<int>(threadIdx.x) < rank) {
        const uint32_t* t = cluster_peer(s_totals, static_cast<int>(threadIdx.x));
        g = t[0];
        e = t[1];
      }
      g = gpu_inclusive_scan32(g);
      e = gpu_inclusive_scan32(e);
      if (threadIdx.x == 31) {
        s_before[0] = g;
        s_before[1] = e;
      }
    }
    cluster_arrive();  // this CTA's reads of its peers are done (waited for before exit)
    __syncthreads();
    gt_before = s_before[0];
    eq_before = s_before[1];
  }
  NSA_TOPK_MARK(13);
  const uint32_t base = gt_before + min(eq_before, take_eq);  // this CTA's first output slot
  const uint32_t end = gt_before + (total & 0xFFFFu) + min(eq_before + (total >> 16), take_eq);
  uint32_t gt = gt_before + (excl & 0xFFFFu), eq = eq_before + (excl >> 16);
  if (count > 0 && above_only) {
#pragma unroll
    for (int u = 0; u < kKeys; ++u) {
      const bool above = u < count && key[u] > T;
      gpu_shared_store_if(above, &stage[gt - base], first + u);
      gt += above ? 1u : 0u;
    }
  } else if (count > 0) {
#pragma unroll
    for (int u = 0; u < kKeys; ++u) {
      if (u >= count) continue;  // (not break: the loop stays unrollable)
      const bool above = key[u] > T, equal = key[u] == T;
      gpu_shared_store_if(above || (equal && eq < take_eq), &stage[gt + min(eq, take_eq) - base], first + u);
      gt += above ? 1u : 0u;
      eq += equal ? 1u : 0u;
    }
  }
  __syncthreads();
  NSA_TOPK_MARK(14);
  for (uint32_t j = base + threadIdx.x; j < end; j += kBlock) out[j] = topk_emit_as<kOut>(p, row, stage[j - base]);
  if (kCluster) cluster_wait();  // no CTA exits while a peer may still read its totals
  NSA_TOPK_MARK(15);
#if defined(NSA_TOPK_TRACE)
  if (threadIdx.x == 0 && row == 0) {
    long long d[16];
    for (int i = 1; i < 16; ++i) d[i] = trace_at[i] ? trace_at[i] - trace_at[0] : -1;
    printf("topk trace block %d/%d keys %d: window %lld sync %lld | p0 counted %lld synced %lld chosen %lld | p1 %lld %lld %lld | p2 %lld %lld %lld | scan %lld totals %lld stage %lld end %lld\n",
           rank, ctas, kKeys, d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15]);
  }
#endif
}

// ---- launch ----

// Every top-k kernel starts with pdl_wait(); on sm_90+ it is launched as a programmatic dependent
// (gpu/pdl.h), so its launch and the placement of its CTAs hide under the tail of the kernel before it
// (in a decode step the paged logits it reads; H200, 64 x 8192: 7.52 -> 7.00 us). `cluster` > 1: a
// thread-block cluster of that many CTAs per row.
template <class Kernel>
void launch_topk(Kernel kernel, unsigned grid, unsigned block, size_t smem, unsigned cluster, int device, gpuStream_t stream,
                 const TopKParams& p) {
#if defined(NSA_WITH_CUDA)
  const bool pdl = compute_capability(device) >= 90;
  if (pdl || cluster > 1) {
    launch_ex(kernel, dim3(grid), dim3(block), smem, stream, pdl, cluster, p);
    return;
  }
#else
  (void)device;
  (void)cluster;
#endif
  kernel<<<grid, block, smem, stream>>>(p);
  NSA_LAUNCH_CHECK("topk");
}

constexpr int kMaxCluster = kMaxPeers;     // the portable size (16 was measured slower at B = 1 on the H100)
constexpr int64_t kMinClusterCols = 16384;  // shorter rows: one CTA (the merges cost more than they save)
constexpr int64_t kMinSliceKeys = 8192;

#if defined(NSA_WITH_CUDA)
// Clusters of `ctas` CTAs of kKernel (1024 threads, kSmem bytes of dynamic shared memory, opted in
// before) that the device runs at once: a cluster needs its CTAs on one GPC, so on a 132-SM H100 / H200
// 15 or 16 clusters of 8, not 132 / 8.
template <auto kKernel, size_t kSmem = 0>
int max_active_clusters(int device, int ctas) {
  static PerDevice<int> cache;
  return cache.get(device, ctas, [&] {
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = static_cast<unsigned>(ctas);
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = dim3(static_cast<unsigned>(ctas));  // one row
    cfg.blockDim = dim3(1024);
    cfg.dynamicSmemBytes = kSmem;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    int n = 0;
    if (cudaOccupancyMaxActiveClusters(&n, kKernel, &cfg) != cudaSuccess) {
      (void)cudaGetLastError();
      n = 0;
    }
    return n;
  });
}
#endif

// The general kernel's CTAs per row: the widest power of two (at most 8, slices of at least
// kMinSliceKeys) at which every cluster of the batch runs at once, so that a batch that leaves SMs idle
// with one CTA per row spreads over them without a second wave (64 x 65536: 128 CTAs as 64 pairs, each
// slice cached in shared memory, instead of 64 CTAs reading their rows twice). NSA_TOPK_MAX_CLUSTER caps
// it (1 turns clusters off, for A/B).
template <auto kKernel>
int cluster_size(const TopKParams& p, int device) {
#if defined(NSA_WITH_CUDA) && defined(NSA_SM90A_SASS)
  static const int cap = [] {
    const char* e = std::getenv("NSA_TOPK_MAX_CLUSTER");
    const int v = e != nullptr ? std::atoi(e) : kMaxCluster;  // (rounded down to a power of two by the loop)
    return v >= 1 && v <= kMaxCluster ? v : kMaxCluster;
  }();
  if (compute_capability(device) != 90 || p.num_cols < kMinClusterCols) return 1;
  int c = 1;
  while (c * 2 <= cap && p.num_cols / (c * 2) >= kMinSliceKeys && p.rows <= max_active_clusters<kKernel, kSmemBytes>(device, c * 2)) c *= 2;
  return c;
#else
  (void)p;
  (void)device;
  return 1;
#endif
}

// How the register kernel runs a batch: threads per CTA, keys per thread, CTAs per row (a cluster).
struct RegisterShape {
  int threads = 0;  // 0: the general kernel takes the batch
  int keys = 0;
  int ctas = 1;
};

int pow2_at_least(int64_t n) {
  int c = 1;
  while (c < n) c *= 2;
  return c;
}

// Rows of up to kRegMaxLen keys: one CTA each, 1024 threads while the batch leaves SMs free (a row's
// latency is the step time), 512 two per SM while the rows fit on the SMs that way, 256 four per SM
// beyond (prefill: thousands of rows, where throughput counts; H200, 8192 causal rows: 221 -> 185 us,
// while 64 rows of 8192 take 10.8 us at 256 against 7.5 at 1024). Longer rows, up to kRegMaxClusterLen
// keys, on sm_90 while the batch's clusters all run at once: a cluster of 1024 x 8 slices, else of
// 1024 x 16 (half the CTAs; H200, 1 x 131072: 20.1 -> 17.5 us, 4 x 65536: 17.6 -> 14.6, deterministic
// at the same cost), else of 1024 x 32 (64 x 65536 as 64 pairs: 21.6 / 22.8 -> 20.9 / 20.9 us against
// the general kernel's pairs, default / deterministic); bigger batches stream through the general
// kernel. NSA_TOPK_REGISTERS=0: never; =short: rows of up to kRegMaxLen only; NSA_TOPK_REG_THREADS=256|512|1024 forces the short rows' block
// size (all for A/B).
RegisterShape register_shape(const TopKParams& p, int device) {
  static const int mode = [] {  // 0 never, 1 short rows only, 2 all
    const char* e = std::getenv("NSA_TOPK_REGISTERS");
    return e == nullptr ? 2 : std::strcmp(e, "0") == 0 ? 0 : std::strcmp(e, "short") == 0 ? 1 : 2;
  }();
  static const int forced_threads = [] {
    const char* t = std::getenv("NSA_TOPK_REG_THREADS");
    return t == nullptr ? 0 : std::atoi(t);
  }();
  if (mode == 0) return {};
  if (p.num_cols <= kRegMaxLen) {
    const int64_t sms = sm_count(device);
    const int threads = forced_threads == 256 || forced_threads == 512 || forced_threads == 1024 ? forced_threads
                        : p.rows <= sms                                                         ? 1024
                        : p.rows <= 2 * sms                                                     ? 512
                                                                                                : 256;
    return RegisterShape{threads, kRegMaxLen / threads, 1};
  }
#if defined(NSA_WITH_CUDA) && defined(NSA_SM90A_SASS)
  if (mode == 1 || compute_capability(device) != 90 || p.num_cols > kRegMaxClusterLen) return {};
  const int c8 = pow2_at_least((p.num_cols + 8191) / 8192);
  if (c8 <= kRegMaxCluster && p.rows <= max_active_clusters<topk_registers_kernel<TopKOutput::Positions, 1024, 8, true>>(device, c8)) return {1024, 8, c8};
  const int c16 = pow2_at_least((p.num_cols + 16383) / 16384);
  if (p.rows <= max_active_clusters<topk_registers_kernel<TopKOutput::Positions, 1024, 16, true>>(device, c16)) return {1024, 16, c16};
  const int c32 = pow2_at_least((p.num_cols + 32767) / 32768);
  if (c32 > 1 && p.rows <= max_active_clusters<topk_registers_kernel<TopKOutput::Positions, 1024, 32, true>>(device, c32)) return {1024, 32, c32};
#endif
  return {};
}

template <TopKOutput kOut, int kBlock, int kKeys>
void launch_registers_as(const TopKParams& p, int ctas, int device, gpuStream_t stream) {
  const unsigned grid = static_cast<unsigned>(p.rows * ctas);
  if (ctas > 1) {
    if constexpr (kBlock == 1024) launch_topk(topk_registers_kernel<kOut, kBlock, kKeys, true>, grid, kBlock, 0, ctas, device, stream, p);
  } else {
    launch_topk(topk_registers_kernel<kOut, kBlock, kKeys, false>, grid, kBlock, 0, 1, device, stream, p);
  }
}

// The register kernel, when the batch suits it (register_shape). Its rows are deterministic whether
// asked or not.
template <TopKOutput kOut>
bool launch_registers(const TopKParams& p, int device, gpuStream_t stream) {
  const RegisterShape s = register_shape(p, device);
  if (s.threads == 0) return false;
  if (s.threads == 256) launch_registers_as<kOut, 256, 32>(p, 1, device, stream);
  else if (s.threads == 512) launch_registers_as<kOut, 512, 16>(p, 1, device, stream);
  else if (s.keys == 8) launch_registers_as<kOut, 1024, 8>(p, s.ctas, device, stream);
  else if (s.keys == 16) launch_registers_as<kOut, 1024, 16>(p, s.ctas, device, stream);
  else launch_registers_as<kOut, 1024, 32>(p, s.ctas, device, stream);
  return true;
}

template <bool kDeterministic, TopKOutput kOut>
void launch(const TopKParams& p, int device, gpuStream_t stream) {
  if (launch_registers<kOut>(p, device, stream)) return;
  auto kernel = topk_kernel<kDeterministic, kOut>;
  // > 48 KB of dynamic shared memory needs the opt-in, once per device and instantiation.
  static PerDevice<bool> opted_in;
  opted_in.get(device, 0, [&] {
    NSA_GPU_CHECK(gpuFuncSetAttribute(reinterpret_cast<const void*>(kernel), gpuFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
    return true;
  });
  const int ctas = cluster_size<topk_kernel<kDeterministic, kOut>>(p, device);
  launch_topk(kernel, static_cast<unsigned>(p.rows * ctas), kThreads, kSmemBytes, static_cast<unsigned>(ctas), device, stream, p);
}

template <bool kDeterministic>
void launch_output(const TopKParams& p, int device, gpuStream_t stream) {
  switch (topk_output(p)) {
    case TopKOutput::PageTable: return launch<kDeterministic, TopKOutput::PageTable>(p, device, stream);
    case TopKOutput::GlobalSlot: return launch<kDeterministic, TopKOutput::GlobalSlot>(p, device, stream);
    default: return launch<kDeterministic, TopKOutput::Positions>(p, device, stream);
  }
}

}  // namespace

void topk_gpu(const TopKParams& p, StreamHandle stream) {
  int device = 0;
  NSA_GPU_CHECK(gpuGetDevice(&device));
  auto s = reinterpret_cast<gpuStream_t>(stream);
  if (p.deterministic) launch_output<true>(p, device, s);
  else launch_output<false>(p, device, s);
}

}  // namespace nsa
