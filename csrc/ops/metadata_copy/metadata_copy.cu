// The fused metadata-copy kernel: every field of SPEC §1 for every destination in one launch. Each
// copy is an independent grid-stride loop; each source element is loaded once and stored N times.
#include <algorithm>

#include "gpu/check.h"
#include "ops/metadata_copy/metadata_copy.h"

namespace nsa {
namespace {

constexpr int kThreads = 256;

// The kernel is latency-bound at serving sizes: a thread that loads, stores, then loads the next field
// pays one memory round trip per field (the source may alias a destination, so the compiler cannot
// hoist loads over stores). So every thread first issues all its loads (read-only path), then all its
// stores. Small fields are covered in one pass (the grid is at least as large as the largest of
// them); only the page tables grid-stride beyond the first pass.

// Element `i` of a small field when i lies in [begin, end).
struct Small {
  int32_t v;
  bool on;
};
template <int32_t* MetadataPtrs::*F>
__device__ __forceinline__ Small load_small(const MetadataCopyParams& p, int64_t begin, int64_t end, int64_t i) {
  const bool on = i >= begin && i < end;
  return {on ? __ldg(p.src.*F + i) : 0, on};
}
template <int32_t* MetadataPtrs::*F>
__device__ __forceinline__ void store_small(const MetadataCopyParams& p, Small x, int64_t i) {
  if (!x.on) return;
#pragma unroll
  for (int d = 0; d < kMetadataMaxDsts; ++d)
    if (d < p.num_dsts) (p.dst[d].*F)[i] = x.v;
}

// rows x width block, source rows dense (pitch = width), destination pitch ld. With vec4 the block
// moves as int4 (width, ld and all bases 16-byte multiples, checked on the host).
struct Rows {
  int64_t rows, width, ld;
  bool vec4;
  __device__ __forceinline__ int64_t items() const { return rows * (vec4 ? width / 4 : width); }
};
struct Chunk {
  int4 v;
  int64_t r, c;  // row, column in items
  bool on;
};
template <int32_t* MetadataPtrs::*F>
__device__ __forceinline__ Chunk load_chunk(const MetadataCopyParams& p, const Rows& g, int64_t k) {
  Chunk x{};
  x.on = k < g.items();
  if (!x.on) return x;
  const int64_t per_row = g.vec4 ? g.width / 4 : g.width;
  x.r = uint32_t(k) / uint32_t(per_row);  // tables stay below 2^31 elements (checked on the host)
  x.c = k - x.r * per_row;
  const int32_t* row = p.src.*F + x.r * g.width;
  if (g.vec4) x.v = __ldg(reinterpret_cast<const int4*>(row) + x.c);
  else x.v.x = __ldg(row + x.c);
  return x;
}
template <int32_t* MetadataPtrs::*F>
__device__ __forceinline__ void store_chunk(const MetadataCopyParams& p, const Rows& g, const Chunk& x) {
  if (!x.on) return;
#pragma unroll
  for (int d = 0; d < kMetadataMaxDsts; ++d) {
    if (d < p.num_dsts) {
      int32_t* row = (p.dst[d].*F) + x.r * g.ld;
      if (g.vec4) reinterpret_cast<int4*>(row)[x.c] = x.v;
      else row[x.c] = x.v.x;
    }
  }
}

template <bool kExpanded, bool kRealPageTable, bool kNumSplits, bool kFlashMeta>
__global__ void __launch_bounds__(kThreads) metadata_copy_kernel(const NSA_GRID_CONSTANT MetadataCopyParams p) {
  const int64_t tid = blockIdx.x * int64_t(kThreads) + threadIdx.x;
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  const MetadataSizes& z = p.sizes;
  const Rows pt{z.rows, z.width, p.page_table_ld, p.page_table_vec4};
  const Rows rpt{z.rows, z.real_width, p.real_page_table_ld, p.real_page_table_vec4};

  // Phase 1: every load this thread owes in the first pass, all in flight together.
  Chunk a = load_chunk<&MetadataPtrs::page_table>(p, pt, tid);
  Chunk b{};
  if constexpr (kRealPageTable) b = load_chunk<&MetadataPtrs::real_page_table>(p, rpt, tid);
  const Small cache = load_small<&MetadataPtrs::cache_seqlens>(p, 0, z.bs, tid);
  const Small cu = load_small<&MetadataPtrs::cu_seqlens_k>(p, 1, z.bs + 1, tid);  // element 0 stays
  Small expanded{}, splits{}, meta{};
  if constexpr (kExpanded) expanded = load_small<&MetadataPtrs::seqlens_expanded>(p, 0, z.s, tid);
  const Small nsa = load_small<&MetadataPtrs::nsa_cache_seqlens>(p, 0, z.s, tid);
  const Small nsa_cu = load_small<&MetadataPtrs::nsa_cu_seqlens_k>(p, 1, z.s + 1, tid);
  if constexpr (kNumSplits) splits = load_small<&MetadataPtrs::flashmla_num_splits>(p, 0, z.s + 1, tid);
  if constexpr (kFlashMeta) meta = load_small<&MetadataPtrs::flashmla_metadata>(p, 0, z.meta_len, tid);

  // Phase 2: the stores, N destinations each.
  store_chunk<&MetadataPtrs::page_table>(p, pt, a);
  if constexpr (kRealPageTable) store_chunk<&MetadataPtrs::real_page_table>(p, rpt, b);
  store_small<&MetadataPtrs::cache_seqlens>(p, cache, tid);
  store_small<&MetadataPtrs::cu_seqlens_k>(p, cu, tid);
  if constexpr (kExpanded) store_small<&MetadataPtrs::seqlens_expanded>(p, expanded, tid);
  store_small<&MetadataPtrs::nsa_cache_seqlens>(p, nsa, tid);
  store_small<&MetadataPtrs::nsa_cu_seqlens_k>(p, nsa_cu, tid);
  if constexpr (kNumSplits) store_small<&MetadataPtrs::flashmla_num_splits>(p, splits, tid);
  if constexpr (kFlashMeta) store_small<&MetadataPtrs::flashmla_metadata>(p, meta, tid);

  // Phase 3: page-table rows beyond the first pass (large tables; bandwidth-bound there).
  for (int64_t k = tid + stride; k < pt.items(); k += stride) store_chunk<&MetadataPtrs::page_table>(p, pt, load_chunk<&MetadataPtrs::page_table>(p, pt, k));
  if constexpr (kRealPageTable)
    for (int64_t k = tid + stride; k < rpt.items(); k += stride)
      store_chunk<&MetadataPtrs::real_page_table>(p, rpt, load_chunk<&MetadataPtrs::real_page_table>(p, rpt, k));
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
  const int64_t small = std::max({z.bs + 1, z.s + 1, f.flashmla_metadata ? z.meta_len : 0});
  // Page tables: cover them once, capped at a few waves (grid-stride beyond). Small fields: always
  // one pass, so the grid is never smaller than the largest of them.
  const int64_t table_blocks = std::min<int64_t>((std::max(pt_items, rpt_items) + kThreads - 1) / kThreads, int64_t(sm_count) * 8);
  const int64_t blocks = std::max<int64_t>({1, table_blocks, (small + kThreads - 1) / kThreads});
  const int bits = (f.seqlens_expanded ? 1 : 0) | (f.real_page_table ? 2 : 0) | (f.flashmla_num_splits ? 4 : 0) |
                   (f.flashmla_metadata ? 8 : 0);
  kKernels[bits]<<<static_cast<unsigned>(blocks), kThreads, 0, reinterpret_cast<gpuStream_t>(stream)>>>(p);
  NSA_LAUNCH_CHECK("metadata_copy_kernel");
}

}  // namespace nsa
