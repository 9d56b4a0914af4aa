// Probe: one 64x64x128 fp8 tile through wgmma (A in registers, B in shared memory, K-major no swizzle)
// with both LBO/SBO assignments, against a CPU reference. Build: nvcc -arch=sm_90a -std=c++17 -I../../csrc
#include <cstdio>
#include <cstdint>
#include <cmath>
#include <vector>
#include "core/dtype.h"

__device__ __forceinline__ int tile_offset(int t, int d) { return (t >> 3) * 1024 + (d >> 4) * 128 + (t & 7) * 16 + (d & 15); }
__device__ __forceinline__ uint64_t desc(const void* p, uint32_t lbo, uint32_t sbo) {
  uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  return uint64_t((a & 0x3FFFF) >> 4) | (uint64_t(lbo >> 4) << 16) | (uint64_t(sbo >> 4) << 32);
}
__device__ __forceinline__ void wg(float d[8][4], const uint32_t a[4], uint64_t db, int acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, "
      "{%32,%33,%34,%35}, %36, p, 1, 1;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}
__global__ void probe(const uint8_t* q, const uint8_t* k, float* s, uint32_t lbo, uint32_t sbo) {
  __shared__ __align__(128) uint8_t tile[8192];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, tig = lane & 3;
  for (int i = tid; i < 8192; i += 128) { const int t = i >> 7, d = i & 127; tile[tile_offset(t, d)] = k[i]; }
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
  __syncthreads();
  float acc[8][4] = {};
  uint32_t a[4][4];
  const uint8_t* q0 = q + (warp * 16 + g) * 128 + tig * 4;
  const uint8_t* q1 = q0 + 8 * 128;
  for (int ks = 0; ks < 4; ++ks) {
    a[ks][0] = *(const uint32_t*)(q0 + ks * 32); a[ks][1] = *(const uint32_t*)(q1 + ks * 32);
    a[ks][2] = *(const uint32_t*)(q0 + ks * 32 + 16); a[ks][3] = *(const uint32_t*)(q1 + ks * 32 + 16);
  }
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
  for (int ks = 0; ks < 4; ++ks) wg(acc, a[ks], desc(tile + ks * 256, lbo, sbo), ks > 0);
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
  for (int nt = 0; nt < 8; ++nt) {
    const int r0 = warp * 16 + g, c = nt * 8 + tig * 2;
    s[r0 * 64 + c] = acc[nt][0]; s[r0 * 64 + c + 1] = acc[nt][1];
    s[(r0 + 8) * 64 + c] = acc[nt][2]; s[(r0 + 8) * 64 + c + 1] = acc[nt][3];
  }
}
int main() {
  std::vector<uint8_t> q(64 * 128), k(64 * 128);
  uint32_t x = 1;
  for (auto* v : {&q, &k}) for (auto& b : *v) { x = x * 1664525u + 1013904223u; b = (x >> 24) & 0x7E; if ((x >> 20) & 1) b |= 0x80; b &= 0xBF; }
  std::vector<float> ref(64 * 64);
  for (int h = 0; h < 64; h++) for (int t = 0; t < 64; t++) { float s = 0; for (int d = 0; d < 128; d++) s += nsa::fp8_e4m3_to_f32(q[h * 128 + d]) * nsa::fp8_e4m3_to_f32(k[t * 128 + d]); ref[h * 64 + t] = s; }
  uint8_t *dq, *dk; float* ds;
  cudaMalloc(&dq, 8192); cudaMalloc(&dk, 8192); cudaMalloc(&ds, 64 * 64 * 4);
  cudaMemcpy(dq, q.data(), 8192, cudaMemcpyHostToDevice); cudaMemcpy(dk, k.data(), 8192, cudaMemcpyHostToDevice);
  const uint32_t v[2][2] = {{128, 1024}, {1024, 128}};
  for (auto& c : v) {
    cudaMemset(ds, 0, 64 * 64 * 4);
    probe<<<1, 128>>>(dq, dk, ds, c[0], c[1]);
    cudaError_t e = cudaDeviceSynchronize();
    std::vector<float> s(64 * 64);
    cudaMemcpy(s.data(), ds, 64 * 64 * 4, cudaMemcpyDeviceToHost);
    double err = 0, mx = 0; int bad = 0, first = -1;
    for (int i = 0; i < 64 * 64; i++) { double d = fabs(s[i] - ref[i]); err = fmax(err, d); mx = fmax(mx, fabs(ref[i])); if (d > 1e-3 * (1 + fabs(ref[i]))) { bad++; if (first < 0) first = i; } }
    printf("LBO=%u SBO=%u: %s, max abs err %.3g (max |ref| %.3g), %d bad", c[0], c[1], cudaGetErrorString(e), err, mx, bad);
    if (first >= 0) printf(", first bad (h=%d,t=%d): got %g want %g", first / 64, first % 64, s[first], ref[first]);
    printf("\n");
  }
}
