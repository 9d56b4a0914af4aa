#include "binding/js.h"
#include "binding/registry.h"
#include "ops/mqa_logits/mqa_logits.h"

namespace nsa::js {
namespace {

// pagedMqaLogits(q, cache{t,pageSize,layout,headDim}, weights, contextLens, blockTable, out, maxContextLen, clean, stream)
Napi::Value PagedMqaLogits(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object c = info[1].As<Napi::Object>();
    TensorView cache = tensor(c.Get("t"), "cache");
    const int64_t layout = int_arg(c.Get("layout"), "cache.layout");
    check_range(layout, "cache.layout", 0, 1);
    const KCacheGeometry g = check_kcache(cache, static_cast<int>(int_arg(c.Get("pageSize"), "cache.pageSize")),
                                          static_cast<KCacheLayout>(layout), static_cast<int>(int_arg(c.Get("headDim"), "cache.headDim")));
    paged_mqa_logits(tensor(info[0], "q"), cache, g, tensor(info[2], "weights"), tensor(info[3], "contextLens"),
                     tensor(info[4], "blockTable"), tensor(info[5], "out"), int_arg(info[6], "maxContextLen"),
                     info[7].ToBoolean().Value(), handle(info[8]));
    return info.Env().Undefined();
  });
}

// raggedMqaLogits(q, k, kScale, weights, ks, ke, out, clean, stream)
Napi::Value RaggedMqaLogits(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    ragged_mqa_logits(tensor(info[0], "q"), tensor(info[1], "k"), tensor(info[2], "kScale"), tensor(info[3], "weights"),
                      tensor(info[4], "ks"), tensor(info[5], "ke"), tensor(info[6], "out"), info[7].ToBoolean().Value(),
                      handle(info[8]));
    return info.Env().Undefined();
  });
}

}  // namespace

void register_mqa_logits(Napi::Env env, Napi::Object exports) {
  exports.Set("pagedMqaLogits", Napi::Function::New(env, PagedMqaLogits));
  exports.Set("raggedMqaLogits", Napi::Function::New(env, RaggedMqaLogits));
}

}  // namespace nsa::js
