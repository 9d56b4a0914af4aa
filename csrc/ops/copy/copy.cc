#include "ops/copy/copy.h"

namespace nsa {

namespace {
// All dims but the last collapse into rows with one pitch (unit inner stride).
bool as_rows(const TensorView& t, int64_t& rows, int64_t& pitch) {
  if (t.ndim < 1 || (t.shape[t.ndim - 1] > 1 && t.strides[t.ndim - 1] != 1)) return false;
  rows = 1;
  pitch = t.shape[t.ndim - 1];
  bool first = true;
  for (int i = t.ndim - 2; i >= 0; --i) {
    if (t.shape[i] == 1) continue;
    if (first) {
      pitch = t.strides[i];
      first = false;
    } else if (t.strides[i] != t.strides[i + 1] * t.shape[i + 1]) {
      return false;
    }
    rows *= t.shape[i];
  }
  return true;
}
}  // namespace

void copy_tensor(const TensorView& dst, const TensorView& src, StreamHandle stream) {
  // Type and shape checks
  if (dst.dtype != src.dtype) fail(ErrorCode::Dtype, "src.dtype", dtype_name(src.dtype), dtype_name(dst.dtype));
  if (dst.numel() != src.numel()) fail(ErrorCode::Shape, "src.shape", shape_str(src), shape_str(dst) + " (same element count)");
  const bool contiguous = dst.is_contiguous() && src.is_contiguous();
  bool same_shape = dst.ndim == src.ndim;
  for (int i = 0; same_shape && i < dst.ndim; ++i) same_shape = dst.shape[i] == src.shape[i];
  if (!contiguous && !same_shape) fail(ErrorCode::Shape, "src.shape", shape_str(src), shape_str(dst) + " (strided copies need equal shapes)");
  // Do nothing if the problem is empty
  const int64_t es = dtype_size(dst.dtype);
  if (dst.numel() == 0) return;
  if (contiguous) {
    copy_bytes(dst.data, dst.device, src.data, src.device, size_t(dst.numel() * es), stream);
    return;
  }
  int64_t dr, dp, sr, sp;
  if (as_rows(dst, dr, dp) && as_rows(src, sr, sp) && dr == sr) {
    const size_t w = size_t(dst.shape[dst.ndim - 1] * es);
    copy_2d(dst.data, size_t(dp * es), dst.device, src.data, size_t(sp * es), src.device, w, size_t(dr), stream);
    return;
  }
  StridedCopyParams p{src.data, dst.data, dst.ndim, {}, {}, {}, dst.numel(), static_cast<int>(es)};
  for (int i = 0; i < dst.ndim; ++i) {
    p.shape[i] = dst.shape[i];
    p.src_strides[i] = src.strides[i];
    p.dst_strides[i] = dst.strides[i];
  }
  if (dst.device < 0 && src.device < 0) {
    strided_copy_cpu(p);
  } else if (dst.device == src.device) {
    set_device(dst.device);
    strided_copy_gpu(p, resolve_stream(stream, dst.device));
  } else {
    throw NsaError(ErrorCode::Unsupported, "copy: a strided layout across devices (" + device_str(src.device) + " -> " +
                                               device_str(dst.device) + "); make one side contiguous first");
  }
}

#ifndef NSA_WITH_GPU
void strided_copy_gpu(const StridedCopyParams&, StreamHandle) {
  throw NsaError(ErrorCode::Unsupported, "copy: built without GPU support");
}
#endif

}  // namespace nsa
