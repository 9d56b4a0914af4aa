// N-API surface of csrc/runtime: backend, devices, streams, events, graphs, copies.
#include "binding/js.h"
#include "binding/registry.h"
#include "ops/copy/copy.h"

namespace nsa::js {
namespace {

Napi::Value Backend(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const BackendInfo& b = backend_info();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("backend", b.backend);
    o.Set("reason", b.reason);
    o.Set("deviceCount", b.device_count);
    o.Set("driverVersion", b.driver_version);
    o.Set("runtimeVersion", b.runtime_version);
    o.Set("compiledWithGpu", b.compiled_with_gpu);
    return o;
  });
}

Napi::Value Devices(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Array arr = Napi::Array::New(info.Env());
    if (!gpu_available()) return arr;
    for (int i = 0; i < backend_info().device_count; ++i) {
      DeviceInfo d = device_info(i);
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("index", d.index);
      o.Set("name", d.name);
      o.Set("computeCapability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor));
      o.Set("arch", d.arch_name);
      o.Set("smCount", d.sm_count);
      o.Set("totalMemory", double(d.total_memory));
      o.Set("freeMemory", double(d.free_memory));
      o.Set("l2Bytes", d.l2_bytes);
      o.Set("sharedMemPerBlockOptin", d.shared_mem_per_block_optin);
      o.Set("warpSize", d.warp_size);
      arr.Set(uint32_t(i), o);
    }
    return arr;
  });
}

#define NSA_FN(name, body) \
  Napi::Value name(const Napi::CallbackInfo& info) { return guarded(info, [&]() -> Napi::Value { body }); }

NSA_FN(DefaultStream, return handle_value(info.Env(), default_stream(int(int_arg(info[0], "device"))));)
NSA_FN(StreamCreate, return handle_value(info.Env(), stream_create(int(int_arg(info[0], "device"))));)
NSA_FN(StreamDestroy, stream_destroy(handle(info[0]), int(int_arg(info[1], "device"))); return info.Env().Undefined();)
NSA_FN(StreamSynchronize, stream_synchronize(handle(info[0])); return info.Env().Undefined();)
NSA_FN(StreamIsCapturing, return Napi::Boolean::New(info.Env(), stream_is_capturing(handle(info[0])));)
NSA_FN(EventCreate, return handle_value(info.Env(), event_create(int(int_arg(info[0], "device"))));)
NSA_FN(EventDestroy, event_destroy(handle(info[0])); return info.Env().Undefined();)
NSA_FN(EventRecord, event_record(handle(info[0]), handle(info[1])); return info.Env().Undefined();)
NSA_FN(EventSynchronize, event_synchronize(handle(info[0])); return info.Env().Undefined();)
NSA_FN(EventElapsed, return Napi::Number::New(info.Env(), event_elapsed_ms(handle(info[0]), handle(info[1])));)
NSA_FN(StreamWaitEvent, stream_wait_event(handle(info[0]), handle(info[1])); return info.Env().Undefined();)
NSA_FN(GraphBeginCapture, graph_begin_capture(handle(info[0])); return info.Env().Undefined();)
NSA_FN(GraphEndCapture, return handle_value(info.Env(), graph_end_capture(handle(info[0])));)
NSA_FN(GraphLaunch, graph_launch(handle(info[0]), handle(info[1])); return info.Env().Undefined();)
NSA_FN(GraphDestroy, graph_destroy(handle(info[0])); return info.Env().Undefined();)

// copy(dst, src, stream): any layouts on one device, or contiguous / row-pitched across devices.
NSA_FN(Copy, copy_tensor(tensor(info[0], "dst"), tensor(info[1], "src"), handle(info[2])); return info.Env().Undefined();)

// fillBytes(dst contiguous, byteValue, stream)
NSA_FN(FillBytes, {
  TensorView dst = tensor(info[0], "dst");
  check_contiguous(dst, "dst");
  memset_bytes(dst.data, dst.device, int(int_arg(info[1], "value")), size_t(dst.numel() * dtype_size(dst.dtype)),
               handle(info[2]));
  return info.Env().Undefined();
})

// toHostAsync(src contiguous device tensor, dst ArrayBuffer, stream) -> Promise<void>; the copy and
// the wait run on a worker thread so the event loop keeps going.
class ToHostWorker : public Napi::AsyncWorker {
 public:
  ToHostWorker(Napi::Env env, Napi::ArrayBuffer dst, TensorView src, StreamHandle s)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), src_(src), stream_(s) {
    dst_ref_ = Napi::Persistent(dst);
    dst_ = dst.Data();
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      copy_bytes(dst_, kCpuDevice, src_.data, src_.device, size_t(src_.numel() * dtype_size(src_.dtype)), stream_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override {
    Napi::Object err = e.Value();
    err.Set("code", "E_GPU");
    deferred_.Reject(err);
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::ArrayBuffer> dst_ref_;
  void* dst_;
  TensorView src_;
  StreamHandle stream_;
};

Napi::Value ToHostAsync(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    TensorView src = tensor(info[0], "src");
    check_contiguous(src, "src");
    auto dst = info[1].As<Napi::ArrayBuffer>();
    if (dst.ByteLength() < size_t(src.numel() * dtype_size(src.dtype)))
      fail(ErrorCode::Shape, "dst", dst.ByteLength(), "a buffer of the tensor's byte length");
    StreamHandle s = src.on_gpu() ? resolve_stream(handle(info[2]), src.device) : 0;
    auto* w = new ToHostWorker(info.Env(), dst, src, s);
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  });
}

// streamSynchronizeAsync(stream) -> Promise<void>: waits on a worker thread.
class SyncWorker : public Napi::AsyncWorker {
 public:
  SyncWorker(Napi::Env env, StreamHandle s) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), stream_(s) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      stream_synchronize(stream_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override {
    Napi::Object err = e.Value();
    err.Set("code", "E_GPU");
    deferred_.Reject(err);
  }

 private:
  Napi::Promise::Deferred deferred_;
  StreamHandle stream_;
};

Napi::Value StreamSynchronizeAsync(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto* w = new SyncWorker(info.Env(), handle(info[0]));
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  });
}

NSA_FN(SetErrorClass, set_error_class(info.Env(), info[0].As<Napi::Function>()); return info.Env().Undefined();)

}  // namespace

void register_runtime(Napi::Env env, Napi::Object exports) {
  exports.Set("DeviceBuffer", DeviceBuffer::Init(env));
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  exports.Set("backend", Napi::Function::New(env, Backend));
  exports.Set("devices", Napi::Function::New(env, Devices));
  exports.Set("defaultStream", Napi::Function::New(env, DefaultStream));
  exports.Set("streamCreate", Napi::Function::New(env, StreamCreate));
  exports.Set("streamDestroy", Napi::Function::New(env, StreamDestroy));
  exports.Set("streamSynchronize", Napi::Function::New(env, StreamSynchronize));
  exports.Set("streamSynchronizeAsync", Napi::Function::New(env, StreamSynchronizeAsync));
  exports.Set("streamIsCapturing", Napi::Function::New(env, StreamIsCapturing));
  exports.Set("streamWaitEvent", Napi::Function::New(env, StreamWaitEvent));
  exports.Set("eventCreate", Napi::Function::New(env, EventCreate));
  exports.Set("eventDestroy", Napi::Function::New(env, EventDestroy));
  exports.Set("eventRecord", Napi::Function::New(env, EventRecord));
  exports.Set("eventSynchronize", Napi::Function::New(env, EventSynchronize));
  exports.Set("eventElapsed", Napi::Function::New(env, EventElapsed));
  exports.Set("graphBeginCapture", Napi::Function::New(env, GraphBeginCapture));
  exports.Set("graphEndCapture", Napi::Function::New(env, GraphEndCapture));
  exports.Set("graphLaunch", Napi::Function::New(env, GraphLaunch));
  exports.Set("graphDestroy", Napi::Function::New(env, GraphDestroy));
  exports.Set("copy", Napi::Function::New(env, Copy));
  exports.Set("fillBytes", Napi::Function::New(env, FillBytes));
  exports.Set("toHostAsync", Napi::Function::New(env, ToHostAsync));
}

}  // namespace nsa::js
