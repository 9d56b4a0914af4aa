// Host side of the MQA logits: validation, CPU / GPU dispatch.
#include "ops/mqa_logits/mqa_logits.h"

#include <string>

namespace nsa {

namespace {
void check_heads(int64_t h, const std::string& name) {
  if (h != 32 && h != 64) fail(ErrorCode::Unsupported, name, h, "32 or 64 index heads");
}
void check_out(const TensorView& out, int64_t rows, int64_t cols, int device) {
  check_dtype(out, "out", DType::Float32);
  check_ndim(out, "out", 2);
  check_same_device(out, "out", device);
  if (out.shape[0] != rows) fail(ErrorCode::Shape, "out.shape[0]", out.shape[0], std::to_string(rows) + " query rows");
  if (out.shape[1] < cols) fail(ErrorCode::Shape, "out.shape[1]", out.shape[1], ">= " + std::to_string(cols) + " columns");
  if (out.shape[1] > 1 && out.strides[1] != 1) fail(ErrorCode::Shape, "out.strides[1]", out.strides[1], "1");
}
void run(const MqaLogitsParams& p, int device, StreamHandle stream) {
  if (device < 0) {
    mqa_logits_cpu(p);
    return;
  }
  require_gpu_device(device, "mqaLogits");
  set_device(device);
  mqa_logits_gpu(p, resolve_stream(stream, device));
}
}  // namespace

void paged_mqa_logits(const TensorView& q, const TensorView& cache, const KCacheGeometry& g, const TensorView& weights,
                      const TensorView& context_lens, const TensorView& block_table, const TensorView& out,
                      int64_t max_context_len, bool clean, MqaPrecision precision, StreamHandle stream) {
  // Type and shape checks
  const int device = cache.device;
  check_dtype(q, "q", DType::Float8E4M3);
  check_ndim(q, "q", 4);
  check_contiguous(q, "q");
  check_aligned(q, "q", 16);  // staged in 16-byte copies
  check_same_device(q, "q", device);
  const int64_t B = q.shape[0], N = q.shape[1], H = q.shape[2];
  if (q.shape[3] != kIndexerHeadDim) fail(ErrorCode::Unsupported, "q.shape[3]", q.shape[3], "128 (the indexer head dim)");
  check_range(N, "q.shape[1] (next_n)", 1, 4);
  check_heads(H, "q.shape[2]");
  check_dtype(weights, "weights", DType::Float32);
  check_shape(weights, "weights", {B * N, H});
  check_contiguous(weights, "weights");
  check_same_device(weights, "weights", device);
  check_dtype(context_lens, "contextLens", DType::Int32);
  check_contiguous(context_lens, "contextLens");
  check_same_device(context_lens, "contextLens", device);
  const bool two_d = context_lens.ndim == 2;
  if (two_d) check_shape(context_lens, "contextLens", {B, N});
  else check_shape(context_lens, "contextLens", {B});
  check_dtype(block_table, "blockTable", DType::Int32);
  check_ndim(block_table, "blockTable", 2);
  check_same_device(block_table, "blockTable", device);
  if (block_table.shape[0] != B) fail(ErrorCode::Shape, "blockTable.shape[0]", block_table.shape[0], std::to_string(B) + " requests");
  if (block_table.shape[1] > 1 && block_table.strides[1] != 1) fail(ErrorCode::Shape, "blockTable.strides[1]", block_table.strides[1], "1");
  if (max_context_len < 0) fail(ErrorCode::Range, "maxContextLen", max_context_len, "a non-negative length");
  check_out(out, B * N, max_context_len, device);
  MqaLogitsParams p{};
  p.q = q.ptr<uint8_t>();
  p.weights = weights.ptr<float>();
  p.out = out.ptr<float>();
  p.out_stride = B * N > 1 ? out.strides[0] : out.shape[1];
  p.max_context_len = max_context_len;
  p.batch = static_cast<int>(B);
  p.next_n = static_cast<int>(N);
  p.heads = static_cast<int>(H);
  p.cache = cache.ptr<uint8_t>();
  p.num_pages = g.num_pages;
  p.page_size = g.page_size;
  p.layout = g.layout;
  p.block_table = block_table.ptr<int32_t>();
  p.block_table_stride = B > 1 ? block_table.strides[0] : block_table.shape[1];
  p.max_blocks = static_cast<int>(block_table.shape[1]);
  p.context_lens = context_lens.ptr<int32_t>();
  p.context_2d = two_d;
  p.clean = clean;
  p.precision = precision;
  // Do nothing if the problem is empty
  if (B == 0 || max_context_len == 0) return;
  if (device < 0) {
    // Host metadata: every page a valid position needs must exist.
    for (int b = 0; b < B; ++b)
      for (int n = 0; n < N; ++n) {
        const int64_t len = mqa_paged_row_end(p, b, int(n));
        if (len > max_context_len) fail(ErrorCode::Range, "contextLens (row " + std::to_string(b * N + n) + ")", len, "<= maxContextLen = " + std::to_string(max_context_len));
        if (len > int64_t(p.max_blocks) * p.page_size) fail(ErrorCode::Range, "contextLens (row " + std::to_string(b * N + n) + ")", len, "<= blockTable.shape[1] * pageSize = " + std::to_string(int64_t(p.max_blocks) * p.page_size));
        for (int64_t j = 0; j * p.page_size < len; ++j) {
          const int32_t page = p.block_table[b * p.block_table_stride + j];
          if (page < 0 || page >= g.num_pages) fail(ErrorCode::Range, "blockTable[" + std::to_string(b) + ", " + std::to_string(j) + "]", page, "a page in [0, " + std::to_string(g.num_pages) + ")");
        }
      }
  }
  run(p, device, stream);
}

void ragged_mqa_logits(const TensorView& q, const TensorView& k, const TensorView& k_scale, const TensorView& weights,
                       const TensorView& ks, const TensorView& ke, const TensorView& out, bool clean, bool compressed,
                       MqaPrecision precision, StreamHandle stream) {
  // Type and shape checks
  const int device = q.device;
  check_dtype(q, "q", DType::Float8E4M3);
  check_ndim(q, "q", 3);
  check_contiguous(q, "q");
  check_aligned(q, "q", 16);  // staged in 16-byte copies
  const int64_t S = q.shape[0], H = q.shape[1];
  if (q.shape[2] != kIndexerHeadDim) fail(ErrorCode::Unsupported, "q.shape[2]", q.shape[2], "128 (the indexer head dim)");
  check_heads(H, "q.shape[1]");
  check_dtype(k, "k", DType::Float8E4M3);
  check_shape(k, "k", {-1, kIndexerHeadDim});
  check_contiguous(k, "k");
  check_aligned(k, "k", 16);
  check_same_device(k, "k", device);
  const int64_t S_kv = k.shape[0];
  check_dtype(k_scale, "kScale", DType::Float32);
  check_shape(k_scale, "kScale", {S_kv});
  check_contiguous(k_scale, "kScale");
  check_same_device(k_scale, "kScale", device);
  check_dtype(weights, "weights", DType::Float32);
  check_shape(weights, "weights", {S, H});
  check_contiguous(weights, "weights");
  check_same_device(weights, "weights", device);
  check_int32_vector(ks, "ks", S, device);
  check_int32_vector(ke, "ke", S, device);
  // Dense: [S, >= S_kv]. Compressed: [S, W], W >= 1 the widest row the caller expects (column j of row i
  // is position ks[i] + j; a longer row is computed up to W only, and refused on the CPU).
  check_out(out, S, compressed ? 1 : S_kv, device);
  MqaLogitsParams p{};
  p.q = q.ptr<uint8_t>();
  p.weights = weights.ptr<float>();
  p.out = out.ptr<float>();
  p.out_stride = S > 1 ? out.strides[0] : out.shape[1];
  p.max_context_len = compressed ? out.shape[1] : S_kv;
  p.batch = static_cast<int>(S);
  p.next_n = 1;
  p.heads = static_cast<int>(H);
  p.k = k.ptr<uint8_t>();
  p.k_scale = k_scale.ptr<float>();
  p.ks = ks.ptr<int32_t>();
  p.ke = ke.ptr<int32_t>();
  p.num_kv = S_kv;
  p.ragged = true;
  p.compressed = compressed;
  p.clean = clean;
  p.precision = precision;
  // Do nothing if the problem is empty
  if (S == 0 || S_kv == 0) return;
  if (device < 0) {  // (the GPU kernel clamps instead: it never reads or writes outside the tensors)
    for (int64_t i = 0; i < S; ++i) {
      const std::string at = "[" + std::to_string(i) + "]";
      if (p.ks[i] < 0 || p.ke[i] > S_kv || p.ks[i] > p.ke[i])
        fail(ErrorCode::Range, "ks/ke" + at, "[" + std::to_string(p.ks[i]) + ", " + std::to_string(p.ke[i]) + ")", "a range inside [0, " + std::to_string(S_kv) + ")");
      if (compressed && p.ke[i] - p.ks[i] > p.max_context_len)
        fail(ErrorCode::Range, "ke" + at + " - ks" + at, p.ke[i] - p.ks[i], "at most the compressed width out.shape[1] = " + std::to_string(p.max_context_len));
    }
  }
  run(p, device, stream);
}

void paged_mqa_logits(const Args& a) {
  const KCacheArg c = read_kcache(a);
  paged_mqa_logits(a.tensor("q"), c.tensor, c.geometry, a.tensor("weights"), a.tensor("contextLens"), a.tensor("blockTable"),
                   a.tensor("out"), a.integer("maxContextLen", 0, INT32_MAX), a.flag("clean", false),
                   a.choice("precision", kMqaPrecisionNames, MqaPrecision::Exact), a.stream(c.tensor.device));
}

void ragged_mqa_logits(const Args& a) {
  const TensorView q = a.tensor("q");
  ragged_mqa_logits(q, a.tensor("k"), a.tensor("kScale"), a.tensor("weights"), a.tensor("ks"), a.tensor("ke"), a.tensor("out"),
                    a.flag("clean", false), a.flag("compressed", false), a.choice("precision", kMqaPrecisionNames, MqaPrecision::Exact),
                    a.stream(q.device));
}

#ifndef NSA_WITH_GPU
void mqa_logits_gpu(const MqaLogitsParams&, StreamHandle) {
  throw NsaError(ErrorCode::Unsupported, "mqaLogits: built without GPU support");
}
#endif

}  // namespace nsa
