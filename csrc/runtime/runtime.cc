#include "runtime/runtime.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#ifdef NSA_WITH_GPU
#include "gpu/check.h"
#endif

namespace nsa {

namespace {
bool forced_cpu() {
  const char* v = std::getenv("NSA_DEVICE");
  return v != nullptr && std::strcmp(v, "cpu") == 0;
}
[[noreturn]] void no_gpu(const char* what) {
  throw NsaError(ErrorCode::Unsupported, std::string(what) + ": no GPU backend (" + backend_info().reason + ")");
}
}  // namespace

const BackendInfo& backend_info() {
  static const BackendInfo info = [] {
    BackendInfo b;
#ifdef NSA_WITH_GPU
    b.compiled_with_gpu = true;
    (void)gpuRuntimeGetVersion(&b.runtime_version);  // 0 stays 0 when the call fails
    (void)gpuDriverGetVersion(&b.driver_version);
    if (forced_cpu()) {
      b.backend = "cpu";
      b.reason = "NSA_DEVICE=cpu";
      return b;
    }
    int n = 0;
    gpuError_t err = gpuGetDeviceCount(&n);
    if (err != gpuSuccess || n == 0) {
      (void)gpuGetLastError();  // clear the error so later calls start clean
      b.backend = "cpu";
      if (err == gpuErrorInsufficientDriver) {
        b.reason = std::string(gpuGetErrorName(err)) + ": no " NSA_GPU_VENDOR " driver, or one older than the runtime";
      } else if (err == gpuErrorNoDevice || n == 0) {
        b.reason = std::string(err == gpuSuccess ? "no device" : gpuGetErrorName(err)) + ": driver present but no GPU visible";
      } else {
        b.reason = std::string(gpuGetErrorName(err)) + ": " + gpuGetErrorString(err);
      }
      return b;
    }
    b.backend = NSA_GPU_VENDOR;
    b.device_count = n;
    b.reason = std::to_string(n) + " device(s) found";
#else
    b.backend = "cpu";
    b.reason = "built without GPU support (NSA_GPU=off or no GPU compiler at build time)";
    (void)forced_cpu;
#endif
    return b;
  }();
  return info;
}

bool gpu_available() { return backend_info().backend != "cpu"; }

void require_gpu_device(int device, const char* what) {
  if (!gpu_available()) no_gpu(what);
  if (device < 0 || device >= backend_info().device_count) {
    fail(ErrorCode::Device, std::string(what) + ": device", device_str(device),
         "one of cuda:0..cuda:" + std::to_string(backend_info().device_count - 1));
  }
}

#ifdef NSA_WITH_GPU

static gpuStream_t S(StreamHandle h) { return reinterpret_cast<gpuStream_t>(h); }
static gpuEvent_t E(StreamHandle h) { return reinterpret_cast<gpuEvent_t>(h); }

DeviceInfo device_info(int device) {
  require_gpu_device(device, "devices()");
  gpuDeviceProp_t p;
  NSA_GPU_CHECK(gpuGetDeviceProperties(&p, device));
  DeviceInfo d;
  d.index = device;
  d.name = p.name;
  d.cc_major = p.major;
  d.cc_minor = p.minor;
  d.sm_count = p.multiProcessorCount;
  d.l2_bytes = p.l2CacheSize;
#if defined(NSA_WITH_HIP)
  d.shared_mem_per_block_optin = static_cast<int>(p.sharedMemPerBlock);  // no opt-in field in ROCm 5.x
#else
  d.shared_mem_per_block_optin = static_cast<int>(p.sharedMemPerBlockOptin);
#endif
  d.warp_size = p.warpSize;
#if defined(NSA_WITH_HIP)
  d.arch_name = p.gcnArchName;
#else
  d.arch_name = "sm_" + std::to_string(p.major) + std::to_string(p.minor);
#endif
  for (int peer = 0; peer < backend_info().device_count; ++peer)
    if (peer != device && can_access_peer(device, peer)) d.peers.push_back(peer);
  // Memory is a per-device query: switch, ask, and switch back (the caller's device stays current).
  int current = 0;
  NSA_GPU_CHECK(gpuGetDevice(&current));
  set_device(device);
  const gpuError_t err = gpuMemGetInfo(&d.free_memory, &d.total_memory);
  set_device(current);
  NSA_GPU_CHECK(err);
  return d;
}

void set_device(int device) { NSA_GPU_CHECK(gpuSetDevice(device)); }

namespace {
struct DeviceFacts {
  int sm_count = 0;
  int cc = 0;
  size_t total_memory = 0;
};
const DeviceFacts& device_facts(int device) {
  require_gpu_device(device, "device facts");
  static PerDevice<DeviceFacts> facts;
  return facts.get(device, 0, [&] {
    gpuDeviceProp_t p;
    NSA_GPU_CHECK(gpuGetDeviceProperties(&p, device));
    return DeviceFacts{p.multiProcessorCount, p.major * 10 + p.minor, p.totalGlobalMem};
  });
}
}  // namespace

int sm_count(int device) { return device_facts(device).sm_count; }
int compute_capability(int device) { return device_facts(device).cc; }

bool can_access_peer(int device, int peer) {
  require_gpu_device(device, "peer access");
  require_gpu_device(peer, "peer access");
  static PerDevice<bool> access;  // key: the peer
  return access.get(device, peer, [&] {
    int yes = 0;
    if (device != peer) NSA_GPU_CHECK(gpuDeviceCanAccessPeer(&yes, device, peer));
    return yes != 0;
  });
}

StreamHandle default_stream(int device) {
  require_gpu_device(device, "default stream");
  static std::mutex mu;
  static std::vector<StreamHandle> streams;
  std::lock_guard<std::mutex> lock(mu);
  if (streams.empty()) streams.assign(backend_info().device_count, 0);
  if (streams[device] == 0) streams[device] = stream_create(device);  // lives for the process
  return streams[device];
}

StreamHandle resolve_stream(StreamHandle s, int device) { return s != 0 ? s : default_stream(device); }

StreamHandle stream_create(int device) {
  set_device(device);
  gpuStream_t s;
  NSA_GPU_CHECK(gpuStreamCreateWithFlags(&s, gpuStreamNonBlocking));
  return reinterpret_cast<StreamHandle>(s);
}
void stream_destroy(StreamHandle s, int device) {
  set_device(device);
  NSA_GPU_CHECK(gpuStreamDestroy(S(s)));
}
void stream_synchronize(StreamHandle s) {
  // Refuse before the runtime does: a sync would invalidate the capture in progress.
  if (stream_is_capturing(s)) throw NsaError(ErrorCode::Arg, "stream: synchronize() while the stream is being captured into a graph");
  NSA_GPU_CHECK(gpuStreamSynchronize(S(s)));
}
bool stream_is_capturing(StreamHandle s) {
  gpuStreamCaptureStatus st;
  NSA_GPU_CHECK(gpuStreamIsCapturing(S(s), &st));
  return st != gpuStreamCaptureStatusNone;
}

StreamHandle event_create(int device) {
  set_device(device);
  gpuEvent_t e;
  NSA_GPU_CHECK(gpuEventCreate(&e));
  return reinterpret_cast<StreamHandle>(e);
}
void event_destroy(StreamHandle e) { NSA_GPU_CHECK(gpuEventDestroy(E(e))); }
void event_record(StreamHandle e, StreamHandle s) { NSA_GPU_CHECK(gpuEventRecord(E(e), S(s))); }
void event_synchronize(StreamHandle e) { NSA_GPU_CHECK(gpuEventSynchronize(E(e))); }
float event_elapsed_ms(StreamHandle a, StreamHandle b) {
  float ms = 0;
  NSA_GPU_CHECK(gpuEventElapsedTime(&ms, E(a), E(b)));
  return ms;
}
void stream_wait_event(StreamHandle s, StreamHandle e) { NSA_GPU_CHECK(gpuStreamWaitEvent(S(s), E(e), 0)); }

void graph_begin_capture(StreamHandle s) { NSA_GPU_CHECK(gpuStreamBeginCapture(S(s), gpuStreamCaptureModeThreadLocal)); }
StreamHandle graph_end_capture(StreamHandle s) {
  gpuGraph_t g = nullptr;
  NSA_GPU_CHECK(gpuStreamEndCapture(S(s), &g));
  gpuGraphExec_t exec = nullptr;
  gpuError_t err = gpuGraphInstantiate(&exec, g);
  (void)gpuGraphDestroy(g);
  NSA_GPU_CHECK(err);
  return reinterpret_cast<StreamHandle>(exec);
}
void graph_launch(StreamHandle exec, StreamHandle s) {
  NSA_GPU_CHECK(gpuGraphLaunch(reinterpret_cast<gpuGraphExec_t>(exec), S(s)));
}
void graph_destroy(StreamHandle exec) { NSA_GPU_CHECK(gpuGraphExecDestroy(reinterpret_cast<gpuGraphExec_t>(exec))); }

void* device_alloc(size_t bytes, int device, StreamHandle s) {
  require_gpu_device(device, "device allocation");
  // More than the device has can never succeed: refused without asking the runtime (no API error).
  if (bytes > device_facts(device).total_memory)
    fail(ErrorCode::Range, "allocation", std::to_string(bytes) + " bytes on " + device_str(device),
         "at most the device's " + std::to_string(device_facts(device).total_memory) + " bytes (out of memory)");
  set_device(device);
  void* p = nullptr;
  // Stream-ordered pool allocator: reuse without a device sync; 0 bytes still gets a unique pointer.
  const gpuError_t err = gpuMallocAsync(&p, bytes == 0 ? 1 : bytes, S(resolve_stream(s, device)));
  if (err == gpuErrorMemoryAllocation) {
    (void)gpuGetLastError();
    fail(ErrorCode::Range, "allocation", std::to_string(bytes) + " bytes on " + device_str(device),
         "a size the device's free memory holds (out of memory)");
  }
  NSA_GPU_CHECK(err);
  return p;
}
void device_free_after_sync(void* p, int device) {
  set_device(device);
  NSA_GPU_CHECK(gpuDeviceSynchronize());
  NSA_GPU_CHECK(gpuFreeAsync(p, S(default_stream(device))));
}
void device_free(void* p, int device, StreamHandle s) {
  set_device(device);
  NSA_GPU_CHECK(gpuFreeAsync(p, S(resolve_stream(s, device))));
}

namespace {
// Lets `peer` read and write the memory of `owner`'s stream-ordered pool, once per pair, where the
// hardware allows it (pool memory ignores cudaDeviceEnablePeerAccess; its access is set on the pool).
void grant_pool_access(int owner, int peer) {
  static PerDevice<bool> granted;  // key: the peer
  granted.get(owner, peer, [&] {
    if (!can_access_peer(peer, owner)) return false;
    gpuMemPool_t pool;
    NSA_GPU_CHECK(gpuDeviceGetDefaultMemPool(&pool, owner));
    gpuMemAccessDesc access = {};
    access.location.type = gpuMemLocationTypeDevice;
    access.location.id = peer;
    access.flags = gpuMemAccessFlagsProtReadWrite;
    NSA_GPU_CHECK(gpuMemPoolSetAccess(pool, &access, 1));
    return true;
  });
}

// `waiter` (a stream of any device) waits for the work queued so far on `signaler`, a stream of
// `signaler_device` (an event must be recorded on a stream of its own device).
void stream_wait_stream(gpuStream_t waiter, gpuStream_t signaler, int signaler_device) {
  int current = 0;
  NSA_GPU_CHECK(gpuGetDevice(&current));
  set_device(signaler_device);
  gpuEvent_t e;
  NSA_GPU_CHECK(gpuEventCreateWithFlags(&e, gpuEventDisableTiming));
  gpuError_t err = gpuEventRecord(e, signaler);
  if (err == gpuSuccess) err = gpuStreamWaitEvent(waiter, e, 0);
  (void)gpuEventDestroy(e);  // released once the recorded work completes
  set_device(current);
  NSA_GPU_CHECK(err);
}

// Issues one copy touching dst_device and src_device (-1 = host) on a stream of the device side, with
// the cross-device ordering and the host synchronization copy_bytes promises.
template <class Issue>
void gpu_copy(int dst_device, int src_device, StreamHandle s, Issue&& issue) {
  const int dev = dst_device >= 0 ? dst_device : src_device;
  set_device(dev);
  const gpuStream_t st = S(resolve_stream(s, dev));
  const bool across = dst_device >= 0 && src_device >= 0 && dst_device != src_device;
  if (across) {
    const gpuStream_t src_default = S(default_stream(src_device));
    if (stream_is_capturing(reinterpret_cast<StreamHandle>(st)) || stream_is_capturing(reinterpret_cast<StreamHandle>(src_default)))
      fail(ErrorCode::Arg, "copy", device_str(src_device) + " -> " + device_str(dst_device) + " inside a graph capture",
           "a copy between devices outside capture (it orders itself after the source device's default stream)");
    grant_pool_access(src_device, dst_device);
    grant_pool_access(dst_device, src_device);
    stream_wait_stream(st, src_default, src_device);
    NSA_GPU_CHECK(issue(st));
    stream_wait_stream(src_default, st, dst_device);  // a later write or free of the source waits for the copy
    return;
  }
  NSA_GPU_CHECK(issue(st));
  // Pageable host memory: the host buffer must be complete (D2H) or reusable (H2D) on return.
  if (dst_device < 0 || src_device < 0) NSA_GPU_CHECK(gpuStreamSynchronize(st));
}
}  // namespace

void copy_bytes(void* dst, int dst_device, const void* src, int src_device, size_t bytes, StreamHandle s) {
  if (bytes == 0) return;
  if (dst_device < 0 && src_device < 0) {
    std::memmove(dst, src, bytes);
    return;
  }
  gpu_copy(dst_device, src_device, s, [&](gpuStream_t st) { return gpuMemcpyAsync(dst, src, bytes, gpuMemcpyDefault, st); });
}

void copy_2d(void* dst, size_t dpitch, int dst_device, const void* src, size_t spitch, int src_device, size_t width_bytes,
             size_t rows, StreamHandle s) {
  if (width_bytes == 0 || rows == 0) return;
  if (dst_device < 0 && src_device < 0) {
    for (size_t r = 0; r < rows; ++r)
      std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width_bytes);
    return;
  }
  gpu_copy(dst_device, src_device, s, [&](gpuStream_t st) {
    return gpuMemcpy2DAsync(dst, dpitch, src, spitch, width_bytes, rows, gpuMemcpyDefault, st);
  });
}

void memset_bytes(void* dst, int device, int value, size_t bytes, StreamHandle s) {
  if (bytes == 0) return;
  if (device < 0) {
    std::memset(dst, value, bytes);
    return;
  }
  set_device(device);
  NSA_GPU_CHECK(gpuMemsetAsync(dst, value, bytes, S(resolve_stream(s, device))));
}

#else  // CPU-only build

DeviceInfo device_info(int) { no_gpu("devices()"); }
void set_device(int) { no_gpu("setDevice"); }
bool can_access_peer(int, int) { no_gpu("peer access"); }
int sm_count(int) { no_gpu("sm_count"); }
int compute_capability(int) { no_gpu("compute_capability"); }
StreamHandle default_stream(int) { no_gpu("stream"); }
StreamHandle resolve_stream(StreamHandle s, int) { return s; }
StreamHandle stream_create(int) { no_gpu("Stream"); }
void stream_destroy(StreamHandle, int) {}
void stream_synchronize(StreamHandle) {}
bool stream_is_capturing(StreamHandle) { return false; }
StreamHandle event_create(int) { no_gpu("Event"); }
void event_destroy(StreamHandle) {}
void event_record(StreamHandle, StreamHandle) { no_gpu("Event"); }
void event_synchronize(StreamHandle) {}
float event_elapsed_ms(StreamHandle, StreamHandle) { no_gpu("Event"); }
void stream_wait_event(StreamHandle, StreamHandle) { no_gpu("Event"); }
void graph_begin_capture(StreamHandle) { no_gpu("captureGraph"); }
StreamHandle graph_end_capture(StreamHandle) { no_gpu("captureGraph"); }
void graph_launch(StreamHandle, StreamHandle) { no_gpu("Graph"); }
void graph_destroy(StreamHandle) {}
void* device_alloc(size_t, int, StreamHandle) { no_gpu("device allocation"); }
void device_free(void*, int, StreamHandle) {}
void device_free_after_sync(void*, int) {}
void copy_bytes(void* dst, int, const void* src, int, size_t bytes, StreamHandle) {
  if (bytes) std::memmove(dst, src, bytes);
}
void copy_2d(void* dst, size_t dpitch, int, const void* src, size_t spitch, int, size_t width_bytes, size_t rows,
             StreamHandle) {
  for (size_t r = 0; r < rows; ++r)
    std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width_bytes);
}
void memset_bytes(void* dst, int, int value, size_t bytes, StreamHandle) {
  if (bytes) std::memset(dst, value, bytes);
}

#endif

}  // namespace nsa
