// Paged / ragged MQA logits. One CTA = (query request or ragged row, run of kTilesPerCta tiles of 64
// key positions); kHeads/16 warps, warp w owns heads [16w, 16w + 16) as fp8 mma.sync A fragments held
// in registers for the whole CTA. Tiles stream through a kStages-deep cp.async pipeline into shared
// memory, always in the preshuffled 16x16-tile arrangement (plain pages are rearranged per 16-byte
// chunk on the way in), which makes every B-fragment read bank-conflict-free:
// lane (g, tig) reads 4 bytes at g*16 + tig*4 within a 256-byte tile row.
// Scores: relu, weight and the head sum happen in registers (shuffles over the 8 row groups), then
// across warps in shared memory; k_scale multiplies last. Positions outside a row's range are never
// written here (the -inf fill of `clean` is its own pass in the same kernel, over disjoint columns).
#include <limits>

#include "gpu/check.h"
#include "ops/mqa_logits/mqa_logits.h"

namespace nsa {
namespace {

constexpr int kStages = 3;
constexpr int kTilesPerCta = 8;
constexpr int kTileKBytes = kMqaTile * kIndexerHeadDim;      // 8192
constexpr int kStageBytes = kTileKBytes + kMqaTile * 4;      // + scales
constexpr int kMaxNextN = 4;

#if defined(NSA_WITH_CUDA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define NSA_CP_ASYNC 1
#endif
#if defined(NSA_WITH_CUDA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
#define NSA_FP8_MMA 1
#endif

// 16 (or 4) bytes global -> shared; zero-filled without any read when !valid.
__device__ __forceinline__ void copy16(uint8_t* dst, const uint8_t* src, bool valid) {
#if defined(NSA_CP_ASYNC)
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 16 : 0));
#else
  *reinterpret_cast<uint4*>(dst) = valid ? *reinterpret_cast<const uint4*>(src) : make_uint4(0, 0, 0, 0);
#endif
}
__device__ __forceinline__ void copy4(uint8_t* dst, const uint8_t* src, bool valid) {
#if defined(NSA_CP_ASYNC)
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 4 : 0));
#else
  *reinterpret_cast<uint32_t*>(dst) = valid ? *reinterpret_cast<const uint32_t*>(src) : 0u;
#endif
}
__device__ __forceinline__ void copy_commit() {
#if defined(NSA_CP_ASYNC)
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int kPending>
__device__ __forceinline__ void copy_wait() {
#if defined(NSA_CP_ASYNC)
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
#endif
}

#if !defined(NSA_FP8_MMA)
__device__ __forceinline__ float fp8_byte(uint32_t w, int e) { return fp8_e4m3_to_f32(static_cast<uint8_t>(w >> (8 * e))); }
#endif

// c += A(16x32, row) * B(32x8, col), fp8 e4m3 inputs, fp32 accumulate; fragments as mma.sync
// m16n8k32 defines them (a0/a2: row g, a1/a3: row g+8; k = tig*4 + e, +16 for a2/a3 and b1).
__device__ __forceinline__ void mma_fp8(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
#if defined(NSA_FP8_MMA)
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  // Portable emulation (sm_80, HIP): gather the rows / columns this lane owns from its neighbours.
  const int lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
  for (int j = 0; j < 4; ++j) {
    const uint32_t r0 = gpu_shfl32(a[0], g * 4 + j), r1 = gpu_shfl32(a[1], g * 4 + j);
    const uint32_t r2 = gpu_shfl32(a[2], g * 4 + j), r3 = gpu_shfl32(a[3], g * 4 + j);
    const uint32_t c0lo = gpu_shfl32(b0, 2 * tig * 4 + j), c0hi = gpu_shfl32(b1, 2 * tig * 4 + j);
    const uint32_t c1lo = gpu_shfl32(b0, (2 * tig + 1) * 4 + j), c1hi = gpu_shfl32(b1, (2 * tig + 1) * 4 + j);
    for (int e = 0; e < 4; ++e) {
      c[0] += fp8_byte(r0, e) * fp8_byte(c0lo, e) + fp8_byte(r2, e) * fp8_byte(c0hi, e);
      c[1] += fp8_byte(r0, e) * fp8_byte(c1lo, e) + fp8_byte(r2, e) * fp8_byte(c1hi, e);
      c[2] += fp8_byte(r1, e) * fp8_byte(c0lo, e) + fp8_byte(r3, e) * fp8_byte(c0hi, e);
      c[3] += fp8_byte(r1, e) * fp8_byte(c1lo, e) + fp8_byte(r3, e) * fp8_byte(c1hi, e);
    }
  }
#endif
}

// Byte of (token t, dim d) inside a staged tile (the preshuffled arrangement).
__device__ __forceinline__ int tile_offset(int t, int d) { return (t >> 4) * 2048 + (d >> 4) * 256 + (t & 15) * 16 + (d & 15); }

// Stages tile `tile` (positions base + 64*tile ...) of query row-group b into `stage`.
__device__ __forceinline__ void load_tile(const MqaLogitsParams& p, int b, int64_t base, int64_t end, int64_t tile,
                                          uint8_t* stage, int tid, int nthreads) {
  const int64_t t0 = base + tile * kMqaTile;
  if (p.ragged) {
    for (int ci = tid; ci < kMqaTile * 8; ci += nthreads) {
      const int t = ci >> 3, cd = ci & 7;
      const int64_t pos = t0 + t;
      const bool ok = pos < end;
      copy16(stage + tile_offset(t, cd * 16), ok ? p.k + pos * kIndexerHeadDim + cd * 16 : p.k, ok);
    }
    for (int t = tid; t < kMqaTile; t += nthreads) {
      const int64_t pos = t0 + t;
      const bool ok = pos < end;
      copy4(stage + kTileKBytes + 4 * t, reinterpret_cast<const uint8_t*>(ok ? p.k_scale + pos : p.k_scale), ok);
    }
    return;
  }
  const int64_t page_bytes = kcache_page_bytes(p.page_size);
  const int32_t* bt = p.block_table + int64_t(b) * p.block_table_stride;
  // The page of position pos and whether it may be read (needed, addressable and inside the cache).
  auto page_of = [&](int64_t pos, int64_t& page) {
    if (pos >= end) return false;
    page = bt[pos / p.page_size];
    return page >= 0 && page < p.num_pages;
  };
  if (p.page_size == 1) {  // 132-byte pages: 4-byte pieces
    for (int pi = tid; pi < kMqaTile * 32; pi += nthreads) {
      const int t = pi >> 5, d = (pi & 31) * 4;
      int64_t page = 0;
      const bool ok = page_of(t0 + t, page);
      copy4(stage + tile_offset(t, d), ok ? p.cache + page * page_bytes + d : p.cache, ok);
    }
  } else if (p.layout == KCacheLayout::Preshuffle) {  // a 16-token group is one contiguous 2048-byte span
    for (int ci = tid; ci < kMqaTile * 8; ci += nthreads) {
      const int grp = ci >> 7, off = (ci & 127) * 16;
      const int64_t pos = t0 + grp * 16;
      int64_t page = 0;
      const bool ok = page_of(pos, page);
      copy16(stage + grp * 2048 + off, ok ? p.cache + page * page_bytes + (pos % p.page_size) / 16 * 2048 + off : p.cache, ok);
    }
  } else {
    for (int ci = tid; ci < kMqaTile * 8; ci += nthreads) {
      const int t = ci >> 3, cd = ci & 7;
      const int64_t pos = t0 + t;
      int64_t page = 0;
      const bool ok = page_of(pos, page);
      copy16(stage + tile_offset(t, cd * 16), ok ? p.cache + page * page_bytes + (pos % p.page_size) * kIndexerHeadDim + cd * 16 : p.cache, ok);
    }
  }
  for (int t = tid; t < kMqaTile; t += nthreads) {
    const int64_t pos = t0 + t;
    int64_t page = 0;
    const bool ok = page_of(pos, page);
    copy4(stage + kTileKBytes + 4 * t, ok ? p.cache + page * page_bytes + kcache_scale_offset(p.page_size, static_cast<int>(pos % p.page_size)) : p.cache, ok);
  }
}

template <int kHeads>
__global__ void __launch_bounds__(kHeads * 2) mqa_logits_kernel(const MqaLogitsParams p) {
  constexpr int kWarps = kHeads / 16;
  constexpr int kThreadsPerCta = kWarps * 32;
  extern __shared__ __align__(16) uint8_t smem[];
  float* red = reinterpret_cast<float*>(smem + kStages * kStageBytes);  // [kWarps][64]
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, tig = lane & 3;
  const int b = blockIdx.y;
  const int N = p.next_n;

  // Row ranges of this request's query rows; tiles cover the union.
  int64_t begin[kMaxNextN], end[kMaxNextN];
  int64_t lo = INT64_MAX, hi = 0;
#pragma unroll
  for (int n = 0; n < kMaxNextN; ++n) {
    begin[n] = end[n] = 0;
    if (n < N) {
      mqa_row_range(p, b, n, begin[n], end[n]);
      if (end[n] > begin[n]) {
        lo = begin[n] < lo ? begin[n] : lo;
        hi = end[n] > hi ? end[n] : hi;
      }
    }
  }

  // clean: -inf over this CTA's column span wherever a row is invalid (disjoint from valid writes).
  if (p.clean) {
    const int64_t c0 = int64_t(blockIdx.x) * kTilesPerCta * kMqaTile;
    const int64_t c1 = c0 + kTilesPerCta * kMqaTile < p.max_context_len ? c0 + kTilesPerCta * kMqaTile : p.max_context_len;
#pragma unroll
    for (int n = 0; n < kMaxNextN; ++n) {
      if (n >= N) break;
      float* out = p.out + (int64_t(b) * N + n) * p.out_stride;
      for (int64_t col = c0 + tid; col < c1; col += kThreadsPerCta)
        if (col < begin[n] || col >= end[n]) out[col] = -std::numeric_limits<float>::infinity();
    }
  }
  if (lo >= hi) return;
  const int64_t base = p.ragged ? lo : 0;  // paged tiles start at position 0, ragged at ks
  const int64_t num_tiles = (hi - base + kMqaTile - 1) / kMqaTile;
  const int64_t first = int64_t(blockIdx.x) * kTilesPerCta;
  if (first >= num_tiles) return;
  const int count = static_cast<int>(num_tiles - first < kTilesPerCta ? num_tiles - first : kTilesPerCta);

  // Start the pipeline before the Q loads so both are in flight together.
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < count) load_tile(p, b, base, hi, first + s, smem + s * kStageBytes, tid, kThreadsPerCta);
    copy_commit();
  }

  // Q as A fragments (rows = heads 16*warp + g and + 8), and the matching weights.
  uint32_t a[kMaxNextN][4][4];
  float w0[kMaxNextN], w1[kMaxNextN];
#pragma unroll
  for (int n = 0; n < kMaxNextN; ++n) {
    if (n < N) {
      const int64_t row = int64_t(b) * N + n;
      const uint8_t* q0 = p.q + (row * p.heads + warp * 16 + g) * kIndexerHeadDim;
      const uint8_t* q1 = q0 + 8 * kIndexerHeadDim;
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) {
        a[n][ks][0] = *reinterpret_cast<const uint32_t*>(q0 + ks * 32 + tig * 4);
        a[n][ks][1] = *reinterpret_cast<const uint32_t*>(q1 + ks * 32 + tig * 4);
        a[n][ks][2] = *reinterpret_cast<const uint32_t*>(q0 + ks * 32 + 16 + tig * 4);
        a[n][ks][3] = *reinterpret_cast<const uint32_t*>(q1 + ks * 32 + 16 + tig * 4);
      }
      w0[n] = p.weights[row * p.heads + warp * 16 + g];
      w1[n] = p.weights[row * p.heads + warp * 16 + g + 8];
    }
  }

  for (int i = 0; i < count; ++i) {
    if (i + kStages - 1 < count) load_tile(p, b, base, hi, first + i + kStages - 1, smem + ((i + kStages - 1) % kStages) * kStageBytes, tid, kThreadsPerCta);
    copy_commit();
    copy_wait<kStages - 1>();
    __syncthreads();
    const uint8_t* stage = smem + (i % kStages) * kStageBytes;
    const int64_t t0 = base + (first + i) * kMqaTile;
#pragma unroll
    for (int n = 0; n < kMaxNextN; ++n) {
      if (n >= N) break;
      float acc[8][4];
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) {
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
          const int t = nt * 8 + g, d = ks * 32 + tig * 4;
          const uint32_t b0 = *reinterpret_cast<const uint32_t*>(stage + tile_offset(t, d));
          const uint32_t b1 = *reinterpret_cast<const uint32_t*>(stage + tile_offset(t, d + 16));
          mma_fp8(acc[nt], a[n][ks], b0, b1);
        }
      }
      // relu, weight, sum this warp's 16 heads: rows g and g+8 here, then over the 8 row groups.
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        float v0 = w0[n] * fmaxf(acc[nt][0], 0.f) + w1[n] * fmaxf(acc[nt][2], 0.f);
        float v1 = w0[n] * fmaxf(acc[nt][1], 0.f) + w1[n] * fmaxf(acc[nt][3], 0.f);
#pragma unroll
        for (int m = 4; m < 32; m <<= 1) {
          v0 += gpu_shfl_xor(v0, m, 32);
          v1 += gpu_shfl_xor(v1, m, 32);
        }
        if (g == 0) {
          red[warp * kMqaTile + nt * 8 + 2 * tig] = v0;
          red[warp * kMqaTile + nt * 8 + 2 * tig + 1] = v1;
        }
      }
      __syncthreads();
      if (tid < kMqaTile) {
        const int64_t pos = t0 + tid;
        if (pos >= begin[n] && pos < end[n]) {
          float s = 0.f;
#pragma unroll
          for (int w = 0; w < kWarps; ++w) s += red[w * kMqaTile + tid];
          const float scale = *reinterpret_cast<const float*>(stage + kTileKBytes + 4 * tid);
          p.out[(int64_t(b) * N + n) * p.out_stride + pos] = scale * s;
        }
      }
      __syncthreads();  // red is rewritten for the next row; the stage is refilled next iteration
    }
  }
}

template <int kHeads>
void launch(const MqaLogitsParams& p, gpuStream_t s) {
  const int smem = kStages * kStageBytes + (kHeads / 16) * kMqaTile * 4;
  static bool configured = false;  // > 48 KB of dynamic shared memory needs the opt-in once
  if (!configured) {
    NSA_GPU_CHECK(gpuFuncSetAttribute(reinterpret_cast<const void*>(mqa_logits_kernel<kHeads>), gpuFuncAttributeMaxDynamicSharedMemorySize, smem));
    configured = true;
  }
  const int64_t chunks = (p.max_context_len + kTilesPerCta * kMqaTile - 1) / (kTilesPerCta * kMqaTile);
  const dim3 grid(static_cast<unsigned>(chunks < 1 ? 1 : chunks), static_cast<unsigned>(p.batch));
  mqa_logits_kernel<kHeads><<<grid, kHeads * 2, smem, s>>>(p);
  NSA_LAUNCH_CHECK("mqa_logits_kernel");
}

}  // namespace

void mqa_logits_gpu(const MqaLogitsParams& p, StreamHandle stream) {
  auto s = reinterpret_cast<gpuStream_t>(stream);
  if (p.heads == 64) launch<64>(p, s);
  else launch<32>(p, s);
}

}  // namespace nsa
