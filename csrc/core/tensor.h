// A non-owning tensor view (SPEC §0) and the checks ops run on it before any launch. Each check names
// the argument, what it got and what was expected.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace nsa {

constexpr int kMaxDims = 8;
constexpr int kCpuDevice = -1;

struct TensorView {
  void* data = nullptr;  // already offset to element 0
  DType dtype = DType::UInt8;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};  // in elements
  int device = kCpuDevice;         // -1 = host memory, N = GPU N
  bool present = false;            // false for an optional argument that was not given

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  bool is_contiguous() const {
    int64_t expect = 1;
    for (int i = ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != expect) return false;
      expect *= shape[i];
    }
    return true;
  }
  bool on_gpu() const { return device >= 0; }
  template <typename T>
  T* ptr() const { return static_cast<T*>(data); }
};

inline std::string shape_str(const TensorView& t) {
  std::ostringstream os;
  os << "[";
  for (int i = 0; i < t.ndim; ++i) os << (i ? ", " : "") << t.shape[i];
  os << "]";
  return os.str();
}

inline std::string device_str(int device) {
  return device < 0 ? std::string("cpu") : "cuda:" + std::to_string(device);
}

inline void check_dtype(const TensorView& t, const std::string& name, DType want) {
  if (t.dtype != want) fail(ErrorCode::Dtype, name + ".dtype", dtype_name(t.dtype), dtype_name(want));
}

inline void check_ndim(const TensorView& t, const std::string& name, int want) {
  if (t.ndim != want) fail(ErrorCode::Shape, name + ".shape", shape_str(t), std::to_string(want) + " dimensions");
}

// Checks every dim; a negative expected value means "any".
inline void check_shape(const TensorView& t, const std::string& name, std::initializer_list<int64_t> want) {
  bool ok = static_cast<int>(want.size()) == t.ndim;
  int i = 0;
  for (int64_t w : want) {
    if (ok && w >= 0 && t.shape[i] != w) ok = false;
    ++i;
  }
  if (!ok) {
    std::ostringstream os;
    os << "[";
    i = 0;
    for (int64_t w : want) os << (i++ ? ", " : "") << (w >= 0 ? std::to_string(w) : std::string("*"));
    os << "]";
    fail(ErrorCode::Shape, name + ".shape", shape_str(t), os.str());
  }
}

inline void check_contiguous(const TensorView& t, const std::string& name) {
  if (!t.is_contiguous()) fail(ErrorCode::Shape, name, "a non-contiguous view (shape " + shape_str(t) + ")", "a contiguous tensor");
}

inline void check_same_device(const TensorView& t, const std::string& name, int device) {
  if (t.device != device) fail(ErrorCode::Device, name + ".device", device_str(t.device), device_str(device));
}

inline bool is_aligned(const void* p, uintptr_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// A kernel that reads or writes `bytes`-wide vectors: element 0 and every row step of the view must be
// `bytes`-aligned (SPEC §0: an unaligned view is refused before launch, never a misaligned-address fault).
inline void check_aligned(const TensorView& t, const std::string& name, int bytes) {
  const auto addr = reinterpret_cast<uintptr_t>(t.data);
  if (addr % bytes != 0)
    fail(ErrorCode::Arg, name, "a view starting " + std::to_string(addr % bytes) + " bytes past a " + std::to_string(bytes) + "-byte boundary",
         "a " + std::to_string(bytes) + "-byte aligned start (a view at an element offset that is a multiple of " +
             std::to_string(bytes / dtype_size(t.dtype)) + ")");
  for (int i = 0; i < t.ndim; ++i)
    if (t.shape[i] > 1 && t.strides[i] != 1 && (t.strides[i] * dtype_size(t.dtype)) % bytes != 0)
      fail(ErrorCode::Arg, name + ".strides[" + std::to_string(i) + "]", t.strides[i],
           "a stride of a multiple of " + std::to_string(bytes) + " bytes");
}

// An index table argument: int32 of the given shape (a dimension < 0: any), contiguous, on `device`.
inline void check_int32_tensor(const TensorView& t, const std::string& name, std::initializer_list<int64_t> shape, int device) {
  check_dtype(t, name, DType::Int32);
  check_shape(t, name, shape);
  check_contiguous(t, name);
  check_same_device(t, name, device);
}

// The common index argument: int32, 1-D with n elements (n < 0: any), contiguous, on `device`.
inline void check_int32_vector(const TensorView& t, const std::string& name, int64_t n, int device) {
  check_int32_tensor(t, name, {n}, device);
}

inline void check_range(int64_t v, const std::string& name, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) {
    std::ostringstream os;
    os << "a value in [" << lo << ", " << hi << "]";
    fail(ErrorCode::Range, name, v, os.str());
  }
}

}  // namespace nsa
