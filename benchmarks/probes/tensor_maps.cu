// Which tensor maps cuTensorMapEncodeTiled takes for the ragged logits operands (session 16: rank-1 float maps are refused,
// CUDA_ERROR_INVALID_VALUE; a 2-D map of one row works). Standalone: nvcc -arch=sm_90a -o tmap benchmarks/probes/tensor_maps.cu
#include <cstdio>
#include <cuda.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>
static PFN_cuTensorMapEncodeTiled_v12000 encode_fn;
static CUresult enc(const char* name, CUtensorMapDataType t, int rank, void* base, const cuuint64_t* dims, const cuuint64_t* strides, const cuuint32_t* box) {
  CUtensorMap m;
  const cuuint32_t ones[3] = {1, 1, 1};
  CUresult r = encode_fn(&m, t, rank, base, dims, strides, box, ones, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                                      CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  printf("%-28s rank %d -> %d\n", name, rank, (int)r);
  return r;
}
int main() {
  cudaFree(0);
  void* f = nullptr; cudaDriverEntryPointQueryResult q;
  cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q);
  encode_fn = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(f);
  void* buf;
  cudaMalloc(&buf, 64 << 20);
  for (int kv : {1, 37, 64, 100, 4096}) {
    printf("num_kv %d\n", kv);
    const cuuint64_t D = 128, K = kv;
    const cuuint64_t kd[2] = {D, K}, ks[1] = {D}, sd[1] = {K};
    const cuuint32_t kb[2] = {128, 64}, sb[1] = {64};
    enc("k 2-D", CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, buf, kd, ks, kb);
    enc("scale 1-D", CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 1, buf, sd, nullptr, sb);
    const cuuint64_t sd2[2] = {K, 1}, ss2[1] = {(K * 4 + 15) / 16 * 16};
    const cuuint32_t sb2[2] = {64, 1};
    enc("scale 2-D {kv,1}", CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, buf, sd2, ss2, sb2);
    const cuuint32_t sb3[1] = {16};
    enc("scale 1-D box 16", CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 1, buf, sd, nullptr, sb3);
  }
  for (int H : {32, 64}) for (int S : {1, 5, 300}) {
    printf("H %d S %d\n", H, S);
    const cuuint64_t qd[2] = {128, (cuuint64_t)S * H}, qs[1] = {128}, wd[2] = {(cuuint64_t)H, (cuuint64_t)S}, ws[1] = {(cuuint64_t)H * 4};
    const cuuint32_t qb[2] = {128, (cuuint32_t)(4 * H)}, wb[2] = {(cuuint32_t)H, 4};
    enc("q", CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, buf, qd, qs, qb);
    enc("w", CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, buf, wd, ws, wb);
  }
  return 0;
}
