// Each binding file registers its functions on the module's exports; module.cc calls them all.
#pragma once
#include <napi.h>

namespace nsa::js {
void register_runtime(Napi::Env env, Napi::Object exports);
void register_ops(Napi::Env env, Napi::Object exports);
void register_metadata_copy(Napi::Env env, Napi::Object exports);
}  // namespace nsa::js
