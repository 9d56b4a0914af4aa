// MQA logits on Hopper (sm_90a), paged (P in {16, 32, 64}) and ragged: a persistent, warp-specialized
// kernel, and its launch. The kernel reads top to bottom as: init_barriers, schedule (producer warp),
// then produce (producer warp) or consume = take_request + load_tile + score_tile (consumer
// warpgroups), then clean_invalid.
//
// Work: the flat list of (request, 64-position tile) over the batch, cut into one contiguous range per
// CTA by cost (a request's tiles plus a charge for taking it; each CTA's producer warp computes its own
// cut from context_lens / ks, ke, so one long request among short ones is spread over every SM, and
// nothing waits on a grid-wide step before the first page is requested). A
// request is a paged request's next_n query rows, or kRaggedRows neighbouring ragged (prefill) rows
// over the tiles their [ks, ke) ranges touch; each tile is read and converted once for all its rows.
// At B=64 x 8192 the middle of the kernel streams K at the DRAM floor; what is left is start-up (the
// chain context_lens -> block table -> first page) and the spread of SM finish times, so the start-up
// path is kept free of barriers, local memory and 64-bit division. One CTA = a producer warp + 2 or 4
// consumer warpgroups (two or one CTAs a SM, sm90_shape):
//  - producer: per tile, TMA bulk copies of its K bytes and scales (paged: one pair per page,
//    evict-first in L2 as they are read once per call; ragged: rows of the contiguous k) into a ring
//    of `stages` shared-memory stages (mbarrier full/empty pairs); at each new request, one bulk copy
//    of that request's q rows and weights into a staging slot, with the row ranges in a header.
//    Block-table entries are prefetched 64 pages at a time into registers; entries outside the cache
//    are never followed (those pages read as zeros, like the reference).
//  - consumers: K is the wgmma A operand (64 tokens per instruction, from registers: each thread loads
//    its fp8 bytes from the stage and releases the stage at once); Q (converted once per request) is
//    the B operand in shared memory, N = heads. D[token, head] lands in the thread that owns the token,
//    so relu * weight and the head sum need two shuffles and no shared-memory reduction or block
//    barrier. Precision (SPEC §3): exact converts K and Q fp8 -> f16 exactly and runs f16 wgmma with
//    fp32 accumulation; fast runs fp8 wgmma on the bytes as they are (Hopper accumulates those with
//    ~14 bits inside each k32 instruction, within SPEC's fast bound).
// Which physical dims a thread holds per k-step (phi) depends on the page layout so that the K loads
// are bank-conflict free; the Q operand is written with the same phi, so the products pair up.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "gpu/check.h"
#include "gpu/pdl.h"
#include "ops/mqa_logits/mqa_logits.h"

namespace nsa {

#if defined(NSA_WITH_CUDA)
namespace {
namespace sm90 {

constexpr int kStageK = kMqaTile * kIndexerHeadDim;  // 8192 bytes of K per stage
constexpr int kStageBytes = kStageK + kMqaTile * 4;  // + 256 bytes of scales
constexpr int kGroupThreads = 128;                   // one consumer warpgroup
// A CTA's threads: kGroups consumer warpgroups + the producer warp.
__host__ __device__ constexpr int threads_of(int groups) { return groups * kGroupThreads + 32; }
constexpr int kMaxRequests = 1024;                   // paged: per-CTA schedule scan bound (larger batches: portable kernel)
constexpr int kMaxNextN = 4;                         // query rows per request the header and row table hold
// Ragged (prefill) rows are taken kRaggedRows at a time as one "request": neighbouring rows of a causal
// prefill cover nearly the same keys, so each K tile is read and converted once for all of them, as
// the next_n rows of a paged request are. Requests are ceil(S / kRaggedRows); the last may be partial.
constexpr int kRaggedRows = 4;
// Query rows per request: a paged request's next_n, or kRaggedRows (host and device).
__host__ __device__ __forceinline__ int rows_per_request(const MqaLogitsParams& p) { return p.ragged ? kRaggedRows : p.next_n; }

// Request header the producer writes next to the staged q rows.
struct alignas(16) Header {
  int64_t begin[kMaxNextN], end[kMaxNextN];
  int32_t b, first_tile, count, pad;
};

struct Layout {  // dynamic shared memory offsets (bytes)
  int stages, qmma, qstage, wsm, header, bars, total;
  int qbytes, wbytes;
};

// `rows`: query rows per request; `fp8`: the wgmma B operand (Q) is fp8 (fast), else f16 (exact).
__host__ __device__ inline Layout layout(int stages, int rows, int heads, bool fp8) {
  const int q_elem_bytes = fp8 ? 1 : 2;
  Layout l{};
  l.stages = stages;
  l.qmma = stages * kStageBytes;
  l.qbytes = rows * heads * kIndexerHeadDim;
  l.wbytes = rows * heads * 4;
  l.qstage = l.qmma + rows * heads * kIndexerHeadDim * q_elem_bytes;
  l.wsm = l.qstage + l.qbytes + l.wbytes;
  l.header = l.wsm + l.wbytes;
  l.bars = l.header + static_cast<int>(sizeof(Header));
  l.total = l.bars + (2 * stages + 2) * 8;
  return l;
}

// Device code exists only in the sm_90a pass; the host pass and other archs see an empty kernel body
// (host code launches this kernel only when the binary holds sm_90a SASS and the device is sm_90).
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define NSA_SM90_KERNEL 1

// (device-only constants live here: other passes would warn that they are unused)
constexpr int kBarConsumers = 1;                   // named barrier: the consumer warpgroup
constexpr int kBarWarp = 3;                        // named barrier: one warp (warp_barrier)
constexpr int kBarSchedule = 2;                    // named barrier: producer -> consumers, the tile count
constexpr uint32_t kWaitSuspendHintNs = 10000000;  // mbarrier try_wait may park the warp up to 10 ms

__device__ __forceinline__ uint32_t smem_u32(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }
__device__ __forceinline__ void mbar_init(uint64_t* bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(count));
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_u32(bar)) : "memory");
}
__device__ __forceinline__ void mbar_arrive_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(bytes) : "memory");
}
// The suspend-time hint lets the hardware park the warp until the phase completes (or the hint, in
// ns, runs out) instead of spinning: a producer waiting on a full ring would otherwise take issue
// slots from the consumers on the same scheduler.
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  uint32_t done;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2, %3;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(smem_u32(bar)), "r"(parity), "r"(kWaitSuspendHintNs)
        : "memory");
  } while (!done);
}
// TMA 1-D bulk copy global -> shared, completion counted in bytes on `bar`. 16-byte aligned, size % 16 == 0.
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(smem_u32(dst)),
               "l"(src), "r"(bytes), "r"(smem_u32(bar))
               : "memory");
}
// The same with an L2 policy: K pages are read once per call, so they go in as evict-first and leave
// L2 to what every call (and every layer of a step) reads again: context lengths, block table, q.
__device__ __forceinline__ uint64_t l2_evict_first() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}
__device__ __forceinline__ uint64_t l2_evict_normal() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_normal.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}
__device__ __forceinline__ void bulk_copy_hint(void* dst, const void* src, uint32_t bytes, uint64_t* bar, uint64_t policy) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;\n" ::"r"(
                   smem_u32(dst)),
               "l"(src), "r"(bytes), "r"(smem_u32(bar)), "l"(policy)
               : "memory");
}
// A warp's lanes meet before lane 0 releases a buffer they all read (a K stage, the q slot) through an
// mbarrier. A named barrier of one warp's count (the warp completes it alone; every warp uses the same
// id) rather than __syncwarp: both order the lanes' reads before lane 0's arrive, but compute-sanitizer's
// racecheck only follows the named barrier (with __syncwarp it reported every lane's read of a K stage
// as racing the producer's next bulk copy into it; an arrive by every thread instead cost 8-10 % of the
// kernel on the H200). Measured cost of this one: 0-2 % (H200, B=64 ctx=8192 and prefill).
__device__ __forceinline__ void warp_barrier() { asm volatile("bar.sync %0, 32;\n" ::"n"(kBarWarp) : "memory"); }
template <int kGroups>
__device__ __forceinline__ void named_sync_consumers() {
  asm volatile("bar.sync %0, %1;\n" ::"n"(kBarConsumers), "n"(kGroups * kGroupThreads) : "memory");
}

// The Q operand (wgmma B, K-major, no swizzle: core matrices of 8 heads x 16 bytes, 128 contiguous
// bytes each) of one query row. Exact (f16): 8 k per core matrix, LBO 128 (next 8 k), SBO 2048 (next
// 8 heads), 256 bytes per k16 step. Fast (fp8): 16 k per core matrix, LBO 128 (next 16 k), SBO 1024,
// 256 bytes per k32 step. Byte offset of element (head h, logical k) and the descriptor of the start.
template <bool kFp8>
__device__ __forceinline__ int qmma_offset(int h, int k) {
  return kFp8 ? (h >> 3) * 1024 + (k >> 4) * 128 + (h & 7) * 16 + (k & 15) : (h >> 3) * 2048 + (k >> 3) * 128 + (h & 7) * 16 + (k & 7) * 2;
}
template <bool kFp8>
__device__ __forceinline__ uint64_t qmma_desc(const void* p) {
  constexpr uint64_t kSbo = kFp8 ? 1024 : 2048;
  return uint64_t((smem_u32(p) & 0x3FFFF) >> 4) | (uint64_t(128 >> 4) << 16) | ((kSbo >> 4) << 32);
}

// d[64 x kH] (+)= A[64 x k] (registers) * B[k x kH] (shared memory, descriptor), fp32 accumulators:
// exact, m64nHk16 on f16; fast, m64nHk32 on e4m3 (no transpose immediate for fp8). The operand lists
// are the same, so one macro writes the four instructions.
#define NSA_WGMMA_RS_64(OP, TAIL)                                                                                                  \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n" OP                                                                   \
               " {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30," \
               "%31}, {%32,%33,%34,%35}, %36, p" TAIL ";\n}\n"                                                                       \
               : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]),               \
                 "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]),               \
                 "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]),               \
                 "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),               \
                 "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])                                                             \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(accumulate))
#define NSA_WGMMA_RS_32(OP, TAIL)                                                                                              \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %21, 0;\n" OP                                                               \
               " {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, {%16,%17,%18,%19}, %20, p" TAIL ";\n}\n"               \
               : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]),           \
                 "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]),           \
                 "+f"(d[3][2]), "+f"(d[3][3])                                                                                       \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(accumulate))
template <int kH, bool kFp8>
__device__ __forceinline__ void wgmma_rs(float (&d)[kH / 8][4], const uint32_t (&a)[4], uint64_t desc, int accumulate) {
  if constexpr (kH == 64 && kFp8) NSA_WGMMA_RS_64("wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3", ", 1, 1");
  else if constexpr (kH == 64) NSA_WGMMA_RS_64("wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16", ", 1, 1, 0");
  else if constexpr (kFp8) NSA_WGMMA_RS_32("wgmma.mma_async.sync.aligned.m64n32k32.f32.e4m3.e4m3", ", 1, 1");
  else NSA_WGMMA_RS_32("wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16", ", 1, 1, 0");
}
#undef NSA_WGMMA_RS_64
#undef NSA_WGMMA_RS_32

// Four fp8 -> two f16 pairs (bytes 0,1 -> lo; 2,3 -> hi). The halves are named in PTX so ptxas feeds
// the register halves to the unpacks directly (no shifts / masks).
__device__ __forceinline__ void fp8x4_to_f16x2x2(uint32_t w, uint32_t& lo, uint32_t& hi) {
  asm("{\n.reg .b16 l, h;\nmov.b32 {l, h}, %2;\ncvt.rn.f16x2.e4m3x2 %0, l;\ncvt.rn.f16x2.e4m3x2 %1, h;\n}\n" : "=r"(lo), "=r"(hi) : "r"(w));
}

// phi: physical dim of (k-step ks, thread column tig, element e in 0..3). Element pairs (0,1) and (2,3)
// are logical k 2*tig + {0,1} and 8 + 2*tig + {0,1} of the step.
template <bool kShuffled>
__device__ __forceinline__ int phi(int ks, int tig, int e) { return kShuffled ? ks * 16 + tig * 4 + e : tig * 32 + ks * 4 + e; }

// Requests in the batch: paged requests, or ceil(S / kRaggedRows) groups of ragged rows.
__device__ __forceinline__ int requests_of(const MqaLogitsParams& p) { return p.ragged ? (p.batch + kRaggedRows - 1) / kRaggedRows : p.batch; }
// Valid key range of row n of request b; rows past the last ragged row are empty.
__device__ __forceinline__ void request_row_range(const MqaLogitsParams& p, int b, int n, int64_t& begin, int64_t& end) {
  if (!p.ragged) return mqa_row_range(p, b, n, begin, end);
  const int row = b * kRaggedRows + n;
  begin = end = 0;
  if (row < p.batch) mqa_row_range(p, row, 0, begin, end);
}

// The tiles a request covers: [t0, tiles_of(end)), the union of its rows' ranges. Paged rows start at
// 0 (t0 = 0) and end is the clamped largest length (mqa_row_range's clamps are monotone). Scalars
// only: per-row arrays here would live in local memory, a DRAM round trip at kernel start.
struct Span {
  int64_t end = 0;
  int32_t t0 = 0;  // < 2^25: k has < 2^31 rows
};
__device__ __forceinline__ int32_t tiles_of(int64_t end) { return static_cast<int32_t>((end + kMqaTile - 1) / kMqaTile); }
__device__ __forceinline__ int32_t span_tiles(const Span& s) { return tiles_of(s.end) - s.t0; }
__device__ __forceinline__ Span request_span(const MqaLogitsParams& p, int b) {
  Span s;
  if (p.ragged) {
    int64_t lo = std::numeric_limits<int64_t>::max(), hi = 0;
#pragma unroll
    for (int n = 0; n < kRaggedRows; ++n) {
      int64_t begin, end;
      request_row_range(p, b, n, begin, end);
      if (end > begin) {
        lo = min(lo, begin);
        hi = max(hi, end);
      }
    }
    if (hi > 0) s = Span{hi, static_cast<int32_t>(lo / kMqaTile)};
    return s;
  }
  int64_t hi = 0;
  if (!p.context_2d) {
    hi = p.context_lens[b];
  } else {
    for (int n = 0; n < p.next_n; ++n) hi = max(hi, static_cast<int64_t>(p.context_lens[int64_t(b) * p.next_n + n]));
  }
  hi = min(hi, min(int64_t(p.max_blocks) * p.page_size, p.max_context_len));
  s.end = hi > 0 ? hi : 0;
  return s;
}


#if defined(NSA_MQA_TRACE)  // diagnostic build only: per-CTA timeline in ns (globaltimer), printed at exit
__device__ __forceinline__ uint64_t trace_now() {
  uint64_t t;
  asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
  return t;
}
// The time once `v` is available (the input operand makes the read wait for v's load).
__device__ __forceinline__ uint64_t trace_after(int64_t v) {
  uint64_t t;
  asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t) : "l"(v));
  return t;
}
#endif
// MQA_TRACE(statement): the statement in the diagnostic build (-DNSA_MQA_TRACE), nothing otherwise.
#if defined(NSA_MQA_TRACE)
#define MQA_TRACE(...) __VA_ARGS__
#else
#define MQA_TRACE(...)
#endif

#endif  // sm_90a device helpers

#if defined(NSA_SM90_KERNEL)

// The dynamic shared memory of one CTA: the K ring (`stages` stages), the Q operand, the q staging slot and its
// weights, the request header, and the mbarriers (full / empty per stage, qfull / qempty for q).
struct Ring {
  uint8_t* stage0;
  uint8_t* qmma;
  uint8_t* qstage;
  float* wsm;
  Header* hdr;
  uint64_t* full;
  uint64_t* empty;
  uint64_t* qfull;
  uint64_t* qempty;
};

__device__ __forceinline__ Ring ring_of(uint8_t* smem, const Layout& L, int stages) {
  Ring r;
  r.stage0 = smem;
  r.qmma = smem + L.qmma;
  r.qstage = smem + L.qstage;
  r.wsm = reinterpret_cast<float*>(smem + L.wsm);
  r.hdr = reinterpret_cast<Header*>(smem + L.header);
  r.full = reinterpret_cast<uint64_t*>(smem + L.bars);
  r.empty = r.full + stages;
  r.qfull = r.empty + stages;
  r.qempty = r.qfull + 1;
  return r;
}

// A stage is released by the four warps of the warpgroup that took its tile, the q slot by every
// consumer warp: lane 0 arrives after its warp met at warp_barrier.
__device__ __forceinline__ void init_barriers(const Ring& r, int stages, int groups) {
  for (int s = 0; s < stages; ++s) {
    mbar_init(&r.full[s], 1);
    mbar_init(&r.empty[s], kGroupThreads / 32);
  }
  mbar_init(r.qfull, 1);
  mbar_init(r.qempty, groups * kGroupThreads / 32);
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

// This CTA's share of the batch's tiles, as the producer warp found it: `tiles` tiles starting at tile
// `first_tile` (counted from the span's t0) of request `first_b`, whose span is `first_span`.
struct Slice {
  int first_b = -1;
  int64_t first_tile = 0, tiles = 0;
  Span first_span;
};

// A request costs its tiles plus kSwitchTiles for being taken: at each new request the consumer
// warpgroups meet at a barrier (a request of fewer tiles than warpgroups leaves some idle), convert q,
// and the producer reads the rows' ranges. Fitted on the H200 to four causal prefill shapes (ragged
// S = 2048 .. 8192 and a 61440 prefix, exact and fast: ~3.2 / 2 us per request against 0.98 / 0.74 us
// per 4-row tile per SM). Cutting slices by tiles alone gave the first CTAs of a causal chunk, whose
// requests are 1-16 tiles long, ~180 requests each where the last ones had ~8.
constexpr int kSwitchTiles = 3;
__device__ __forceinline__ int32_t cost_of(int32_t tiles) { return tiles > 0 ? tiles + kSwitchTiles : 0; }

// Schedule (producer warp): this CTA's slice [s*C/G, (s+1)*C/G) of the batch's cost C (tiles plus
// kSwitchTiles per request with tiles), located by request; the slice takes the tiles whose cost
// positions fall in it. Up to kKept * 32 requests (decode batches) the warp holds every request's span
// in registers (request c * 32 + lane in kept[c]) and walks them once. Beyond, each lane sums a
// contiguous block of ceil(requests / 32) requests (independent loads, so their latencies overlap), one
// warp scan orders the blocks, and only the requests from the block holding the slice's start to the
// one holding its end are walked (read again). (Walking every request 32 per step cost one L2 round trip
// plus two scans per step, twice over the batch: ~40-50 us for the last CTAs of a 2048-request prefill
// chunk while their consumers waited (ncu: 8 % of warp samples at the schedule barrier, S = 8192). H200,
// same call: ragged S = 2048 / 4096 / 8192 fast 85 / 265 / 898 -> 78 / 247 / 854 us; decode B = 1 at
// 64k-128k tokens +0.15-0.25 us, for no reason found in the decode path, which is the walk as before.)
// The warp goes straight on to its first block-table read; the consumers only need the tile count,
// handed over through shared memory (named barrier kBarSchedule). The slice index s interleaves the CTAs that share
// an SM (c, c + S, c + 2S, ... for S SMs) onto neighbouring slices, so each SM's total differs from the
// mean by at most ~1 tile.
constexpr int kKept = 4;  // chunks of 32 spans the warp keeps in registers

// The slice [tile(x0), tile(x1)) (tile(C) = every tile, never searched), walking requests [b0, b1)
// 32 per step from cost acc_cost and tile acc_tiles; x0's request lies in the range, and x1's too
// unless x1 = C. span_of(chunk, b): request b's span (chunk: the step's index from b0; 0 past b1).
template <class SpanOf>
__device__ __forceinline__ Slice walk(int64_t x0, int64_t x1, int64_t total_tiles, int b0, int b1, int64_t acc_cost, int64_t acc_tiles,
                                      int lane, SpanOf span_of) {
  Slice out;
  int64_t tile0 = 0, tile1 = total_tiles;
  bool found0 = false;
  for (int c = b0, chunk = 0; c < b1; c += 32, ++chunk) {
    const int b = c + lane;
    const Span span = b < b1 ? span_of(chunk, b) : Span{};
    const int32_t t = span_tiles(span), k = cost_of(t);
    // (int32: a chunk holds < 2^31 tile units, requests have < 2^25 tiles)
    const int32_t incl_t = gpu_inclusive_scan32(t), incl_k = gpu_inclusive_scan32(k);
    // The tile index of cost position x if x's request is in this chunk (its lane in src), else -1:
    // the tiles of earlier requests, plus those of x's request whose positions (after its
    // kSwitchTiles) come before x.
    auto locate = [&](int64_t x, int& src) -> int64_t {
      const uint32_t hit = __ballot_sync(0xffffffffu, x < acc_cost + incl_k);
      if (hit == 0) return -1;
      src = __ffs(hit) - 1;
      const int64_t start_cost = acc_cost + __shfl_sync(0xffffffffu, incl_k - k, src);
      const int64_t start_tile = acc_tiles + __shfl_sync(0xffffffffu, incl_t - t, src);
      const int64_t tiles_src = __shfl_sync(0xffffffffu, t, src);
      return start_tile + min(max(x - start_cost - kSwitchTiles, int64_t(0)), tiles_src);
    };
    if (!found0) {
      int src = 0;
      const int64_t at = locate(x0, src);
      if (at >= 0) {
        found0 = true;
        tile0 = at;
        out.first_b = c + src;
        out.first_tile = at - (acc_tiles + __shfl_sync(0xffffffffu, incl_t - t, src));
        out.first_span = Span{__shfl_sync(0xffffffffu, span.end, src), __shfl_sync(0xffffffffu, span.t0, src)};
      }
    }
    int src1 = 0;
    const int64_t at1 = locate(x1, src1);  // (x1 >= x0: found with or after x0)
    if (at1 >= 0) {
      tile1 = at1;
      break;
    }
    acc_cost += __shfl_sync(0xffffffffu, incl_k, 31);
    acc_tiles += __shfl_sync(0xffffffffu, incl_t, 31);
  }
  out.tiles = found0 ? tile1 - tile0 : 0;
  return out;
}

// This CTA's cost range [c0, c1) of the batch's total cost C over G CTAs.
__device__ __forceinline__ void slice_costs(int64_t total_cost, int ctas_per_sm, int64_t& c0, int64_t& c1) {
  const int sms = gridDim.x / ctas_per_sm;
  const int slice = gridDim.x % ctas_per_sm == 0 ? (blockIdx.x % sms) * ctas_per_sm + blockIdx.x / sms : blockIdx.x;
  // Below this cost, total * (slice + 1) fits 32 bits for grids up to 2048 CTAs (2^21 * 2^11 = 2^32).
  constexpr int64_t kCostFor32BitDivision = int64_t(1) << 21;
  if (total_cost < kCostFor32BitDivision && gridDim.x <= 2048) {  // 32-bit division: total * (slice + 1) < 2^32
    const uint32_t t32 = static_cast<uint32_t>(total_cost);
    c0 = t32 * static_cast<uint32_t>(slice) / gridDim.x;
    c1 = t32 * static_cast<uint32_t>(slice + 1) / gridDim.x;
  } else {
    c0 = total_cost * slice / gridDim.x;
    c1 = total_cost * (slice + 1) / gridDim.x;
  }
}

// schedule() for batches of more than kKept * 32 requests (prefill chunks).
__device__ __forceinline__ Slice schedule_blocks(const MqaLogitsParams& p, int ctas_per_sm, int lane, uint64_t* s_t) {
  const int requests = requests_of(p);
  int64_t c0, c1;
  const int per_lane = (requests + 31) / 32;
  const int b0 = min(lane * per_lane, requests), b1 = min(b0 + per_lane, requests);  // this lane's block
  int64_t tiles = 0, cost = 0;
#pragma unroll 4
  for (int b = b0; b < b1; ++b) {
    const int32_t t = span_tiles(request_span(p, b));
    tiles += t;
    cost += cost_of(t);
  }
  const int64_t incl_tiles = gpu_inclusive_scan32(tiles), incl_cost = gpu_inclusive_scan32(cost);
  const int64_t total_cost = __shfl_sync(0xffffffffu, incl_cost, 31);
  MQA_TRACE(if (lane == 0) s_t[5] = trace_after(total_cost);)
  slice_costs(total_cost, ctas_per_sm, c0, c1);
  if (c0 >= c1) return Slice{};
  // Walk from the block holding c0 to the one holding c1 (c1 = C: c0's block).
  const int src0 = __ffs(__ballot_sync(0xffffffffu, c0 < incl_cost)) - 1;
  const int src1 = c1 < total_cost ? __ffs(__ballot_sync(0xffffffffu, c1 < incl_cost)) - 1 : src0;
  return walk(c0, c1, __shfl_sync(0xffffffffu, incl_tiles, 31), __shfl_sync(0xffffffffu, b0, src0), __shfl_sync(0xffffffffu, b1, src1),
              __shfl_sync(0xffffffffu, incl_cost - cost, src0), __shfl_sync(0xffffffffu, incl_tiles - tiles, src0), lane,
              [&](int, int b) { return request_span(p, b); });  // read again
}

__device__ __forceinline__ Slice schedule(const MqaLogitsParams& p, int ctas_per_sm, int lane, uint64_t* s_t) {
  const int requests = requests_of(p);
  Span kept[kKept];
  int64_t c0, c1;
  if (requests <= kKept * 32) {
#pragma unroll
    for (int c = 0; c < kKept; ++c)  // all loads first, then the sums
      if (c * 32 + lane < requests) kept[c] = request_span(p, c * 32 + lane);
    int64_t total_tiles = 0, total_cost = 0;
#pragma unroll
    for (int c = 0; c < kKept; ++c) {
      total_tiles += gpu_warp_sum32(int64_t(span_tiles(kept[c])));
      total_cost += gpu_warp_sum32(int64_t(cost_of(span_tiles(kept[c]))));
    }
    MQA_TRACE(if (lane == 0) s_t[5] = trace_after(total_cost);)
    slice_costs(total_cost, ctas_per_sm, c0, c1);
    if (c0 >= c1) return Slice{};  // an empty slice
    return walk(c0, c1, total_tiles, 0, requests, 0, 0, lane, [&](int chunk, int) {
      Span span;
#pragma unroll
      for (int j = 0; j < kKept; ++j)  // (constant indices: kept stays in registers)
        if (j == chunk) span = kept[j];
      return span;
    });
  }
  return schedule_blocks(p, ctas_per_sm, lane, s_t);
}

// Producer, at each new request (lane 0): the rows' ranges into the header, then one bulk copy of the
// request's q rows and one of its weights into the staging slot (a partial last ragged request copies
// the rows that exist).
template <int kHeads>
__device__ __forceinline__ void stage_request(const MqaLogitsParams& p, const Layout& L, const Ring& r, int b, int64_t first_tile,
                                              int64_t count) {
  const int rows = rows_per_request(p);
  // Every row's range is read before any header store: stores through the generic header pointer may
  // alias ks / ke for the compiler, so reads interleaved with them took one L2 round trip per row.
  int64_t begin[kMaxNextN], end[kMaxNextN];  // unrolled: registers
#pragma unroll
  for (int n = 0; n < kMaxNextN; ++n) {
    begin[n] = end[n] = 0;
    if (n < rows) request_row_range(p, b, n, begin[n], end[n]);
  }
#pragma unroll
  for (int n = 0; n < kMaxNextN; ++n) {
    r.hdr->begin[n] = begin[n];
    r.hdr->end[n] = end[n];
  }
  r.hdr->b = b;
  r.hdr->first_tile = static_cast<int32_t>(first_tile);
  r.hdr->count = static_cast<int32_t>(count);
  const int present = p.ragged ? min(rows, p.batch - b * rows) : rows;
  const uint32_t qbytes = present * kHeads * kIndexerHeadDim, wbytes = present * kHeads * 4;
  mbar_arrive_tx(r.qfull, qbytes + wbytes);  // release: the header stores above come first
  bulk_copy(r.qstage, p.q + int64_t(b) * L.qbytes, qbytes, r.qfull);
  bulk_copy(r.qstage + L.qbytes, p.weights + int64_t(b) * rows * kHeads, wbytes, r.qfull);
}

// Paged K: the block-table window (entries of pages win + lane and win + 32 + lane, refilled 64 at a
// time) and the request's needed pages (entries past these are never read).
struct PageWindow {
  const int32_t* bt = nullptr;
  int64_t needed = 0, win = -1;
  int32_t e0 = -1, e1 = -1;
};

// One paged tile into stage `st`: a bulk copy per page of K bytes and one of scales; a page outside
// the cache reads as zeros (as the reference reads it), a page past the context is not read at all.
__device__ __forceinline__ void fill_paged_tile(const MqaLogitsParams& p, uint8_t* st, uint64_t* full, int64_t tile, int lane,
                                                uint64_t policy, PageWindow& w) {
  const int log2_page = __ffs(p.page_size) - 1;
  const int pages_per_tile = kMqaTile >> log2_page;
  const int64_t page_bytes = kcache_page_bytes(p.page_size);
  const int64_t first_page = (tile * kMqaTile) >> log2_page;
  if (w.win < 0 || first_page + pages_per_tile > w.win + 64) {  // 64 entries per refill (1 to 4 per tile)
    w.win = first_page;
    const int64_t i0 = w.win + lane, i1 = w.win + 32 + lane;
    w.e0 = i0 < w.needed ? w.bt[i0] : -1;
    w.e1 = i1 < w.needed ? w.bt[i1] : -1;
    if (w.e0 < 0 || w.e0 >= p.num_pages) w.e0 = -1;  // outside the cache: read as zeros, never followed
    if (w.e1 < 0 || w.e1 >= p.num_pages) w.e1 = -1;
  }
  uint32_t bytes = 0;
  int32_t page[4];  // unrolled with constant indices: registers, not local memory
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    if (j >= pages_per_tile) break;
    const int64_t pi = first_page + j;
    const int idx = static_cast<int>(pi - w.win);
    const int32_t e = __shfl_sync(0xffffffffu, idx < 32 ? w.e0 : w.e1, idx & 31);
    page[j] = pi < w.needed ? e : -2;  // -2: past the context, rows never written out
    if (page[j] >= 0) {
      bytes += static_cast<uint32_t>(page_bytes);
    } else if (page[j] == -1) {  // zeros, as the reference reads a page outside the cache
      uint4* k = reinterpret_cast<uint4*>(st + j * p.page_size * kIndexerHeadDim);
      for (int c = lane; c < p.page_size * kIndexerHeadDim / 16; c += 32) k[c] = make_uint4(0, 0, 0, 0);
      float* sc = reinterpret_cast<float*>(st + kStageK) + j * p.page_size;
      for (int c = lane; c < p.page_size; c += 32) sc[c] = 0.f;
    }
  }
  __syncwarp();
  if (lane == 0) {
    mbar_arrive_tx(full, bytes);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      if (j >= pages_per_tile) break;
      if (page[j] < 0) continue;
      const uint8_t* src = p.cache + int64_t(page[j]) * page_bytes;
      bulk_copy_hint(st + j * p.page_size * kIndexerHeadDim, src, p.page_size * kIndexerHeadDim, full, policy);
      bulk_copy_hint(st + kStageK + j * p.page_size * 4, src + p.page_size * kIndexerHeadDim, p.page_size * 4, full, policy);
    }
  }
}

// One ragged tile (K rows [64 tile, 64 tile + 64) of the contiguous k) into stage `st`, laid out as a
// plain page of 64. The last tile of k may be short: its K bytes are whole 128-byte rows, and of its
// scales the TMA copies whole 16 bytes, the lanes the last rows % 4.
__device__ __forceinline__ void fill_ragged_tile(const MqaLogitsParams& p, uint8_t* st, uint64_t* full, int64_t tile, int lane,
                                                 uint64_t policy) {
  const int64_t row0 = tile * kMqaTile;
  const int rows = static_cast<int>(min(int64_t(kMqaTile), p.num_kv - row0));
  const int bulk_scales = rows & ~3;
  if (lane < (rows & 3)) reinterpret_cast<float*>(st + kStageK)[bulk_scales + lane] = p.k_scale[row0 + bulk_scales + lane];
  if (rows & 3) asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");  // before a later TMA write of the same bytes
  __syncwarp();
  if (lane == 0) {
    mbar_arrive_tx(full, rows * kIndexerHeadDim + bulk_scales * 4);
    bulk_copy_hint(st, p.k + row0 * kIndexerHeadDim, rows * kIndexerHeadDim, full, policy);
    if (bulk_scales > 0) bulk_copy_hint(st + kStageK, p.k_scale + row0, bulk_scales * 4, full, policy);
  }
}

// Producer warp: per tile, its K bytes and scales into the next ring stage; at each new request, the
// request's q rows, weights and row ranges into the staging slot.
template <int kHeads>
__device__ __forceinline__ void produce(const MqaLogitsParams& p, const Layout& L, const Ring& r, int stages, const Slice& sched,
                                        int lane, uint64_t* s_t) {
  int b = sched.first_b;
  const int64_t my_tiles = sched.tiles;
  int64_t tile = sched.first_tile, left = 0;  // tile: counted from the request span's t0
  Span span;
  PageWindow window;
  uint32_t staged = 0;  // requests staged so far (qfull / qempty phases)
  int stage = 0;        // ring position; `round` counts wraps (no 64-bit division per tile)
  uint32_t round = 0;
  // Paged K is read once per call: evict-first, leaving L2 to what every call (and every layer of a
  // step) reads again. Ragged K is read again by every request whose rows reach it.
  const uint64_t policy = p.ragged ? l2_evict_normal() : l2_evict_first();
  for (int64_t it = 0; it < my_tiles; ++it, ++tile, --left) {
    if (left == 0) {  // next request with tiles
      for (;; ++b, tile = 0) {
        span = it == 0 && b == sched.first_b ? sched.first_span : request_span(p, b);  // the schedule read the first one
        if (tile < span_tiles(span)) break;
      }
      left = min(span_tiles(span) - tile, my_tiles - it);
      MQA_TRACE(if (lane == 0 && it == 0) s_t[6] = trace_after(span.end);)
      if (!p.ragged) {
        window = PageWindow{};
        window.bt = p.block_table + int64_t(b) * p.block_table_stride;
        window.needed = (span.end + p.page_size - 1) >> (__ffs(p.page_size) - 1);  // P is a power of two: no 64-bit division
      }
      if (staged > 0) mbar_wait(r.qempty, (staged - 1) & 1);  // consumers took the previous request's q
      if (lane == 0) stage_request<kHeads>(p, L, r, b, span.t0 + tile, left);
      ++staged;
    }
    if (round > 0) mbar_wait(&r.empty[stage], (round - 1) & 1);  // consumers released the previous fill
    uint8_t* st = r.stage0 + stage * kStageBytes;
    if (p.ragged) fill_ragged_tile(p, st, &r.full[stage], span.t0 + tile, lane, policy);
    else fill_paged_tile(p, st, &r.full[stage], tile, lane, policy, window);
    MQA_TRACE(if (lane == 0 && it == 0) s_t[7] = trace_after(window.e0);)
    MQA_TRACE(if (lane == 0 && it == 0) s_t[2] = trace_now();)
    if (++stage == stages) {
      stage = 0;
      ++round;
    }
  }
}

// Consumer warpgroup, at each new request: the Q operand and the weights from the staging slot, the
// row ranges from the header into s_rows, then the slot is released. Returns the header's (b, first
// tile, count).
template <int kHeads, bool kShuffled, int kGroups, bool kFp8>
__device__ __forceinline__ void take_request(const MqaLogitsParams& p, const Layout& L, const Ring& r, uint32_t& staged, int tid, int lane,
                                             int64_t (*s_rows)[2], int& b, int64_t& first_tile, int& count) {
  mbar_wait(r.qfull, staged & 1);
  ++staged;
  b = r.hdr->b;
  first_tile = r.hdr->first_tile;
  count = r.hdr->count;
  named_sync_consumers<kGroups>();  // every warp is past the previous request's wgmmas (Q operand), weights, rows
  if (tid < 2 * kMaxNextN) s_rows[tid >> 1][tid & 1] = (tid & 1) ? r.hdr->end[tid >> 1] : r.hdr->begin[tid >> 1];
  // Q[n][h][logical k] = q[n][h][phi(k)], one fp8 word (elements 0..3 of (ks, tig)) per step: exact
  // writes it as two f16 pairs, logical k 16ks + 2tig + {0,1} and + 8; fast as the four bytes at
  // logical k 16ks + 4tig (the k32 fragment of A holds those dims, see score_tile). Lanes walk h & 7
  // then tig: the stores hit 32 banks. A partial last ragged request converts stale rows: never written out.
  const int rows = rows_per_request(p);
  for (int i = tid; i < rows * kHeads * 32; i += kGroups * kGroupThreads) {
    const int tg = (i >> 3) & 3, ks = (i >> 5) & 7, hr = i >> 8;
    const int n = hr / (kHeads / 8), h = (hr % (kHeads / 8)) * 8 + (i & 7);
    const uint32_t v = *reinterpret_cast<const uint32_t*>(r.qstage + (n * kHeads + h) * kIndexerHeadDim + phi<kShuffled>(ks, tg, 0));
    if constexpr (kFp8) {
      *reinterpret_cast<uint32_t*>(r.qmma + n * kHeads * kIndexerHeadDim + qmma_offset<true>(h, ks * 16 + 4 * tg)) = v;
    } else {
      uint8_t* dst = r.qmma + n * kHeads * kIndexerHeadDim * 2 + qmma_offset<false>(h, ks * 16 + 2 * tg);
      fp8x4_to_f16x2x2(v, *reinterpret_cast<uint32_t*>(dst), *reinterpret_cast<uint32_t*>(dst + 128));
    }
  }
  for (int i = tid; i < rows * kHeads; i += kGroups * kGroupThreads) r.wsm[i] = reinterpret_cast<const float*>(r.qstage + L.qbytes)[i];
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");  // the Q operand is read by wgmma (async proxy)
  named_sync_consumers<kGroups>();
  // Every warp releases the staging slot itself (like the K ring), so the producer's next q copy is
  // ordered after each warp's own reads of it and of the header.
  warp_barrier();
  if (lane == 0) mbar_arrive(r.qempty);
}

// One tile's K bytes of this thread (fp8 words, dims phi(ks, tig, 0..3)) and the two scales of its
// tokens from a ring stage; the stage is released as soon as they are in registers.
template <bool kShuffled>
__device__ __forceinline__ void load_tile(const uint8_t* st, int warp, int lane, uint64_t* empty_bar, uint32_t (&w)[8][2], float& sc0,
                                          float& sc1) {
  const int g = lane >> 2, tig = lane & 3;
  const int row0 = warp * 16 + g;
  if constexpr (kShuffled) {  // (t>>4)*2048 + (d>>4)*256 + (t&15)*16 + (d&15): 32 lanes, 32 banks
#pragma unroll
    for (int ks = 0; ks < 8; ++ks)
#pragma unroll
      for (int r = 0; r < 2; ++r) w[ks][r] = *reinterpret_cast<const uint32_t*>(st + warp * 2048 + ks * 256 + (g + 8 * r) * 16 + tig * 4);
  } else {  // row-major 128-byte rows: odd rows take their two 16-byte halves in the other order
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const uint8_t* base = st + (row0 + 8 * r) * kIndexerHeadDim + tig * 32;
      const uint4 x = *reinterpret_cast<const uint4*>(base + 16 * (g & 1));
      const uint4 y = *reinterpret_cast<const uint4*>(base + 16 * ((g & 1) ^ 1));
      const uint4 lo = (g & 1) ? y : x, hi = (g & 1) ? x : y;
      w[0][r] = lo.x; w[1][r] = lo.y; w[2][r] = lo.z; w[3][r] = lo.w;
      w[4][r] = hi.x; w[5][r] = hi.y; w[6][r] = hi.z; w[7][r] = hi.w;
    }
  }
  sc0 = reinterpret_cast<const float*>(st + kStageK)[row0];
  sc1 = reinterpret_cast<const float*>(st + kStageK)[row0 + 8];
  warp_barrier();
  if (lane == 0) mbar_arrive(empty_bar);  // the warp's part of the stage is in registers: refill it once all are
}

// One query row's wgmmas over the tile (kSteps k-steps into d) as one commit group, not waited for.
template <int kHeads, bool kFp8, int kSteps>
__device__ __forceinline__ void issue_row(float (&d)[kHeads / 8][4], const uint32_t (&a)[kSteps][4], uint64_t desc) {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");  // d was last read by ordinary instructions
#pragma unroll
  for (int ks = 0; ks < kSteps; ++ks) wgmma_rs<kHeads, kFp8>(d, a[ks], desc + uint64_t(ks * 16), ks);
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
// Waits for the row's wgmmas, then pins d after the wait: its reads may not be scheduled before it (the
// wgmma writes d asynchronously; the compiler does not know).
template <int kHeads>
__device__ __forceinline__ void wait_row(float (&d)[kHeads / 8][4]) {
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#pragma unroll
  for (int j = 0; j < kHeads / 8; ++j) asm volatile("" : "+f"(d[j][0]), "+f"(d[j][1]), "+f"(d[j][2]), "+f"(d[j][3])::"memory");
}

// Scores of one tile for every query row of the request: wgmma over the tile's 128 dims, then relu *
// weight summed over heads (two shuffles), written where the row's valid range allows. The A fragments
// come from the thread's fp8 words w[ks][r] (dims phi(ks, tig, 0..3) of token row0 + 8r): exact
// converts them to f16 once per tile (k16 step ks: {w[ks][0], w[ks][1]} as f16 pairs); fast feeds them
// as they are (k32 step kk: w[2kk][0], w[2kk][1], w[2kk+1][0], w[2kk+1][1]).
// kRows: 1 for requests of one query row (next_n 1), which then run straight-line: no row loop, whose
// state had spilled 16 bytes a thread inside the tile loop of the H = 64 exact kernel (B = 64 ctx 8192
// exact 31.0 -> 30.2 us, H100; fast, which did not spill, unchanged). 0: a loop over rows_per_request
// rows. (Constant counts of 2..4 unrolled the rows and spilled up to 1.3 KB a thread at the 96 registers
// of four warpgroups per SM; one CTA of three warpgroups per SM at 128 registers, with row n + 1's
// wgmmas in flight during row n's sum, ran 10-25 % slower at N = 2..4 and in prefill, H100.)
template <int kHeads, bool kFp8, int kRows>
__device__ __forceinline__ void score_tile(const MqaLogitsParams& p, const Ring& r, const uint32_t (&w)[8][2], uint64_t desc0, int b,
                                           int64_t pos0, float sc0, float sc1, int lane, int64_t (*s_rows)[2]) {
  constexpr int kSteps = kFp8 ? 4 : 8;
  constexpr uint64_t kRowDesc = kHeads * kIndexerHeadDim * (kFp8 ? 1 : 2) / 16;  // descriptor units per query row
  uint32_t a[kSteps][4];
#pragma unroll
  for (int ks = 0; ks < kSteps; ++ks) {
    if constexpr (kFp8) {
      a[ks][0] = w[2 * ks][0], a[ks][1] = w[2 * ks][1], a[ks][2] = w[2 * ks + 1][0], a[ks][3] = w[2 * ks + 1][1];
    } else {
      fp8x4_to_f16x2x2(w[ks][0], a[ks][0], a[ks][2]);
      fp8x4_to_f16x2x2(w[ks][1], a[ks][1], a[ks][3]);
    }
  }
  const int tig = lane & 3;
  const int64_t pos = tig == 0 ? pos0 : pos0 + 8;  // the token whose score this lane writes (tig < 2)
  // Row n's output element for `pos`: out_pos + n * out_stride, less the row's begin when compressed
  // (mqa_out_col), one pointer step per row instead of the row's address from b, n and the stride.
  const int rows = kRows > 0 ? kRows : rows_per_request(p);
  float* out_pos = p.out + int64_t(b) * rows * p.out_stride + pos;
  for (int n = 0; n < rows; ++n, out_pos += p.out_stride) {
    float d[kHeads / 8][4];
    issue_row<kHeads, kFp8, kSteps>(d, a, desc0 + n * kRowDesc);
    wait_row<kHeads>(d);
    // d[j] = D[row0 | row0 + 8][heads 8j + 2tig + {0,1}]: relu, weight, sum (fused multiply-adds into
    // four partial sums: H / 4 dependent steps each); then over tig.
    float s0a = 0.f, s0b = 0.f, s1a = 0.f, s1b = 0.f;
#pragma unroll
    for (int j = 0; j < kHeads / 8; ++j) {
      const float2 wv = *reinterpret_cast<const float2*>(r.wsm + n * kHeads + 8 * j + 2 * tig);
      s0a = fmaf(wv.x, fmaxf(d[j][0], 0.f), s0a);
      s0b = fmaf(wv.y, fmaxf(d[j][1], 0.f), s0b);
      s1a = fmaf(wv.x, fmaxf(d[j][2], 0.f), s1a);
      s1b = fmaf(wv.y, fmaxf(d[j][3], 0.f), s1b);
    }
    // Token row0's sum ends in lane tig 0, row0 + 8's in tig 1: each of a pair sends the other the
    // partial it does not keep, then the pairs (tig, tig ^ 2) add theirs.
    const float s0 = s0a + s0b, s1 = s1a + s1b;
    float v = ((tig & 1) ? s1 : s0) + __shfl_xor_sync(0xffffffffu, (tig & 1) ? s0 : s1, 1);
    v += __shfl_xor_sync(0xffffffffu, v, 2);
    const int64_t begin = s_rows[n][0];
    if (tig < 2 && pos >= begin && pos < s_rows[n][1]) out_pos[p.compressed ? -begin : 0] = (tig == 0 ? sc0 : sc1) * v;
  }
}

// Consumer warpgroups: K is the wgmma A operand from registers, Q the B operand in shared memory.
// With kGroups warpgroups, warpgroup g takes the CTA's tiles g, g + kGroups, ... (every warpgroup takes
// every request's q): a SM keeps four wgmma streams in flight whether it runs two CTAs or one (a CTA that
// holds a large Q operand, next_n 4 exact: 64 KB, runs alone on its SM).
template <int kHeads, bool kShuffled, int kGroups, bool kFp8, int kRows>
__device__ __forceinline__ void consume(const MqaLogitsParams& p, const Layout& L, const Ring& r, int stages, int64_t my_tiles, int tid,
                                        int warp, int lane, int64_t (*s_rows)[2], uint64_t* s_t) {
  const int group = warp / 4, wq = warp % 4;  // warpgroup, and warp within it
  const int row0 = wq * 16 + (lane >> 2);     // tokens row0 and row0 + 8 of each tile are this thread's
  uint32_t staged = 0, round = 0;
  int stage = 0;
  for (int64_t it = 0; it < my_tiles;) {
    int b, count;
    int64_t first_tile;
    take_request<kHeads, kShuffled, kGroups, kFp8>(p, L, r, staged, tid, lane, s_rows, b, first_tile, count);
    MQA_TRACE(if (tid == 0 && it == 0) s_t[4] = trace_now();)
    const uint64_t desc0 = qmma_desc<kFp8>(r.qmma);
    for (int c = 0; c < count; ++c, ++it) {
      if (static_cast<int>(it % kGroups) == group) {
        mbar_wait(&r.full[stage], round & 1);
        MQA_TRACE(if (tid == 0 && it == 0) s_t[3] = trace_now();)
        uint32_t w[8][2];
        float sc0, sc1;
        load_tile<kShuffled>(r.stage0 + stage * kStageBytes, wq, lane, &r.empty[stage], w, sc0, sc1);
        score_tile<kHeads, kFp8, kRows>(p, r, w, desc0, b, (first_tile + c) * kMqaTile + row0, sc0, sc1, lane, s_rows);
      }
      if (++stage == stages) {
        stage = 0;
        ++round;
      }
    }
  }
}

// clean: -inf over every row's invalid columns (rows round-robin over CTAs), disjoint from the scores.
__device__ __forceinline__ void clean_invalid(const MqaLogitsParams& p, int tid) {
  for (int64_t r = blockIdx.x; r < int64_t(p.batch) * p.next_n; r += gridDim.x) {
    int64_t begin, end;
    mqa_row_range(p, static_cast<int>(r / p.next_n), static_cast<int>(r % p.next_n), begin, end);
    float* out = p.out + r * p.out_stride;
    // Invalid columns: [0, first_valid) and [past_valid, max_context_len) (compressed rows start at column 0).
    const int64_t first_valid = p.compressed ? 0 : begin, past_valid = p.compressed ? end - begin : end;
    for (int64_t col = tid; col < first_valid; col += blockDim.x) out[col] = -std::numeric_limits<float>::infinity();
    for (int64_t col = past_valid + tid; col < p.max_context_len; col += blockDim.x) out[col] = -std::numeric_limits<float>::infinity();
  }
}

#endif  // NSA_SM90_KERNEL

// kRows: 1 for requests of one query row (next_n 1), 0 for any (score_tile). A kernel of its own for one
// row: the two consumer loops in one kernel spilled 32-92 bytes a thread at its 96 registers.
template <int kHeads, bool kShuffled, int kGroups, bool kFp8, int kRows>
__global__ void __launch_bounds__(threads_of(kGroups), 4 / kGroups) mqa_logits_sm90_kernel(const MqaLogitsParams p, const int stages, const int ctas_per_sm) {
#if defined(NSA_SM90_KERNEL)
  extern __shared__ __align__(128) uint8_t smem[];
  const Layout L = layout(stages, rows_per_request(p), kHeads, kFp8);
  const Ring ring = ring_of(smem, L, stages);
  __shared__ int64_t s_rows[kMaxNextN][2];  // consumers' copy of the current request's row ranges
  __shared__ int64_t s_my_tiles;
#if defined(NSA_MQA_TRACE)
  __shared__ uint64_t s_t[8];  // per-CTA timeline (ns), printed at exit
#else
  uint64_t* const s_t = nullptr;
#endif
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  MQA_TRACE(if (tid == 0) s_t[0] = trace_now();)
  if (tid == 0) init_barriers(ring, stages, kGroups);
  __syncthreads();
  pdl_wait();  // launched as a programmatic dependent: no global access before this

  Slice slice;
  constexpr int kThreads = threads_of(kGroups), kProducerWarp = kGroups * kGroupThreads / 32;
  if (warp < kProducerWarp) {
    asm volatile("bar.sync %0, %1;\n" ::"n"(kBarSchedule), "n"(kThreads) : "memory");
    slice.tiles = s_my_tiles;
  } else {
    slice = schedule(p, ctas_per_sm, lane, s_t);
    if (lane == 0) s_my_tiles = slice.tiles;
    asm volatile("bar.arrive %0, %1;\n" ::"n"(kBarSchedule), "n"(kThreads) : "memory");
  }
  MQA_TRACE(if (tid == 0) s_t[1] = trace_now();)

  if (warp == kProducerWarp) produce<kHeads>(p, L, ring, stages, slice, lane, s_t);
  else consume<kHeads, kShuffled, kGroups, kFp8, kRows>(p, L, ring, stages, slice.tiles, tid, warp, lane, s_rows, s_t);
  if (p.clean) clean_invalid(p, tid);
  MQA_TRACE({
    __syncthreads();
    if (tid == 0) {
      uint32_t smid;
      asm volatile("mov.u32 %0, %smid;" : "=r"(smid));
      printf("T %d %u %lld %llu %llu %llu %llu %llu %llu %llu %llu %llu\n", blockIdx.x, smid, (long long)slice.tiles, s_t[0], s_t[1],
             s_t[2], s_t[3], s_t[4], trace_now(), s_t[5], s_t[6], s_t[7]);
    }
  })
#else
  (void)p;
  (void)stages;
  (void)ctas_per_sm;
#endif
}

}  // namespace sm90

// Shared memory decides the shape of a CTA: the most CTAs per SM of 2 and 1 that still leave each one
// >= 3 stages (>= 12 tiles, ~100 KB in flight per SM), stages capped at 8; then as many consumer
// warpgroups per CTA as make 4 per SM (4 rows at H = 64, exact, hold a 64 KB Q operand and fit one CTA
// per SM: one warpgroup there ran every row's wgmma + epilogue back to back, 3.9x the time of one row).
// Two CTAs of two warpgroups beat four of one where both fit (one-row requests; H100, same call:
// B = 64 ctx 8192 exact 30.2 -> 28.8 us, B = 1 ctx 65536 8.1 -> 7.4, decode step fused 38.2 -> 36.3,
// uneven 13.6 -> 13.8; fast N = 1 and rows >= 2 unchanged): a CTA's two warpgroups share one deeper
// ring (7-8 stages instead of 3-4) and one q conversion per request. One CTA of four warpgroups was
// slower (30.2 -> 41.1, ragged S = 8192 fast 785 -> 837). Registers: a SM's register file is four
// files of 16384, one per scheduler, and a warp's registers come from its scheduler's file, so a
// scheduler's warps share 512 registers a thread: 4 warpgroups + the producer warp put 5 warps on one
// scheduler, 96 registers each at most, whatever the CTA split (measured: 17 warps at 104 do not launch).
// (Four CTAs of one warpgroup, the shape before, are gone with their kernels: RESULTS session 16 has
// the A/B.) NSA_MQA_CTAS=1 caps CTAs per SM at one (A/B).
struct Sm90Shape {
  int stages = 0, ctas = 1;                 // CTAs a SM: two or one
  int groups() const { return 4 / ctas; }  // consumer warpgroups a CTA: four a SM either way
};
Sm90Shape sm90_shape(int device, int rows, int heads, bool fp8) {
  static const int max_ctas = [] {  // NSA_MQA_CTAS=1: one CTA a SM (A/B of shapes)
    const char* e = std::getenv("NSA_MQA_CTAS");
    return e != nullptr && e[0] == '1' ? 1 : 2;
  }();
  int smem_sm = 0;
  NSA_GPU_CHECK(cudaDeviceGetAttribute(&smem_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device));
  Sm90Shape c;
  for (int ctas : {2, 1}) {
    if (ctas > max_ctas) continue;
    const int budget = smem_sm / ctas - 1024 - 256;  // per-CTA reservation + static shared memory
    const int stages = std::min(8, (budget - sm90::layout(0, rows, heads, fp8).total) / sm90::kStageBytes);
    if (stages >= 3 || ctas == 1) {
      c.stages = stages;
      c.ctas = ctas;
      break;
    }
  }
  return c;
}

// The Hopper kernel with kGroups consumer warpgroups (see use_sm90 for when it runs).
template <int kHeads, bool kShuffled, int kGroups, bool kFp8, int kRows>
void launch_sm90_groups(const MqaLogitsParams& p, int device, gpuStream_t s, int stages) {
  struct Config {
    int grid = 0, per_sm = 1;
  };
  auto kernel = sm90::mqa_logits_sm90_kernel<kHeads, kShuffled, kGroups, kFp8, kRows>;
  constexpr int kThreads = sm90::threads_of(kGroups);
  const int rows = sm90::rows_per_request(p);
  const int smem = sm90::layout(stages, rows, kHeads, kFp8).total;
  static PerDevice<Config> configs;  // per (device, rows per request)
  const Config& c = configs.get(device, rows, [&] {
    Config c;
    // The attribute is per kernel, shared by every row count: set it to the device limit less the kernel's
    // static shared memory (a cap, not a size).
    int optin = 0;
    NSA_GPU_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    cudaFuncAttributes attr{};
    NSA_GPU_CHECK(cudaFuncGetAttributes(&attr, kernel));
    NSA_GPU_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, optin - static_cast<int>(attr.sharedSizeBytes)));
    int per_sm = 0;
    NSA_GPU_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem));
    c.per_sm = std::max(per_sm, 1);
    // Persistent: one wave of resident CTAs. Two or three waves of smaller slices (for the hardware to
    // balance SMs that stream at different speeds) measured +4 us a wave (H100, B = 64 ctx 8192: 31.1 ->
    // 35.4 -> 38.2): equal slices end together and every new CTA pays the start-up again.
    c.grid = sm_count(device) * c.per_sm;
    if (std::getenv("NSA_MQA_VERBOSE") != nullptr)  // the shape a call runs at (diagnostics)
      std::fprintf(stderr, "mqa_logits sm90: H %d fp8 %d rows %d groups %d stages %d smem %d regs %d CTAs/SM %d\n", kHeads, int(kFp8), rows, kGroups,
                   stages, smem, attr.numRegs, per_sm);
    return c;
  });
  // Programmatic dependent launch (gpu/pdl.h): the launch latency hides under the previous kernel's tail.
  launch_pdl(kernel, dim3(c.grid), dim3(kThreads), static_cast<size_t>(smem), s, p, stages, c.per_sm);
  NSA_LAUNCH_CHECK("mqa_logits_sm90_kernel");
}

template <int kHeads, bool kShuffled, int kGroups, bool kFp8>
void launch_sm90_rows(const MqaLogitsParams& p, int device, gpuStream_t s, int stages) {
  if (sm90::rows_per_request(p) == 1) launch_sm90_groups<kHeads, kShuffled, kGroups, kFp8, 1>(p, device, s, stages);
  else launch_sm90_groups<kHeads, kShuffled, kGroups, kFp8, 0>(p, device, s, stages);
}

template <int kHeads, bool kShuffled, bool kFp8>
void launch_sm90(const MqaLogitsParams& p, int device, gpuStream_t s) {
  static PerDevice<Sm90Shape> shapes;  // per (device, rows per request)
  const int rows = sm90::rows_per_request(p);
  const Sm90Shape& c = shapes.get(device, rows, [&] { return sm90_shape(device, rows, kHeads, kFp8); });
  switch (c.groups()) {
    case 4: return launch_sm90_rows<kHeads, kShuffled, 4, kFp8>(p, device, s, c.stages);
    default: return launch_sm90_rows<kHeads, kShuffled, 2, kFp8>(p, device, s, c.stages);
  }
}

template <int kHeads, bool kShuffled>
void launch_sm90(const MqaLogitsParams& p, int device, gpuStream_t s) {
  if (p.precision == MqaPrecision::Fast) launch_sm90<kHeads, kShuffled, true>(p, device, s);
  else launch_sm90<kHeads, kShuffled, false>(p, device, s);
}

bool use_sm90(const MqaLogitsParams& p, int device) {
#if defined(NSA_SM90A_SASS)
  static const bool forced_portable = [] {
    const char* e = std::getenv("NSA_MQA_PORTABLE");
    return e != nullptr && e[0] == '1';
  }();
  if (forced_portable || compute_capability(device) != 90 || !is_aligned(p.weights, 16)) return false;
  // q, the cache and the ragged k are 16-byte aligned (checked before launch); weights and k scales are
  // whole floats, copied by the TMA in 16-byte units.
  if (p.ragged) return is_aligned(p.k_scale, 16);
  return p.page_size >= 16 && p.batch <= sm90::kMaxRequests;
#else
  (void)p;
  (void)device;
  return false;
#endif
}

}  // namespace

bool mqa_logits_sm90(const MqaLogitsParams& p, int device, StreamHandle stream) {
  if (!use_sm90(p, device)) return false;
  auto s = reinterpret_cast<gpuStream_t>(stream);
  const bool shuffled = p.layout == KCacheLayout::Preshuffle;
  if (p.heads == 64) shuffled ? launch_sm90<64, true>(p, device, s) : launch_sm90<64, false>(p, device, s);
  else shuffled ? launch_sm90<32, true>(p, device, s) : launch_sm90<32, false>(p, device, s);
  return true;
}

#else

bool mqa_logits_sm90(const MqaLogitsParams&, int, StreamHandle) { return false; }

#endif

}  // namespace nsa
