// dtypes and the bit-exact scalar conversions every backend shares (SPEC §0).
// The conversions are plain integer/float code usable on host and device, so the CPU reference,
// the CUDA kernels and the HIP build round identically (tests compare against CUDA's intrinsics).
#pragma once
#include <cstdint>
#include <cstring>

#include "core/names.h"

#if defined(__CUDACC__) || defined(__HIPCC__)
#define NSA_HD __host__ __device__ __forceinline__
#else
#define NSA_HD inline
#endif

namespace nsa {

enum class DType : int32_t { Float32, BFloat16, Float8E4M3, Int32, Int64, UInt8 };

// The names tensors carry across the JS boundary (lib/dtype.ts DTYPES, checked at load).
constexpr EnumName<DType> kDTypeNames[] = {
    {"float32", DType::Float32}, {"bfloat16", DType::BFloat16}, {"float8_e4m3fn", DType::Float8E4M3},
    {"int32", DType::Int32},     {"int64", DType::Int64},       {"uint8", DType::UInt8},
};

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::BFloat16: return "bfloat16";
    case DType::Float8E4M3: return "float8_e4m3fn";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::UInt8: return "uint8";
  }
  return "?";
}

inline int64_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: case DType::Int32: return 4;
    case DType::BFloat16: return 2;
    case DType::Float8E4M3: case DType::UInt8: return 1;
    case DType::Int64: return 8;
  }
  return 1;
}

constexpr float kFp8E4M3Max = 448.0f;

NSA_HD uint32_t f32_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  return u;
}
NSA_HD float bits_f32(uint32_t u) {
  float x;
  memcpy(&x, &u, 4);
  return x;
}

// float32 -> bfloat16 bits, round to nearest even; any NaN -> 0x7FFF (what cvt.rn.bf16.f32 gives).
NSA_HD uint16_t f32_to_bf16(float x) {
  uint32_t u = f32_bits(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FFF;
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
NSA_HD float bf16_to_f32(uint16_t b) { return bits_f32(static_cast<uint32_t>(b) << 16); }

// float32 -> OCP e4m3fn bits, round to nearest even, saturating to +-448 (satfinite, infinities too);
// NaN -> 0x7F. Zero and results that round to zero keep the sign.
NSA_HD uint8_t f32_to_fp8_e4m3(float x) {
  const uint32_t u = f32_bits(x);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
  const uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return 0x7F;
  if (a >= 0x43E00000u) return sign | 0x7E;  // |x| >= 448 (inf included)
  if (a < 0x3C800000u) {                     // |x| < 2^-6: subnormal grid of 2^-9
    // Exact: |x|*512 < 8 needs no more than 24 significant bits. Round half to even by hand.
    const float scaled = bits_f32(a) * 512.0f;
    uint32_t m = static_cast<uint32_t>(scaled);
    const float frac = scaled - static_cast<float>(m);
    if (frac > 0.5f || (frac == 0.5f && (m & 1u))) ++m;
    return sign | static_cast<uint8_t>(m);  // m == 8 is the smallest normal, encoded 0x08
  }
  // Normal: keep 3 mantissa bits, round half to even at bit 20, then rebias 127 -> 7.
  const uint32_t r = (a + 0x7FFFFu + ((a >> 20) & 1u)) >> 20;
  const uint32_t code = r - ((127u - 7u) << 3);
  return sign | static_cast<uint8_t>(code > 0x7Eu ? 0x7Eu : code);
}

NSA_HD float fp8_e4m3_to_f32(uint8_t v) {
  const uint32_t sign = static_cast<uint32_t>(v & 0x80u) << 24;
  const uint32_t e = (v >> 3) & 0xFu, m = v & 7u;
  if (e == 0xF && m == 7) return bits_f32(0x7FC00000u | sign);
  if (e == 0) return bits_f32(sign) + (sign ? -1.0f : 1.0f) * static_cast<float>(m) * (1.0f / 512.0f);
  return bits_f32(sign | ((e + 120u) << 23) | (m << 20));
}

}  // namespace nsa
