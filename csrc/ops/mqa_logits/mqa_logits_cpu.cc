// CPU reference of SPEC §3, multi-threaded over query rows. Products of fp8 values are exact in fp32;
// sums run in fp32 over d, then over h.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include "ops/mqa_logits/mqa_logits.h"

namespace nsa {

namespace {
// The K row and scale of position pos for query row b (nullptr if its page is not addressable).
const uint8_t* key_row(const MqaLogitsParams& p, int b, int64_t pos, uint8_t* scratch, float& scale) {
  if (p.ragged) {
    scale = p.k_scale[pos];
    return p.k + pos * kIndexerHeadDim;
  }
  const int64_t page = p.block_table[int64_t(b) * p.block_table_stride + pos / p.page_size];
  const int t = static_cast<int>(pos % p.page_size);
  const uint8_t* base = p.cache + page * kcache_page_bytes(p.page_size);
  std::memcpy(&scale, base + kcache_scale_offset(p.page_size, t), 4);
  for (int d = 0; d < kIndexerHeadDim; ++d)
    scratch[d] = base[p.layout == KCacheLayout::Plain ? kcache_k_offset<KCacheLayout::Plain>(t, d) : kcache_k_offset<KCacheLayout::Preshuffle>(t, d)];
  return scratch;
}

void rows(const MqaLogitsParams& p, int64_t r0, int64_t r1) {
  std::vector<float> qf(size_t(p.heads) * kIndexerHeadDim);
  float kf[kIndexerHeadDim];
  uint8_t scratch[kIndexerHeadDim];
  for (int64_t r = r0; r < r1; ++r) {
    const int b = static_cast<int>(r / p.next_n), n = static_cast<int>(r % p.next_n);
    int64_t begin, end;
    mqa_row_range(p, b, n, begin, end);
    const uint8_t* q = p.q + r * p.heads * kIndexerHeadDim;
    for (size_t i = 0; i < qf.size(); ++i) qf[i] = fp8_e4m3_to_f32(q[i]);
    const float* w = p.weights + r * p.heads;
    float* out = p.out + r * p.out_stride;
    for (int64_t pos = begin; pos < end; ++pos) {
      float scale;
      const uint8_t* k = key_row(p, b, pos, scratch, scale);
      for (int d = 0; d < kIndexerHeadDim; ++d) kf[d] = fp8_e4m3_to_f32(k[d]);
      float acc = 0.f;
      for (int h = 0; h < p.heads; ++h) {
        const float* qh = qf.data() + size_t(h) * kIndexerHeadDim;
        float s = 0.f;
        for (int d = 0; d < kIndexerHeadDim; ++d) s += qh[d] * kf[d];
        acc += w[h] * std::max(s, 0.f);
      }
      out[mqa_out_col(p, pos, begin)] = scale * acc;
    }
    if (p.clean) {
      const float ninf = -std::numeric_limits<float>::infinity();
      for (int64_t col = 0; col < p.max_context_len; ++col)
        if (mqa_col_invalid(p, col, begin, end)) out[col] = ninf;
    }
  }
}
}  // namespace

void mqa_logits_cpu(const MqaLogitsParams& p) {
  const int64_t total = int64_t(p.batch) * p.next_n;
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(std::thread::hardware_concurrency(), total));
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < threads; ++t) pool.emplace_back(rows, std::cref(p), total * t / threads, total * (t + 1) / threads);
  for (auto& th : pool) th.join();
}

}  // namespace nsa
