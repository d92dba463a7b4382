// jarzyn CUDA kernels. Compiled at run time by NVRTC with --fmad=false (see nvrtc.rs), so no
// multiply-add is fused; the explicit __f*_rn / __d*_rn intrinsics below make the IEEE-rounded
// operations explicit anyway, so the bits do not depend on that flag.
//
// What must match the CPU bit for bit (crates/jarzyn-core/src):
// - philox4x32_10: philox.rs (constants, round structure, counter layout).
// - box_muller / fast_ln / sin_cos_quadrant: normal/poly.rs (same f32 constants, same operation
//   order).
// - the ULA move and the f64 lane sums of lanes.rs: rows of 8 or more are summed in 8 lanes, lane l
//   taking elements l, l+8, ... in order, combined as ((a0+a4)+(a1+a5))+((a2+a6)+(a3+a7)); shorter
//   rows are summed in plain order.
// - the Jarzynski increments of walkers/rows.rs (move_rows / observe_rows), same operation order.
// What does not: the log-weight summary (block tree reduction; agrees with the CPU to round-off).
//
// The source is the files of cuda/kernels/ concatenated in a fixed order (cuda/mod.rs, KERNELS_CU):
// common.cuh, rng.cu, move_observe.cu, summary.cu, resample.cu, gmm.cu. Each file uses only what
// the files before it define.

typedef unsigned int u32;
typedef unsigned long long u64;

// M0, M1, W0, W1 (philox.rs) come from the generated prelude as well.

struct u32x4 { u32 x, y, z, w; };

__device__ __forceinline__ u32x4 philox4x32_10(u32 c0, u32 c1, u32 c2, u32 c3, u32 k0, u32 k1) {
  u32 x0 = c0, x1 = c1, x2 = c2, x3 = c3;
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    if (round > 0) { k0 += W0; k1 += W1; }
    u32 hi0 = __umulhi(M0, x0), lo0 = M0 * x0;
    u32 hi1 = __umulhi(M1, x2), lo1 = M1 * x2;
    u32 y0 = hi1 ^ x1 ^ k0;
    u32 y2 = hi0 ^ x3 ^ k1;
    x0 = y0; x1 = lo1; x2 = y2; x3 = lo0;
  }
  u32x4 r; r.x = x0; r.y = x1; r.z = x2; r.w = x3;
  return r;
}

// The f32 constants of normal/poly.rs (LN2_F, HALF_PI_F, SQRT_HALF_BITS, L3_F ... INV_2_30_F) are
// #defined by a prelude that cuda/mod.rs (kernel_source) generates from the Rust constants' bit
// patterns, so the two sides cannot drift apart.

#define NEG_INF __longlong_as_double(0xFFF0000000000000ll)

__device__ __forceinline__ bool finite_d(double v) {
  return (__double_as_longlong(v) & 0x7FF0000000000000ll) != 0x7FF0000000000000ll;
}

__device__ __forceinline__ float fast_ln(float u) {
  u32 bits = __float_as_uint(u);
  u32 adj = bits - SQRT_HALF_BITS;
  float e = __int2float_rn(((int)adj) >> 23);
  float m = __uint_as_float((adj & 0x007FFFFFu) + SQRT_HALF_BITS);
  float s = __fdiv_rn(__fsub_rn(m, 1.0f), __fadd_rn(m, 1.0f));
  float s2 = __fmul_rn(s, s);
  float p = __fmul_rn(s2, L9_F);
  p = __fmul_rn(s2, __fadd_rn(L7_F, p));
  p = __fmul_rn(s2, __fadd_rn(L5_F, p));
  p = __fmul_rn(s2, __fadd_rn(L3_F, p));
  p = __fadd_rn(1.0f, p);
  return __fadd_rn(__fmul_rn(e, LN2_F), __fmul_rn(__fmul_rn(2.0f, s), p));
}

__device__ __forceinline__ void sin_cos_quadrant(float x, float* s_out, float* c_out) {
  float x2 = __fmul_rn(x, x);
  float s = __fmul_rn(x2, S11_F);
  s = __fmul_rn(x2, __fadd_rn(S9_F, s));
  s = __fmul_rn(x2, __fadd_rn(S7_F, s));
  s = __fmul_rn(x2, __fadd_rn(S5_F, s));
  s = __fmul_rn(x2, __fadd_rn(S3_F, s));
  s = __fmul_rn(x, __fadd_rn(1.0f, s));
  float c = __fmul_rn(x2, C12_F);
  c = __fmul_rn(x2, __fadd_rn(C10_F, c));
  c = __fmul_rn(x2, __fadd_rn(C8_F, c));
  c = __fmul_rn(x2, __fadd_rn(C6_F, c));
  c = __fmul_rn(x2, __fadd_rn(C4_F, c));
  c = __fmul_rn(x2, __fadd_rn(C2_F, c));
  c = __fadd_rn(1.0f, c);
  *s_out = s;
  *c_out = c;
}

__device__ __forceinline__ void box_muller(u32 a, u32 b, float* z0, float* z1) {
  float u = __fadd_rn(__fmul_rn(__uint2float_rn(a), INV_2_32_F), INV_2_33_F);
  float r = __fsqrt_rn(__fmul_rn(-2.0f, fast_ln(u)));
  u32 q = b >> 30;
  float f = __fmul_rn(__fadd_rn(__uint2float_rn(b & 0x3FFFFFFFu), 0.5f), INV_2_30_F);
  float s, c;
  sin_cos_quadrant(__fmul_rn(f, HALF_PI_F), &s, &c);
  bool swap = (q & 1u) == 1u;
  float cq = swap ? s : c;
  float sq = swap ? c : s;
  if (q == 1u || q == 2u) cq = -cq;
  if (q >= 2u) sq = -sq;
  *z0 = __fmul_rn(r, cq);
  *z1 = __fmul_rn(r, sq);
}

// The four normals of block `blk` of walker `walker` (counter (blk, walker, c2, c3)).
__device__ __forceinline__ void normals4(u32 blk, u32 walker, u32 c2, u32 c3, u32 k0, u32 k1, float z[4]) {
  u32x4 r = philox4x32_10(blk, walker, c2, c3, k0, k1);
  box_muller(r.x, r.y, &z[0], &z[1]);
  box_muller(r.z, r.w, &z[2], &z[3]);
}
