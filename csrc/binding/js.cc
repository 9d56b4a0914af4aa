#include "binding/js.h"

#include <cmath>

namespace nsa::js {

namespace {
struct AddonData {
  Napi::FunctionReference error_class;
  Napi::FunctionReference device_buffer;
};
AddonData& addon(Napi::Env env) {
  auto* d = env.GetInstanceData<AddonData>();
  if (d == nullptr) {
    d = new AddonData();
    env.SetInstanceData(d);
  }
  return *d;
}
}  // namespace

void set_error_class(Napi::Env env, Napi::Function cls) { addon(env).error_class = Napi::Persistent(cls); }

void throw_nsa(Napi::Env env, const char* code, const std::string& msg) {
  auto& d = addon(env);
  if (d.error_class.IsEmpty()) {
    Napi::Error e = Napi::Error::New(env, msg);
    e.Set("code", Napi::String::New(env, code));
    throw e;
  }
  Napi::Object err = d.error_class.New({Napi::String::New(env, code), Napi::String::New(env, msg)});
  throw Napi::Error(env, err);
}

Napi::Function DeviceBuffer::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "DeviceBuffer",
                                 {InstanceMethod("dispose", &DeviceBuffer::Dispose),
                                  InstanceAccessor("bytes", &DeviceBuffer::GetBytes, nullptr),
                                  InstanceAccessor("device", &DeviceBuffer::GetDevice, nullptr),
                                  InstanceAccessor("address", &DeviceBuffer::GetAddress, nullptr)});
  addon(env).device_buffer = Napi::Persistent(f);
  return f;
}

bool DeviceBuffer::IsInstance(const Napi::Value& v) {
  if (!v.IsObject()) return false;
  auto& ref = addon(v.Env()).device_buffer;
  return !ref.IsEmpty() && v.As<Napi::Object>().InstanceOf(ref.Value());
}

// new DeviceBuffer(bytes, device, stream?)
DeviceBuffer::DeviceBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBuffer>(info) {
  try {
    const int64_t bytes = int_arg(info[0], "bytes");
    const int64_t device = int_arg(info[1], "device");
    if (bytes < 0) fail(ErrorCode::Range, "bytes", bytes, "a non-negative byte count");
    data_ = device_alloc(static_cast<size_t>(bytes), static_cast<int>(device), handle(info[2]));
    bytes_ = static_cast<size_t>(bytes);
    device_ = static_cast<int>(device);
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), static_cast<int64_t>(bytes_));
  } catch (const NsaError& e) {
    throw_nsa(info.Env(), error_code_name(e.code()), e.what());
  }
}

void DeviceBuffer::release(StreamHandle stream, Napi::Env* env) {
  if (data_ == nullptr) return;
  void* p = data_;
  data_ = nullptr;
  if (env != nullptr) Napi::MemoryManagement::AdjustExternalMemory(*env, -static_cast<int64_t>(bytes_));
  device_free(p, device_, stream);
}

DeviceBuffer::~DeviceBuffer() {
  try {
    release(0, nullptr);
  } catch (...) {
    // A finalizer must not throw; a failing free here means the context is already gone.
  }
}

// dispose(stream?): stream-ordered free; idempotent.
Napi::Value DeviceBuffer::Dispose(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    Napi::Env env = info.Env();
    release(handle(info[0]), &env);
    return info.Env().Undefined();
  });
}

int64_t int_arg(const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber()) fail(ErrorCode::Arg, name, v.IsUndefined() ? "undefined" : "a non-number", "an integer");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) fail(ErrorCode::Arg, name, d, "an integer");
  return static_cast<int64_t>(d);
}

bool bool_opt(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
}

TensorView tensor(const Napi::Value& v, const std::string& name) {
  TensorView t;
  if (v.IsUndefined() || v.IsNull()) return t;
  if (!v.IsObject()) fail(ErrorCode::Arg, name, "a non-tensor value", "a Tensor");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value s = o.Get("s");
  uint8_t* base = nullptr;
  size_t cap = 0;
  if (s.IsArrayBuffer()) {
    auto ab = s.As<Napi::ArrayBuffer>();
    base = static_cast<uint8_t*>(ab.Data());
    cap = ab.ByteLength();
    t.device = kCpuDevice;
  } else if (DeviceBuffer::IsInstance(s)) {
    auto* db = DeviceBuffer::Unwrap(s.As<Napi::Object>());
    if (db->disposed()) fail(ErrorCode::Disposed, name, "a disposed tensor", "a live tensor");
    base = static_cast<uint8_t*>(db->data());
    cap = db->bytes();
    t.device = db->device();
  } else {
    fail(ErrorCode::Arg, name, "a tensor without storage", "a Tensor");
  }
  const int64_t offset = o.Get("o").As<Napi::Number>().Int64Value();
  const int64_t code = o.Get("d").As<Napi::Number>().Int64Value();
  if (code < 0 || code >= kNumDTypes) fail(ErrorCode::Dtype, name + ".dtype", code, "a known dtype code");
  t.dtype = static_cast<DType>(code);
  auto sh = o.Get("sh").As<Napi::Array>();
  auto st = o.Get("st").As<Napi::Array>();
  t.ndim = static_cast<int>(sh.Length());
  if (t.ndim > kMaxDims) fail(ErrorCode::Shape, name + ".shape", t.ndim, "at most 8 dimensions");
  // Extent check: the last element reachable through the strides must lie inside the storage.
  int64_t lo = 0, hi = 0;
  bool empty = false;
  for (int i = 0; i < t.ndim; ++i) {
    t.shape[i] = sh.Get(uint32_t(i)).As<Napi::Number>().Int64Value();
    t.strides[i] = st.Get(uint32_t(i)).As<Napi::Number>().Int64Value();
    if (t.shape[i] == 0) empty = true;
    const int64_t span = (t.shape[i] - 1) * t.strides[i];
    (span < 0 ? lo : hi) += span;
  }
  const int64_t es = dtype_size(t.dtype);
  if (!empty && (offset + lo * es < 0 || offset + (hi + 1) * es > static_cast<int64_t>(cap))) {
    fail(ErrorCode::Range, name, "a view reaching outside its storage", "a view within " + std::to_string(cap) + " bytes");
  }
  t.data = base + offset;
  t.present = true;
  return t;
}

}  // namespace nsa::js
