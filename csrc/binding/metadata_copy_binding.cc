// N-API surface of the metadata copy: a native plan object. prepare parses and validates every tensor
// once; run() takes only integers, so its host cost is one call plus the launch.
#include <memory>
#include <vector>

#include "binding/js.h"
#include "binding/registry.h"
#include "ops/metadata_copy/metadata_copy.h"

namespace nsa::js {
namespace {

MetadataSetViews parse_set(const Napi::Value& v, const std::string& name, std::vector<Napi::Value>& storages) {
  if (!v.IsObject()) fail(ErrorCode::Arg, name, "a non-object", "a MetadataSet");
  Napi::Object o = v.As<Napi::Object>();
  MetadataSetViews s;
  auto field = [&](TensorView& t, const char* key) {
    Napi::Value f = o.Get(key);
    t = tensor(f, name + "." + key);
    if (t.present) storages.push_back(f.As<Napi::Object>().Get("s"));
  };
  field(s.cache_seqlens, "cacheSeqlens");
  field(s.cu_seqlens_k, "cuSeqlensK");
  field(s.page_table, "pageTable");
  field(s.seqlens_expanded, "seqlensExpanded");
  field(s.nsa_cache_seqlens, "nsaCacheSeqlens");
  field(s.nsa_cu_seqlens_k, "nsaCuSeqlensK");
  field(s.real_page_table, "realPageTable");
  field(s.flashmla_num_splits, "flashmlaNumSplits");
  field(s.flashmla_metadata, "flashmlaMetadata");
  return s;
}

class PlanWrap : public Napi::ObjectWrap<PlanWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "MetadataCopyPlan",
                       {InstanceMethod("run", &PlanWrap::Run), InstanceMethod("sourceSizes", &PlanWrap::SourceSizes),
                        InstanceAccessor("numDsts", &PlanWrap::NumDsts, nullptr)});
  }

  // new MetadataCopyPlan(src, dsts[], mode)
  explicit PlanWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PlanWrap>(info) {
    try {
      std::vector<Napi::Value> storages;
      MetadataSetViews src = parse_set(info[0], "src", storages);
      if (!info[1].IsArray()) fail(ErrorCode::Arg, "dst", "a non-array", "an array of MetadataSet");
      auto arr = info[1].As<Napi::Array>();
      std::vector<MetadataSetViews> dsts;
      for (uint32_t i = 0; i < arr.Length(); ++i) dsts.push_back(parse_set(arr.Get(i), "dst[" + std::to_string(i) + "]", storages));
      const int64_t mode = int_arg(info[2], "mode");
      check_range(mode, "mode", 0, 2);
      plan_ = std::make_unique<MetadataCopyPlan>(src, dsts, static_cast<MetadataMode>(mode));
      // Keep every storage alive while the plan exists, and remember device buffers so a run after
      // one was disposed is refused instead of writing freed memory.
      for (auto& s : storages) {
        refs_.push_back(Napi::Persistent(s.As<Napi::Object>()));
        if (DeviceBuffer::IsInstance(s)) buffers_.push_back(DeviceBuffer::Unwrap(s.As<Napi::Object>()));
      }
    } catch (const NsaError& e) {
      throw_nsa(info.Env(), error_code_name(e.code()), e.what());
    }
  }

 private:
  // run(bs, rows, width, s, realWidth, metaLen, strategy, stream) -> launches
  Napi::Value Run(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      for (auto* b : buffers_)
        if (b->disposed()) fail(ErrorCode::Disposed, "plan", "a tensor disposed after prepare", "live tensors");
      MetadataSizes z;
      z.bs = int_arg(info[0], "sizes.bs");
      z.rows = int_arg(info[1], "sizes.rows");
      z.width = int_arg(info[2], "sizes.width");
      z.s = int_arg(info[3], "sizes.s");
      z.real_width = int_arg(info[4], "sizes.realWidth");
      z.meta_len = int_arg(info[5], "sizes.metaLen");
      const auto strategy = static_cast<CopyStrategy>(int_arg(info[6], "strategy"));
      return Napi::Number::New(info.Env(), plan_->run(z, strategy, handle(info[7])));
    });
  }
  Napi::Value SourceSizes(const Napi::CallbackInfo& info) {
    MetadataSizes z = plan_->sizes_from_source();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("bs", double(z.bs));
    o.Set("rows", double(z.rows));
    o.Set("width", double(z.width));
    o.Set("s", double(z.s));
    o.Set("realWidth", double(z.real_width));
    o.Set("metaLen", double(z.meta_len));
    return o;
  }
  Napi::Value NumDsts(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), plan_->num_dsts()); }

  std::unique_ptr<MetadataCopyPlan> plan_;
  std::vector<Napi::ObjectReference> refs_;
  std::vector<DeviceBuffer*> buffers_;
};

}  // namespace

void register_metadata_copy(Napi::Env env, Napi::Object exports) { exports.Set("MetadataCopyPlan", PlanWrap::Init(env)); }

}  // namespace nsa::js
