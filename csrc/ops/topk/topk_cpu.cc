#include <algorithm>
#include <numeric>
#include <vector>

#include "ops/topk/topk.h"

namespace nsa {

void topk_cpu(const TopKParams& p) {
  std::vector<int32_t> idx;
  for (int64_t r = 0; r < p.rows; ++r) {
    int64_t start, len;
    topk_window(p, r, start, len);
    int32_t* out = p.out + r * p.k;
    if (len <= p.k) {
      for (int j = 0; j < p.k; ++j) out[j] = topk_emit(p, r, j < len ? j : -1);
      continue;
    }
    const float* row = p.logits + r * p.row_stride + start;
    idx.resize(size_t(len));
    std::iota(idx.begin(), idx.end(), 0);
    std::nth_element(idx.begin(), idx.begin() + p.k, idx.end(), [&](int32_t a, int32_t b) {
      const uint32_t ka = topk_key(row[a]), kb = topk_key(row[b]);
      return ka != kb ? ka > kb : a < b;
    });
    // The comparator already selects the k largest under (value desc, position asc); deterministic rows
    // are written in ascending position order (what the GPU kernel writes too).
    if (p.deterministic) std::sort(idx.begin(), idx.begin() + p.k);
    for (int j = 0; j < p.k; ++j) out[j] = topk_emit(p, r, idx[size_t(j)]);
  }
}

}  // namespace nsa
