// The JS <-> native boundary, in one place: the argument reader every entry uses (named arguments of
// one object, core/args.h), the native objects JS holds (device buffers, streams, events, graphs), the
// one promise worker, and the wrapper that turns C++ errors into JS NsaError instances (never an abort).
// Bindings parse; ops validate (csrc/ops/<op>/<op>.cc).
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/args.h"
#include "runtime/runtime.h"

namespace nsa::js {

// Per-environment state (the main thread and each worker thread that loads the addon have their own).
struct AddonData {
  Napi::FunctionReference error_class;
  Napi::FunctionReference device_buffer;
  Napi::FunctionReference stream;
  Napi::FunctionReference event;
  Napi::FunctionReference graph;
};
AddonData& addon(Napi::Env env);

// A device allocation owned by JS (lib/tensor.ts Storage). dispose() frees it stream-ordered; while a
// download reads it (pinned), the free waits for the download to finish. The finalizer is only a
// safety net for tensors the program forgot.
class DeviceBuffer : public Napi::ObjectWrap<DeviceBuffer> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit DeviceBuffer(const Napi::CallbackInfo& info);
  ~DeviceBuffer() override;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  int device() const { return device_; }
  bool disposed() const { return disposed_; }
  static DeviceBuffer* From(const Napi::Value& v);  // nullptr when v is not a DeviceBuffer
  // A pinned buffer keeps its memory until unpin(), even if disposed meanwhile.
  void pin() { ++pins_; }
  void unpin(Napi::Env env);

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(bytes_)); }
  Napi::Value GetDevice(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_); }
  void release(Napi::Env* env);
  void* data_ = nullptr;
  size_t bytes_ = 0;
  int device_ = 0;
  bool disposed_ = false;
  int pins_ = 0;
  StreamHandle free_stream_ = 0;  // the stream dispose() named, for the deferred free
};

// A GPU stream as JS holds it (lib/runtime.ts Stream): never a raw handle, so a forged or disposed
// stream is an error, not a crash. Default streams are owned by the library and never destroyed.
class NativeStream : public Napi::ObjectWrap<NativeStream> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NativeStream(const Napi::CallbackInfo& info);
  ~NativeStream() override;
  static NativeStream* From(const Napi::Value& v);
  static Napi::Object Wrap(Napi::Env env, StreamHandle h, int device, bool owned);
  // The handle of a live stream (E_DISPOSED otherwise).
  StreamHandle live(const std::string& name) const;
  int device() const { return device_; }

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Synchronize(const Napi::CallbackInfo& info);
  Napi::Value Synchronized(const Napi::CallbackInfo& info);
  Napi::Value IsCapturing(const Napi::CallbackInfo& info);
  Napi::Value WaitEvent(const Napi::CallbackInfo& info);
  Napi::Value BeginCapture(const Napi::CallbackInfo& info);
  Napi::Value EndCapture(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_); }
  StreamHandle handle_ = 0;
  int device_ = 0;
  bool owned_ = false;
  bool disposed_ = false;
};

// Reads named arguments from one JS object (see core/args.h). `prefix` qualifies names in messages.
// Device storages of every tensor read are collected in `retained` when the caller keeps them (plans).
class NapiArgs : public Args {
 public:
  NapiArgs(Napi::Value v, std::string prefix, std::vector<Napi::Object>* retained = nullptr);
  Kind kind(const char* key) const override;
  double number(const char* key) const override;
  std::string string(const char* key) const override;
  bool boolean(const char* key) const override;
  TensorView tensor_value(const char* key) const override;
  StreamHandle stream_value(const char* key, int device) const override;
  std::unique_ptr<Args> object(const char* key) const override;
  std::vector<std::unique_ptr<Args>> objects(const char* key) const override;
  std::string name(const char* key) const override { return prefix_.empty() ? key : prefix_ + "." + key; }
  Napi::Value get(const char* key) const { return obj_.Get(key); }

 private:
  Napi::Object obj_;
  std::string prefix_;
  std::vector<Napi::Object>* retained_;
};

// The argument object of an entry: info[0] must be an object (E_ARG naming the function otherwise).
NapiArgs call_args(const Napi::CallbackInfo& info, const char* fn, std::vector<Napi::Object>* retained = nullptr);

// The DeviceBuffer behind a tensor descriptor (nullptr for host tensors).
DeviceBuffer* device_buffer_of(const Napi::Value& tensor_desc);

// Throws the registered JS NsaError class (lib/errors.ts) with code and message.
[[noreturn]] void throw_nsa(Napi::Env env, const char* code, const std::string& msg);
Napi::Value make_nsa_error(Napi::Env env, const char* code, const std::string& msg);
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

// The one promise worker: `work` runs on a worker thread; its NsaError keeps its code (an E_ARG stays an
// E_ARG), other exceptions become E_GPU. `done` runs on the JS thread afterwards, whatever the outcome
// (unpinning buffers, for example).
Napi::Promise run_async(Napi::Env env, std::function<void()> work, std::function<void(Napi::Env)> done = nullptr);

}  // namespace nsa::js
