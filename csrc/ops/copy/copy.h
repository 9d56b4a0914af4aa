// Tensor copy between any layouts: contiguous and row-pitched copies go to the runtime's memcpy
// (host <-> device too); other strided layouts use an elementwise kernel (same device) or a host loop.
#pragma once
#include "core/tensor.h"
#include "runtime/runtime.h"

namespace nsa {

struct StridedCopyParams {
  const void* src;
  void* dst;
  int ndim;
  int64_t shape[kMaxDims];
  int64_t src_strides[kMaxDims];
  int64_t dst_strides[kMaxDims];
  int64_t numel;
  int elem_size;  // 1, 2, 4 or 8
};

// Same dtype and element count (shapes may differ only when both are contiguous).
void copy_tensor(const TensorView& dst, const TensorView& src, StreamHandle stream);

void strided_copy_cpu(const StridedCopyParams& p);
void strided_copy_gpu(const StridedCopyParams& p, StreamHandle stream);

}  // namespace nsa
