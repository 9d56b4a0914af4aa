// Turns a failed runtime call into an NsaError(E_GPU) naming the call, so nothing aborts the process.
#pragma once
#include <string>

#include "core/error.h"
#include "gpu/gpu.h"

namespace nsa {

inline void gpu_check(gpuError_t err, const char* what) {
  if (err != gpuSuccess) {
    // Consume the error so the next launch check does not report it again (non-sticky errors).
    (void)gpuGetLastError();
    throw NsaError(ErrorCode::Gpu, std::string(what) + " failed: " + gpuGetErrorName(err) + " (" + gpuGetErrorString(err) + ")");
  }
}

}  // namespace nsa

#define NSA_GPU_CHECK(call) ::nsa::gpu_check((call), #call)
// After a kernel launch: launch-configuration errors surface here, not at the next sync.
#define NSA_LAUNCH_CHECK(kernel_name) ::nsa::gpu_check(gpuGetLastError(), "launch of " kernel_name)
