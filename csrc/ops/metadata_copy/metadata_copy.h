// Fused decode-metadata copy (SPEC §1): one source metadata set -> 1..8 destination sets in one launch,
// with the unfused per-tensor baseline for A/B. A prepared plan validates pointers once; run() only
// checks the sizes against the capacities found at prepare and launches (legal inside graph capture).
#pragma once
#include <array>
#include <string>
#include <vector>

#include "core/args.h"
#include "core/tensor.h"
#include "runtime/runtime.h"

#if defined(__CUDACC__) && !defined(NSA_WITH_HIP)
#define NSA_GRID_CONSTANT __grid_constant__
#else
#define NSA_GRID_CONSTANT
#endif

namespace nsa {

constexpr int kMetadataMaxDsts = 8;

enum class MetadataMode : int32_t { Decode, TargetVerify, DraftExtend };
enum class CopyStrategy : int32_t { Fused, PerTensor };

constexpr EnumName<MetadataMode> kMetadataModeNames[] = {
    {"decode", MetadataMode::Decode}, {"target_verify", MetadataMode::TargetVerify}, {"draft_extend", MetadataMode::DraftExtend}};
constexpr EnumName<CopyStrategy> kCopyStrategyNames[] = {{"fused", CopyStrategy::Fused}, {"per-tensor", CopyStrategy::PerTensor}};

// One metadata set; the page tables are row-major with a unit inner stride. On the source the page
// table is page_indices (dense: row stride = W at run time), on a destination page_table_1.
struct MetadataPtrs {
  int32_t* cache_seqlens = nullptr;
  int32_t* cu_seqlens_k = nullptr;
  int32_t* page_table = nullptr;
  int32_t* seqlens_expanded = nullptr;
  int32_t* nsa_cache_seqlens = nullptr;
  int32_t* nsa_cu_seqlens_k = nullptr;
  int32_t* real_page_table = nullptr;
  int32_t* flashmla_num_splits = nullptr;
  int32_t* flashmla_metadata = nullptr;
};

// The per-run sizes (SPEC §1): bs; page-table rows R and width W; S; real page table width Wr;
// flashmla metadata length M.
struct MetadataSizes {
  int64_t bs = 0, rows = 0, width = 0, s = 0, real_width = 0, meta_len = 0;
};

// Everything one launch needs, passed by value (as a __grid_constant__ parameter on CUDA).
struct MetadataCopyParams {
  MetadataPtrs src;
  MetadataPtrs dst[kMetadataMaxDsts];
  int32_t num_dsts = 0;
  int64_t page_table_ld = 0;       // destination page_table_1 row stride (elements), shared by all dsts
  int64_t real_page_table_ld = 0;  // destination real_page_table row stride
  MetadataSizes sizes;
  bool page_table_vec4 = false;       // 16-byte accesses: W, ld and every base 16-byte aligned
  bool real_page_table_vec4 = false;  // the same for the real page table
};

// Which optional fields a plan copies; chooses the kernel instantiation.
struct MetadataFields {
  bool seqlens_expanded = false;  // TARGET_VERIFY / DRAFT_EXTEND
  bool real_page_table = false;
  bool flashmla_num_splits = false;
  bool flashmla_metadata = false;
};

// A named view of one set's tensors as the binding parsed them (absent optionals: present = false).
struct MetadataSetViews {
  TensorView cache_seqlens, cu_seqlens_k, page_table, seqlens_expanded, nsa_cache_seqlens, nsa_cu_seqlens_k,
      real_page_table, flashmla_num_splits, flashmla_metadata;
};

class MetadataCopyPlan {
 public:
  // Validates every tensor once (dtype, rank, contiguity, device, shared destination layout, optional
  // fields on both sides). Throws NsaError naming the argument.
  MetadataCopyPlan(const MetadataSetViews& src, const std::vector<MetadataSetViews>& dsts, MetadataMode mode);
  // The same from named arguments {src, dst: [...], mode} (lib/metadata-copy.ts).
  explicit MetadataCopyPlan(const Args& a);

  // Sizes taken from the source tensors' shapes (what a one-shot copy uses).
  MetadataSizes sizes_from_source() const { return src_shape_sizes_; }

  // Cheap integer checks of sizes against capacities, then one fused launch or the per-tensor
  // copies. Returns the number of launches issued (0 when everything is empty).
  int run(const MetadataSizes& sizes, CopyStrategy strategy, StreamHandle stream);
  // run() from named arguments {sizes?: {bs?, rows?, width?, s?, realWidth?, metaLen?}, strategy?,
  // stream?}: an omitted size comes from the source shapes, except that DECODE's rows and s follow bs.
  int run(const Args& a);

  int device() const { return device_; }
  int num_dsts() const { return params_.num_dsts; }
  MetadataFields fields() const { return fields_; }

 private:
  void check_sizes(const MetadataSizes& s) const;
  MetadataCopyParams params_;
  MetadataFields fields_;
  MetadataMode mode_;
  int device_ = kCpuDevice;
  int sm_count_ = 0;
  MetadataSizes src_shape_sizes_;
  // Capacities (elements) for run-time checks: the source's and the smallest destination's.
  struct Caps {
    // *_size: elements on the source (a dense table), the width on a destination (its rows are ld apart).
    int64_t cache_seqlens, cu_seqlens_k, page_table_size, page_table_rows, seqlens_expanded, nsa_cache_seqlens,
        nsa_cu_seqlens_k, real_page_table_size, real_page_table_rows, flashmla_num_splits, flashmla_metadata;
  } src_cap_{}, dst_cap_{};
};

// One field's copy into one destination as a row-major block: rows x width elements, pitches in elements.
struct CopySegment {
  const int32_t* src;
  int64_t src_ld;
  int32_t* dst;
  int64_t dst_ld;
  int64_t rows, width;
};

// The copied ranges of SPEC §1 for destination d, in field order; empty segments are skipped. The CPU
// reference and the per-tensor baseline both walk this list; the fused kernel covers the same ranges.
template <typename Fn>
void for_each_segment(const MetadataCopyParams& p, const MetadataFields& f, int d, Fn&& fn) {
  const MetadataSizes& z = p.sizes;
  const MetadataPtrs& s = p.src;
  const MetadataPtrs& t = p.dst[d];
  auto flat = [&](const int32_t* src, int32_t* dst, int64_t begin, int64_t end) {
    if (end > begin) fn(CopySegment{src + begin, 0, dst + begin, 0, 1, end - begin});
  };
  flat(s.cache_seqlens, t.cache_seqlens, 0, z.bs);
  flat(s.cu_seqlens_k, t.cu_seqlens_k, 1, z.bs + 1);  // element 0 stays 0
  if (z.rows > 0 && z.width > 0) fn(CopySegment{s.page_table, z.width, t.page_table, p.page_table_ld, z.rows, z.width});
  if (f.seqlens_expanded) flat(s.seqlens_expanded, t.seqlens_expanded, 0, z.s);
  flat(s.nsa_cache_seqlens, t.nsa_cache_seqlens, 0, z.s);
  flat(s.nsa_cu_seqlens_k, t.nsa_cu_seqlens_k, 1, z.s + 1);
  if (f.real_page_table && z.rows > 0 && z.real_width > 0)
    fn(CopySegment{s.real_page_table, z.real_width, t.real_page_table, p.real_page_table_ld, z.rows, z.real_width});
  if (f.flashmla_num_splits) flat(s.flashmla_num_splits, t.flashmla_num_splits, 0, z.s + 1);
  if (f.flashmla_metadata) flat(s.flashmla_metadata, t.flashmla_metadata, 0, z.meta_len);
}

// Reference semantics on host memory: the same ranges the kernel copies.
void metadata_copy_cpu(const MetadataCopyParams& p, const MetadataFields& f);
// One fused launch (CUDA / HIP).
void metadata_copy_gpu(const MetadataCopyParams& p, const MetadataFields& f, int sm_count, StreamHandle stream);
// The unfused baseline: one copy call per field per destination; returns the number of calls.
int metadata_copy_per_tensor(const MetadataCopyParams& p, const MetadataFields& f, int device, StreamHandle stream);

}  // namespace nsa
