#include "ops/topk/topk.h"

#include <string>

namespace nsa {

void topk(const TensorView& logits, const TensorView& lengths, const TensorView& row_starts, const TensorView& page_table,
          const TensorView& cu_seqlens_q, const TensorView& out, int k, StreamHandle stream) {
  // Type and shape checks
  check_range(k, "k", 1, kTopKMax);
  check_dtype(logits, "logits", DType::Float32);
  check_ndim(logits, "logits", 2);
  if (logits.shape[1] > 1 && logits.strides[1] != 1) fail(ErrorCode::Shape, "logits.strides[1]", logits.strides[1], "1 (rows of consecutive elements)");
  const int64_t rows = logits.shape[0], cols = logits.shape[1];
  if (cols >= (int64_t(1) << 31)) fail(ErrorCode::Shape, "logits.shape[1]", cols, "< 2^31 columns");
  const int device = logits.device;
  auto check_vec = [&](const TensorView& t, const char* name, int64_t n) {
    check_dtype(t, name, DType::Int32);
    check_shape(t, name, {n});
    check_contiguous(t, name);
    check_same_device(t, name, device);
  };
  check_vec(lengths, "lengths", rows);
  if (row_starts.present) check_vec(row_starts, "rowStarts", rows);
  check_dtype(out, "out", DType::Int32);
  check_shape(out, "out", {rows, k});
  check_contiguous(out, "out");
  check_same_device(out, "out", device);
  TopKParams p{logits.ptr<float>(), rows > 1 ? logits.strides[0] : cols, cols, lengths.ptr<int32_t>(),
               row_starts.present ? row_starts.ptr<int32_t>() : nullptr, out.ptr<int32_t>(), rows, k,
               nullptr, 0, 0, nullptr, 0};
  if (cu_seqlens_q.present && !page_table.present) fail(ErrorCode::Arg, "cuSeqlensQ", "a tensor without pageTable", "pageTable too (the transform variant)");
  if (page_table.present) {
    check_dtype(page_table, "pageTable", DType::Int32);
    check_ndim(page_table, "pageTable", 2);
    check_same_device(page_table, "pageTable", device);
    if (page_table.shape[1] > 1 && page_table.strides[1] != 1) fail(ErrorCode::Shape, "pageTable.strides[1]", page_table.strides[1], "1");
    int64_t owners = rows;
    if (cu_seqlens_q.present) {
      check_dtype(cu_seqlens_q, "cuSeqlensQ", DType::Int32);
      check_ndim(cu_seqlens_q, "cuSeqlensQ", 1);
      check_contiguous(cu_seqlens_q, "cuSeqlensQ");
      check_same_device(cu_seqlens_q, "cuSeqlensQ", device);
      owners = cu_seqlens_q.shape[0] - 1;
      if (owners < 1) fail(ErrorCode::Shape, "cuSeqlensQ.shape", shape_str(cu_seqlens_q), "[reqs + 1] with reqs >= 1");
    }
    check_shape(page_table, "pageTable", {owners, -1});
    p.page_table = page_table.ptr<int32_t>();
    p.page_table_stride = page_table.shape[0] > 1 ? page_table.strides[0] : page_table.shape[1];
    p.page_table_width = page_table.shape[1];
    p.cu_seqlens_q = cu_seqlens_q.present ? cu_seqlens_q.ptr<int32_t>() : nullptr;
    p.num_reqs = owners;
  }
  // Do nothing if the problem is empty
  if (rows == 0) return;
  if (device < 0) {
    // Host metadata: every window inside the row, cu_seqlens_q non-decreasing.
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t s = p.row_starts ? p.row_starts[r] : 0, l = p.lengths[r];
      if (l < 0) fail(ErrorCode::Range, "lengths[" + std::to_string(r) + "]", l, "a non-negative length");
      if (l > k && (s < 0 || s + l > cols)) fail(ErrorCode::Range, "rowStarts/lengths[" + std::to_string(r) + "]", "[" + std::to_string(s) + ", " + std::to_string(s + l) + ")", "a window inside the row's " + std::to_string(cols) + " columns");
    }
    if (p.cu_seqlens_q)
      for (int64_t i = 0; i < p.num_reqs; ++i)
        if (p.cu_seqlens_q[i + 1] < p.cu_seqlens_q[i]) fail(ErrorCode::Range, "cuSeqlensQ[" + std::to_string(i + 1) + "]", p.cu_seqlens_q[i + 1], "non-decreasing offsets");
    topk_cpu(p);
    return;
  }
  require_gpu_device(device, "topk");
  set_device(device);
  topk_gpu(p, resolve_stream(stream, device));
}

#ifndef NSA_WITH_GPU
void topk_gpu(const TopKParams&, StreamHandle) { throw NsaError(ErrorCode::Unsupported, "topk: built without GPU support"); }
#endif

}  // namespace nsa
