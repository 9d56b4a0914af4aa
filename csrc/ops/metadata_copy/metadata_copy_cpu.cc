#include <cstring>

#include "ops/metadata_copy/metadata_copy.h"

namespace nsa {

void metadata_copy_cpu(const MetadataCopyParams& p, const MetadataFields& f) {
  for (int d = 0; d < p.num_dsts; ++d) {
    for_each_segment(p, f, d, [](const CopySegment& c) {
      for (int64_t r = 0; r < c.rows; ++r)
        std::memcpy(c.dst + r * c.dst_ld, c.src + r * c.src_ld, size_t(c.width) * sizeof(int32_t));
    });
  }
}

}  // namespace nsa
