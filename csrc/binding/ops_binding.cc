// Every op entry, by the name lib/native.ts calls it: one object of named arguments in, read and
// validated by the op itself (csrc/ops/<op>/<op>.cc). This table is the only binding code an op has.
#include "binding/js.h"
#include "binding/registry.h"
#include "ops/convert/convert.h"
#include "ops/indexer_cache/indexer_cache.h"
#include "ops/metadata_copy/metadata_copy.h"
#include "ops/mqa_logits/mqa_logits.h"
#include "ops/topk/topk.h"

namespace nsa::js {
namespace {

using OpEntry = void (*)(const Args&);

struct NamedOp {
  const char* name;
  OpEntry fn;
};

const NamedOp kOps[] = {
    {"convert", convert},
    {"checkKCache", check_kcache},
    {"storeK", store_k},
    {"gatherK", gather_k},
    {"pagedMqaLogits", paged_mqa_logits},
    {"raggedMqaLogits", ragged_mqa_logits},
    {"topk", topk},
};

template <class E, size_t N>
Napi::Array names_of(Napi::Env env, const EnumName<E> (&names)[N]) {
  Napi::Array arr = Napi::Array::New(env, N);
  for (size_t i = 0; i < N; ++i) arr.Set(uint32_t(i), names[i].name);
  return arr;
}

// The enum names and limits lib/native.ts checks against its own declarations at load.
Napi::Object constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("dtypes", names_of(env, kDTypeNames));
  c.Set("kcacheLayouts", names_of(env, kKCacheLayoutNames));
  c.Set("scaleFormats", names_of(env, kScaleFormatNames));
  c.Set("metadataModes", names_of(env, kMetadataModeNames));
  c.Set("copyStrategies", names_of(env, kCopyStrategyNames));
  c.Set("mqaPrecisions", names_of(env, kMqaPrecisionNames));
  c.Set("maxDims", kMaxDims);
  c.Set("topkMaxK", kTopKMax);
  c.Set("topkMaxNextN", kTopKMaxNextN);
  c.Set("metadataMaxDsts", kMetadataMaxDsts);
  return c;
}

}  // namespace

void register_ops(Napi::Env env, Napi::Object exports) {
  for (const NamedOp& op : kOps) {
    const char* name = op.name;
    const OpEntry fn = op.fn;
    exports.Set(name, Napi::Function::New(env, [name, fn](const Napi::CallbackInfo& info) {
                  return guarded(info, [&]() -> Napi::Value {
                    fn(call_args(info, name));
                    return info.Env().Undefined();
                  });
                }, name));
  }
  exports.Set("constants", constants(env));
}

}  // namespace nsa::js
