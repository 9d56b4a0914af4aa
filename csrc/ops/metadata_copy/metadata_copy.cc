// Host side of the metadata copy: validate once at prepare, cheap size checks and a launch at run.
#include <algorithm>
#include <cstdint>

#include "ops/metadata_copy/metadata_copy.h"

namespace nsa {

namespace {

const char* mode_name(MetadataMode m) {
  switch (m) {
    case MetadataMode::Decode: return "DECODE";
    case MetadataMode::TargetVerify: return "TARGET_VERIFY";
    case MetadataMode::DraftExtend: return "DRAFT_EXTEND";
  }
  return "?";
}

bool aligned16(const void* p) { return is_aligned(p, 16); }

// A 1-D int32 contiguous field; returns its length.
int64_t check_flat(const TensorView& t, const std::string& name, int device) {
  check_int32_vector(t, name, -1, device);
  return t.shape[0];
}

// A metadata set's fields by the names lib/metadata-copy.ts gives them.
struct SetField {
  TensorView MetadataSetViews::*member;
  const char* name;
};
constexpr SetField kSetFields[] = {
    {&MetadataSetViews::cache_seqlens, "cacheSeqlens"},         {&MetadataSetViews::cu_seqlens_k, "cuSeqlensK"},
    {&MetadataSetViews::page_table, "pageTable"},               {&MetadataSetViews::seqlens_expanded, "seqlensExpanded"},
    {&MetadataSetViews::nsa_cache_seqlens, "nsaCacheSeqlens"},  {&MetadataSetViews::nsa_cu_seqlens_k, "nsaCuSeqlensK"},
    {&MetadataSetViews::real_page_table, "realPageTable"},      {&MetadataSetViews::flashmla_num_splits, "flashmlaNumSplits"},
    {&MetadataSetViews::flashmla_metadata, "flashmlaMetadata"},
};

MetadataSetViews read_set(const Args& set) {
  MetadataSetViews v;
  for (const SetField& f : kSetFields) v.*f.member = set.optional_tensor(f.name);
  return v;
}

std::vector<MetadataSetViews> read_sets(const Args& a) {
  std::vector<MetadataSetViews> out;
  for (const auto& d : a.objects("dst")) out.push_back(read_set(*d));
  return out;
}

// A 2-D int32 page table with unit inner stride; the source one must be dense.
void check_table(const TensorView& t, const std::string& name, int device, bool dense) {
  check_dtype(t, name, DType::Int32);
  check_ndim(t, name, 2);
  check_same_device(t, name, device);
  if (t.shape[1] > 1 && t.strides[1] != 1) fail(ErrorCode::Shape, name + ".strides[1]", t.strides[1], "1 (rows of consecutive elements)");
  if (dense) check_contiguous(t, name);
  else if (t.shape[0] > 1 && t.strides[0] < t.shape[1])
    fail(ErrorCode::Shape, name + ".strides[0]", t.strides[0], "a row stride >= the width " + std::to_string(t.shape[1]));
}


}  // namespace

MetadataCopyPlan::MetadataCopyPlan(const Args& a)
    : MetadataCopyPlan(read_set(*a.object("src")), read_sets(a), a.choice("mode", kMetadataModeNames, MetadataMode::Decode)) {}

MetadataCopyPlan::MetadataCopyPlan(const MetadataSetViews& src, const std::vector<MetadataSetViews>& dsts,
                                   MetadataMode mode)
    : mode_(mode) {
  // Argument counts and the required source fields
  const int n = static_cast<int>(dsts.size());
  if (n < 1 || n > kMetadataMaxDsts) fail(ErrorCode::Range, "dst", std::to_string(n) + " destination set(s)", "1..8");
  const bool expanded = mode != MetadataMode::Decode;
  struct Required {
    const TensorView MetadataSetViews::*field;
    const char* name;
    bool needed;
  };
  const Required fields[] = {
      {&MetadataSetViews::cache_seqlens, "cacheSeqlens", true},
      {&MetadataSetViews::cu_seqlens_k, "cuSeqlensK", true},
      {&MetadataSetViews::page_table, "pageTable", true},
      {&MetadataSetViews::seqlens_expanded, "seqlensExpanded", expanded},
      {&MetadataSetViews::nsa_cache_seqlens, "nsaCacheSeqlens", true},
      {&MetadataSetViews::nsa_cu_seqlens_k, "nsaCuSeqlensK", true},
  };
  for (const auto& r : fields) {
    if (!r.needed) continue;
    if (!(src.*r.field).present) fail(ErrorCode::Arg, std::string("src.") + r.name, "nothing", std::string("a tensor (required in ") + mode_name(mode) + ")");
    for (int d = 0; d < n; ++d)
      if (!(dsts[d].*r.field).present)
        fail(ErrorCode::Arg, "dst[" + std::to_string(d) + "]." + r.name, "nothing", std::string("a tensor (required in ") + mode_name(mode) + ")");
  }
  // Optional fields: copied when both sides give them; one side only is an error.
  auto optional = [&](const TensorView MetadataSetViews::*field, const char* name) {
    const bool s = (src.*field).present;
    for (int d = 0; d < n; ++d) {
      if ((dsts[d].*field).present != s) {
        fail(ErrorCode::Arg, std::string(s ? "dst[" + std::to_string(d) + "]." : "src.") + name, "nothing",
             std::string("a tensor: ") + name + " is given on the " + (s ? "source" : "destination") + " side, so both sides need it");
      }
    }
    return s;
  };
  fields_.seqlens_expanded = expanded;
  fields_.real_page_table = optional(&MetadataSetViews::real_page_table, "realPageTable");
  fields_.flashmla_num_splits = optional(&MetadataSetViews::flashmla_num_splits, "flashmlaNumSplits");
  fields_.flashmla_metadata = optional(&MetadataSetViews::flashmla_metadata, "flashmlaMetadata");

  // Type, shape and device checks of the source; its shapes give the one-shot sizes
  device_ = src.cache_seqlens.device;
  src_cap_.cache_seqlens = check_flat(src.cache_seqlens, "src.cacheSeqlens", device_);
  src_cap_.cu_seqlens_k = check_flat(src.cu_seqlens_k, "src.cuSeqlensK", device_);
  check_table(src.page_table, "src.pageTable", device_, true);
  src_cap_.page_table_size = src.page_table.numel();
  src_cap_.page_table_rows = src.page_table.shape[0];
  src_cap_.seqlens_expanded = expanded ? check_flat(src.seqlens_expanded, "src.seqlensExpanded", device_) : 0;
  src_cap_.nsa_cache_seqlens = check_flat(src.nsa_cache_seqlens, "src.nsaCacheSeqlens", device_);
  src_cap_.nsa_cu_seqlens_k = check_flat(src.nsa_cu_seqlens_k, "src.nsaCuSeqlensK", device_);
  if (fields_.real_page_table) {
    check_table(src.real_page_table, "src.realPageTable", device_, true);
    src_cap_.real_page_table_size = src.real_page_table.numel();
  }
  if (fields_.flashmla_num_splits) src_cap_.flashmla_num_splits = check_flat(src.flashmla_num_splits, "src.flashmlaNumSplits", device_);
  if (fields_.flashmla_metadata) src_cap_.flashmla_metadata = check_flat(src.flashmla_metadata, "src.flashmlaMetadata", device_);

  MetadataSizes& z = src_shape_sizes_;
  z.bs = src.cache_seqlens.shape[0];
  z.rows = src.page_table.shape[0];
  z.width = src.page_table.shape[1];
  z.s = src.nsa_cache_seqlens.shape[0];
  z.real_width = fields_.real_page_table ? src.real_page_table.shape[1] : 0;
  z.meta_len = fields_.flashmla_metadata ? src.flashmla_metadata.shape[0] : 0;

  // Destinations: same checks, one shared layout; capacities are the smallest over destinations.
  dst_cap_ = Caps{INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
  auto take = [](int64_t& cap, int64_t v) { cap = v < cap ? v : cap; };
  // All destinations share one row stride; a table of one row has no stride to disagree with.
  params_.page_table_ld = params_.real_page_table_ld = -1;
  auto shared_ld = [](const TensorView& t, const std::string& name, int64_t& ld) {
    if (t.shape[0] <= 1) return;
    if (ld < 0) ld = t.strides[0];
    else if (t.strides[0] != ld)
      fail(ErrorCode::Shape, name + ".strides[0]", t.strides[0], std::to_string(ld) + " (all destinations share one layout)");
  };
  for (int d = 0; d < n; ++d) {
    const MetadataSetViews& t = dsts[d];
    const std::string p = "dst[" + std::to_string(d) + "].";
    take(dst_cap_.cache_seqlens, check_flat(t.cache_seqlens, p + "cacheSeqlens", device_));
    take(dst_cap_.cu_seqlens_k, check_flat(t.cu_seqlens_k, p + "cuSeqlensK", device_));
    check_table(t.page_table, p + "pageTable", device_, false);
    take(dst_cap_.page_table_rows, t.page_table.shape[0]);
    take(dst_cap_.page_table_size, t.page_table.shape[1]);  // width capacity
    shared_ld(t.page_table, p + "pageTable", params_.page_table_ld);
    if (expanded) take(dst_cap_.seqlens_expanded, check_flat(t.seqlens_expanded, p + "seqlensExpanded", device_));
    take(dst_cap_.nsa_cache_seqlens, check_flat(t.nsa_cache_seqlens, p + "nsaCacheSeqlens", device_));
    take(dst_cap_.nsa_cu_seqlens_k, check_flat(t.nsa_cu_seqlens_k, p + "nsaCuSeqlensK", device_));
    if (fields_.real_page_table) {
      check_table(t.real_page_table, p + "realPageTable", device_, false);
      take(dst_cap_.real_page_table_rows, t.real_page_table.shape[0]);
      take(dst_cap_.real_page_table_size, t.real_page_table.shape[1]);
      shared_ld(t.real_page_table, p + "realPageTable", params_.real_page_table_ld);
    }
    if (fields_.flashmla_num_splits) take(dst_cap_.flashmla_num_splits, check_flat(t.flashmla_num_splits, p + "flashmlaNumSplits", device_));
    if (fields_.flashmla_metadata) take(dst_cap_.flashmla_metadata, check_flat(t.flashmla_metadata, p + "flashmlaMetadata", device_));
  }

  if (params_.page_table_ld < 0) params_.page_table_ld = dsts[0].page_table.shape[1];
  if (params_.real_page_table_ld < 0) params_.real_page_table_ld = fields_.real_page_table ? dsts[0].real_page_table.shape[1] : 0;

  // Resolve the pointers once
  auto ptrs = [](const MetadataSetViews& v) {
    MetadataPtrs m;
    m.cache_seqlens = v.cache_seqlens.ptr<int32_t>();
    m.cu_seqlens_k = v.cu_seqlens_k.ptr<int32_t>();
    m.page_table = v.page_table.ptr<int32_t>();
    m.seqlens_expanded = v.seqlens_expanded.present ? v.seqlens_expanded.ptr<int32_t>() : nullptr;
    m.nsa_cache_seqlens = v.nsa_cache_seqlens.ptr<int32_t>();
    m.nsa_cu_seqlens_k = v.nsa_cu_seqlens_k.ptr<int32_t>();
    m.real_page_table = v.real_page_table.present ? v.real_page_table.ptr<int32_t>() : nullptr;
    m.flashmla_num_splits = v.flashmla_num_splits.present ? v.flashmla_num_splits.ptr<int32_t>() : nullptr;
    m.flashmla_metadata = v.flashmla_metadata.present ? v.flashmla_metadata.ptr<int32_t>() : nullptr;
    return m;
  };
  params_.src = ptrs(src);
  params_.num_dsts = n;
  bool pt_aligned = aligned16(params_.src.page_table) && params_.page_table_ld % 4 == 0;
  bool rpt_aligned = !fields_.real_page_table || (aligned16(params_.src.real_page_table) && params_.real_page_table_ld % 4 == 0);
  for (int d = 0; d < n; ++d) {
    params_.dst[d] = ptrs(dsts[d]);
    pt_aligned = pt_aligned && aligned16(params_.dst[d].page_table);
    if (fields_.real_page_table) rpt_aligned = rpt_aligned && aligned16(params_.dst[d].real_page_table);
  }
  // Remember base alignment; run() adds the width condition.
  params_.page_table_vec4 = pt_aligned;
  params_.real_page_table_vec4 = rpt_aligned;
  if (device_ >= 0) {
    require_gpu_device(device_, "metadataCopy");
    sm_count_ = sm_count(device_);
  }
}

void MetadataCopyPlan::check_sizes(const MetadataSizes& z) const {
  auto within = [](int64_t v, const char* name, int64_t cap, const char* what) {
    if (v < 0 || v > cap) fail(ErrorCode::Range, std::string("sizes.") + name, v, "0.." + std::to_string(cap) + " (" + what + ")");
  };
  within(z.bs, "bs", std::min({src_cap_.cache_seqlens, dst_cap_.cache_seqlens, src_cap_.cu_seqlens_k - 1, dst_cap_.cu_seqlens_k - 1}),
         "cacheSeqlens / cuSeqlensK capacity");
  within(z.rows, "rows", dst_cap_.page_table_rows, "destination pageTable rows");
  within(z.width, "width", dst_cap_.page_table_size, "destination pageTable width");
  if (z.rows * z.width > INT32_MAX || z.rows * z.real_width > INT32_MAX)
    fail(ErrorCode::Range, "sizes.rows*width", z.rows * std::max(z.width, z.real_width), "< 2^31 elements per page table");
  if (z.rows * z.width > src_cap_.page_table_size)
    fail(ErrorCode::Range, "sizes.rows*width", z.rows * z.width, "<= " + std::to_string(src_cap_.page_table_size) + " (source pageTable elements)");
  int64_t s_cap = std::min({src_cap_.nsa_cache_seqlens, dst_cap_.nsa_cache_seqlens, src_cap_.nsa_cu_seqlens_k - 1, dst_cap_.nsa_cu_seqlens_k - 1});
  if (fields_.seqlens_expanded) s_cap = std::min({s_cap, src_cap_.seqlens_expanded, dst_cap_.seqlens_expanded});
  if (fields_.flashmla_num_splits) s_cap = std::min({s_cap, src_cap_.flashmla_num_splits - 1, dst_cap_.flashmla_num_splits - 1});
  within(z.s, "s", s_cap, "nsa / expanded / num-splits capacity");
  if (mode_ == MetadataMode::Decode && (z.rows != z.bs || z.s != z.bs)) {
    fail(ErrorCode::Shape, "sizes", "bs=" + std::to_string(z.bs) + ", rows=" + std::to_string(z.rows) + ", s=" + std::to_string(z.s),
         "rows == s == bs in DECODE");
  }
  if (fields_.real_page_table) {
    within(z.real_width, "realWidth", dst_cap_.real_page_table_size, "destination realPageTable width");
    if (z.rows > dst_cap_.real_page_table_rows) within(z.rows, "rows", dst_cap_.real_page_table_rows, "destination realPageTable rows");
    if (z.rows * z.real_width > src_cap_.real_page_table_size)
      fail(ErrorCode::Range, "sizes.rows*realWidth", z.rows * z.real_width, "<= " + std::to_string(src_cap_.real_page_table_size) + " (source realPageTable elements)");
  }
  if (fields_.flashmla_metadata) within(z.meta_len, "metaLen", std::min(src_cap_.flashmla_metadata, dst_cap_.flashmla_metadata), "flashmlaMetadata capacity");
}

int MetadataCopyPlan::run(const Args& a) {
  const MetadataSizes& src = src_shape_sizes_;
  const bool decode = mode_ == MetadataMode::Decode;
  constexpr int64_t kMax = INT32_MAX;
  MetadataSizes z = src;
  if (a.has("sizes")) {
    const auto sz = a.object("sizes");
    z.bs = sz->integer("bs", 0, kMax, src.bs);
    z.rows = sz->integer("rows", 0, kMax, decode ? z.bs : src.rows);
    z.width = sz->integer("width", 0, kMax, src.width);
    z.s = sz->integer("s", 0, kMax, decode ? z.bs : src.s);
    z.real_width = sz->integer("realWidth", 0, kMax, src.real_width);
    z.meta_len = sz->integer("metaLen", 0, kMax, src.meta_len);
  }
  return run(z, a.choice("strategy", kCopyStrategyNames, CopyStrategy::Fused), a.stream(device_));
}

int MetadataCopyPlan::run(const MetadataSizes& sizes, CopyStrategy strategy, StreamHandle stream) {
  check_sizes(sizes);
  MetadataCopyParams p = params_;
  p.sizes = sizes;
  // 16-byte accesses need 16-byte rows on both sides (the source rows are `width` apart).
  p.page_table_vec4 = params_.page_table_vec4 && sizes.width % 4 == 0;
  p.real_page_table_vec4 = params_.real_page_table_vec4 && sizes.real_width % 4 == 0;
  // Do nothing if the problem is empty
  const bool empty = sizes.bs == 0 && sizes.s == 0 && (sizes.rows == 0 || (sizes.width == 0 && sizes.real_width == 0)) &&
                     (!fields_.flashmla_metadata || sizes.meta_len == 0) && !fields_.flashmla_num_splits;
  if (empty) return 0;
  if (device_ < 0) {
    // The host baseline really copies field by field (what per-tensor means), so CI tests both paths.
    if (strategy == CopyStrategy::PerTensor) return metadata_copy_per_tensor(p, fields_, device_, 0);
    metadata_copy_cpu(p, fields_);
    return 1;
  }
  set_device(device_);
  const StreamHandle s = resolve_stream(stream, device_);
  if (strategy == CopyStrategy::PerTensor) return metadata_copy_per_tensor(p, fields_, device_, s);
  metadata_copy_gpu(p, fields_, sm_count_, s);
  return 1;
}

int metadata_copy_per_tensor(const MetadataCopyParams& p, const MetadataFields& f, int device, StreamHandle stream) {
  int launches = 0;
  for (int d = 0; d < p.num_dsts; ++d) {
    for_each_segment(p, f, d, [&](const CopySegment& c) {
      if (c.rows == 1) copy_bytes(c.dst, device, c.src, device, size_t(c.width) * 4, stream);
      else copy_2d(c.dst, size_t(c.dst_ld) * 4, device, c.src, size_t(c.src_ld) * 4, device, size_t(c.width) * 4, size_t(c.rows), stream);
      ++launches;
    });
  }
  return launches;
}

#ifndef NSA_WITH_GPU
void metadata_copy_gpu(const MetadataCopyParams&, const MetadataFields&, int, StreamHandle) {
  throw NsaError(ErrorCode::Unsupported, "metadataCopy: built without GPU support");
}
#endif

}  // namespace nsa
