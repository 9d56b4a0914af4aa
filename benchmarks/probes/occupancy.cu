// Occupancy probe (session 16): registers per thread vs CTA size -> CTAs per SM and whether a launch fits. Standalone:
// nvcc -arch=sm_90a -O3 -o occ benchmarks/probes/occupancy.cu && ./occ   (results: results/h100-session16-occupancy.txt)
#include <cstdio>
#include <cuda_runtime.h>
template <int T, int R>
__global__ void __launch_bounds__(T) __maxnreg__(R) burn(float* o, int n) {
  float v[R];
#pragma unroll
  for (int i = 0; i < R; ++i) v[i] = o[i * T + threadIdx.x];
  for (int j = 0; j < n; ++j)
#pragma unroll
    for (int i = 0; i < R; ++i) v[i] = v[i] * v[(i + 1) % R] + 1.f;
#pragma unroll
  for (int i = 0; i < R; ++i) o[i * T + threadIdx.x] = v[i];
}
template <int T, int R>
void probe(float* buf) {
  cudaFuncAttributes a{};
  cudaFuncGetAttributes(&a, burn<T, R>);
  int occ = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, burn<T, R>, T, 0);
  burn<T, R><<<1, T>>>(buf, 1);
  cudaError_t e = cudaDeviceSynchronize();
  cudaGetLastError();
  printf("threads %4d maxnreg %3d: numRegs %3d localBytes %4zu  CTAs/SM %d  launch %s\n", T, R, a.numRegs, a.localSizeBytes, occ, cudaGetErrorString(e));
}
template <int T>
void row(float* buf) { probe<T, 80>(buf); probe<T, 88>(buf); probe<T, 96>(buf); probe<T, 104>(buf); probe<T, 112>(buf); probe<T, 120>(buf); }
int main() {
  float* buf;
  cudaMalloc(&buf, 1 << 22);
  row<160>(buf); row<288>(buf); row<544>(buf); row<640>(buf);
  return 0;
}
