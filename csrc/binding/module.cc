// The nsa_kernels Node-API module: one addon, every op.
#include <napi.h>

#include "binding/registry.h"

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  nsa::js::register_runtime(env, exports);
  nsa::js::register_convert(env, exports);
  nsa::js::register_metadata_copy(env, exports);
  nsa::js::register_indexer_cache(env, exports);
  nsa::js::register_topk(env, exports);
  nsa::js::register_mqa_logits(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(nsa_kernels, Init)
