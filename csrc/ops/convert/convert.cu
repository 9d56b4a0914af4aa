#include "gpu/check.h"
#include "ops/convert/convert.h"
#if defined(NSA_WITH_CUDA)
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#endif

namespace nsa {
namespace {

template <bool kIntrinsic>
__global__ void convert_kernel(const ConvertParams p) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < p.n; i += int64_t(gridDim.x) * blockDim.x) {
    if (p.src_dtype == DType::Float32) {
      const float x = static_cast<const float*>(p.src)[i];
#if defined(NSA_WITH_CUDA)
      if constexpr (kIntrinsic) {
        if (p.dst_dtype == DType::BFloat16) {
          __nv_bfloat16 b = __float2bfloat16_rn(x);
          static_cast<uint16_t*>(p.dst)[i] = *reinterpret_cast<uint16_t*>(&b);
        } else {
          static_cast<uint8_t*>(p.dst)[i] = __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3);
        }
        continue;
      }
#endif
      if (p.dst_dtype == DType::BFloat16) static_cast<uint16_t*>(p.dst)[i] = f32_to_bf16(x);
      else static_cast<uint8_t*>(p.dst)[i] = f32_to_fp8_e4m3(x);
    } else if (p.src_dtype == DType::BFloat16) {
      const uint16_t b = static_cast<const uint16_t*>(p.src)[i];
#if defined(NSA_WITH_CUDA)
      if constexpr (kIntrinsic) {
        static_cast<float*>(p.dst)[i] = __bfloat162float(*reinterpret_cast<const __nv_bfloat16*>(&b));
        continue;
      }
#endif
      static_cast<float*>(p.dst)[i] = bf16_to_f32(b);
    } else {
      const uint8_t v = static_cast<const uint8_t*>(p.src)[i];
#if defined(NSA_WITH_CUDA)
      if constexpr (kIntrinsic) {
        __half_raw h = __nv_cvt_fp8_to_halfraw(v, __NV_E4M3);
        static_cast<float*>(p.dst)[i] = __half2float(__half(h));
        continue;
      }
#endif
      static_cast<float*>(p.dst)[i] = fp8_e4m3_to_f32(v);
    }
  }
}

}  // namespace

void convert_gpu(const ConvertParams& p, bool use_intrinsic, StreamHandle stream) {
#if !defined(NSA_WITH_CUDA)
  if (use_intrinsic) throw NsaError(ErrorCode::Unsupported, "convert: use_intrinsic is CUDA-only");
#endif
  const int threads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((p.n + threads - 1) / threads, 4096));
  auto s = reinterpret_cast<gpuStream_t>(stream);
  if (use_intrinsic) convert_kernel<true><<<blocks, threads, 0, s>>>(p);
  else convert_kernel<false><<<blocks, threads, 0, s>>>(p);
  NSA_LAUNCH_CHECK("convert_kernel");
}

}  // namespace nsa
