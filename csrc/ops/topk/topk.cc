#include "ops/topk/topk.h"

#include <algorithm>
#include <string>

namespace nsa {

namespace {

// A 2-D int32 table with unit inner stride, one row per output row or per request; returns its row stride.
int64_t check_table(const TensorView& t, const char* name, int64_t owners, int device) {
  check_dtype(t, name, DType::Int32);
  check_shape(t, name, {owners, -1});
  check_same_device(t, name, device);
  if (t.shape[1] > 1 && t.strides[1] != 1) fail(ErrorCode::Shape, std::string(name) + ".strides[1]", t.strides[1], "1");
  return t.shape[0] > 1 ? t.strides[0] : t.shape[1];
}

// Host metadata: every window inside the row, cu_seqlens_q non-decreasing.
void check_host_rows(const TopKParams& p) {
  for (int64_t r = 0; r < p.rows; ++r) {
    const int64_t owner = p.lengths_per_row ? r : r / p.next_n;
    if (p.lengths[owner] < 0) fail(ErrorCode::Range, "lengths[" + std::to_string(owner) + "]", p.lengths[owner], "a non-negative length");
    const int64_t s = p.row_starts ? p.row_starts[r] : 0, l = std::max<int64_t>(topk_row_length(p, r), 0);
    if (p.logits != nullptr && l > p.k && (s < 0 || s + l > p.num_cols))
      fail(ErrorCode::Range, "rowStarts/lengths[" + std::to_string(r) + "]", "[" + std::to_string(s) + ", " + std::to_string(s + l) + ")",
           "a window inside the row's " + std::to_string(p.num_cols) + " columns");
  }
  if (p.cu_seqlens_q)
    for (int64_t i = 0; i < p.num_reqs; ++i)
      if (p.cu_seqlens_q[i + 1] < p.cu_seqlens_q[i])
        fail(ErrorCode::Range, "cuSeqlensQ[" + std::to_string(i + 1) + "]", p.cu_seqlens_q[i + 1], "non-decreasing offsets");
}

}  // namespace

void topk(const TopKInputs& in, StreamHandle stream) {
  // Type and shape checks
  check_range(in.k, "k", 1, kTopKMax);
  check_range(in.next_n, "nextN", 1, kTopKMaxNextN);
  const TensorView& logits = in.logits;
  const int device = logits.present ? logits.device : in.lengths.device;
  int64_t rows = in.lengths.ndim >= 1 ? in.lengths.shape[0] * in.next_n : -1, cols = 0;
  if (logits.present) {
    check_dtype(logits, "logits", DType::Float32);
    check_ndim(logits, "logits", 2);
    if (logits.shape[1] > 1 && logits.strides[1] != 1) fail(ErrorCode::Shape, "logits.strides[1]", logits.strides[1], "1 (rows of consecutive elements)");
    rows = logits.shape[0];
    cols = logits.shape[1];
    if (rows % in.next_n != 0) fail(ErrorCode::Shape, "logits.shape[0]", rows, "a multiple of nextN = " + std::to_string(in.next_n) + " (rows per request)");
    if (cols >= (int64_t(1) << 31)) fail(ErrorCode::Shape, "logits.shape[1]", cols, "< 2^31 columns");
  }
  const int64_t reqs = rows < 0 ? -1 : rows / in.next_n;  // lengths' owners: rows, or requests of next_n rows
  const bool per_row = in.lengths.ndim == 2;              // [reqs, next_n]: a length per row, tables per request
  if (per_row) check_int32_tensor(in.lengths, "lengths", {reqs, in.next_n}, device);
  else check_int32_vector(in.lengths, "lengths", reqs, device);
  if (in.row_starts.present) check_int32_vector(in.row_starts, "rowStarts", rows, device);
  check_dtype(in.out, "out", DType::Int32);
  check_shape(in.out, "out", {rows, in.k});
  check_contiguous(in.out, "out");
  check_same_device(in.out, "out", device);
  TopKParams p{};
  p.logits = logits.present ? logits.ptr<float>() : nullptr;
  p.row_stride = rows > 1 ? logits.strides[0] : cols;
  p.num_cols = cols;
  p.lengths = in.lengths.ptr<int32_t>();
  p.next_n = in.next_n;
  p.lengths_per_row = per_row || in.next_n == 1;
  p.row_starts = in.row_starts.present ? in.row_starts.ptr<int32_t>() : nullptr;
  p.out = in.out.ptr<int32_t>();
  p.rows = rows;
  p.k = in.k;
  p.deterministic = in.deterministic;
  p.window_before_wait = in.window_before_wait;

  // The output transforms: page table or global slot (one at most), per row or per request
  if (in.page_table.present && in.block_table.present)
    fail(ErrorCode::Arg, "blockTable", "a tensor beside pageTable", "one output transform: pageTable or blockTable");
  const bool transform = in.page_table.present || in.block_table.present;
  if (in.cu_seqlens_q.present && !transform) fail(ErrorCode::Arg, "cuSeqlensQ", "a tensor without pageTable or blockTable", "one of them too (it maps rows to their requests)");
  int64_t owners = reqs;  // tables have a row per output row, or per request with nextN
  if (in.cu_seqlens_q.present) {
    if (in.next_n > 1) fail(ErrorCode::Arg, "cuSeqlensQ", "a tensor beside nextN > 1", "one of them (both map rows to requests)");
    check_int32_vector(in.cu_seqlens_q, "cuSeqlensQ", -1, device);
    owners = in.cu_seqlens_q.shape[0] - 1;
    if (owners < 1) fail(ErrorCode::Shape, "cuSeqlensQ.shape", shape_str(in.cu_seqlens_q), "[reqs + 1] with reqs >= 1");
    p.cu_seqlens_q = in.cu_seqlens_q.ptr<int32_t>();
    p.num_reqs = owners;
  }
  if (in.page_table.present) {
    p.page_table_stride = check_table(in.page_table, "pageTable", owners, device);
    p.page_table = in.page_table.ptr<int32_t>();
    p.page_table_width = in.page_table.shape[1];
  }
  if (in.block_table.present) {
    if (in.page_size < 1 || in.page_size > (1 << 20) || (in.page_size & (in.page_size - 1)) != 0)
      fail(ErrorCode::Range, "pageSize", in.page_size, "a power of two in [1, 2^20] (the block table's page size)");
    p.block_table_stride = check_table(in.block_table, "blockTable", owners, device);
    p.block_table = in.block_table.ptr<int32_t>();
    p.block_table_width = in.block_table.shape[1];
    while ((int64_t(1) << p.page_shift) < in.page_size) ++p.page_shift;
  } else if (in.page_size != 0) {
    fail(ErrorCode::Arg, "pageSize", in.page_size, "no pageSize without blockTable (the global-slot output)");
  }

  // Do nothing if the problem is empty
  if (rows == 0) return;
  if (device < 0) {
    check_host_rows(p);
    topk_cpu(p);
    return;
  }
  require_gpu_device(device, "topk");
  set_device(device);
  topk_gpu(p, resolve_stream(stream, device));
}

void topk(const Args& a) {
  TopKInputs in;
  in.logits = a.optional_tensor("logits");
  in.lengths = a.tensor("lengths");
  in.row_starts = a.optional_tensor("rowStarts");
  in.page_table = a.optional_tensor("pageTable");
  in.cu_seqlens_q = a.optional_tensor("cuSeqlensQ");
  in.block_table = a.optional_tensor("blockTable");
  in.page_size = a.integer("pageSize", 0, INT32_MAX, 0);
  in.out = a.tensor("out");
  in.k = static_cast<int>(a.integer("k", 1, kTopKMax));
  in.deterministic = a.flag("deterministic", false);
  in.next_n = static_cast<int>(a.integer("nextN", 1, kTopKMaxNextN, 1));
  in.window_before_wait = a.flag("windowBeforeWait", false);
  topk(in, a.stream(in.logits.present ? in.logits.device : in.lengths.device));
}

#ifndef NSA_WITH_GPU
void topk_gpu(const TopKParams&, StreamHandle) { throw NsaError(ErrorCode::Unsupported, "topk: built without GPU support"); }
#endif

}  // namespace nsa
