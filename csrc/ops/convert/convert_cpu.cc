#include "ops/convert/convert.h"

namespace nsa {

void convert_cpu(const ConvertParams& p) {
  for (int64_t i = 0; i < p.n; ++i) {
    if (p.src_dtype == DType::Float32) {
      const float x = static_cast<const float*>(p.src)[i];
      if (p.dst_dtype == DType::BFloat16) static_cast<uint16_t*>(p.dst)[i] = f32_to_bf16(x);
      else static_cast<uint8_t*>(p.dst)[i] = f32_to_fp8_e4m3(x);
    } else if (p.src_dtype == DType::BFloat16) {
      static_cast<float*>(p.dst)[i] = bf16_to_f32(static_cast<const uint16_t*>(p.src)[i]);
    } else {
      static_cast<float*>(p.dst)[i] = fp8_e4m3_to_f32(static_cast<const uint8_t*>(p.src)[i]);
    }
  }
}

}  // namespace nsa
