// Helpers shared by the binding files: JS tensor descriptors -> TensorView, handles <-> numbers, and
// the wrapper that turns C++ errors into JS NsaError instances (never an abort).
#pragma once
#include <napi.h>

#include <string>

#include "core/tensor.h"
#include "runtime/runtime.h"

namespace nsa::js {

// A device allocation owned by JS (lib/tensor.ts Storage). Freed stream-ordered by dispose(); the
// finalizer is only a safety net for tensors the program forgot.
class DeviceBuffer : public Napi::ObjectWrap<DeviceBuffer> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit DeviceBuffer(const Napi::CallbackInfo& info);
  ~DeviceBuffer() override;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  int device() const { return device_; }
  bool disposed() const { return data_ == nullptr; }
  static bool IsInstance(const Napi::Value& v);

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(bytes_)); }
  Napi::Value GetDevice(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_); }
  Napi::Value GetAddress(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(reinterpret_cast<uintptr_t>(data_)));
  }
  void release(StreamHandle stream, Napi::Env* env);
  void* data_ = nullptr;
  size_t bytes_ = 0;
  int device_ = 0;
};

// Parses {s: ArrayBuffer | DeviceBuffer, o: byteOffset, d: dtype code, sh: number[], st: number[]}.
// undefined / null -> present = false. Also checks the view stays inside its storage.
TensorView tensor(const Napi::Value& v, const std::string& name);

inline StreamHandle handle(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return 0;
  return static_cast<StreamHandle>(v.As<Napi::Number>().DoubleValue());
}
inline Napi::Number handle_value(Napi::Env env, StreamHandle h) { return Napi::Number::New(env, double(h)); }

int64_t int_arg(const Napi::Value& v, const std::string& name);
bool bool_opt(const Napi::Object& o, const char* key, bool dflt);

// Throws the registered JS NsaError class (lib/errors.ts) with code and message.
[[noreturn]] void throw_nsa(Napi::Env env, const char* code, const std::string& msg);
void set_error_class(Napi::Env env, Napi::Function cls);

// Runs body; converts NsaError / std::exception into a thrown JS NsaError.
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& body) {
  try {
    return body();
  } catch (const NsaError& e) {
    throw_nsa(info.Env(), error_code_name(e.code()), e.what());
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw_nsa(info.Env(), "E_ARG", e.what());
  }
}

}  // namespace nsa::js
