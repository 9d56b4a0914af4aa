#include "binding/js.h"
#include "binding/registry.h"
#include "ops/indexer_cache/indexer_cache.h"

namespace nsa::js {
namespace {

// The cache argument: {t: tensor, pageSize, layout (0 plain | 1 preshuffle), headDim}.
KCacheGeometry cache_arg(const Napi::Value& v, TensorView& cache) {
  if (!v.IsObject()) fail(ErrorCode::Arg, "cache", "a non-object", "an IndexerKCache");
  Napi::Object o = v.As<Napi::Object>();
  cache = tensor(o.Get("t"), "cache");
  const int64_t layout = int_arg(o.Get("layout"), "cache.layout");
  check_range(layout, "cache.layout", 0, 1);
  return check_kcache(cache, static_cast<int>(int_arg(o.Get("pageSize"), "cache.pageSize")), static_cast<KCacheLayout>(layout),
                      static_cast<int>(int_arg(o.Get("headDim"), "cache.headDim")));
}

// storeK(cache, k, slotMapping, scaleFormat, checkBounds, stream)
Napi::Value StoreK(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    TensorView cache;
    const KCacheGeometry g = cache_arg(info[0], cache);
    const int64_t fmt = int_arg(info[3], "scaleFormat");
    check_range(fmt, "scaleFormat", 0, 1);
    store_k(cache, g, tensor(info[1], "k"), tensor(info[2], "slotMapping"), static_cast<ScaleFormat>(fmt),
            info[4].ToBoolean().Value(), handle(info[5]));
    return info.Env().Undefined();
  });
}

// gatherK(cache, blockTable, cuSeqLens, outK, outScale, checkBounds, stream)
Napi::Value GatherK(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    TensorView cache;
    const KCacheGeometry g = cache_arg(info[0], cache);
    gather_k(cache, g, tensor(info[1], "blockTable"), tensor(info[2], "cuSeqLens"), tensor(info[3], "out.k"),
             tensor(info[4], "out.scale"), info[5].ToBoolean().Value(), handle(info[6]));
    return info.Env().Undefined();
  });
}

// checkKCache(cache): validates the geometry eagerly (IndexerKCache construction).
Napi::Value CheckKCache(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    TensorView cache;
    cache_arg(info[0], cache);
    return info.Env().Undefined();
  });
}

}  // namespace

void register_indexer_cache(Napi::Env env, Napi::Object exports) {
  exports.Set("storeK", Napi::Function::New(env, StoreK));
  exports.Set("checkKCache", Napi::Function::New(env, CheckKCache));
  exports.Set("gatherK", Napi::Function::New(env, GatherK));
}

}  // namespace nsa::js
