#include "binding/js.h"

#include <cmath>
#include <map>

namespace nsa::js {

AddonData& addon(Napi::Env env) {
  auto* d = env.GetInstanceData<AddonData>();
  if (d == nullptr) {
    d = new AddonData();
    env.SetInstanceData(d);
  }
  return *d;
}

namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1: larger doubles are not all integers

std::string kind_text(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return "nothing";
  if (v.IsNumber()) return "the number " + std::to_string(v.As<Napi::Number>().DoubleValue());
  if (v.IsString()) return "the string '" + v.As<Napi::String>().Utf8Value() + "'";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsArray()) return "an array";
  if (v.IsFunction()) return "a function";
  if (v.IsObject()) return "an object";
  return "a value of another type";
}

// A safe integer in [lo, hi] read from a tensor descriptor field.
int64_t safe_int(const Napi::Value& v, const std::string& name, double lo, double hi) {
  if (!v.IsNumber()) fail(ErrorCode::Arg, name, kind_text(v), "an integer");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) fail(ErrorCode::Arg, name, d, "an integer");
  if (d < lo || d > hi) fail(ErrorCode::Range, name, d, "an integer in [" + std::to_string(int64_t(lo)) + ", " + std::to_string(int64_t(hi)) + "]");
  return static_cast<int64_t>(d);
}
}  // namespace

// ---- errors ----

void set_error_class(Napi::Env env, Napi::Function cls) { addon(env).error_class = Napi::Persistent(cls); }

Napi::Value make_nsa_error(Napi::Env env, const char* code, const std::string& msg) {
  auto& d = addon(env);
  if (d.error_class.IsEmpty()) {
    Napi::Error e = Napi::Error::New(env, msg);
    e.Set("code", Napi::String::New(env, code));
    return e.Value();
  }
  return d.error_class.New({Napi::String::New(env, code), Napi::String::New(env, msg)});
}

void throw_nsa(Napi::Env env, const char* code, const std::string& msg) {
  throw Napi::Error(env, make_nsa_error(env, code, msg));
}

// ---- the promise worker ----

namespace {
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::function<void()> work, std::function<void(Napi::Env)> done)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)), done_(std::move(done)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      work_();
    } catch (const NsaError& e) {
      code_ = error_code_name(e.code());
      SetError(e.what());
    } catch (const std::exception& e) {
      code_ = "E_GPU";
      SetError(e.what());
    }
  }
  void OnOK() override {
    finish();
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override {
    finish();
    deferred_.Reject(make_nsa_error(Env(), code_, e.Message()));
  }

 private:
  void finish() {
    if (done_) done_(Env());
  }
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  std::function<void(Napi::Env)> done_;
  const char* code_ = "E_GPU";
};
}  // namespace

Napi::Promise run_async(Napi::Env env, std::function<void()> work, std::function<void(Napi::Env)> done) {
  auto* w = new PromiseWorker(env, std::move(work), std::move(done));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// ---- DeviceBuffer ----

Napi::Function DeviceBuffer::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "DeviceBuffer",
                                 {InstanceMethod("dispose", &DeviceBuffer::Dispose),
                                  InstanceAccessor("bytes", &DeviceBuffer::GetBytes, nullptr),
                                  InstanceAccessor("device", &DeviceBuffer::GetDevice, nullptr)});
  addon(env).device_buffer = Napi::Persistent(f);
  return f;
}

DeviceBuffer* DeviceBuffer::From(const Napi::Value& v) {
  if (!v.IsObject()) return nullptr;
  auto& ref = addon(v.Env()).device_buffer;
  if (ref.IsEmpty() || !v.As<Napi::Object>().InstanceOf(ref.Value())) return nullptr;
  return DeviceBuffer::Unwrap(v.As<Napi::Object>());
}

// new DeviceBuffer({bytes, device, stream?})
DeviceBuffer::DeviceBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBuffer>(info) {
  try {
    NapiArgs a = call_args(info, "DeviceBuffer");
    const int64_t device = a.integer("device", 0, 1 << 20);
    const int64_t bytes = a.integer("bytes", 0, int64_t(1) << 52);
    data_ = device_alloc(static_cast<size_t>(bytes), static_cast<int>(device), a.stream(static_cast<int>(device)));
    bytes_ = static_cast<size_t>(bytes);
    device_ = static_cast<int>(device);
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), static_cast<int64_t>(bytes_));
  } catch (const NsaError& e) {
    throw_nsa(info.Env(), error_code_name(e.code()), e.what());
  }
}

void DeviceBuffer::release(Napi::Env* env) {
  if (data_ == nullptr || pins_ > 0) return;  // a pinned buffer is freed by the last unpin()
  void* p = data_;
  data_ = nullptr;
  if (env != nullptr) Napi::MemoryManagement::AdjustExternalMemory(*env, -static_cast<int64_t>(bytes_));
  device_free(p, device_, free_stream_);
}

void DeviceBuffer::unpin(Napi::Env env) {
  if (--pins_ > 0 || !disposed_ || data_ == nullptr) return;
  // Disposed during the download: the stream dispose() named may be gone, so free after a device sync.
  void* p = data_;
  data_ = nullptr;
  Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(bytes_));
  try {
    device_free_after_sync(p, device_);
  } catch (...) {
    // The download reports its own error; a failing free means the context is already gone.
  }
}

DeviceBuffer::~DeviceBuffer() {
  try {
    pins_ = 0;  // a finalized buffer has no pending download: the worker holds a reference
    free_stream_ = 0;
    release(nullptr);
  } catch (...) {
    // A finalizer must not throw; a failing free here means the context is already gone.
  }
}

// dispose({stream?}): stream-ordered free; idempotent.
Napi::Value DeviceBuffer::Dispose(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    if (disposed_) return info.Env().Undefined();
    const StreamHandle s = info[0].IsUndefined() ? 0 : call_args(info, "dispose").stream(device_);
    disposed_ = true;
    free_stream_ = s;
    Napi::Env env = info.Env();
    release(&env);
    return info.Env().Undefined();
  });
}

// ---- NativeStream ----

Napi::Function NativeStream::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "Stream",
                                 {InstanceMethod("dispose", &NativeStream::Dispose),
                                  InstanceMethod("synchronize", &NativeStream::Synchronize),
                                  InstanceMethod("synchronized", &NativeStream::Synchronized),
                                  InstanceMethod("isCapturing", &NativeStream::IsCapturing),
                                  InstanceMethod("waitEvent", &NativeStream::WaitEvent),
                                  InstanceMethod("beginCapture", &NativeStream::BeginCapture),
                                  InstanceMethod("endCapture", &NativeStream::EndCapture),
                                  InstanceAccessor("device", &NativeStream::GetDevice, nullptr)});
  addon(env).stream = Napi::Persistent(f);
  return f;
}

// new Stream({device}) creates an owned stream; Wrap() makes the library's default stream objects.
NativeStream::NativeStream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeStream>(info) {
  if (info[0].IsExternal()) return;  // Wrap() fills the fields in
  try {
    NapiArgs a = call_args(info, "Stream");
    device_ = static_cast<int>(a.integer("device", 0, 1 << 20));
    handle_ = stream_create(device_);
    owned_ = true;
  } catch (const NsaError& e) {
    throw_nsa(info.Env(), error_code_name(e.code()), e.what());
  }
}

NativeStream::~NativeStream() {
  if (owned_ && !disposed_) {
    try {
      stream_destroy(handle_, device_);
    } catch (...) {
    }
  }
}

Napi::Object NativeStream::Wrap(Napi::Env env, StreamHandle h, int device, bool owned) {
  Napi::Object o = addon(env).stream.New({Napi::External<void>::New(env, nullptr)});
  NativeStream* s = Unwrap(o);
  s->handle_ = h;
  s->device_ = device;
  s->owned_ = owned;
  return o;
}

NativeStream* NativeStream::From(const Napi::Value& v) {
  if (!v.IsObject()) return nullptr;
  auto& ref = addon(v.Env()).stream;
  if (ref.IsEmpty() || !v.As<Napi::Object>().InstanceOf(ref.Value())) return nullptr;
  return Unwrap(v.As<Napi::Object>());
}

StreamHandle NativeStream::live(const std::string& name) const {
  if (disposed_) fail(ErrorCode::Disposed, name, "a disposed stream", "a live Stream");
  return handle_;
}

Napi::Value NativeStream::Dispose(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    if (owned_ && !disposed_) {
      disposed_ = true;  // work already queued finishes; the runtime releases the stream afterwards
      stream_destroy(handle_, device_);
    }
    return info.Env().Undefined();
  });
}

Napi::Value NativeStream::Synchronize(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    stream_synchronize(live("stream"));
    return info.Env().Undefined();
  });
}

Napi::Value NativeStream::Synchronized(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const StreamHandle h = live("stream");
    // The JS object (and so the stream) stays alive until the promise settles.
    auto keep = std::make_shared<Napi::ObjectReference>(Napi::Persistent(Value()));
    return run_async(info.Env(), [h] { stream_synchronize(h); }, [keep](Napi::Env) { keep->Reset(); });
  });
}

Napi::Value NativeStream::IsCapturing(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value { return Napi::Boolean::New(info.Env(), stream_is_capturing(live("stream"))); });
}

Napi::Value NativeStream::BeginCapture(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    graph_begin_capture(live("stream"));
    return info.Env().Undefined();
  });
}

// ---- argument reading ----

NapiArgs::NapiArgs(Napi::Value v, std::string prefix, std::vector<Napi::Object>* retained)
    : prefix_(std::move(prefix)), retained_(retained) {
  if (!v.IsObject()) fail(ErrorCode::Arg, prefix_.empty() ? "arguments" : prefix_, kind_text(v), "an object");
  obj_ = v.As<Napi::Object>();
}

NapiArgs call_args(const Napi::CallbackInfo& info, const char* fn, std::vector<Napi::Object>* retained) {
  if (!info[0].IsObject()) fail(ErrorCode::Arg, std::string(fn) + "(arguments)", kind_text(info[0]), "one object of named arguments");
  return NapiArgs(info[0], "", retained);
}

Args::Kind NapiArgs::kind(const char* key) const {
  const Napi::Value v = obj_.Get(key);
  if (v.IsUndefined() || v.IsNull()) return Kind::Absent;
  if (v.IsNumber()) return Kind::Number;
  if (v.IsString()) return Kind::String;
  if (v.IsBoolean()) return Kind::Boolean;
  if (v.IsObject() && !v.IsFunction()) return Kind::Object;
  return Kind::Other;
}
double NapiArgs::number(const char* key) const { return obj_.Get(key).As<Napi::Number>().DoubleValue(); }
std::string NapiArgs::string(const char* key) const { return obj_.Get(key).As<Napi::String>().Utf8Value(); }
bool NapiArgs::boolean(const char* key) const { return obj_.Get(key).As<Napi::Boolean>().Value(); }

std::unique_ptr<Args> NapiArgs::object(const char* key) const {
  return std::make_unique<NapiArgs>(obj_.Get(key), name(key), retained_);
}

std::vector<std::unique_ptr<Args>> NapiArgs::objects(const char* key) const {
  const Napi::Value v = obj_.Get(key);
  if (!v.IsArray()) fail(ErrorCode::Arg, name(key), kind_text(v), "an array of objects");
  auto arr = v.As<Napi::Array>();
  std::vector<std::unique_ptr<Args>> out;
  for (uint32_t i = 0; i < arr.Length(); ++i)
    out.push_back(std::make_unique<NapiArgs>(arr.Get(i), name(key) + "[" + std::to_string(i) + "]", retained_));
  return out;
}

StreamHandle NapiArgs::stream_value(const char* key, int device) const {
  NativeStream* s = NativeStream::From(obj_.Get(key));
  if (s == nullptr) fail(ErrorCode::Arg, name(key), kind_text(obj_.Get(key)), "a Stream (Stream.create / Stream.default)");
  const StreamHandle h = s->live(name(key));
  if (s->device() != device) fail(ErrorCode::Device, name(key), device_str(s->device()), "a stream of " + device_str(device) + " (the op's device)");
  return h;
}

DeviceBuffer* device_buffer_of(const Napi::Value& desc) {
  return desc.IsObject() ? DeviceBuffer::From(desc.As<Napi::Object>().Get("storage")) : nullptr;
}

// A tensor descriptor {storage, byteOffset, dtype, shape, strides} (lib/tensor.ts Tensor.native()).
// Every number is a safe integer, and the extent check runs in 128-bit arithmetic: no shape or stride
// can wrap around and pass (SPEC §0).
TensorView NapiArgs::tensor_value(const char* key) const {
  const std::string nm = name(key);
  const Napi::Value v = obj_.Get(key);
  if (!v.IsObject()) fail(ErrorCode::Arg, nm, kind_text(v), "a Tensor");
  Napi::Object o = v.As<Napi::Object>();
  TensorView t;
  const Napi::Value s = o.Get("storage");
  uint8_t* base = nullptr;
  size_t cap = 0;
  if (s.IsArrayBuffer()) {
    auto ab = s.As<Napi::ArrayBuffer>();
    base = static_cast<uint8_t*>(ab.Data());
    cap = ab.ByteLength();
    t.device = kCpuDevice;
  } else if (DeviceBuffer* db = DeviceBuffer::From(s)) {
    if (db->disposed()) fail(ErrorCode::Disposed, nm, "a disposed tensor", "a live tensor");
    base = static_cast<uint8_t*>(db->data());
    cap = db->bytes();
    t.device = db->device();
  } else {
    fail(ErrorCode::Arg, nm, kind_text(v) + " without tensor storage", "a Tensor");
  }
  if (retained_ != nullptr) retained_->push_back(s.As<Napi::Object>());
  const int64_t offset = safe_int(o.Get("byteOffset"), nm + ".byteOffset", 0, kMaxSafeInteger);
  const Napi::Value dt = o.Get("dtype");
  const std::string dname = dt.IsString() ? dt.As<Napi::String>().Utf8Value() : kind_text(dt);
  bool known = false;
  for (const auto& d : kDTypeNames)
    if (dname == d.name) t.dtype = d.value, known = true;
  if (!known) fail(ErrorCode::Dtype, nm + ".dtype", dname, Args::names_text(kDTypeNames));
  const Napi::Value shv = o.Get("shape"), stv = o.Get("strides");
  if (!shv.IsArray() || !stv.IsArray()) fail(ErrorCode::Arg, nm + ".shape", kind_text(shv), "arrays of integers (shape and strides)");
  auto sh = shv.As<Napi::Array>();
  auto st = stv.As<Napi::Array>();
  if (sh.Length() > uint32_t(kMaxDims)) fail(ErrorCode::Shape, nm + ".shape", sh.Length(), "at most " + std::to_string(kMaxDims) + " dimensions");
  if (st.Length() != sh.Length()) fail(ErrorCode::Shape, nm + ".strides", st.Length(), std::to_string(sh.Length()) + " strides (one per dimension)");
  t.ndim = static_cast<int>(sh.Length());
  // Extent: the lowest and highest element reachable through the strides lie inside the storage.
  __int128 lo = 0, hi = 0, numel = 1;
  for (int i = 0; i < t.ndim; ++i) {
    t.shape[i] = safe_int(sh.Get(uint32_t(i)), nm + ".shape[" + std::to_string(i) + "]", 0, kMaxSafeInteger);
    t.strides[i] = safe_int(st.Get(uint32_t(i)), nm + ".strides[" + std::to_string(i) + "]", -kMaxSafeInteger, kMaxSafeInteger);
    numel *= t.shape[i];
    if (numel > (__int128(1) << 53)) fail(ErrorCode::Range, nm + ".shape", shape_str(t), "at most 2^53 elements");
    if (t.shape[i] > 0) ((t.strides[i] < 0) ? lo : hi) += __int128(t.shape[i] - 1) * t.strides[i];
  }
  const int64_t es = dtype_size(t.dtype);
  if (numel > 0 && (offset + lo * es < 0 || offset + (hi + 1) * es > __int128(cap)))
    fail(ErrorCode::Range, nm, "a view reaching outside its storage", "a view within its " + std::to_string(cap) + " bytes");
  t.data = base + offset;
  t.present = true;
  return t;
}

}  // namespace nsa::js
