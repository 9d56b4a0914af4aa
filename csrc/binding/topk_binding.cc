#include "binding/js.h"
#include "binding/registry.h"
#include "ops/topk/topk.h"

namespace nsa::js {

// topk(logits, lengths, rowStarts?, pageTable?, cuSeqlensQ?, out, k, stream)
static Napi::Value TopK(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    topk(tensor(info[0], "logits"), tensor(info[1], "lengths"), tensor(info[2], "rowStarts"), tensor(info[3], "pageTable"),
         tensor(info[4], "cuSeqlensQ"), tensor(info[5], "out"), static_cast<int>(int_arg(info[6], "k")), handle(info[7]));
    return info.Env().Undefined();
  });
}

void register_topk(Napi::Env env, Napi::Object exports) { exports.Set("topk", Napi::Function::New(env, TopK)); }

}  // namespace nsa::js
