// Elementwise dtype conversion float32 <-> bfloat16 / float8_e4m3fn (SPEC §0). Exists so the scalar
// conversions every op shares are tested exhaustively on each backend, and on CUDA against the
// vendor intrinsics (`use_intrinsic`).
#pragma once
#include "core/args.h"
#include "core/tensor.h"
#include "runtime/runtime.h"

namespace nsa {

struct ConvertParams {
  const void* src;
  void* dst;
  int64_t n;
  DType src_dtype, dst_dtype;
};

// Host API: validates, then runs on the tensors' device. use_intrinsic: CUDA's __float2bfloat16_rn /
// __nv_cvt_float_to_fp8 instead of our portable code (E_UNSUPPORTED on other backends).
void convert(const TensorView& src, const TensorView& dst, bool use_intrinsic, StreamHandle stream);

// Entry from named arguments {src, dst, intrinsic?, stream?} (lib/convert.ts).
void convert(const Args& a);

void convert_cpu(const ConvertParams& p);
void convert_gpu(const ConvertParams& p, bool use_intrinsic, StreamHandle stream);

}  // namespace nsa
