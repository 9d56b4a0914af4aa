// The named arguments of one native call (SPEC §0: errors name the argument, what it got and what was
// expected). csrc/binding implements the primitives over a JS object; each op reads its own arguments by
// name in csrc/ops/<op>/<op>.cc. Adding an argument therefore touches lib/<op>.ts and csrc/ops/<op>/ only.
//
// Names are qualified with the path of the object they were read from ("cache.pageSize",
// "dsts[1].pageTable"), so a nested reader reports the same names the JS caller wrote.
#pragma once
#include <cmath>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/names.h"
#include "core/tensor.h"

namespace nsa {

// Opaque handles (gpuStream_t) are integers in headers that do not include the vendor runtime; 0 is the
// library's default stream of the op's device.
using StreamHandle = uintptr_t;

class Args {
 public:
  enum class Kind { Absent, Number, String, Boolean, Object, Other };  // Absent: undefined or null

  virtual ~Args() = default;

  // ---- primitives (the binding implements these) ----
  virtual Kind kind(const char* key) const = 0;
  virtual double number(const char* key) const = 0;        // kind Number
  virtual std::string string(const char* key) const = 0;   // kind String
  virtual bool boolean(const char* key) const = 0;         // kind Boolean
  // A tensor descriptor (lib/tensor.ts Tensor.native()): dtype, shape, strides and extent checked, the
  // storage live; E_ARG when the value is not one.
  virtual TensorView tensor_value(const char* key) const = 0;
  // A live Stream of `device` (E_ARG for anything else, E_DISPOSED, E_DEVICE for another device).
  virtual StreamHandle stream_value(const char* key, int device) const = 0;
  virtual std::unique_ptr<Args> object(const char* key) const = 0;                // kind Object
  virtual std::vector<std::unique_ptr<Args>> objects(const char* key) const = 0;  // an array of objects
  // The qualified name of key, for messages.
  virtual std::string name(const char* key) const = 0;

  // ---- typed reads ----
  bool has(const char* key) const { return kind(key) != Kind::Absent; }

  TensorView tensor(const char* key) const {
    if (!has(key)) fail(ErrorCode::Arg, name(key), "nothing", "a Tensor");
    return tensor_value(key);
  }
  // Absent -> present = false.
  TensorView optional_tensor(const char* key) const { return has(key) ? tensor_value(key) : TensorView{}; }

  // An integer in [lo, hi]; absent is an error.
  int64_t integer(const char* key, int64_t lo, int64_t hi) const {
    if (!has(key)) fail(ErrorCode::Arg, name(key), "nothing", range_text(lo, hi));
    return integer_value(key, lo, hi);
  }
  int64_t integer(const char* key, int64_t lo, int64_t hi, int64_t dflt) const {
    return has(key) ? integer_value(key, lo, hi) : dflt;
  }

  bool flag(const char* key, bool dflt) const {
    switch (kind(key)) {
      case Kind::Absent: return dflt;
      case Kind::Boolean: return boolean(key);
      default: fail(ErrorCode::Arg, name(key), describe(key), "true or false");
    }
  }

  template <class E, size_t N>
  E choice(const char* key, const EnumName<E> (&names)[N]) const {
    if (kind(key) != Kind::String) fail(ErrorCode::Arg, name(key), describe(key), names_text(names));
    const std::string v = string(key);
    for (const auto& n : names)
      if (v == n.name) return n.value;
    fail(ErrorCode::Arg, name(key), v, names_text(names));
  }
  template <class E, size_t N>
  E choice(const char* key, const EnumName<E> (&names)[N], E dflt) const {
    return has(key) ? choice(key, names) : dflt;
  }

  // The optional `stream` argument: 0 (the device's default stream) when absent.
  StreamHandle stream(int device) const { return has("stream") ? stream_value("stream", device) : 0; }

  // "a string 'x'", "an object", ... for messages about a value of the wrong kind.
  std::string describe(const char* key) const {
    switch (kind(key)) {
      case Kind::Absent: return "nothing";
      case Kind::Number: return number_text(number(key));
      case Kind::String: return "the string '" + string(key) + "'";
      case Kind::Boolean: return boolean(key) ? "true" : "false";
      case Kind::Object: return "an object";
      default: return "a value of another type";
    }
  }

  template <class E, size_t N>
  static std::string names_text(const EnumName<E> (&names)[N]) {
    std::string s;
    for (size_t i = 0; i < N; ++i) s += (i ? " | '" : "'") + std::string(names[i].name) + "'";
    return s;
  }

 private:
  static std::string number_text(double d) {
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.2e18) return std::to_string(static_cast<int64_t>(d));
    std::ostringstream os;
    os.precision(17);
    os << d;
    return os.str();
  }
  static std::string range_text(int64_t lo, int64_t hi) {
    return "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  }
  int64_t integer_value(const char* key, int64_t lo, int64_t hi) const {
    if (kind(key) != Kind::Number) fail(ErrorCode::Arg, name(key), describe(key), range_text(lo, hi));
    const double d = number(key);
    if (!std::isfinite(d) || std::floor(d) != d) fail(ErrorCode::Arg, name(key), number_text(d), range_text(lo, hi));
    // Compared as doubles before the cast: a huge value is an E_RANGE error, never a wrapped integer.
    if (d < static_cast<double>(lo) || d > static_cast<double>(hi)) fail(ErrorCode::Range, name(key), number_text(d), range_text(lo, hi));
    return static_cast<int64_t>(d);
  }
};

}  // namespace nsa
