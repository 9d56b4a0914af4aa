#include "binding/js.h"
#include "binding/registry.h"
#include "ops/convert/convert.h"

namespace nsa::js {

// convert(src, dst, {intrinsic?}, stream?)
static Napi::Value Convert(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const bool intrinsic = info[2].IsObject() && bool_opt(info[2].As<Napi::Object>(), "intrinsic", false);
    convert(tensor(info[0], "src"), tensor(info[1], "dst"), intrinsic, handle(info[3]));
    return info.Env().Undefined();
  });
}

void register_convert(Napi::Env env, Napi::Object exports) { exports.Set("convert", Napi::Function::New(env, Convert)); }

}  // namespace nsa::js
