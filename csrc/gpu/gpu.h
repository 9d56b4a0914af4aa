// The CUDA <-> HIP name mapping: portable code writes gpu* names, so the same sources compile as CUDA
// (nvcc) and as HIP (hipcc / clang -x hip). Code that exists only for CUDA (the sm_90a logits kernel,
// PDL in gpu/pdl.h, cluster launches in the top-k, the conversion intrinsics in convert.cu and
// indexer_cache.cu) calls CUDA directly, inside NSA_WITH_CUDA guards.
#pragma once

#include <type_traits>

#if defined(NSA_WITH_HIP)
#include <hip/hip_runtime.h>
#define NSA_GPU_VENDOR "hip"
using gpuError_t = hipError_t;
using gpuStream_t = hipStream_t;
using gpuEvent_t = hipEvent_t;
using gpuGraph_t = hipGraph_t;
using gpuGraphExec_t = hipGraphExec_t;
using gpuDeviceProp_t = hipDeviceProp_t;
#define gpuSuccess hipSuccess
#define gpuErrorNoDevice hipErrorNoDevice
#define gpuErrorMemoryAllocation hipErrorOutOfMemory
#define gpuErrorInsufficientDriver hipErrorInsufficientDriver
#define gpuGetErrorName hipGetErrorName
#define gpuGetErrorString hipGetErrorString
#define gpuGetLastError hipGetLastError
#define gpuGetDeviceCount hipGetDeviceCount
#define gpuGetDeviceProperties hipGetDeviceProperties
#define gpuSetDevice hipSetDevice
#define gpuGetDevice hipGetDevice
#define gpuDriverGetVersion hipDriverGetVersion
#define gpuRuntimeGetVersion hipRuntimeGetVersion
#define gpuMemGetInfo hipMemGetInfo
#define gpuMallocAsync hipMallocAsync
#define gpuFreeAsync hipFreeAsync
#define gpuMemcpyAsync hipMemcpyAsync
#define gpuMemcpy2DAsync hipMemcpy2DAsync
#define gpuMemsetAsync hipMemsetAsync
#define gpuMemcpyDefault hipMemcpyDefault
#define gpuMemcpyHostToDevice hipMemcpyHostToDevice
#define gpuMemcpyDeviceToHost hipMemcpyDeviceToHost
#define gpuMemcpyDeviceToDevice hipMemcpyDeviceToDevice
#define gpuStreamCreateWithFlags hipStreamCreateWithFlags
#define gpuStreamNonBlocking hipStreamNonBlocking
#define gpuStreamDestroy hipStreamDestroy
#define gpuStreamSynchronize hipStreamSynchronize
#define gpuStreamWaitEvent hipStreamWaitEvent
#define gpuStreamBeginCapture hipStreamBeginCapture
#define gpuStreamEndCapture hipStreamEndCapture
#define gpuStreamIsCapturing hipStreamIsCapturing
#define gpuStreamCaptureStatus hipStreamCaptureStatus
#define gpuStreamCaptureStatusNone hipStreamCaptureStatusNone
#define gpuStreamCaptureModeThreadLocal hipStreamCaptureModeThreadLocal
#define gpuGraphInstantiate(exec, graph) hipGraphInstantiate(exec, graph, nullptr, nullptr, 0)
#define gpuGraphLaunch hipGraphLaunch
#define gpuGraphDestroy hipGraphDestroy
#define gpuGraphExecDestroy hipGraphExecDestroy
#define gpuEventCreate hipEventCreate
#define gpuEventDestroy hipEventDestroy
#define gpuEventRecord hipEventRecord
#define gpuEventSynchronize hipEventSynchronize
#define gpuEventElapsedTime hipEventElapsedTime
#define gpuEventQuery hipEventQuery
#define gpuDeviceSynchronize hipDeviceSynchronize
#define gpuFuncSetAttribute hipFuncSetAttribute
#define gpuDeviceCanAccessPeer hipDeviceCanAccessPeer
#define gpuDeviceGetDefaultMemPool hipDeviceGetDefaultMemPool
#define gpuMemPoolSetAccess hipMemPoolSetAccess
using gpuMemPool_t = hipMemPool_t;
using gpuMemAccessDesc = hipMemAccessDesc;
#define gpuMemLocationTypeDevice hipMemLocationTypeDevice
#define gpuMemAccessFlagsProtReadWrite hipMemAccessFlagsProtReadWrite
#define gpuEventCreateWithFlags hipEventCreateWithFlags
#define gpuEventDisableTiming hipEventDisableTiming
#define gpuFuncAttributeMaxDynamicSharedMemorySize hipFuncAttributeMaxDynamicSharedMemorySize
#define NSA_WARP_SIZE_MAX 64
#else
#include <cuda_runtime.h>
#define NSA_GPU_VENDOR "cuda"
using gpuError_t = cudaError_t;
using gpuStream_t = cudaStream_t;
using gpuEvent_t = cudaEvent_t;
using gpuGraph_t = cudaGraph_t;
using gpuGraphExec_t = cudaGraphExec_t;
using gpuDeviceProp_t = cudaDeviceProp;
#define gpuSuccess cudaSuccess
#define gpuErrorNoDevice cudaErrorNoDevice
#define gpuErrorMemoryAllocation cudaErrorMemoryAllocation
#define gpuErrorInsufficientDriver cudaErrorInsufficientDriver
#define gpuGetErrorName cudaGetErrorName
#define gpuGetErrorString cudaGetErrorString
#define gpuGetLastError cudaGetLastError
#define gpuGetDeviceCount cudaGetDeviceCount
#define gpuGetDeviceProperties cudaGetDeviceProperties
#define gpuSetDevice cudaSetDevice
#define gpuGetDevice cudaGetDevice
#define gpuDriverGetVersion cudaDriverGetVersion
#define gpuRuntimeGetVersion cudaRuntimeGetVersion
#define gpuMemGetInfo cudaMemGetInfo
#define gpuMallocAsync cudaMallocAsync
#define gpuFreeAsync cudaFreeAsync
#define gpuMemcpyAsync cudaMemcpyAsync
#define gpuMemcpy2DAsync cudaMemcpy2DAsync
#define gpuMemsetAsync cudaMemsetAsync
#define gpuMemcpyDefault cudaMemcpyDefault
#define gpuMemcpyHostToDevice cudaMemcpyHostToDevice
#define gpuMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define gpuMemcpyDeviceToDevice cudaMemcpyDeviceToDevice
#define gpuStreamCreateWithFlags cudaStreamCreateWithFlags
#define gpuStreamNonBlocking cudaStreamNonBlocking
#define gpuStreamDestroy cudaStreamDestroy
#define gpuStreamSynchronize cudaStreamSynchronize
#define gpuStreamWaitEvent cudaStreamWaitEvent
#define gpuStreamBeginCapture cudaStreamBeginCapture
#define gpuStreamEndCapture cudaStreamEndCapture
#define gpuStreamIsCapturing cudaStreamIsCapturing
#define gpuStreamCaptureStatus cudaStreamCaptureStatus
#define gpuStreamCaptureStatusNone cudaStreamCaptureStatusNone
#define gpuStreamCaptureModeThreadLocal cudaStreamCaptureModeThreadLocal
#define gpuGraphInstantiate(exec, graph) cudaGraphInstantiate(exec, graph, 0)
#define gpuGraphLaunch cudaGraphLaunch
#define gpuGraphDestroy cudaGraphDestroy
#define gpuGraphExecDestroy cudaGraphExecDestroy
#define gpuEventCreate cudaEventCreate
#define gpuEventDestroy cudaEventDestroy
#define gpuEventRecord cudaEventRecord
#define gpuEventSynchronize cudaEventSynchronize
#define gpuEventElapsedTime cudaEventElapsedTime
#define gpuEventQuery cudaEventQuery
#define gpuDeviceSynchronize cudaDeviceSynchronize
#define gpuFuncSetAttribute cudaFuncSetAttribute
#define gpuDeviceCanAccessPeer cudaDeviceCanAccessPeer
#define gpuDeviceGetDefaultMemPool cudaDeviceGetDefaultMemPool
#define gpuMemPoolSetAccess cudaMemPoolSetAccess
using gpuMemPool_t = cudaMemPool_t;
using gpuMemAccessDesc = cudaMemAccessDesc;
#define gpuMemLocationTypeDevice cudaMemLocationTypeDevice
#define gpuMemAccessFlagsProtReadWrite cudaMemAccessFlagsProtReadWrite
#define gpuEventCreateWithFlags cudaEventCreateWithFlags
#define gpuEventDisableTiming cudaEventDisableTiming
#define gpuFuncAttributeMaxDynamicSharedMemorySize cudaFuncAttributeMaxDynamicSharedMemorySize
#define NSA_WARP_SIZE_MAX 32
#endif

// Portable warp primitives (device code only). Widths are sub-warp group sizes (<= 32), which mean the
// same on 32-wide warps and 64-wide wavefronts.
#if defined(__CUDACC__) || defined(__HIPCC__)
template <typename T>
__device__ __forceinline__ T gpu_shfl_xor(T v, int lane_mask, int width) {
#if defined(NSA_WITH_HIP)
  return __shfl_xor(v, lane_mask, width);
#else
  return __shfl_xor_sync(0xffffffffu, v, lane_mask, width);
#endif
}
#endif

#if defined(__CUDACC__) || defined(__HIPCC__)
// Lanes 0..31 of a warp (a half wavefront on CDNA): inclusive-scan shuffle, inclusive scan, and ballot
// as 32-bit masks.
template <typename T>
__device__ __forceinline__ T gpu_shfl_up32(T v, int delta) {
#if defined(NSA_WITH_HIP)
  return __shfl_up(v, delta, 32);
#else
  return __shfl_up_sync(0xffffffffu, v, delta, 32);
#endif
}
template <typename T>
__device__ __forceinline__ T gpu_shfl32(T v, int src_lane) {
#if defined(NSA_WITH_HIP)
  return __shfl(v, src_lane, 32);
#else
  return __shfl_sync(0xffffffffu, v, src_lane, 32);
#endif
}
// Inclusive prefix sum over lanes 0..31 (lane = threadIdx.x % 32: warps start at multiples of 32).
template <typename T>
__device__ __forceinline__ T gpu_inclusive_scan32(T v) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const T u = gpu_shfl_up32(v, d);
    if (lane >= d) v += u;
  }
  return v;
}
// Sum over lanes 0..31, in every lane (butterfly).
template <typename T>
__device__ __forceinline__ T gpu_warp_sum32(T v) {
#pragma unroll
  for (int m = 16; m >= 1; m >>= 1) v += gpu_shfl_xor(v, m, 32);
  return v;
}
__device__ __forceinline__ uint32_t gpu_ballot32(bool pred) {
#if defined(NSA_WITH_HIP)
  return static_cast<uint32_t>(__ballot(pred) & 0xffffffffull);
#else
  return __ballot_sync(0xffffffffu, pred);
#endif
}

// Shared-memory updates under a predicate, as one predicated instruction where the compiler would branch
// around them: in an unrolled loop over a thread's keys nvcc wrapped each `if (p) atomicAdd / store` in
// its own divergence region (BSSY / BRA / BSYNC: three instructions per key around one; ncu, top-k).
__device__ __forceinline__ void gpu_shared_add1_if(bool pred, int* addr) {
#if defined(NSA_WITH_CUDA) && defined(__CUDA_ARCH__)
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %1, 0;\n@p red.shared.add.u32 [%0], 1;\n}\n" ::"r"(
                   static_cast<uint32_t>(__cvta_generic_to_shared(addr))),
               "r"(static_cast<int>(pred))
               : "memory");
#else
  if (pred) atomicAdd(addr, 1);
#endif
}
__device__ __forceinline__ void gpu_shared_store_if(bool pred, int32_t* addr, int32_t v) {
#if defined(NSA_WITH_CUDA) && defined(__CUDA_ARCH__)
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %1, 0;\n@p st.shared.b32 [%0], %2;\n}\n" ::"r"(
                   static_cast<uint32_t>(__cvta_generic_to_shared(addr))),
               "r"(static_cast<int>(pred)), "r"(v)
               : "memory");
#else
  if (pred) *addr = v;
#endif
}

#if defined(NSA_WITH_CUDA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define NSA_CP_ASYNC 1
#endif
// Asynchronous global -> shared copies (cp.async, sm_80+; a plain copy elsewhere) of kBytes = 16 (past
// L1) or 4, zero-filled without any read when !valid; commit closes a group, wait<N> leaves at most N
// groups of this thread pending.
template <int kBytes>
__device__ __forceinline__ void gpu_copy_async(uint8_t* dst, const uint8_t* src, bool valid) {
  static_assert(kBytes == 16 || kBytes == 4, "cp.async.cg takes 16 bytes; 4 go through cp.async.ca");
#if defined(NSA_CP_ASYNC)
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
  if constexpr (kBytes == 16) asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 16 : 0));
  else asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 4 : 0));
#else
  using Word = std::conditional_t<kBytes == 16, uint4, uint32_t>;
  *reinterpret_cast<Word*>(dst) = valid ? *reinterpret_cast<const Word*>(src) : Word{};
#endif
}
__device__ __forceinline__ void gpu_copy_commit() {
#if defined(NSA_CP_ASYNC)
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int kPending>
__device__ __forceinline__ void gpu_copy_wait() {
#if defined(NSA_CP_ASYNC)
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
#endif
}
#endif
