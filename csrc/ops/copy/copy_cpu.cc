#include <cstring>

#include "ops/copy/copy.h"

namespace nsa {

void strided_copy_cpu(const StridedCopyParams& p) {
  int64_t idx[kMaxDims] = {};
  const auto* src = static_cast<const uint8_t*>(p.src);
  auto* dst = static_cast<uint8_t*>(p.dst);
  for (int64_t k = 0; k < p.numel; ++k) {
    int64_t so = 0, d = 0;
    for (int i = 0; i < p.ndim; ++i) {
      so += idx[i] * p.src_strides[i];
      d += idx[i] * p.dst_strides[i];
    }
    std::memcpy(dst + d * p.elem_size, src + so * p.elem_size, size_t(p.elem_size));
    for (int i = p.ndim - 1; i >= 0; --i) {
      if (++idx[i] < p.shape[i]) break;
      idx[i] = 0;
    }
  }
}

}  // namespace nsa
