// CPU reference of SPEC §2: the same scalar helpers as the kernels, so results are byte-identical.
#include <cstring>

#include "ops/indexer_cache/indexer_cache.h"

namespace nsa {

namespace {
template <KCacheLayout kLayout, ScaleFormat kFormat>
void store_impl(const StoreKParams& p) {
  const int64_t page_bytes = kcache_page_bytes(p.page_size);
  for (int64_t i = 0; i < p.num_tokens; ++i) {
    const int64_t slot = p.slots[i];
    if (slot < 0) continue;  // padding token
    const int64_t page = slot / p.page_size;
    const int t = static_cast<int>(slot % p.page_size);
    const uint16_t* row = p.k + i * p.k_row_stride;
    float amax = 0.f;
    for (int d = 0; d < kIndexerHeadDim; ++d) amax = std::fmax(amax, std::fabs(bf16_to_f32(row[d])));
    const float scale = kcache_scale<kFormat>(amax);
    const float inv = 1.0f / scale;
    uint8_t* base = p.cache + page * page_bytes;
    for (int d = 0; d < kIndexerHeadDim; ++d) base[kcache_k_offset<kLayout>(t, d)] = f32_to_fp8_e4m3(bf16_to_f32(row[d]) * inv);
    std::memcpy(base + kcache_scale_offset(p.page_size, t), &scale, 4);
  }
}

template <KCacheLayout kLayout>
void gather_impl(const GatherKParams& p) {
  const int64_t page_bytes = kcache_page_bytes(p.page_size);
  for (int b = 0; b < p.batch; ++b) {
    for (int64_t i = p.cu_seq_lens[b]; i < p.cu_seq_lens[b + 1]; ++i) {
      const int64_t pos = i - p.cu_seq_lens[b];
      const int64_t page = p.block_table[int64_t(b) * p.max_blocks + pos / p.page_size];
      const int t = static_cast<int>(pos % p.page_size);
      const uint8_t* base = p.cache + page * page_bytes;
      for (int d = 0; d < kIndexerHeadDim; ++d) p.out_k[i * kIndexerHeadDim + d] = base[kcache_k_offset<kLayout>(t, d)];
      std::memcpy(p.out_scale + i, base + kcache_scale_offset(p.page_size, t), 4);
    }
  }
}
}  // namespace

void store_k_cpu(const StoreKParams& p, KCacheLayout layout, ScaleFormat fmt) {
  if (layout == KCacheLayout::Plain) {
    fmt == ScaleFormat::Ue8m0 ? store_impl<KCacheLayout::Plain, ScaleFormat::Ue8m0>(p) : store_impl<KCacheLayout::Plain, ScaleFormat::Fp32>(p);
  } else {
    fmt == ScaleFormat::Ue8m0 ? store_impl<KCacheLayout::Preshuffle, ScaleFormat::Ue8m0>(p)
                              : store_impl<KCacheLayout::Preshuffle, ScaleFormat::Fp32>(p);
  }
}

void gather_k_cpu(const GatherKParams& p, KCacheLayout layout) {
  layout == KCacheLayout::Plain ? gather_impl<KCacheLayout::Plain>(p) : gather_impl<KCacheLayout::Preshuffle>(p);
}

}  // namespace nsa
