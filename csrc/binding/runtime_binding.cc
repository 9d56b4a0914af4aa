// N-API surface of csrc/runtime: backend, devices, the enum names, streams (binding/js.cc), events,
// graphs, copies and downloads. Events and graphs are native objects too: no handle crosses as a number.
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
      Napi::Array peers = Napi::Array::New(info.Env(), d.peers.size());
      for (size_t j = 0; j < d.peers.size(); ++j) peers.Set(uint32_t(j), d.peers[j]);
      o.Set("peers", peers);
      arr.Set(uint32_t(i), o);
    }
    return arr;
  });
}

// defaultStream({device}): the library's stream of a device, as a Stream object that dispose() ignores.
Napi::Value DefaultStream(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const int device = static_cast<int>(call_args(info, "defaultStream").integer("device", 0, 1 << 20));
    return NativeStream::Wrap(info.Env(), default_stream(device), device, false);
  });
}

// Destroys a handle once; later calls (dispose again, the finalizer) see 0.
void release_once(StreamHandle& h, void (*destroy)(StreamHandle)) {
  const StreamHandle x = h;
  h = 0;
  if (x != 0) destroy(x);
}

NativeStream& stream_arg(const Napi::Value& v, const char* name) {
  NativeStream* s = NativeStream::From(v);
  if (s == nullptr) fail(ErrorCode::Arg, name, "a value that is not a Stream", "a Stream");
  return *s;
}

// ---- events ----

class NativeEvent : public Napi::ObjectWrap<NativeEvent> {
 public:
  static Napi::Function Init(Napi::Env env) {
    Napi::Function f = DefineClass(env, "Event",
                                   {InstanceMethod("record", &NativeEvent::Record), InstanceMethod("synchronize", &NativeEvent::Synchronize),
                                    InstanceMethod("elapsedMs", &NativeEvent::ElapsedMs), InstanceMethod("dispose", &NativeEvent::Dispose)});
    addon(env).event = Napi::Persistent(f);
    return f;
  }
  static NativeEvent* From(const Napi::Value& v) {
    if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(addon(v.Env()).event.Value())) return nullptr;
    return Unwrap(v.As<Napi::Object>());
  }
  // new Event({device})
  explicit NativeEvent(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeEvent>(info) {
    try {
      device_ = static_cast<int>(call_args(info, "Event").integer("device", 0, 1 << 20));
      handle_ = event_create(device_);
    } catch (const NsaError& e) {
      throw_nsa(info.Env(), error_code_name(e.code()), e.what());
    }
  }
  ~NativeEvent() override {
    try {
      release_once(handle_, event_destroy);
    } catch (...) {
    }
  }
  StreamHandle live() const {
    if (handle_ == 0) fail(ErrorCode::Disposed, "event", "a disposed event", "a live Event");
    return handle_;
  }
  int device() const { return device_; }

 private:
  Napi::Value Record(const Napi::CallbackInfo& info) {
    return guarded(info, [&] {
      NativeStream& s = stream_arg(info[0], "stream");
      if (s.device() != device_) fail(ErrorCode::Device, "stream", device_str(s.device()), "a stream of the event's " + device_str(device_));
      event_record(live(), s.live("stream"));
      return info.Env().Undefined();
    });
  }
  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    return guarded(info, [&] {
      event_synchronize(live());
      return info.Env().Undefined();
    });
  }
  Napi::Value ElapsedMs(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      NativeEvent* end = From(info[0]);
      if (end == nullptr) fail(ErrorCode::Arg, "end", "a value that is not an Event", "an Event");
      return Napi::Number::New(info.Env(), event_elapsed_ms(live(), end->live()));
    });
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    return guarded(info, [&] {
      release_once(handle_, event_destroy);
      return info.Env().Undefined();
    });
  }
  StreamHandle handle_ = 0;
  int device_ = 0;
};

// ---- graphs ----

// An instantiated graph (stream.endCapture()). launch(stream) replays it; dispose() frees it.
class NativeGraph : public Napi::ObjectWrap<NativeGraph> {
 public:
  static Napi::Function Init(Napi::Env env) {
    Napi::Function f = DefineClass(env, "Graph", {InstanceMethod("launch", &NativeGraph::Launch), InstanceMethod("dispose", &NativeGraph::Dispose)});
    addon(env).graph = Napi::Persistent(f);
    return f;
  }
  explicit NativeGraph(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeGraph>(info) {
    if (!info[0].IsExternal()) throw_nsa(info.Env(), "E_ARG", "Graph: made by captureGraph(), not constructed directly");
  }
  ~NativeGraph() override {
    try {
      release_once(exec_, graph_destroy);
    } catch (...) {
    }
  }
  void set(StreamHandle exec, int device) {
    exec_ = exec;
    device_ = device;
  }

 private:
  Napi::Value Launch(const Napi::CallbackInfo& info) {
    return guarded(info, [&] {
      if (exec_ == 0) fail(ErrorCode::Disposed, "graph", "a disposed graph", "a live Graph");
      NativeStream& s = stream_arg(info[0], "stream");
      if (s.device() != device_) fail(ErrorCode::Device, "stream", device_str(s.device()), "a stream of the graph's " + device_str(device_));
      graph_launch(exec_, s.live("stream"));
      return info.Env().Undefined();
    });
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    return guarded(info, [&] {
      release_once(exec_, graph_destroy);
      return info.Env().Undefined();
    });
  }
  StreamHandle exec_ = 0;
  int device_ = 0;
};

// ---- copies ----

// copy({dst, src, stream?}): any layouts on one device, or contiguous / row-pitched across devices.
Napi::Value Copy(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    NapiArgs a = call_args(info, "copy");
    const TensorView dst = a.tensor("dst"), src = a.tensor("src");
    copy_tensor(dst, src, a.stream(dst.on_gpu() ? dst.device : src.device));
    return info.Env().Undefined();
  });
}

// fillBytes({dst (contiguous), value, stream?})
Napi::Value FillBytes(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    NapiArgs a = call_args(info, "fillBytes");
    const TensorView dst = a.tensor("dst");
    check_contiguous(dst, "dst");
    const int value = static_cast<int>(a.integer("value", 0, 255));
    memset_bytes(dst.data, dst.device, value, size_t(dst.numel() * dtype_size(dst.dtype)), a.stream(dst.device));
    return info.Env().Undefined();
  });
}

// toHostAsync({src (contiguous, device), dst: ArrayBuffer, stream?}) -> Promise<void>. The copy and the
// wait run on a worker thread; the source buffer is pinned until then, so disposing the tensor meanwhile
// only defers its free.
Napi::Value ToHostAsync(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    NapiArgs a = call_args(info, "toHostAsync");
    const TensorView src = a.tensor("src");
    check_contiguous(src, "src");
    const Napi::Value dstv = a.get("dst");
    if (!dstv.IsArrayBuffer()) fail(ErrorCode::Arg, "dst", "a value that is not an ArrayBuffer", "an ArrayBuffer");
    auto dst = dstv.As<Napi::ArrayBuffer>();
    const size_t bytes = size_t(src.numel() * dtype_size(src.dtype));
    if (dst.ByteLength() < bytes) fail(ErrorCode::Shape, "dst", dst.ByteLength(), "a buffer of the tensor's byte length");
    const StreamHandle s = src.on_gpu() ? resolve_stream(a.stream(src.device), src.device) : 0;
    DeviceBuffer* buf = device_buffer_of(a.get("src"));
    if (buf != nullptr) buf->pin();
    auto keep = std::make_shared<std::vector<Napi::ObjectReference>>();
    keep->push_back(Napi::Persistent(dst.As<Napi::Object>()));
    if (buf != nullptr) keep->push_back(Napi::Persistent(buf->Value()));
    void* dst_data = dst.Data();
    return run_async(
        info.Env(), [=] { copy_bytes(dst_data, kCpuDevice, src.data, src.device, bytes, s); },
        [buf, keep](Napi::Env env) {
          if (buf != nullptr) buf->unpin(env);
          keep->clear();
        });
  });
}

Napi::Value EndCapture(NativeStream& s, Napi::Env env) {
  const StreamHandle exec = graph_end_capture(s.live("stream"));
  Napi::Object g = addon(env).graph.New({Napi::External<void>::New(env, nullptr)});
  NativeGraph::Unwrap(g)->set(exec, s.device());
  return g;
}

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (info[0].IsFunction()) set_error_class(info.Env(), info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace

// Stream methods that need the event and graph classes of this file.
Napi::Value NativeStream::WaitEvent(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    NativeEvent* e = NativeEvent::From(info[0]);
    if (e == nullptr) fail(ErrorCode::Arg, "event", "a value that is not an Event", "an Event");
    if (e->device() != device_) fail(ErrorCode::Device, "event", device_str(e->device()), "an event of the stream's " + device_str(device_));
    stream_wait_event(live("stream"), e->live());
    return info.Env().Undefined();
  });
}

Napi::Value NativeStream::EndCapture(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value { return ::nsa::js::EndCapture(*this, info.Env()); });
}

void register_runtime(Napi::Env env, Napi::Object exports) {
  exports.Set("DeviceBuffer", DeviceBuffer::Init(env));
  exports.Set("Stream", NativeStream::Init(env));
  exports.Set("Event", NativeEvent::Init(env));
  exports.Set("Graph", NativeGraph::Init(env));
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  exports.Set("backend", Napi::Function::New(env, Backend));
  exports.Set("devices", Napi::Function::New(env, Devices));
  exports.Set("defaultStream", Napi::Function::New(env, DefaultStream));
  exports.Set("copy", Napi::Function::New(env, Copy));
  exports.Set("fillBytes", Napi::Function::New(env, FillBytes));
  exports.Set("toHostAsync", Napi::Function::New(env, ToHostAsync));
}

}  // namespace nsa::js
