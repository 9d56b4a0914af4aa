// Indexer K cache kernels. 8 threads per token, 16 dims each: a thread's 16 fp8 bytes are one 16-byte
// chunk in both layouts (the preshuffle tile row), so stores and gathers are 16-byte accesses.
#include "gpu/check.h"
#include "ops/indexer_cache/indexer_cache.h"
#if defined(NSA_WITH_CUDA)
#include <cuda_fp8.h>
#endif

namespace nsa {
namespace {

constexpr int kThreads = 256;
constexpr int kLanesPerToken = kIndexerHeadDim / 16;  // 8
constexpr int kTokensPerBlock = kThreads / kLanesPerToken;

// Two floats -> two e4m3 bytes (lo = a). sm_89+ has the saturating convert in hardware; it rounds
// exactly like f32_to_fp8_e4m3 (the convert tests check the two against each other bit for bit).
__device__ __forceinline__ uint16_t fp8x2(float a, float b) {
#if defined(NSA_WITH_CUDA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  return static_cast<uint16_t>(__nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3));
#else
  return static_cast<uint16_t>(f32_to_fp8_e4m3(a) | (uint16_t(f32_to_fp8_e4m3(b)) << 8));
#endif
}

// A 16-byte chunk to a 4-byte-aligned address (P = 1 pages are 132 bytes) or a 16-byte-aligned one.
__device__ __forceinline__ void store16(uint8_t* dst, uint4 v, bool vec16) {
  if (vec16) {
    *reinterpret_cast<uint4*>(dst) = v;
  } else {
    auto* d = reinterpret_cast<uint32_t*>(dst);
    d[0] = v.x; d[1] = v.y; d[2] = v.z; d[3] = v.w;
  }
}
__device__ __forceinline__ uint4 load16(const uint8_t* src, bool vec16) {
  if (vec16) return *reinterpret_cast<const uint4*>(src);
  auto* s = reinterpret_cast<const uint32_t*>(src);
  return make_uint4(s[0], s[1], s[2], s[3]);
}

template <KCacheLayout kLayout, ScaleFormat kFormat>
__global__ void __launch_bounds__(kThreads) store_k_kernel(const StoreKParams p, bool vec16, bool k_vec16) {
  const int64_t i = int64_t(blockIdx.x) * kTokensPerBlock + threadIdx.x / kLanesPerToken;
  const int lane = threadIdx.x % kLanesPerToken;
  const bool valid = i < p.num_tokens;
  // Load 16 bf16 (32 bytes) of this token's row.
  float x[16];
  if (valid) {
    const uint16_t* row = p.k + i * p.k_row_stride + lane * 16;
    uint32_t w[8];
    if (k_vec16) {
      const uint4 a = reinterpret_cast<const uint4*>(row)[0], b = reinterpret_cast<const uint4*>(row)[1];
      w[0] = a.x; w[1] = a.y; w[2] = a.z; w[3] = a.w; w[4] = b.x; w[5] = b.y; w[6] = b.z; w[7] = b.w;
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j) w[j] = uint32_t(row[2 * j]) | (uint32_t(row[2 * j + 1]) << 16);
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      x[2 * j] = bf16_to_f32(static_cast<uint16_t>(w[j] & 0xFFFFu));
      x[2 * j + 1] = bf16_to_f32(static_cast<uint16_t>(w[j] >> 16));
    }
  } else {
#pragma unroll
    for (int j = 0; j < 16; ++j) x[j] = 0.f;
  }
  float amax = 0.f;
#pragma unroll
  for (int j = 0; j < 16; ++j) amax = fmaxf(amax, fabsf(x[j]));
  // All lanes of the warp take part in the shuffles, valid or not.
  amax = fmaxf(amax, gpu_shfl_xor(amax, 4, kLanesPerToken));
  amax = fmaxf(amax, gpu_shfl_xor(amax, 2, kLanesPerToken));
  amax = fmaxf(amax, gpu_shfl_xor(amax, 1, kLanesPerToken));
  if (!valid) return;
  const int64_t slot = p.slots[i];
  if (slot < 0) return;
  if (slot >= p.num_pages * p.page_size) {
    if (p.error_flag != nullptr && lane == 0) atomicOr(p.error_flag, int32_t(kSlotOutOfRange));
    return;  // never write past the cache
  }
  const float scale = kcache_scale<kFormat>(amax);
  const float inv = 1.0f / scale;
  uint32_t q[4];
#pragma unroll
  for (int j = 0; j < 4; ++j)
    q[j] = uint32_t(fp8x2(x[4 * j] * inv, x[4 * j + 1] * inv)) | (uint32_t(fp8x2(x[4 * j + 2] * inv, x[4 * j + 3] * inv)) << 16);
  const int64_t page = slot / p.page_size;
  const int t = static_cast<int>(slot - page * p.page_size);
  uint8_t* base = p.cache + page * kcache_page_bytes(p.page_size);
  store16(base + kcache_k_offset<kLayout>(t, lane * 16), make_uint4(q[0], q[1], q[2], q[3]), vec16);
  if (lane == 0) *reinterpret_cast<float*>(base + kcache_scale_offset(p.page_size, t)) = scale;
}

template <KCacheLayout kLayout>
__global__ void __launch_bounds__(kThreads) gather_k_kernel(const GatherKParams p, bool vec16) {
  const int64_t i = int64_t(blockIdx.x) * kTokensPerBlock + threadIdx.x / kLanesPerToken;
  const int lane = threadIdx.x % kLanesPerToken;
  if (i >= p.num_tokens) return;
  // Request of token i: the last b with cu[b] <= i.
  int lo = 0, hi = p.batch - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (p.cu_seq_lens[mid] <= i) lo = mid;
    else hi = mid - 1;
  }
  const int64_t pos = i - p.cu_seq_lens[lo];
  const int64_t block = pos / p.page_size;
  int32_t bits = 0;
  int64_t page = -1;
  if (pos < 0 || block >= p.max_blocks || i >= p.cu_seq_lens[p.batch]) {
    bits = kBlockOutOfRange;
  } else {
    page = p.block_table[int64_t(lo) * p.max_blocks + block];
    if (page < 0 || page >= p.num_pages) bits = kPageOutOfRange;
  }
  uint8_t* out = p.out_k + i * kIndexerHeadDim + lane * 16;
  if (bits != 0) {  // never read outside the cache: write zeros and report
    *reinterpret_cast<uint4*>(out) = make_uint4(0, 0, 0, 0);
    if (lane == 0) {
      p.out_scale[i] = 0.f;
      if (p.error_flag != nullptr) atomicOr(p.error_flag, bits);
    }
    return;
  }
  const int t = static_cast<int>(pos - block * p.page_size);
  const uint8_t* base = p.cache + page * kcache_page_bytes(p.page_size);
  *reinterpret_cast<uint4*>(out) = load16(base + kcache_k_offset<kLayout>(t, lane * 16), vec16);
  if (lane == 0) p.out_scale[i] = *reinterpret_cast<const float*>(base + kcache_scale_offset(p.page_size, t));
}

bool aligned16(const void* ptr) { return is_aligned(ptr, 16); }

}  // namespace

void store_k_gpu(const StoreKParams& p, KCacheLayout layout, ScaleFormat fmt, StreamHandle stream) {
  const bool vec16 = aligned16(p.cache) && kcache_page_bytes(p.page_size) % 16 == 0;
  const bool k_vec16 = aligned16(p.k) && p.k_row_stride % 8 == 0;
  const unsigned blocks = static_cast<unsigned>((p.num_tokens + kTokensPerBlock - 1) / kTokensPerBlock);
  auto s = reinterpret_cast<gpuStream_t>(stream);
  if (layout == KCacheLayout::Plain) {
    if (fmt == ScaleFormat::Ue8m0) store_k_kernel<KCacheLayout::Plain, ScaleFormat::Ue8m0><<<blocks, kThreads, 0, s>>>(p, vec16, k_vec16);
    else store_k_kernel<KCacheLayout::Plain, ScaleFormat::Fp32><<<blocks, kThreads, 0, s>>>(p, vec16, k_vec16);
  } else {
    if (fmt == ScaleFormat::Ue8m0) store_k_kernel<KCacheLayout::Preshuffle, ScaleFormat::Ue8m0><<<blocks, kThreads, 0, s>>>(p, vec16, k_vec16);
    else store_k_kernel<KCacheLayout::Preshuffle, ScaleFormat::Fp32><<<blocks, kThreads, 0, s>>>(p, vec16, k_vec16);
  }
  NSA_LAUNCH_CHECK("store_k_kernel");
}

void gather_k_gpu(const GatherKParams& p, KCacheLayout layout, StreamHandle stream) {
  const bool vec16 = aligned16(p.cache) && kcache_page_bytes(p.page_size) % 16 == 0;
  const unsigned blocks = static_cast<unsigned>((p.num_tokens + kTokensPerBlock - 1) / kTokensPerBlock);
  auto s = reinterpret_cast<gpuStream_t>(stream);
  if (layout == KCacheLayout::Plain) gather_k_kernel<KCacheLayout::Plain><<<blocks, kThreads, 0, s>>>(p, vec16);
  else gather_k_kernel<KCacheLayout::Preshuffle><<<blocks, kThreads, 0, s>>>(p, vec16);
  NSA_LAUNCH_CHECK("gather_k_kernel");
}

}  // namespace nsa
