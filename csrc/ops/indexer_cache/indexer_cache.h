// Indexer K cache (SPEC §2): pages of P tokens x D = 128 fp8 bytes followed by P float32 scales, in the
// plain or the 16x16-tile preshuffled layout. store quantizes bf16 K into it; gather reads tokens back
// row-major. The layout and quantization helpers here are shared by the CPU reference and the kernels.
#pragma once
#include <cmath>

#include "core/args.h"
#include "core/tensor.h"
#include "runtime/runtime.h"

namespace nsa {

constexpr int kIndexerHeadDim = 128;
constexpr float kIndexerScaleFloor = 1e-4f;

enum class KCacheLayout : int32_t { Plain, Preshuffle };
enum class ScaleFormat : int32_t { Ue8m0, Fp32 };

constexpr EnumName<KCacheLayout> kKCacheLayoutNames[] = {{"plain", KCacheLayout::Plain}, {"preshuffle", KCacheLayout::Preshuffle}};
constexpr EnumName<ScaleFormat> kScaleFormatNames[] = {{"ue8m0", ScaleFormat::Ue8m0}, {"fp32", ScaleFormat::Fp32}};

// Device-side bound violations, reported through an int32 flag when the caller asks for checks.
enum KCacheErrorBits : int32_t { kSlotOutOfRange = 1, kPageOutOfRange = 2, kBlockOutOfRange = 4 };

NSA_HD int64_t kcache_page_bytes(int page_size) { return int64_t(page_size) * (kIndexerHeadDim + 4); }

// Byte of (token t, dim d) inside a page, before the scales.
template <KCacheLayout kLayout>
NSA_HD int64_t kcache_k_offset(int t, int d) {
  if constexpr (kLayout == KCacheLayout::Plain) {
    return int64_t(t) * kIndexerHeadDim + d;
  } else {
    return int64_t(t >> 4) * (16 * kIndexerHeadDim) + (d >> 4) * 256 + (t & 15) * 16 + (d & 15);
  }
}
NSA_HD int64_t kcache_scale_offset(int page_size, int t) { return int64_t(page_size) * kIndexerHeadDim + 4 * int64_t(t); }

// scale = max(amax, 1e-4) / 448; ue8m0 rounds it up to a power of two (exact on the bits: any
// mantissa bit set -> next exponent). Scales here are always normal floats.
template <ScaleFormat kFormat>
NSA_HD float kcache_scale(float amax) {
  float s = (amax > kIndexerScaleFloor ? amax : kIndexerScaleFloor) / kFp8E4M3Max;
  if constexpr (kFormat == ScaleFormat::Ue8m0) {
    uint32_t u = f32_bits(s);
    if (u & 0x7FFFFFu) u = (u & 0xFF800000u) + 0x800000u;
    s = bits_f32(u);
  }
  return s;
}

struct StoreKParams {
  const uint16_t* k;      // bf16 [T, 128], rows k_row_stride apart
  int64_t k_row_stride;   // elements
  const int64_t* slots;   // [T]
  uint8_t* cache;         // [num_pages, page_bytes]
  int64_t num_tokens;
  int64_t num_pages;
  int page_size;
  int32_t* error_flag;    // device int32 or nullptr
};

struct GatherKParams {
  const uint8_t* cache;
  const int32_t* block_table;  // [batch, max_blocks], contiguous
  const int32_t* cu_seq_lens;  // [batch + 1]
  uint8_t* out_k;              // fp8 [num_tokens, 128] row-major
  float* out_scale;            // [num_tokens]
  int64_t num_tokens;
  int64_t num_pages;
  int batch;
  int max_blocks;
  int page_size;
  int32_t* error_flag;
};

struct KCacheGeometry {
  int64_t num_pages;
  int page_size;
  KCacheLayout layout;
};

// Validates the cache tensor against its declared geometry (uint8 [num_pages, P*(D+4)], contiguous).
KCacheGeometry check_kcache(const TensorView& cache, int page_size, KCacheLayout layout, int head_dim);

// The one reader of the `cache` argument {tensor, pageSize, layout, headDim} (lib/indexer-cache.ts
// IndexerKCache.nativeCache()), shared by every op that reads the cache; validated by check_kcache.
struct KCacheArg {
  TensorView tensor;
  KCacheGeometry geometry;
};
KCacheArg read_kcache(const Args& a);

// Entries from named arguments (lib/indexer-cache.ts).
void check_kcache(const Args& a);  // {cache}
void store_k(const Args& a);       // {cache, k, slotMapping, scaleFormat?, checkBounds?, stream?}
void gather_k(const Args& a);      // {cache, blockTable, cuSeqLens, outK, outScale, checkBounds?, stream?}

// Host APIs: validate, then run on the tensors' device. With check_bounds, a GPU run synchronizes
// and reports out-of-range slots / pages as E_RANGE (the kernels skip them either way).
void store_k(const TensorView& cache, const KCacheGeometry& g, const TensorView& k, const TensorView& slots,
             ScaleFormat fmt, bool check_bounds, StreamHandle stream);
void gather_k(const TensorView& cache, const KCacheGeometry& g, const TensorView& block_table, const TensorView& cu_seq_lens,
              const TensorView& out_k, const TensorView& out_scale, bool check_bounds, StreamHandle stream);

void store_k_cpu(const StoreKParams& p, KCacheLayout layout, ScaleFormat fmt);
void gather_k_cpu(const GatherKParams& p, KCacheLayout layout);
void store_k_gpu(const StoreKParams& p, KCacheLayout layout, ScaleFormat fmt, StreamHandle stream);
void gather_k_gpu(const GatherKParams& p, KCacheLayout layout, StreamHandle stream);

}  // namespace nsa
