// Devices, streams, events, graphs, stream-ordered allocation and copies. In a build without GPU
// support (NSA_GPU=off) everything here reports the CPU backend and device calls throw E_UNSUPPORTED.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/args.h"
#include "core/tensor.h"

namespace nsa {


struct BackendInfo {
  std::string backend;  // "cuda" | "hip" | "cpu"
  std::string reason;   // why this backend (e.g. "cudaErrorInsufficientDriver: no NVIDIA driver")
  int device_count = 0;
  int driver_version = 0;
  int runtime_version = 0;
  bool compiled_with_gpu = false;
};

struct DeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  size_t total_memory = 0, free_memory = 0;
  int l2_bytes = 0;
  int shared_mem_per_block_optin = 0;
  int warp_size = 0;
  std::string arch_name;  // gcnArchName on HIP, "sm_XY" on CUDA
  std::vector<int> peers;  // devices whose memory this one reads and writes directly (NVLink / PCIe P2P)
};

const BackendInfo& backend_info();
bool gpu_available();
void require_gpu_device(int device, const char* what);
DeviceInfo device_info(int device);

void set_device(int device);
// Whether `device` can access `peer`'s memory directly (cached per pair).
bool can_access_peer(int device, int peer);
// Multiprocessor count and compute capability (major * 10 + minor), cached per device
// (cudaGetDeviceProperties is too slow for a hot path).
int sm_count(int device);
int compute_capability(int device);
// The one per-device cache: a value computed once per (device, key) and kept for the process (device
// facts, a launch configuration, a kernel attribute set once); thread-safe, any number of devices. A
// make() that throws stores nothing and runs again next time. The reference stays valid (std::map nodes
// do not move).
template <class T>
class PerDevice {
 public:
  template <class Make>
  const T& get(int device, int key, Make&& make) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = values_.find({device, key});
    if (it == values_.end()) it = values_.emplace(std::make_pair(device, key), make()).first;
    return it->second;
  }

 private:
  std::mutex mu_;
  std::map<std::pair<int, int>, T> values_;
};
// The stream ops run on when the caller names none: one non-blocking stream per device, made lazily
// (the legacy NULL stream cannot be captured into a graph).
StreamHandle default_stream(int device);
// handle 0 -> default_stream(device)
StreamHandle resolve_stream(StreamHandle s, int device);

StreamHandle stream_create(int device);
void stream_destroy(StreamHandle s, int device);
void stream_synchronize(StreamHandle s);
bool stream_is_capturing(StreamHandle s);

StreamHandle event_create(int device);
void event_destroy(StreamHandle e);
void event_record(StreamHandle e, StreamHandle s);
void event_synchronize(StreamHandle e);
float event_elapsed_ms(StreamHandle start, StreamHandle end);
void stream_wait_event(StreamHandle s, StreamHandle e);

void graph_begin_capture(StreamHandle s);
StreamHandle graph_end_capture(StreamHandle s);  // returns an instantiated graph exec
void graph_launch(StreamHandle exec, StreamHandle s);
void graph_destroy(StreamHandle exec);

void* device_alloc(size_t bytes, int device, StreamHandle s);
void device_free(void* p, int device, StreamHandle s);
// Frees after every stream of the device is idle (a buffer disposed while a download read it: the
// stream its owner named may be gone by then).
void device_free_after_sync(void* p, int device);
// Byte copy between any two places (host or device) on stream s (a stream of the destination's device,
// or of the source's when the destination is the host); returns before completion for device-to-device,
// after completion when the host is involved (pageable host memory). Between two GPUs the copy is
// direct where they have peer access (else the driver stages it through the host), waits for the work
// queued so far on the source device's default stream, and that stream waits for the copy; refused
// inside a graph capture.
void copy_bytes(void* dst, int dst_device, const void* src, int src_device, size_t bytes, StreamHandle s);
// Strided 2-D copy: rows of width_bytes, pitches in bytes.
void copy_2d(void* dst, size_t dpitch, int dst_device, const void* src, size_t spitch, int src_device, size_t width_bytes,
             size_t rows, StreamHandle s);
void memset_bytes(void* dst, int device, int value, size_t bytes, StreamHandle s);

}  // namespace nsa
