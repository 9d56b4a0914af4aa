// Paged / ragged MQA logits, portable kernel (sm_80, sm_89, HIP; P = 1 everywhere; on sm_90a the paged
// P >= 16 case and ragged run mqa_logits_sm90.cu instead). One CTA = (query request or ragged
// row, run of kTilesPerCta tiles of 64 key positions); kHeads/16 warps, warp w owns heads
// [16w, 16w + 16), whose Q rows are converted once to f16 A fragments held in registers for the whole
// CTA (fp8 -> f16 is exact; accumulation is fp32). Tiles stream through a kStages-deep cp.async
// pipeline into shared memory (tile_offset; plain and preshuffled pages are rearranged per 16-byte
// chunk on the way in) and are multiplied with mma.sync m16n8k16 straight from the fp8 tile,
// conflict-free. Why f16 and not fp8 tensor cores: Hopper's fp8 wgmma accumulates with ~14 mantissa
// bits (measured ~3e-4 of the row scale, benchmarks/probes/wgmma_probe.cu), which breaks SPEC §3's
// fp32 accumulation; f16 products of fp8 values are exact and accumulate in fp32.
// Scores: relu, weight and the head sum happen in registers (shuffles over the 8 row groups), then
// across warps in shared memory; k_scale multiplies last. Positions outside a row's range are never
// written here (the -inf fill of `clean` is its own pass in the same kernel, over disjoint columns).
#include <algorithm>
#include <cstdlib>
#include <limits>

#include "gpu/check.h"
#include "gpu/pdl.h"
#include "ops/mqa_logits/mqa_logits.h"
#if defined(NSA_WITH_HIP)
#include <hip/hip_fp16.h>
#else
#include <cuda_fp16.h>
#endif

namespace nsa {
namespace {

constexpr int kStages = 3;
constexpr int kTilesPerCta = 8;
constexpr int kTileKBytes = kMqaTile * kIndexerHeadDim;      // 8192
constexpr int kStageBytes = kTileKBytes + kMqaTile * 4;      // + scales

#if defined(NSA_WITH_CUDA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
#define NSA_FP8_CVT 1  // cvt.rn.f16x2.e4m3x2
#endif

// fp8 pair -> f16 pair (exact: every e4m3 value is an f16). lo byte -> lo half.
__device__ __forceinline__ uint32_t fp8x2_to_f16x2(uint16_t v) {
#if defined(NSA_FP8_CVT)
  uint32_t r;
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;\n" : "=r"(r) : "h"(v));
  return r;
#else
  const __half lo = __float2half_rn(fp8_e4m3_to_f32(static_cast<uint8_t>(v & 0xFF)));
  const __half hi = __float2half_rn(fp8_e4m3_to_f32(static_cast<uint8_t>(v >> 8)));
  return uint32_t(__half_as_ushort(lo)) | (uint32_t(__half_as_ushort(hi)) << 16);
#endif
}

// c += A(16x16 f16, row) * B(16x8 f16, col), fp32 accumulate: mma.sync m16n8k16. Fragments: a0/a2 row
// g, a1/a3 row g+8; a0/a1 logical k = tig*2 + {0,1}, a2/a3 k = 8 + tig*2 + {0,1}; b0 / b1 the same k
// for column g. Callers map logical k onto physical dims identically for A and B, so any permutation
// of the 16 dims inside one instruction is fine (the sum does not depend on the order of k).
__device__ __forceinline__ void mma_f16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
#if defined(NSA_WITH_CUDA)
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  // Portable emulation (HIP): gather this lane's rows / columns from its neighbours.
  const int lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
  auto h2 = [](uint32_t w, int e) { return __half2float(__ushort_as_half(static_cast<unsigned short>(w >> (16 * e)))); };
  for (int j = 0; j < 4; ++j) {
    const uint32_t r0 = gpu_shfl32(a[0], g * 4 + j), r1 = gpu_shfl32(a[1], g * 4 + j);
    const uint32_t r2 = gpu_shfl32(a[2], g * 4 + j), r3 = gpu_shfl32(a[3], g * 4 + j);
    const uint32_t c0lo = gpu_shfl32(b0, 2 * tig * 4 + j), c0hi = gpu_shfl32(b1, 2 * tig * 4 + j);
    const uint32_t c1lo = gpu_shfl32(b0, (2 * tig + 1) * 4 + j), c1hi = gpu_shfl32(b1, (2 * tig + 1) * 4 + j);
    for (int e = 0; e < 2; ++e) {
      c[0] += h2(r0, e) * h2(c0lo, e) + h2(r2, e) * h2(c0hi, e);
      c[1] += h2(r0, e) * h2(c1lo, e) + h2(r2, e) * h2(c1hi, e);
      c[2] += h2(r1, e) * h2(c0lo, e) + h2(r3, e) * h2(c0hi, e);
      c[3] += h2(r1, e) * h2(c1lo, e) + h2(r3, e) * h2(c1hi, e);
    }
  }
#endif
}


// Byte of (token t, dim d) inside a staged tile: a K-major layout of core
// matrices of 8 tokens x 16 bytes (128 contiguous bytes), 128 bytes apart along K and 1024 apart along
// tokens. mma.sync B reads (lane g, tig at g*16 + tig*4) hit 32 different banks.
__device__ __forceinline__ int tile_offset(int t, int d) { return (t >> 3) * 1024 + (d >> 4) * 128 + (t & 7) * 16 + (d & 15); }

// Stages tile `tile` (positions base + 64*tile ...) of query row-group b into `stage`. Paged: the
// CTA's block-table slice was read once into `pages` (entry j = page of positions pos0 + j*P, -1 when
// not needed or outside the cache), so issuing a tile never waits on a global load.
__device__ __forceinline__ void load_tile(const MqaLogitsParams& p, int64_t base, int64_t end, int64_t tile,
                                          const int32_t* pages, int64_t pos0, int log2_page, uint8_t* stage, int tid,
                                          int nthreads) {
  const int64_t t0 = base + tile * kMqaTile;
  if (p.ragged) {
    for (int ci = tid; ci < kMqaTile * 8; ci += nthreads) {
      const int t = ci >> 3, cd = ci & 7;
      const int64_t pos = t0 + t;
      const bool ok = pos < end;
      gpu_copy_async<16>(stage + tile_offset(t, cd * 16), ok ? p.k + pos * kIndexerHeadDim + cd * 16 : p.k, ok);
    }
    for (int t = tid; t < kMqaTile; t += nthreads) {
      const int64_t pos = t0 + t;
      const bool ok = pos < end;
      gpu_copy_async<4>(stage + kTileKBytes + 4 * t, reinterpret_cast<const uint8_t*>(ok ? p.k_scale + pos : p.k_scale), ok);
    }
    return;
  }
  const int64_t page_bytes = kcache_page_bytes(p.page_size);
  const int slot_mask = p.page_size - 1;
  auto page_of = [&](int64_t pos, int64_t& page) {
    if (pos >= end) return false;
    page = pages[(pos - pos0) >> log2_page];
    return page >= 0;
  };
  if (p.page_size == 1) {  // 132-byte pages: 4-byte pieces
    for (int pi = tid; pi < kMqaTile * 32; pi += nthreads) {
      const int t = pi >> 5, d = (pi & 31) * 4;
      int64_t page = 0;
      const bool ok = page_of(t0 + t, page);
      gpu_copy_async<4>(stage + tile_offset(t, d), ok ? p.cache + page * page_bytes + d : p.cache, ok);
    }
  } else if (p.layout == KCacheLayout::Preshuffle) {  // a 16-token group is one contiguous 2048-byte span
    for (int ci = tid; ci < kMqaTile * 8; ci += nthreads) {
      const int grp = ci >> 7, c = ci & 127;  // chunk c of the group: dims (c >> 4)*16.., token c & 15
      const int t = grp * 16 + (c & 15);
      const int64_t pos = t0 + grp * 16;
      int64_t page = 0;
      const bool ok = page_of(pos, page);
      gpu_copy_async<16>(stage + tile_offset(t, (c >> 4) * 16), ok ? p.cache + page * page_bytes + ((pos & slot_mask) >> 4) * 2048 + c * 16 : p.cache, ok);
    }
  } else {
    for (int ci = tid; ci < kMqaTile * 8; ci += nthreads) {
      const int t = ci >> 3, cd = ci & 7;
      const int64_t pos = t0 + t;
      int64_t page = 0;
      const bool ok = page_of(pos, page);
      gpu_copy_async<16>(stage + tile_offset(t, cd * 16), ok ? p.cache + page * page_bytes + (pos & slot_mask) * kIndexerHeadDim + cd * 16 : p.cache, ok);
    }
  }
  for (int t = tid; t < kMqaTile; t += nthreads) {
    const int64_t pos = t0 + t;
    int64_t page = 0;
    const bool ok = page_of(pos, page);
    gpu_copy_async<4>(stage + kTileKBytes + 4 * t, ok ? p.cache + page * page_bytes + kcache_scale_offset(p.page_size, static_cast<int>(pos & slot_mask)) : p.cache, ok);
  }
}

constexpr int kCtaPositions = kTilesPerCta * kMqaTile;  // 512: the block-table slice has 512 / P entries

template <int kHeads, int kN>
__global__ void __launch_bounds__(kHeads * 2) mqa_logits_kernel(const MqaLogitsParams p) {
  constexpr int kWarps = kHeads / 16;
  constexpr int kThreadsPerCta = kWarps * 32;
  extern __shared__ __align__(16) uint8_t smem[];
  float* red = reinterpret_cast<float*>(smem + kStages * kStageBytes);  // [kWarps][64]
  int32_t* pages = reinterpret_cast<int32_t*>(red + kWarps * kMqaTile);   // [512 / P]
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, tig = lane & 3;
  const int b = blockIdx.y;

  // Row ranges of this request's query rows; tiles cover the union.
  int64_t begin[kN], end[kN];
  int64_t lo = INT64_MAX, hi = 0;
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    mqa_row_range(p, b, n, begin[n], end[n]);
    if (end[n] > begin[n]) {
      lo = begin[n] < lo ? begin[n] : lo;
      hi = end[n] > hi ? end[n] : hi;
    }
  }

  // clean: -inf over this CTA's column span wherever a row is invalid (disjoint from valid writes).
  if (p.clean) {
    const int64_t c0 = int64_t(blockIdx.x) * kCtaPositions;
    const int64_t c1 = c0 + kCtaPositions < p.max_context_len ? c0 + kCtaPositions : p.max_context_len;
#pragma unroll
    for (int n = 0; n < kN; ++n) {
      float* out = p.out + (int64_t(b) * kN + n) * p.out_stride;
      for (int64_t col = c0 + tid; col < c1; col += kThreadsPerCta)
        if (mqa_col_invalid(p, col, begin[n], end[n])) out[col] = -std::numeric_limits<float>::infinity();
    }
  }
  if (lo >= hi) return;
  const int64_t base = p.ragged ? lo : 0;  // paged tiles start at position 0, ragged at ks
  const int64_t num_tiles = (hi - base + kMqaTile - 1) / kMqaTile;
  const int64_t first = int64_t(blockIdx.x) * kTilesPerCta;
  if (first >= num_tiles) return;
  const int count = static_cast<int>(num_tiles - first < kTilesPerCta ? num_tiles - first : kTilesPerCta);

  // The block-table slice for this CTA's positions, once.
  const int64_t pos0 = base + first * kMqaTile;
  const int log2_page = __ffs(p.page_size) - 1;
  if (!p.ragged) {
    const int32_t* bt = p.block_table + int64_t(b) * p.block_table_stride;
    for (int j = tid; j < (kCtaPositions >> log2_page); j += kThreadsPerCta) {
      const int64_t pos = pos0 + (int64_t(j) << log2_page);
      int32_t page = -1;
      if (pos < hi) {  // entries past the last needed page are never read
        page = bt[pos >> log2_page];
        if (page < 0 || page >= p.num_pages) page = -1;  // read as zeros, never out of bounds
      }
      pages[j] = page;
    }
    __syncthreads();
  }

#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < count) load_tile(p, base, hi, first + s, pages, pos0, log2_page, smem + s * kStageBytes, tid, kThreadsPerCta);
    gpu_copy_commit();
  }

  // Q rows (heads 16*warp + g and + 8) as f16 A fragments, converted once; dims ks*16 + tig*4 + {0,1}
  // (a0/a1) and + {2,3} (a2/a3), matching the B loads below.
  uint32_t a[kN][8][4];
  float w0[kN], w1[kN];
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    const int64_t row = int64_t(b) * kN + n;
    const uint8_t* q0 = p.q + (row * p.heads + warp * 16 + g) * kIndexerHeadDim + tig * 4;
    const uint8_t* q1 = q0 + 8 * kIndexerHeadDim;
#pragma unroll
    for (int ks = 0; ks < 8; ++ks) {
      const uint32_t x0 = *reinterpret_cast<const uint32_t*>(q0 + ks * 16);
      const uint32_t x1 = *reinterpret_cast<const uint32_t*>(q1 + ks * 16);
      a[n][ks][0] = fp8x2_to_f16x2(static_cast<uint16_t>(x0 & 0xFFFF));
      a[n][ks][1] = fp8x2_to_f16x2(static_cast<uint16_t>(x1 & 0xFFFF));
      a[n][ks][2] = fp8x2_to_f16x2(static_cast<uint16_t>(x0 >> 16));
      a[n][ks][3] = fp8x2_to_f16x2(static_cast<uint16_t>(x1 >> 16));
    }
    w0[n] = p.weights[row * p.heads + warp * 16 + g];
    w1[n] = p.weights[row * p.heads + warp * 16 + g + 8];
  }

  for (int i = 0; i < count; ++i) {
    if (i + kStages - 1 < count)
      load_tile(p, base, hi, first + i + kStages - 1, pages, pos0, log2_page, smem + ((i + kStages - 1) % kStages) * kStageBytes, tid, kThreadsPerCta);
    gpu_copy_commit();
    gpu_copy_wait<kStages - 1>();
    __syncthreads();
    const uint8_t* stage = smem + (i % kStages) * kStageBytes;
    const int64_t t0 = base + (first + i) * kMqaTile;
#pragma unroll
    for (int n = 0; n < kN; ++n) {
      float acc[8][4];
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;
#pragma unroll
      for (int ks = 0; ks < 8; ++ks) {
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
          const uint32_t x = *reinterpret_cast<const uint32_t*>(stage + tile_offset(nt * 8 + g, ks * 16 + tig * 4));
          mma_f16(acc[nt], a[n][ks], fp8x2_to_f16x2(static_cast<uint16_t>(x & 0xFFFF)), fp8x2_to_f16x2(static_cast<uint16_t>(x >> 16)));
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
          float sum = 0.f;
#pragma unroll
          for (int w = 0; w < kWarps; ++w) sum += red[w * kMqaTile + tid];
          const float scale = *reinterpret_cast<const float*>(stage + kTileKBytes + 4 * tid);
          p.out[(int64_t(b) * kN + n) * p.out_stride + mqa_out_col(p, pos, begin[n])] = scale * sum;
        }
      }
      __syncthreads();  // red is rewritten for the next row; the stage is refilled next iteration
    }
  }
}

template <int kHeads, int kN>
void launch(const MqaLogitsParams& p, gpuStream_t s) {
  const int smem = kStages * kStageBytes + (kHeads / 16) * kMqaTile * 4 + kCtaPositions * 4;
  static_assert(kStages * kStageBytes + (64 / 16) * kMqaTile * 4 + kCtaPositions * 4 <= 48 * 1024,
                "the portable kernel stays under the 48 KB that needs no opt-in");
  const int64_t chunks = (p.max_context_len + kCtaPositions - 1) / kCtaPositions;
  const dim3 grid(static_cast<unsigned>(chunks < 1 ? 1 : chunks), static_cast<unsigned>(p.batch));
  mqa_logits_kernel<kHeads, kN><<<grid, kHeads * 2, smem, s>>>(p);
  NSA_LAUNCH_CHECK("mqa_logits_kernel");
}

template <int kHeads>
void launch_n(const MqaLogitsParams& p, gpuStream_t s) {
  switch (p.next_n) {
    case 1: launch<kHeads, 1>(p, s); break;
    case 2: launch<kHeads, 2>(p, s); break;
    case 3: launch<kHeads, 3>(p, s); break;
    default: launch<kHeads, 4>(p, s); break;
  }
}

}  // namespace

void mqa_logits_gpu(const MqaLogitsParams& p, StreamHandle stream) {
  auto s = reinterpret_cast<gpuStream_t>(stream);
  int device = 0;
  NSA_GPU_CHECK(gpuGetDevice(&device));
  if (mqa_logits_sm90(p, device, stream)) return;  // the Hopper kernel took it (mqa_logits_sm90.cu)
  if (p.heads == 64) launch_n<64>(p, s);
  else launch_n<32>(p, s);
}

}  // namespace nsa
