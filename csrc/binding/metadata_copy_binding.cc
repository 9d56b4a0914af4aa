// The metadata-copy plan as a native object: new MetadataCopyPlan({src, dst, mode}) reads and validates
// every tensor once (csrc/ops/metadata_copy); run({...sizes, strategy, stream}) reads a few integers and
// launches. The JS plan (lib/metadata-copy.ts) keeps its tensors alive; this object refers to their
// storages weakly and refuses to run once one was disposed or collected (it never writes memory given
// back to the pool).
#include <memory>
#include <vector>

#include "binding/js.h"
#include "binding/registry.h"
#include "ops/metadata_copy/metadata_copy.h"

namespace nsa::js {
namespace {

class PlanWrap : public Napi::ObjectWrap<PlanWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "MetadataCopyPlan",
                       {InstanceMethod("run", &PlanWrap::Run), InstanceMethod("sourceSizes", &PlanWrap::SourceSizes),
                        InstanceMethod("dispose", &PlanWrap::Dispose), InstanceAccessor("numDsts", &PlanWrap::NumDsts, nullptr)});
  }

  explicit PlanWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PlanWrap>(info) {
    try {
      std::vector<Napi::Object> storages;
      plan_ = std::make_unique<MetadataCopyPlan>(call_args(info, "MetadataCopyPlan", &storages));
      // Weak references: the JS plan holds its tensors, so their storages live as long as it does.
      // Strong references here would keep every re-prepared plan's buffers until its finalizer ran, which
      // a loop that never yields to the event loop does not allow (RSS grew without bound).
      for (auto& s : storages) {
        Storage st;
        st.ref = Napi::Weak(s);
        st.device = DeviceBuffer::From(s);
        storages_.push_back(std::move(st));
      }
    } catch (const NsaError& e) {
      throw_nsa(info.Env(), error_code_name(e.code()), e.what());
    }
  }

 private:
  MetadataCopyPlan& live() {
    if (!plan_) fail(ErrorCode::Disposed, "plan", "a disposed plan", "a live MetadataCopyPlan");
    for (const Storage& s : storages_) {
      if (s.ref.Value().IsEmpty()) fail(ErrorCode::Disposed, "plan", "a tensor whose memory was collected", "live tensors");
      if (s.device != nullptr && s.device->disposed()) fail(ErrorCode::Disposed, "plan", "a tensor disposed after prepare", "live tensors");
    }
    return *plan_;
  }
  Napi::Value Run(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      MetadataCopyPlan& p = live();
      return Napi::Number::New(info.Env(), p.run(call_args(info, "plan.run")));
    });
  }
  Napi::Value SourceSizes(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      const MetadataSizes z = live().sizes_from_source();
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("bs", double(z.bs));
      o.Set("rows", double(z.rows));
      o.Set("width", double(z.width));
      o.Set("s", double(z.s));
      o.Set("realWidth", double(z.real_width));
      o.Set("metaLen", double(z.meta_len));
      return o;
    });
  }
  // Lets go of the tensors (their memory returns when their own owners dispose them); idempotent.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    release(info.Env());
    return info.Env().Undefined();
  }
  void release(Napi::Env) {
    plan_.reset();
    storages_.clear();
  }
  Napi::Value NumDsts(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), plan_ ? plan_->num_dsts() : 0); }

  struct Storage {
    Napi::ObjectReference ref;       // weak
    DeviceBuffer* device = nullptr;  // valid while ref is not empty
  };
  std::unique_ptr<MetadataCopyPlan> plan_;
  std::vector<Storage> storages_;
};

}  // namespace

void register_metadata_copy(Napi::Env env, Napi::Object exports) { exports.Set("MetadataCopyPlan", PlanWrap::Init(env)); }

}  // namespace nsa::js
