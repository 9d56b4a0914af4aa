// Top-k over logit rows (SPEC §4): for each row, the positions (relative to its start) of the k largest
// of logits[row, start : start + len]; rows with len <= k get 0..len-1 then -1 without any read. Two
// output transforms, per row or per request (cu_seqlens_q): page_table_1[req, idx] (the page-table
// variant) and block_table[req, idx / P] * P + idx % P (the global-slot variant sparse MLA consumes).
// `deterministic`: the k largest under (value desc, position asc), written in ascending position order.
#pragma once
#include "core/args.h"
#include "core/tensor.h"
#include "runtime/runtime.h"

namespace nsa {

constexpr int kTopKMax = 4096;
constexpr int kTopKMaxNextN = 1024;  // query rows per request with per-request lengths

struct TopKParams {
  const float* logits;
  int64_t row_stride;          // elements
  int64_t num_cols;            // C: reads never pass it
  const int32_t* lengths;      // [rows]; with next_n > 1 [rows / next_n] per request, or [rows / next_n, next_n]
  int next_n;                  // 1, or query rows per request (tables per request; see topk_row_length)
  bool lengths_per_row;        // a length per row as given: next_n 1, or lengths [rows / next_n, next_n]
  const int32_t* row_starts;   // [rows] or nullptr
  int32_t* out;                // [rows, k], row stride k
  int64_t rows;
  int k;
  // transform
  const int32_t* page_table;   // [rows or reqs, W] or nullptr
  int64_t page_table_stride;
  int64_t page_table_width;
  const int32_t* cu_seqlens_q; // [reqs + 1] or nullptr
  int64_t num_reqs;
  // global slot
  const int32_t* block_table;  // [rows or reqs, max_blocks] or nullptr
  int64_t block_table_stride;
  int64_t block_table_width;   // max_blocks
  int page_shift;              // log2(P)
  bool deterministic;
  // The register kernel reads each row's lengths / row starts before pdl_wait() (gpu/pdl.h), so that the
  // first global round trip overlaps the tail of the kernel ahead: only when that kernel does not write
  // them (pagedMqaTopk: contextLens, which the logits kernel only reads, and every kernel before it has
  // completed once the logits kernel's CTAs have passed their own wait).
  bool window_before_wait;
};

// The arguments of one top-k call. Optional tensors: present = false; no logits: the trivial selection
// (every row's first min(len, k) positions, nothing read).
struct TopKInputs {
  TensorView logits, lengths, row_starts, page_table, cu_seqlens_q, block_table, out;
  int k = 2048;
  int next_n = 1;         // > 1: lengths (and the tables) per request of next_n consecutive rows
  int64_t page_size = 0;  // with block_table
  bool deterministic = false;
  bool window_before_wait = false;  // (TopKParams)
};

// Host API: validates, then runs on the tensors' device.
void topk(const TopKInputs& in, StreamHandle stream);

// Entry from named arguments {logits?, lengths, rowStarts?, pageTable?, blockTable?, pageSize?,
// cuSeqlensQ?, nextN?, out, k, deterministic?, windowBeforeWait?, stream?} (lib/topk.ts).
void topk(const Args& a);

void topk_cpu(const TopKParams& p);
void topk_gpu(const TopKParams& p, StreamHandle stream);

// Order-preserving map of float bits to uint32 (larger float -> larger key; -inf lowest finite order).
NSA_HD uint32_t topk_key(float x) {
  const uint32_t u = f32_bits(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Request of a row: row itself, row / next_n, or the r with cu[r] <= row < cu[r + 1] (clamped to [0, reqs)).
NSA_HD int64_t topk_request(const TopKParams& p, int64_t row) {
  if (p.cu_seqlens_q == nullptr) return p.next_n > 1 ? row / p.next_n : row;
  int64_t lo = 0, hi = p.num_reqs - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (p.cu_seqlens_q[mid] <= row) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// What a selected index becomes; kernels are instantiated per kind so the plain path carries no branches.
enum class TopKOutput { Positions, PageTable, GlobalSlot };

NSA_HD TopKOutput topk_output(const TopKParams& p) {
  return p.page_table != nullptr ? TopKOutput::PageTable : p.block_table != nullptr ? TopKOutput::GlobalSlot : TopKOutput::Positions;
}

// The value written for index idx of row `row`; -1 stays -1; an index past the page table's width (or
// the block table's pages) becomes -1 (never read out of bounds).
template <TopKOutput kOut>
NSA_HD int32_t topk_emit_as(const TopKParams& p, int64_t row, int32_t idx) {
  if (kOut == TopKOutput::Positions || idx < 0) return idx;
  if (kOut == TopKOutput::PageTable) {
    if (idx >= p.page_table_width) return -1;
    return p.page_table[topk_request(p, row) * p.page_table_stride + idx];
  }
  const int64_t block = idx >> p.page_shift;
  if (block >= p.block_table_width) return -1;
  const int64_t page = p.block_table[topk_request(p, row) * p.block_table_stride + block];
  return static_cast<int32_t>((page << p.page_shift) + (idx & ((1 << p.page_shift) - 1)));
}

NSA_HD int32_t topk_emit(const TopKParams& p, int64_t row, int32_t idx) {
  switch (topk_output(p)) {
    case TopKOutput::PageTable: return topk_emit_as<TopKOutput::PageTable>(p, row, idx);
    case TopKOutput::GlobalSlot: return topk_emit_as<TopKOutput::GlobalSlot>(p, row, idx);
    default: return idx;
  }
}

// How the window reads lengths and row starts: plain loads (the GPU kernels' early reads use L2 loads).
struct TopKPlainLoad {
  NSA_HD int32_t operator()(const int32_t* a, int64_t i) const { return a[i]; }
};

// Length of a row: lengths[row] (one per row, also [reqs, next_n]), or with lengths per request the
// causal rule of the paged logits (SPEC §3, 1-D context_lens): row b * next_n + n sees positions
// <= lengths[b] - next_n + n.
template <class Load = TopKPlainLoad>
NSA_HD int64_t topk_row_length(const TopKParams& p, int64_t row, Load load = {}) {
  if (p.lengths_per_row) return load(p.lengths, row);
  return int64_t(load(p.lengths, row / p.next_n)) - p.next_n + 1 + row % p.next_n;
}

// Row window [start, start + len). Rows with len <= k read nothing (their output is 0..len-1), so only
// longer rows are clamped to the logits' columns (never read out of bounds).
template <class Load = TopKPlainLoad>
NSA_HD void topk_window(const TopKParams& p, int64_t row, int64_t& start, int64_t& len, Load load = {}) {
  start = p.row_starts != nullptr ? load(p.row_starts, row) : 0;
  len = topk_row_length(p, row, load);
  if (len < 0) len = 0;
  if (p.logits == nullptr && len > p.k) len = p.k;  // the trivial selection: first k positions
  if (len <= p.k) return;
  if (start < 0) start = 0;
  if (start > p.num_cols) start = p.num_cols;
  if (len > p.num_cols - start) len = p.num_cols - start;
}

}  // namespace nsa
