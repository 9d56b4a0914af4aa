// Typed errors shared by every op. A C++ NsaError crosses the N-API boundary as the JS class NsaError
// with the same code, so validation written once in C++ reaches JS callers with its argument name.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace nsa {

enum class ErrorCode { Dtype, Shape, Device, Range, Disposed, Gpu, Arg, Unsupported };

inline const char* error_code_name(ErrorCode c) {
  switch (c) {
    case ErrorCode::Dtype: return "E_DTYPE";
    case ErrorCode::Shape: return "E_SHAPE";
    case ErrorCode::Device: return "E_DEVICE";
    case ErrorCode::Range: return "E_RANGE";
    case ErrorCode::Disposed: return "E_DISPOSED";
    case ErrorCode::Gpu: return "E_GPU";
    case ErrorCode::Arg: return "E_ARG";
    case ErrorCode::Unsupported: return "E_UNSUPPORTED";
  }
  return "E_ARG";
}

class NsaError : public std::runtime_error {
 public:
  NsaError(ErrorCode code, const std::string& msg) : std::runtime_error(msg), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Builds "<arg>: got <got>, expected <expected>" from stream-able parts.
template <typename Got, typename Expected>
[[noreturn]] void fail(ErrorCode code, const std::string& arg, const Got& got, const Expected& expected) {
  std::ostringstream os;
  os << arg << ": got " << got << ", expected " << expected;
  throw NsaError(code, os.str());
}

}  // namespace nsa
