// Programmatic dependent launch (CUDA, for kernels that run on sm_90+ only). A kernel launched with
// launch_pdl may be placed on the GPU while the previous kernel on the stream is still finishing; it must
// call pdl_wait() before its first global-memory access, which blocks until that kernel has completed and
// its writes are visible, so this is safe whatever the previous kernel is. pdl_wait() also lets the next
// PDL kernel be placed as this one's CTAs exit. The launch latency then hides under the previous kernel's
// tail (~0.5 µs per kernel boundary on the H100). NSA_PDL=0 makes it a plain launch (A/B).
#pragma once
#include <cstdlib>
#include <utility>

#include "gpu/check.h"

namespace nsa {

__device__ __forceinline__ void pdl_wait() {
#if defined(NSA_WITH_CUDA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

#if defined(NSA_WITH_CUDA)
// The caller has checked that the device is sm_90+ (the attribute is a Hopper feature).
template <class... Params, class... Args>
void launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, Args&&... args) {
  static const bool enabled = [] {
    const char* e = std::getenv("NSA_PDL");
    return e == nullptr || e[0] != '0';
  }();
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = enabled ? 1 : 0;
  NSA_GPU_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}
#endif

}  // namespace nsa
