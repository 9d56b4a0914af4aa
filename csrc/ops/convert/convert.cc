#include "ops/convert/convert.h"

namespace nsa {

void convert(const TensorView& src, const TensorView& dst, bool use_intrinsic, StreamHandle stream) {
  // Type and shape checks
  const bool narrow = src.dtype == DType::Float32 && (dst.dtype == DType::BFloat16 || dst.dtype == DType::Float8E4M3);
  const bool widen = dst.dtype == DType::Float32 && (src.dtype == DType::BFloat16 || src.dtype == DType::Float8E4M3);
  if (!narrow && !widen)
    fail(ErrorCode::Dtype, "dst.dtype", std::string(dtype_name(src.dtype)) + " -> " + dtype_name(dst.dtype),
         "float32 -> bfloat16 | float8_e4m3fn, or back");
  check_contiguous(src, "src");
  check_contiguous(dst, "dst");
  if (src.numel() != dst.numel()) fail(ErrorCode::Shape, "dst.shape", shape_str(dst), shape_str(src));
  check_same_device(dst, "dst", src.device);
  // Do nothing if the problem is empty
  ConvertParams p{src.data, dst.data, src.numel(), src.dtype, dst.dtype};
  if (p.n == 0) return;
  if (src.on_gpu()) {
    require_gpu_device(src.device, "convert");
    set_device(src.device);
    convert_gpu(p, use_intrinsic, resolve_stream(stream, src.device));
  } else {
    if (use_intrinsic) throw NsaError(ErrorCode::Unsupported, "convert: use_intrinsic needs a CUDA device tensor");
    convert_cpu(p);
  }
}

void convert(const Args& a) {
  const TensorView src = a.tensor("src");
  convert(src, a.tensor("dst"), a.flag("intrinsic", false), a.stream(src.device));
}

#ifndef NSA_WITH_GPU
void convert_gpu(const ConvertParams&, bool, StreamHandle) {
  throw NsaError(ErrorCode::Unsupported, "convert: built without GPU support");
}
#endif

}  // namespace nsa
