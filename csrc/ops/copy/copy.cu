#include "gpu/check.h"
#include "ops/copy/copy.h"

namespace nsa {
namespace {

template <typename T>
__global__ void strided_copy_kernel(const StridedCopyParams p) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < p.numel; k += int64_t(gridDim.x) * blockDim.x) {
    int64_t rem = k, so = 0, d = 0;
    for (int i = p.ndim - 1; i >= 0; --i) {
      const int64_t c = rem % p.shape[i];
      rem /= p.shape[i];
      so += c * p.src_strides[i];
      d += c * p.dst_strides[i];
    }
    static_cast<T*>(p.dst)[d] = static_cast<const T*>(p.src)[so];
  }
}

}  // namespace

void strided_copy_gpu(const StridedCopyParams& p, StreamHandle stream) {
  const int threads = 256;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((p.numel + threads - 1) / threads, 65535));
  auto s = reinterpret_cast<gpuStream_t>(stream);
  switch (p.elem_size) {
    case 1: strided_copy_kernel<uint8_t><<<blocks, threads, 0, s>>>(p); break;
    case 2: strided_copy_kernel<uint16_t><<<blocks, threads, 0, s>>>(p); break;
    case 4: strided_copy_kernel<uint32_t><<<blocks, threads, 0, s>>>(p); break;
    default: strided_copy_kernel<uint64_t><<<blocks, threads, 0, s>>>(p); break;
  }
  NSA_LAUNCH_CHECK("strided_copy_kernel");
}

}  // namespace nsa
