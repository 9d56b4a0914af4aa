// Host side of the indexer K cache: validation, CPU / GPU dispatch, and the optional bounds report.
#include "ops/indexer_cache/indexer_cache.h"

#include <string>

namespace nsa {

namespace {
// Allocates a zeroed device int32 when the caller wants bound violations reported, and reads it back.
class ErrorFlag {
 public:
  ErrorFlag(bool enabled, int device, StreamHandle s) : device_(device), stream_(s) {
    if (!enabled) return;
    ptr_ = static_cast<int32_t*>(device_alloc(4, device, s));
    memset_bytes(ptr_, device, 0, 4, s);
  }
  ~ErrorFlag() {
    if (ptr_ != nullptr) {
      try {
        device_free(ptr_, device_, stream_);
      } catch (...) {
      }
    }
  }
  int32_t* get() const { return ptr_; }
  int32_t read() const {
    int32_t v = 0;
    if (ptr_ != nullptr) copy_bytes(&v, kCpuDevice, ptr_, device_, 4, stream_);  // synchronizes
    return v;
  }

 private:
  int32_t* ptr_ = nullptr;
  int device_;
  StreamHandle stream_;
};

// Every kind of violation the kernel flagged, in one message.
void report(int32_t bits, const std::string& op) {
  std::string what;
  auto add = [&](int32_t bit, const char* text) {
    if (bits & bit) what += (what.empty() ? "" : "; ") + std::string(text);
  };
  add(kSlotOutOfRange, "slotMapping holds a slot >= numPages * pageSize (those tokens were skipped)");
  add(kPageOutOfRange, "blockTable holds a page outside [0, numPages) (those tokens were written as zeros)");
  add(kBlockOutOfRange, "cuSeqLens asks for more blocks than blockTable has (those tokens were written as zeros)");
  if (!what.empty()) throw NsaError(ErrorCode::Range, op + ": " + what);
}
}  // namespace

KCacheGeometry check_kcache(const TensorView& cache, int page_size, KCacheLayout layout, int head_dim) {
  if (head_dim != kIndexerHeadDim)
    throw NsaError(ErrorCode::Unsupported, "headDim: got " + std::to_string(head_dim) + ", expected 128 (the only indexer head size built)");
  if (page_size != 1 && page_size != 16 && page_size != 32 && page_size != 64)
    fail(ErrorCode::Unsupported, "pageSize", page_size, "1, 16, 32 or 64");
  if (layout == KCacheLayout::Preshuffle && page_size % 16 != 0)
    fail(ErrorCode::Unsupported, "pageSize", page_size, "16, 32 or 64 with the preshuffle layout (16x16 tiles)");
  check_dtype(cache, "cache", DType::UInt8);
  check_shape(cache, "cache", {-1, kcache_page_bytes(page_size)});
  check_contiguous(cache, "cache");
  // Kernels move 16-byte chunks, or 4-byte words when a page is not a multiple of 16 bytes (P = 1).
  check_aligned(cache, "cache", kcache_page_bytes(page_size) % 16 == 0 ? 16 : 4);
  return KCacheGeometry{cache.shape[0], page_size, layout};
}

KCacheArg read_kcache(const Args& a) {
  const auto c = a.object("cache");
  KCacheArg out;
  out.tensor = c->tensor("tensor");
  out.geometry = check_kcache(out.tensor, static_cast<int>(c->integer("pageSize", 1, 1 << 20)), c->choice("layout", kKCacheLayoutNames),
                              static_cast<int>(c->integer("headDim", 1, 1 << 20)));
  return out;
}

void check_kcache(const Args& a) { read_kcache(a); }

void store_k(const Args& a) {
  const KCacheArg c = read_kcache(a);
  store_k(c.tensor, c.geometry, a.tensor("k"), a.tensor("slotMapping"), a.choice("scaleFormat", kScaleFormatNames, ScaleFormat::Ue8m0),
          a.flag("checkBounds", false), a.stream(c.tensor.device));
}

void gather_k(const Args& a) {
  const KCacheArg c = read_kcache(a);
  gather_k(c.tensor, c.geometry, a.tensor("blockTable"), a.tensor("cuSeqLens"), a.tensor("outK"), a.tensor("outScale"),
           a.flag("checkBounds", false), a.stream(c.tensor.device));
}

void store_k(const TensorView& cache, const KCacheGeometry& g, const TensorView& k, const TensorView& slots,
             ScaleFormat fmt, bool check_bounds, StreamHandle stream) {
  // Type and shape checks
  check_dtype(k, "k", DType::BFloat16);
  check_shape(k, "k", {-1, kIndexerHeadDim});
  if (k.strides[1] != 1) fail(ErrorCode::Shape, "k.strides[1]", k.strides[1], "1 (rows of consecutive elements)");
  const int64_t T = k.shape[0];
  check_dtype(slots, "slotMapping", DType::Int64);
  check_shape(slots, "slotMapping", {T});
  check_contiguous(slots, "slotMapping");
  check_same_device(k, "k", cache.device);
  check_same_device(slots, "slotMapping", cache.device);
  // Do nothing if the problem is empty
  if (T == 0) return;
  StoreKParams p{k.ptr<uint16_t>(), T > 1 ? k.strides[0] : kIndexerHeadDim, slots.ptr<int64_t>(), cache.ptr<uint8_t>(),
                 T, g.num_pages, g.page_size, nullptr};
  const int64_t capacity = g.num_pages * g.page_size;
  if (!cache.on_gpu()) {
    // Host slots: refuse before writing anything.
    for (int64_t i = 0; i < T; ++i)
      if (p.slots[i] >= capacity) fail(ErrorCode::Range, "slotMapping[" + std::to_string(i) + "]", p.slots[i], "< numPages * pageSize = " + std::to_string(capacity));
    store_k_cpu(p, g.layout, fmt);
    return;
  }
  require_gpu_device(cache.device, "storeK");
  set_device(cache.device);
  const StreamHandle s = resolve_stream(stream, cache.device);
  ErrorFlag flag(check_bounds, cache.device, s);
  p.error_flag = flag.get();
  store_k_gpu(p, g.layout, fmt, s);
  report(flag.read(), "storeK");
}

void gather_k(const TensorView& cache, const KCacheGeometry& g, const TensorView& block_table, const TensorView& cu,
              const TensorView& out_k, const TensorView& out_scale, bool check_bounds, StreamHandle stream) {
  // Type and shape checks
  check_dtype(block_table, "blockTable", DType::Int32);
  check_ndim(block_table, "blockTable", 2);
  check_contiguous(block_table, "blockTable");
  const int64_t B = block_table.shape[0];
  check_int32_vector(cu, "cuSeqLens", B + 1, cache.device);
  check_dtype(out_k, "out.k", DType::Float8E4M3);
  check_shape(out_k, "out.k", {-1, kIndexerHeadDim});
  check_contiguous(out_k, "out.k");
  check_aligned(out_k, "out.k", 16);  // one 16-byte store per lane
  const int64_t T = out_k.shape[0];
  check_dtype(out_scale, "out.scale", DType::Float32);
  check_shape(out_scale, "out.scale", {T});
  check_contiguous(out_scale, "out.scale");
  check_same_device(block_table, "blockTable", cache.device);
  check_same_device(out_k, "out.k", cache.device);
  check_same_device(out_scale, "out.scale", cache.device);
  GatherKParams p{cache.ptr<uint8_t>(), block_table.ptr<int32_t>(), cu.ptr<int32_t>(), out_k.ptr<uint8_t>(),
                  out_scale.ptr<float>(), T, g.num_pages, static_cast<int>(B), static_cast<int>(block_table.shape[1]),
                  g.page_size, nullptr};
  if (!cache.on_gpu()) {
    // Host metadata: check every index before reading.
    const int32_t* c = p.cu_seq_lens;
    if (B >= 0 && c[0] != 0) fail(ErrorCode::Range, "cuSeqLens[0]", c[0], "0");
    for (int64_t b = 0; b < B; ++b) {
      if (c[b + 1] < c[b]) fail(ErrorCode::Range, "cuSeqLens[" + std::to_string(b + 1) + "]", c[b + 1], ">= cuSeqLens[" + std::to_string(b) + "] = " + std::to_string(c[b]));
      const int64_t len = c[b + 1] - c[b];
      const int64_t blocks = (len + g.page_size - 1) / g.page_size;
      if (blocks > p.max_blocks) fail(ErrorCode::Range, "cuSeqLens (request " + std::to_string(b) + ")", len, "at most blockTable.shape[1] * pageSize = " + std::to_string(int64_t(p.max_blocks) * g.page_size) + " tokens");
      for (int64_t j = 0; j < blocks; ++j) {
        const int32_t page = p.block_table[b * p.max_blocks + j];
        if (page < 0 || page >= g.num_pages) fail(ErrorCode::Range, "blockTable[" + std::to_string(b) + ", " + std::to_string(j) + "]", page, "a page in [0, " + std::to_string(g.num_pages) + ")");
      }
    }
    if (c[B] != T) fail(ErrorCode::Shape, "out.k.shape[0]", T, "cuSeqLens[B] = " + std::to_string(c[B]));
    if (T == 0) return;
    gather_k_cpu(p, g.layout);
    return;
  }
  // Do nothing if the problem is empty
  if (T == 0) return;
  require_gpu_device(cache.device, "gatherK");
  set_device(cache.device);
  const StreamHandle s = resolve_stream(stream, cache.device);
  ErrorFlag flag(check_bounds, cache.device, s);
  p.error_flag = flag.get();
  gather_k_gpu(p, g.layout, s);
  report(flag.read(), "gatherK");
}

#ifndef NSA_WITH_GPU
void store_k_gpu(const StoreKParams&, KCacheLayout, ScaleFormat, StreamHandle) {
  throw NsaError(ErrorCode::Unsupported, "storeK: built without GPU support");
}
void gather_k_gpu(const GatherKParams&, KCacheLayout, StreamHandle) {
  throw NsaError(ErrorCode::Unsupported, "gatherK: built without GPU support");
}
#endif

}  // namespace nsa
