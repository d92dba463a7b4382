// jarzyn CUDA kernels. Compiled at run time by NVRTC with --fmad=false (see nvrtc.rs), so no
// multiply-add is fused; the explicit __f*_rn / __d*_rn intrinsics below make the IEEE-rounded
// operations explicit anyway, so the bits do not depend on that flag.
//
// What must match the CPU bit for bit (crates/jarzyn-core/src):
// - philox4x32_10: philox.rs (constants, round structure, counter layout).
// - box_muller / fast_ln / sin_cos_quadrant: normal.rs (same f32 constants, same operation order).
// - the ULA move and the f64 lane sums of lanes.rs: rows of 8 or more are summed in 8 lanes, lane l
//   taking elements l, l+8, ... in order, combined as ((a0+a4)+(a1+a5))+((a2+a6)+(a3+a7)); shorter
//   rows are summed in plain order.
// - the Jarzynski increments of sampler.rs (move_rows / observe_rows), same operation order.
// What does not: the log-weight summary (block tree reduction; agrees with the CPU to round-off).

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

// The f32 constants of normal.rs (LN2_F, HALF_PI_F, SQRT_HALF_BITS, L3_F ... INV_2_30_F) are
// #defined by a prelude that cuda/nvrtc.rs generates from the Rust constants' bit patterns, so
// the two sides cannot drift apart.

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

// ---------------------------------------------------------------------------------------------
// Test kernels: raw Philox blocks and Box-Muller pairs, to compare with the CPU.

extern "C" __global__ void jz_philox(const u32* __restrict__ ctr, u32 k0, u32 k1, u32 n, u32* __restrict__ out) {
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  u32x4 r = philox4x32_10(ctr[4 * i], ctr[4 * i + 1], ctr[4 * i + 2], ctr[4 * i + 3], k0, k1);
  out[4 * i] = r.x; out[4 * i + 1] = r.y; out[4 * i + 2] = r.z; out[4 * i + 3] = r.w;
}

extern "C" __global__ void jz_box_muller(const u32* __restrict__ ab, u32 n, float* __restrict__ out) {
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  box_muller(ab[2 * i], ab[2 * i + 1], &out[2 * i], &out[2 * i + 1]);
}

// Compact normals of walkers walker0 .. walker0 + n (normal.rs fill_normals): one thread per
// (walker, block).
extern "C" __global__ void jz_normals(u32 k0, u32 k1, u32 c2, u32 c3, u32 walker0, u32 n, u32 dim,
                                      float* __restrict__ out) {
  u32 bpw = (dim + 3u) / 4u;
  u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= (u64)n * bpw) return;
  u32 w = (u32)(t / bpw), b = (u32)(t % bpw);
  float z[4];
  normals4(b, walker0 + w, c2, c3, k0, k1, z);
  u32 c0 = 4u * b;
  u32 cn = min(4u, dim - c0);
  for (u32 j = 0; j < cn; ++j) out[(u64)w * dim + c0 + j] = z[j];
}

// ---------------------------------------------------------------------------------------------
// Lane sums (lanes.rs): element j goes to lane j % 8, in increasing j, which is what the CPU's
// chunked loop plus remainder does; rows shorter than 8 use one plain accumulator.

__device__ __forceinline__ double combine8(const double a[8]) {
  return __dadd_rn(__dadd_rn(__dadd_rn(a[0], a[4]), __dadd_rn(a[1], a[5])),
                   __dadd_rn(__dadd_rn(a[2], a[6]), __dadd_rn(a[3], a[7])));
}

// One thread per walker. The move (sampler.rs move_rows), noise generated on the fly.
// weighted: also store old positions in xp and alpha_k(X_k, X_{k+1}) in fwd.
extern "C" __global__ void jz_move(u32 k0, u32 k1, u32 c2, u32 c3, u32 n, u32 dim, float hf, float sf,
                                   double quarter_h, int weighted, float* __restrict__ x,
                                   float* __restrict__ xp, const float* __restrict__ g,
                                   const float* __restrict__ e, const double* __restrict__ a,
                                   double* __restrict__ fwd) {
  u32 w = blockIdx.x * blockDim.x + threadIdx.x;
  if (w >= n) return;
  u64 base = (u64)w * dim;
  bool dead = a[w] == NEG_INF;
  if (!weighted) {
    if (dead) return;
  } else if (dead) {
    for (u32 j = 0; j < dim; ++j) xp[base + j] = x[base + j];
    fwd[w] = 0.0;
    return;
  }
  double dot[8], sq[8];
#pragma unroll
  for (int l = 0; l < 8; ++l) { dot[l] = 0.0; sq[l] = 0.0; }
  bool lanes = dim >= 8u;
  float z[4];
  for (u32 j = 0; j < dim; ++j) {
    if ((j & 3u) == 0u) normals4(j >> 2, w, c2, c3, k0, k1, z);
    float old = x[base + j];
    float gv = g[base + j];
    // (old - hf g) + sf z, as the CPU.
    float nw = __fadd_rn(__fsub_rn(old, __fmul_rn(hf, gv)), __fmul_rn(sf, z[j & 3u]));
    x[base + j] = nw;
    if (weighted) {
      xp[base + j] = old;
      double gd = (double)gv;
      int l = lanes ? (int)(j & 7u) : 0;
      dot[l] = __dadd_rn(dot[l], __dmul_rn(__dsub_rn((double)nw, (double)old), gd));
      sq[l] = __dadd_rn(sq[l], __dmul_rn(gd, gd));
    }
  }
  if (weighted) {
    double d = lanes ? combine8(dot) : dot[0];
    double s = lanes ? combine8(sq) : sq[0];
    fwd[w] = __dadd_rn(__dadd_rn((double)e[w], __dmul_rn(0.5, d)), __dmul_rn(quarter_h, s));
  }
}

// The weight update of an observation (sampler.rs observe_rows). phase: 0 fresh, 1 moved,
// 2 observed (AIS increment). moved_weighted: xp holds the pre-move positions.
// counts[0] += newly invalid, counts[1] += invalid. Afterwards fwd = U (weighted samplers).
extern "C" __global__ void jz_observe(u32 n, u32 dim, double quarter_h, int weighted, int phase,
                                      const float* __restrict__ x, const float* __restrict__ xp,
                                      double* __restrict__ fwd, double* __restrict__ a,
                                      const float* __restrict__ e, const float* __restrict__ g,
                                      u32* __restrict__ counts) {
  u32 w = blockIdx.x * blockDim.x + threadIdx.x;
  if (w >= n) return;
  u64 base = (u64)w * dim;
  double u_new = (double)e[w];
  double fw = weighted ? fwd[w] : 0.0;
  if (weighted) fwd[w] = u_new;
  if (a[w] == NEG_INF) {
    atomicAdd(&counts[1], 1u);
    return;
  }
  bool with_dot = weighted && phase == 1;
  double dot[8], sq[8];
#pragma unroll
  for (int l = 0; l < 8; ++l) { dot[l] = 0.0; sq[l] = 0.0; }
  bool lanes = dim >= 8u;
  for (u32 j = 0; j < dim; ++j) {
    double gd = (double)g[base + j];
    int l = lanes ? (int)(j & 7u) : 0;
    if (with_dot) dot[l] = __dadd_rn(dot[l], __dmul_rn(__dsub_rn((double)x[base + j], (double)xp[base + j]), gd));
    sq[l] = __dadd_rn(sq[l], __dmul_rn(gd, gd));
  }
  double d = lanes ? combine8(dot) : dot[0];
  double g2 = lanes ? combine8(sq) : sq[0];
  double next = a[w];
  if (weighted) {
    if (phase == 1) {
      next = __dadd_rn(next, __dsub_rn(fw, __dadd_rn(__dsub_rn(u_new, __dmul_rn(0.5, d)), __dmul_rn(quarter_h, g2))));
    } else if (phase == 2) {
      next = __dadd_rn(next, __dsub_rn(fw, u_new));
    }
  }
  if (!finite_d(u_new) || !finite_d(g2) || !finite_d(next)) {
    a[w] = NEG_INF;
    atomicAdd(&counts[0], 1u);
    atomicAdd(&counts[1], 1u);
  } else {
    a[w] = next;
  }
}

// ---------------------------------------------------------------------------------------------
// Log-weight summary: block b covers walkers [b * chunk, (b+1) * chunk). Thread t reads elements
// t, t + blockDim, ... of the chunk; the block combines by a fixed shared-memory tree. Each block
// writes (max, sum exp(A - max), sum exp(2 (A - max)), zeros) relative to its own maximum; the
// host combines the blocks in order as weights.rs does. Deterministic, but the summation order
// differs from the CPU's, so the result agrees with the CPU to round-off, not bit for bit.
// blockDim must be SUMMARY_THREADS.
#define SUMMARY_THREADS 256

extern "C" __global__ void jz_summary(const double* __restrict__ a, u32 n, u32 chunk,
                                      double* __restrict__ part_max, double* __restrict__ part_s,
                                      double* __restrict__ part_s2, u32* __restrict__ part_zero) {
  __shared__ double sh[SUMMARY_THREADS];
  __shared__ double sh2[SUMMARY_THREADS];
  __shared__ u32 shz[SUMMARY_THREADS];
  u32 t = threadIdx.x;
  u64 lo = (u64)blockIdx.x * chunk;
  u64 hi = min((u64)n, lo + chunk);
  double m = NEG_INF;
  for (u64 i = lo + t; i < hi; i += SUMMARY_THREADS) { double v = a[i]; m = v > m ? v : m; }
  sh[t] = m;
  __syncthreads();
  for (u32 s = SUMMARY_THREADS / 2; s > 0; s >>= 1) {
    if (t < s) { double o = sh[t + s]; if (o > sh[t]) sh[t] = o; }
    __syncthreads();
  }
  double bm = sh[0];
  __syncthreads();
  double s1 = 0.0, s2 = 0.0;
  u32 z = 0;
  for (u64 i = lo + t; i < hi; i += SUMMARY_THREADS) {
    double v = a[i];
    if (v == NEG_INF) {
      z += 1;
    } else {
      double ww = exp(__dsub_rn(v, bm));
      s1 = __dadd_rn(s1, ww);
      s2 = __dadd_rn(s2, __dmul_rn(ww, ww));
    }
  }
  sh[t] = s1; sh2[t] = s2; shz[t] = z;
  __syncthreads();
  for (u32 s = SUMMARY_THREADS / 2; s > 0; s >>= 1) {
    if (t < s) {
      sh[t] = __dadd_rn(sh[t], sh[t + s]);
      sh2[t] = __dadd_rn(sh2[t], sh2[t + s]);
      shz[t] += shz[t + s];
    }
    __syncthreads();
  }
  if (t == 0) {
    part_max[blockIdx.x] = bm;
    part_s[blockIdx.x] = sh[0];
    part_s2[blockIdx.x] = sh2[0];
    part_zero[blockIdx.x] = shz[0];
  }
}

// ---------------------------------------------------------------------------------------------
// Resampling gathers: dst[i, :] = src[anc[i], :] (rows of `width` elements).

extern "C" __global__ void jz_gather_f32(const float* __restrict__ src, const u32* __restrict__ anc, u32 n,
                                         u32 width, float* __restrict__ dst) {
  u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= (u64)n * width) return;
  u32 i = (u32)(t / width), j = (u32)(t % width);
  dst[t] = src[(u64)anc[i] * width + j];
}

extern "C" __global__ void jz_gather_f64(const double* __restrict__ src, const u32* __restrict__ anc, u32 n,
                                         double* __restrict__ dst) {
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  dst[i] = src[anc[i]];
}

extern "C" __global__ void jz_fill_f64(double* __restrict__ dst, u32 n, double v) {
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = v;
}
