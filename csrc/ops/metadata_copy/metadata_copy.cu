// The fused metadata-copy kernel: every field of SPEC §1 for every destination in one launch. Each
// copy is an independent grid-stride loop; each source element is loaded once and stored N times.
#include <algorithm>

#include "gpu/check.h"
#include "ops/metadata_copy/metadata_copy.h"

namespace nsa {
namespace {

constexpr int kThreads = 256;

template <int32_t* MetadataPtrs::*F>
__device__ __forceinline__ void copy_flat(const MetadataCopyParams& p, int64_t begin, int64_t end, int64_t tid,
                                          int64_t stride) {
  const int32_t* src = p.src.*F;
  for (int64_t i = begin + tid; i < end; i += stride) {
    const int32_t v = src[i];
#pragma unroll
    for (int d = 0; d < kMetadataMaxDsts; ++d)
      if (d < p.num_dsts) (p.dst[d].*F)[i] = v;
  }
}

// rows x width block; source rows dense (pitch = width), destination rows at pitch ld. With vec4 the
// block moves as int4 (width, ld and all bases are 16-byte multiples, checked on the host).
template <int32_t* MetadataPtrs::*F>
__device__ __forceinline__ void copy_rows(const MetadataCopyParams& p, int64_t rows, int64_t width, int64_t ld,
                                          bool vec4, int64_t tid, int64_t stride) {
  const int32_t* src = p.src.*F;
  if (vec4) {
    const int64_t w4 = width / 4, n = rows * w4;
    for (int64_t k = tid; k < n; k += stride) {
      const int64_t r = k / w4, c = k - r * w4;
      const int4 v = reinterpret_cast<const int4*>(src + r * width)[c];
#pragma unroll
      for (int d = 0; d < kMetadataMaxDsts; ++d)
        if (d < p.num_dsts) reinterpret_cast<int4*>((p.dst[d].*F) + r * ld)[c] = v;
    }
  } else {
    const int64_t n = rows * width;
    for (int64_t k = tid; k < n; k += stride) {
      const int64_t r = k / width, c = k - r * width;
      const int32_t v = src[r * width + c];
#pragma unroll
      for (int d = 0; d < kMetadataMaxDsts; ++d)
        if (d < p.num_dsts) (p.dst[d].*F)[r * ld + c] = v;
    }
  }
}

template <bool kExpanded, bool kRealPageTable, bool kNumSplits, bool kFlashMeta>
__global__ void __launch_bounds__(kThreads) metadata_copy_kernel(const NSA_GRID_CONSTANT MetadataCopyParams p) {
  const int64_t tid = blockIdx.x * int64_t(kThreads) + threadIdx.x;
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  const MetadataSizes& z = p.sizes;
  // The big copies first: they decide the grid, the small ones ride along on the first threads.
  copy_rows<&MetadataPtrs::page_table>(p, z.rows, z.width, p.page_table_ld, p.page_table_vec4, tid, stride);
  if constexpr (kRealPageTable)
    copy_rows<&MetadataPtrs::real_page_table>(p, z.rows, z.real_width, p.real_page_table_ld, p.real_page_table_vec4,
                                              tid, stride);
  copy_flat<&MetadataPtrs::cache_seqlens>(p, 0, z.bs, tid, stride);
  copy_flat<&MetadataPtrs::cu_seqlens_k>(p, 1, z.bs + 1, tid, stride);
  if constexpr (kExpanded) copy_flat<&MetadataPtrs::seqlens_expanded>(p, 0, z.s, tid, stride);
  copy_flat<&MetadataPtrs::nsa_cache_seqlens>(p, 0, z.s, tid, stride);
  copy_flat<&MetadataPtrs::nsa_cu_seqlens_k>(p, 1, z.s + 1, tid, stride);
  if constexpr (kNumSplits) copy_flat<&MetadataPtrs::flashmla_num_splits>(p, 0, z.s + 1, tid, stride);
  if constexpr (kFlashMeta) copy_flat<&MetadataPtrs::flashmla_metadata>(p, 0, z.meta_len, tid, stride);
}

using KernelFn = void (*)(const MetadataCopyParams);

// All 16 instantiations, indexed by the optional-field bits.
template <int kBits>
constexpr KernelFn kernel_for() {
  return metadata_copy_kernel<(kBits & 1) != 0, (kBits & 2) != 0, (kBits & 4) != 0, (kBits & 8) != 0>;
}
template <int... I>
constexpr std::array<KernelFn, sizeof...(I)> kernel_table(std::integer_sequence<int, I...>) {
  return {kernel_for<I>()...};
}
constexpr auto kKernels = kernel_table(std::make_integer_sequence<int, 16>{});

}  // namespace

void metadata_copy_gpu(const MetadataCopyParams& p, const MetadataFields& f, int sm_count, StreamHandle stream) {
  const MetadataSizes& z = p.sizes;
  const int64_t pt_items = z.rows * (p.page_table_vec4 ? z.width / 4 : z.width);
  const int64_t rpt_items = f.real_page_table ? z.rows * (p.real_page_table_vec4 ? z.real_width / 4 : z.real_width) : 0;
  const int64_t work = std::max({pt_items, rpt_items, z.bs + 1, z.s + 1, f.flashmla_metadata ? z.meta_len : 0});
  // Enough blocks to cover the largest copy once, capped at a few waves (grid-stride beyond that).
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>((work + kThreads - 1) / kThreads, int64_t(sm_count) * 8));
  const int bits = (f.seqlens_expanded ? 1 : 0) | (f.real_page_table ? 2 : 0) | (f.flashmla_num_splits ? 4 : 0) |
                   (f.flashmla_metadata ? 8 : 0);
  kKernels[bits]<<<static_cast<unsigned>(blocks), kThreads, 0, reinterpret_cast<gpuStream_t>(stream)>>>(p);
  NSA_LAUNCH_CHECK("metadata_copy_kernel");
}

}  // namespace nsa
