// Lightning-indexer scores (SPEC §3): for query row r = b*N + n and key position pos,
//   logits[r, pos] = k_scale[pos] * sum_h weights[r, h] * relu(sum_d q[b, n, h, d] * k[pos, d])
// with fp8 products accumulated in fp32. Paged: K comes from the indexer cache through a block table.
// Ragged (prefill): K is a contiguous fp8 [S_kv, 128] tensor with its scales and each row covers
// [ks, ke), written at the same columns or, compressed, at column pos - ks of a [S, W] output. Valid
// positions are written; invalid ones are left alone unless `clean` (then -inf).
#pragma once
#include "core/tensor.h"
#include "ops/indexer_cache/indexer_cache.h"
#include "runtime/runtime.h"

namespace nsa {

constexpr int kMqaTile = 64;  // key positions per tile

// SPEC §3's two precisions. Exact: fp32 accumulation of the exact fp8 products (f16 tensor cores on
// exactly converted fp8). Fast: the GPU's native fp8 tensor-core accumulation is allowed (each head's dot
// product within 2^-10 of sum |q*k|): the sm_90a kernel runs fp8 wgmma for it; the CPU and the portable
// kernel compute fast as exact (within both bounds).
enum class MqaPrecision { Exact, Fast };
constexpr EnumName<MqaPrecision> kMqaPrecisionNames[] = {{"exact", MqaPrecision::Exact}, {"fast", MqaPrecision::Fast}};

struct MqaLogitsParams {
  const uint8_t* q;            // fp8 [B, N, H, 128] contiguous (ragged: [S, H, 128], N = 1)
  const float* weights;        // [B*N, H] contiguous
  float* out;                  // [B*N, >= max_context_len], row stride out_stride
  int64_t out_stride;
  int64_t max_context_len;     // columns the caller sized (clean fills up to here)
  int batch, next_n, heads;
  // paged K
  const uint8_t* cache;        // [num_pages, P*(128+4)]
  int64_t num_pages;
  int page_size;
  KCacheLayout layout;
  const int32_t* block_table;  // [B, max_blocks]
  int64_t block_table_stride;
  int max_blocks;
  const int32_t* context_lens; // [B] or [B, N]
  bool context_2d;
  // ragged K (paged fields unused): row i reads k rows [ks[i], ke[i]) and writes the same columns
  const uint8_t* k;            // fp8 [S_kv, 128]
  const float* k_scale;        // [S_kv]
  const int32_t* ks;
  const int32_t* ke;
  int64_t num_kv;
  bool ragged;
  bool compressed;             // ragged: column j of row i is position ks[i] + j (out is [S, max_context_len])
  bool clean;
  MqaPrecision precision;
};

// The SPEC §3 causal end of paged row (b, n), before any clamping: pos < end is valid.
NSA_HD int64_t mqa_paged_row_end(const MqaLogitsParams& p, int64_t b, int n) {
  return p.context_2d ? p.context_lens[b * p.next_n + n] : int64_t(p.context_lens[b]) - p.next_n + n + 1;
}

// Valid key range of query row (b, n): [begin, end), clamped to what the inputs can address.
NSA_HD void mqa_row_range(const MqaLogitsParams& p, int b, int n, int64_t& begin, int64_t& end) {
  if (p.ragged) {
    begin = p.ks[b];
    end = p.ke[b];
    if (begin < 0) begin = 0;
    if (end > p.num_kv) end = p.num_kv;
    const int64_t columns_end = p.compressed ? begin + p.max_context_len : p.max_context_len;
    if (end > columns_end) end = columns_end;
  } else {
    begin = 0;
    end = mqa_paged_row_end(p, b, n);
    const int64_t addressable = int64_t(p.max_blocks) * p.page_size;
    if (end > addressable) end = addressable;
    if (end > p.max_context_len) end = p.max_context_len;
  }
  if (end < begin) end = begin;
}

// The output column of key position pos in a row whose range starts at `begin` (compressed rows start
// at column 0), and whether output column col of that row is outside [begin, end) (clean fills it).
NSA_HD int64_t mqa_out_col(const MqaLogitsParams& p, int64_t pos, int64_t begin) { return p.compressed ? pos - begin : pos; }
NSA_HD bool mqa_col_invalid(const MqaLogitsParams& p, int64_t col, int64_t begin, int64_t end) {
  return p.compressed ? col >= end - begin : col < begin || col >= end;
}

// Host APIs: validate, then run on the tensors' device.
void paged_mqa_logits(const TensorView& q, const TensorView& cache, const KCacheGeometry& g, const TensorView& weights,
                      const TensorView& context_lens, const TensorView& block_table, const TensorView& out,
                      int64_t max_context_len, bool clean, MqaPrecision precision, StreamHandle stream);
void ragged_mqa_logits(const TensorView& q, const TensorView& k, const TensorView& k_scale, const TensorView& weights,
                       const TensorView& ks, const TensorView& ke, const TensorView& out, bool clean, bool compressed,
                       MqaPrecision precision, StreamHandle stream);

// Entries from named arguments (lib/mqa-logits.ts).
void paged_mqa_logits(const Args& a);   // {q, cache, weights, contextLens, blockTable, out, maxContextLen, clean?, precision?, stream?}
void ragged_mqa_logits(const Args& a);  // {q, k, kScale, weights, ks, ke, out, clean?, compressed?, precision?, stream?}

void mqa_logits_cpu(const MqaLogitsParams& p);
void mqa_logits_gpu(const MqaLogitsParams& p, StreamHandle stream);
// The sm_90a kernel (mqa_logits_sm90.cu): launches and returns true when it applies (an sm_90 device,
// its SASS in the binary; paged: pages of 16+ tokens, batch <= 1024; ragged: 16-byte aligned scales),
// else false. Always false outside CUDA builds.
bool mqa_logits_sm90(const MqaLogitsParams& p, int device, StreamHandle stream);

}  // namespace nsa
