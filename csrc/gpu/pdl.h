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

// NSA_PDL=0 turns programmatic dependent launches into plain ones (A/B).
inline bool pdl_enabled() {
  static const bool enabled = [] {
    const char* e = std::getenv("NSA_PDL");
    return e == nullptr || e[0] != '0';
  }();
  return enabled;
}

#if defined(NSA_WITH_CUDA)
// A launch with the optional sm_90 attributes: programmatic dependent (`pdl`: the caller has checked
// that the device is sm_90+, and the kernel calls pdl_wait() before its first global access) and a
// thread-block cluster of `cluster` CTAs along x (> 1).
template <class... Params, class... Args>
void launch_ex(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, bool pdl, unsigned cluster,
               Args&&... args) {
  cudaLaunchAttribute attr[2];
  unsigned n = 0;
  if (pdl && pdl_enabled()) {
    attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[n].val.programmaticStreamSerializationAllowed = 1;
    ++n;
  }
  if (cluster > 1) {
    attr[n].id = cudaLaunchAttributeClusterDimension;
    attr[n].val.clusterDim.x = cluster;
    attr[n].val.clusterDim.y = 1;
    attr[n].val.clusterDim.z = 1;
    ++n;
  }
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = n;
  NSA_GPU_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}

// The caller has checked that the device is sm_90+ (the attribute is a Hopper feature).
template <class... Params, class... Args>
void launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, Args&&... args) {
  launch_ex(kernel, grid, block, smem, stream, true, 1, std::forward<Args>(args)...);
}
#endif

}  // namespace nsa
