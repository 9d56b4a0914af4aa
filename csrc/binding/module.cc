// The nsa_kernels Node-API module: one addon, every op. Context-aware (NODE_API_MODULE): each thread
// that loads it gets its own exports and per-environment state (binding/js.h AddonData).
#include <napi.h>

#include "binding/registry.h"

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  nsa::js::register_runtime(env, exports);
  nsa::js::register_ops(env, exports);
  nsa::js::register_metadata_copy(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(nsa_kernels, Init)
