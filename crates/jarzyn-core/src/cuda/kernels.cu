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

// One thread per walker (rows longer than TILE_ELEMS; see jz_move for the usual case). The move
// (sampler.rs move_rows), noise generated on the fly.
// weighted: also store old positions in xp and alpha_k(X_k, X_{k+1}) in fwd.
extern "C" __global__ void jz_move_rows(u32 k0, u32 k1, u32 c2, u32 c3, u32 n, u32 dim, float hf, float sf,
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

// The weight update of one live walker (sampler.rs observe_rows): A += forward term - (U_new -
// dot / 2 + h/4 |g|^2) after a move (phase 1), A += U_old - U_new on a re-observation (phase 2);
// a non-finite energy, gradient or weight makes the walker invalid (A = -inf, counted).
__device__ __forceinline__ void update_log_weight(u32 w, double u_new, double fw, double d, double g2, double quarter_h,
                                                  int weighted, int phase, double* __restrict__ a,
                                                  u32* __restrict__ counts) {
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

// One thread per walker (rows longer than TILE_ELEMS; see jz_observe for the usual case).
// The weight update of an observation (sampler.rs observe_rows). phase: 0 fresh, 1 moved,
// 2 observed (AIS increment). moved_weighted: xp holds the pre-move positions.
// counts[0] += newly invalid, counts[1] += invalid. Afterwards fwd = U (weighted samplers).
extern "C" __global__ void jz_observe_rows(u32 n, u32 dim, double quarter_h, int weighted, int phase,
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
  update_log_weight(w, u_new, fw, d, g2, quarter_h, weighted, phase, a, counts);
}

// ---------------------------------------------------------------------------------------------
// Tiled move and observation: one block per tile of `wpt` whole walkers (wpt * dim <= TILE_ELEMS),
// whose rows are contiguous in memory. Thread q handles the q-th group of four elements of the
// tile, so a warp reads and writes one contiguous stretch (coalesced) and one Philox block gives
// exactly that group's four normals. The f64 terms of the Jarzynski sums go to shared memory;
// then eight threads per walker add them up in the CPU's lane order (lane l: elements l, l+8,
// ... in order), each writing its lane's total over element l of the walker's row (only lane l
// ever reads that slot, and it has by then), and one thread per walker combines the lanes.
// blockDim must be TILE_THREADS.
#define TILE_ELEMS 2048
#define TILE_THREADS 256

// Lane sums of walker wl's row in sh (dim >= 8): run by threads (wl, l); results over sh[row + l].
__device__ __forceinline__ void tile_lane_sums(double* sh_a, double* sh_b, u32 nwalk, u32 dim) {
  for (u32 t = threadIdx.x; t < nwalk * 8u; t += blockDim.x) {
    u32 wl = t >> 3, l = t & 7u;
    u32 row = wl * dim;
    double sa = 0.0, sb = 0.0;
    for (u32 j = l; j < dim; j += 8u) {
      sa = __dadd_rn(sa, sh_a[row + j]);
      sb = __dadd_rn(sb, sh_b[row + j]);
    }
    sh_a[row + l] = sa;
    sh_b[row + l] = sb;
  }
}

// Walker wl's two sums after tile_lane_sums (dim >= 8) or in plain order (dim < 8).
__device__ __forceinline__ void tile_walker_sums(const double* sh_a, const double* sh_b, u32 wl, u32 dim,
                                                 double* a_out, double* b_out) {
  u32 row = wl * dim;
  if (dim >= 8u) {
    double la[8], lb[8];
#pragma unroll
    for (int l = 0; l < 8; ++l) { la[l] = sh_a[row + l]; lb[l] = sh_b[row + l]; }
    *a_out = combine8(la);
    *b_out = combine8(lb);
  } else {
    double sa = 0.0, sb = 0.0;
    for (u32 j = 0; j < dim; ++j) { sa = __dadd_rn(sa, sh_a[row + j]); sb = __dadd_rn(sb, sh_b[row + j]); }
    *a_out = sa;
    *b_out = sb;
  }
}

extern "C" __global__ void jz_move(u32 k0, u32 k1, u32 c2, u32 c3, u32 n, u32 dim, u32 wpt, float hf, float sf,
                                   double quarter_h, int weighted, float* __restrict__ x,
                                   float* __restrict__ xp, const float* __restrict__ g,
                                   const float* __restrict__ e, const double* __restrict__ a,
                                   double* __restrict__ fwd) {
  __shared__ double sh_dot[TILE_ELEMS];
  __shared__ double sh_sq[TILE_ELEMS];
  u32 w0 = blockIdx.x * wpt;
  u32 nwalk = min(wpt, n - w0);
  u32 bpw = (dim + 3u) / 4u;
  for (u32 q = threadIdx.x; q < nwalk * bpw; q += blockDim.x) {
    u32 wl = q / bpw, b = q % bpw;
    u32 w = w0 + wl;
    u32 c0 = 4u * b;
    u32 cn = min(4u, dim - c0);
    u64 base = (u64)w * dim + c0;
    if (a[w] == NEG_INF) {
      if (weighted) for (u32 j = 0; j < cn; ++j) xp[base + j] = x[base + j];
      continue;
    }
    float z[4];
    normals4(b, w, c2, c3, k0, k1, z);
    for (u32 j = 0; j < cn; ++j) {
      float old = x[base + j];
      float gv = g[base + j];
      // (old - hf g) + sf z, as the CPU.
      float nv = __fadd_rn(__fsub_rn(old, __fmul_rn(hf, gv)), __fmul_rn(sf, z[j]));
      x[base + j] = nv;
      if (weighted) {
        xp[base + j] = old;
        double gd = (double)gv;
        sh_dot[wl * dim + c0 + j] = __dmul_rn(__dsub_rn((double)nv, (double)old), gd);
        sh_sq[wl * dim + c0 + j] = __dmul_rn(gd, gd);
      }
    }
  }
  if (!weighted) return;
  __syncthreads();
  if (dim >= 8u) {
    tile_lane_sums(sh_dot, sh_sq, nwalk, dim);
    __syncthreads();
  }
  for (u32 wl = threadIdx.x; wl < nwalk; wl += blockDim.x) {
    u32 w = w0 + wl;
    if (a[w] == NEG_INF) {
      fwd[w] = 0.0;
      continue;
    }
    double d, s;
    tile_walker_sums(sh_dot, sh_sq, wl, dim, &d, &s);
    fwd[w] = __dadd_rn(__dadd_rn((double)e[w], __dmul_rn(0.5, d)), __dmul_rn(quarter_h, s));
  }
}

// The tiled twin of jz_observe_rows (same arguments plus wpt; same results bit for bit).
extern "C" __global__ void jz_observe(u32 n, u32 dim, u32 wpt, double quarter_h, int weighted, int phase,
                                      const float* __restrict__ x, const float* __restrict__ xp,
                                      double* __restrict__ fwd, double* __restrict__ a,
                                      const float* __restrict__ e, const float* __restrict__ g,
                                      u32* __restrict__ counts) {
  __shared__ double sh_dot[TILE_ELEMS];
  __shared__ double sh_sq[TILE_ELEMS];
  u32 w0 = blockIdx.x * wpt;
  u32 nwalk = min(wpt, n - w0);
  bool with_dot = weighted && phase == 1;
  u32 bpw = (dim + 3u) / 4u;
  for (u32 q = threadIdx.x; q < nwalk * bpw; q += blockDim.x) {
    u32 wl = q / bpw, b = q % bpw;
    u32 c0 = 4u * b;
    u32 cn = min(4u, dim - c0);
    u64 base = (u64)(w0 + wl) * dim + c0;
    for (u32 j = 0; j < cn; ++j) {
      double gd = (double)g[base + j];
      sh_dot[wl * dim + c0 + j] = with_dot ? __dmul_rn(__dsub_rn((double)x[base + j], (double)xp[base + j]), gd) : 0.0;
      sh_sq[wl * dim + c0 + j] = __dmul_rn(gd, gd);
    }
  }
  __syncthreads();
  if (dim >= 8u) {
    tile_lane_sums(sh_dot, sh_sq, nwalk, dim);
    __syncthreads();
  }
  for (u32 wl = threadIdx.x; wl < nwalk; wl += blockDim.x) {
    u32 w = w0 + wl;
    double u_new = (double)e[w];
    double fw = weighted ? fwd[w] : 0.0;
    if (weighted) fwd[w] = u_new;
    if (a[w] == NEG_INF) {
      atomicAdd(&counts[1], 1u);
      continue;
    }
    double d, g2;
    tile_walker_sums(sh_dot, sh_sq, wl, dim, &d, &g2);
    update_log_weight(w, u_new, fw, d, g2, quarter_h, weighted, phase, a, counts);
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
  // Non-finite log-weights (-inf, and NaN or +inf written through a view) are zero weight, as
  // weights.rs zero_weight: they neither set the maximum nor add to the sums.
  for (u64 i = lo + t; i < hi; i += SUMMARY_THREADS) { double v = a[i]; m = (finite_d(v) && v > m) ? v : m; }
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
    if (!finite_d(v)) {
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

// ---------------------------------------------------------------------------------------------
// Resampling on the device. The normalised weights are w_i = exp(A_i - max) (the host knows max
// from the summary), their inclusive prefix sums come from a deterministic three-kernel scan, and
// every offspring slot finds its ancestor by binary search, as resample.rs's inverse_cdf defines
// it: the first index whose cumulative weight is strictly above the slot's target, never past the
// last walker with positive weight. The scan's association differs from the CPU's running sum, so
// ancestors agree with the CPU's except where a target falls within round-off of a boundary;
// offspring counts are unbiased either way (tests check both).

extern "C" __global__ void jz_exp_shift(const double* __restrict__ a, u32 n, double max, double* __restrict__ w) {
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  double v = a[i];
  w[i] = !finite_d(v) ? 0.0 : exp(__dsub_rn(v, max));
}

// Largest i with w[i] > 0, as atomicMax(out, i + 1) (out starts at 0; 0 means none).
extern "C" __global__ void jz_last_positive(const double* __restrict__ w, u32 n, u32* __restrict__ out) {
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (w[i] > 0.0) atomicMax(out, i + 1u);
}

// In-place inclusive Hillis-Steele scan of tot[0 .. nthreads) by the block's nthreads threads
// (thread t owns tot[t]); a fixed order, so the same bits on every run. Ends after a barrier.
__device__ __forceinline__ void block_inclusive_scan(double* tot, u32 t, u32 nthreads) {
  for (u32 off = 1; off < nthreads; off <<= 1) {
    double v = t >= off ? tot[t - off] : 0.0;
    __syncthreads();
    if (t >= off) tot[t] = __dadd_rn(tot[t], v);
    __syncthreads();
  }
}

// Scan, step 1: each block scans a tile of SCAN_TILE elements (SCAN_ITEMS consecutive ones per
// thread, then a Hillis-Steele scan of the thread totals) and writes its total. `in` null means
// in place (in = out: safe, as each block reads its whole tile before writing it). blockDim must
// be SCAN_THREADS.
#define SCAN_THREADS 256
#define SCAN_ITEMS 8
#define SCAN_TILE 2048

extern "C" __global__ void jz_scan_tile(const double* in, u32 n, double* out, double* __restrict__ tile_sums) {
  const double* src = in != 0 ? in : out;
  __shared__ double tile[SCAN_TILE];
  __shared__ double tot[SCAN_THREADS];
  u32 t = threadIdx.x;
  u64 base = (u64)blockIdx.x * SCAN_TILE;
  for (u32 k = t; k < SCAN_TILE; k += SCAN_THREADS) {
    u64 i = base + k;
    tile[k] = i < n ? src[i] : 0.0;
  }
  __syncthreads();
  double s = 0.0;
  for (u32 k = 0; k < SCAN_ITEMS; ++k) {
    s = __dadd_rn(s, tile[t * SCAN_ITEMS + k]);
    tile[t * SCAN_ITEMS + k] = s;
  }
  tot[t] = s;
  __syncthreads();
  block_inclusive_scan(tot, t, SCAN_THREADS);
  double prefix = t > 0 ? tot[t - 1] : 0.0;
  for (u32 k = 0; k < SCAN_ITEMS; ++k) tile[t * SCAN_ITEMS + k] = __dadd_rn(prefix, tile[t * SCAN_ITEMS + k]);
  __syncthreads();
  for (u32 k = t; k < SCAN_TILE; k += SCAN_THREADS) {
    u64 i = base + k;
    if (i < n) out[i] = tile[k];
  }
  if (t == SCAN_THREADS - 1) tile_sums[blockIdx.x] = tot[t];
}

// Scan, step 2: one block of SCAN_SUM_THREADS threads turns the tile totals into inclusive
// prefixes in place (each thread a consecutive segment, then a Hillis-Steele scan of segments).
#define SCAN_SUM_THREADS 1024

extern "C" __global__ void jz_scan_sums(double* __restrict__ sums, u32 m) {
  __shared__ double tot[SCAN_SUM_THREADS];
  u32 t = threadIdx.x;
  u32 seg = (m + SCAN_SUM_THREADS - 1) / SCAN_SUM_THREADS;
  u32 lo = min(m, t * seg), hi = min(m, lo + seg);
  double s = 0.0;
  for (u32 i = lo; i < hi; ++i) s = __dadd_rn(s, sums[i]);
  tot[t] = s;
  __syncthreads();
  block_inclusive_scan(tot, t, SCAN_SUM_THREADS);
  double run = t > 0 ? tot[t - 1] : 0.0;
  for (u32 i = lo; i < hi; ++i) {
    run = __dadd_rn(run, sums[i]);
    sums[i] = run;
  }
}

// Scan, step 3: add the prefix of the tiles before each element's tile.
extern "C" __global__ void jz_scan_add(double* __restrict__ out, u32 n, const double* __restrict__ sums) {
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n || i < SCAN_TILE) return;
  out[i] = __dadd_rn(sums[i / SCAN_TILE - 1], out[i]);
}

// resample.rs Uniforms::get(i): 53-bit uniform in [0, 1) from counter (i / 2, 0, c2, c3).
__device__ __forceinline__ double uniform53(u64 i, u32 c2, u32 c3, u32 k0, u32 k1) {
  u64 b = i >> 1;
  u32x4 r = philox4x32_10((u32)b, (u32)(b >> 32), c2, c3, k0, k1);
  u32 hi = (i & 1) ? r.z : r.x;
  u32 lo = (i & 1) ? r.w : r.y;
  u64 bits = ((u64)hi << 21) ^ ((u64)lo >> 11);
  return __dmul_rn(__ull2double_rn(bits), 1.0 / 9007199254740992.0);
}

// Exp(1) variates E_i = -ln(1 - U_i), i < m (resample.rs sorted_uniforms).
extern "C" __global__ void jz_exponentials(u32 m, u32 c2, u32 c3, u32 k0, u32 k1, double* __restrict__ out) {
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= m) return;
  out[i] = -log(__dsub_rn(1.0, uniform53(i, c2, c3, k0, k1)));
}

// First index in [0, last] whose cum is strictly above target; `last` when none is. A zero-weight
// pick (possible only where round-off of the parallel scan made cum dip by an ulp) moves to the
// nearest earlier walker with positive weight, else the nearest later one.
__device__ __forceinline__ u32 search_cum(const double* __restrict__ cum, const double* __restrict__ w, u32 last,
                                          double target) {
  u32 lo = 0, hi = last;
  while (lo < hi) {
    u32 mid = lo + (hi - lo) / 2u;
    if (cum[mid] > target) hi = mid; else lo = mid + 1u;
  }
  if (w != 0 && !(w[lo] > 0.0)) {
    u32 j = lo;
    while (j > 0 && !(w[j] > 0.0)) --j;
    if (!(w[j] > 0.0)) { j = lo; while (j < last && !(w[j] > 0.0)) ++j; }
    lo = j;
  }
  return lo;
}

// Ancestors of m offspring slots by inverse CDF over cum[0 .. n) (total = cum[n-1]), restricted
// to [0, last_pos[0] - 1]. mode 0 multinomial: target u_s = ecum[s] / ecum[m] (sorted uniforms from
// exponential spacings); 1 systematic: u_s = (s + u0) / m; 2 stratified: u_s = (s + U_s) / m;
// 3 integer expansion: cum holds offspring counts' prefix sums and the target is s itself.
extern "C" __global__ void jz_search(const double* __restrict__ cum, const double* __restrict__ w, u32 n,
                                     const u32* __restrict__ last_pos, u32 mode, u32 m, double u0,
                                     const double* __restrict__ ecum, u32 c2, u32 c3, u32 k0, u32 k1,
                                     u32* __restrict__ anc) {
  u32 s = blockIdx.x * blockDim.x + threadIdx.x;
  if (s >= m) return;
  u32 last = last_pos != 0 ? last_pos[0] - 1u : n - 1u;
  double total = cum[n - 1];
  double u;
  if (mode == 0) {
    u = __ddiv_rn(ecum[s], ecum[m]);
  } else if (mode == 1) {
    u = __ddiv_rn(__dadd_rn((double)s, u0), (double)m);
  } else if (mode == 2) {
    u = __ddiv_rn(__dadd_rn((double)s, uniform53(s, c2, c3, k0, k1)), (double)m);
  } else {
    anc[s] = search_cum(cum, 0, n - 1u, (double)s);
    return;
  }
  anc[s] = search_cum(cum, w, last, __dmul_rn(u, total));
}

// Residual resampling, step 1: copies c_i = floor(m w_i / total) and residuals m w_i / total - c_i.
extern "C" __global__ void jz_residual_split(const double* __restrict__ w, const double* __restrict__ cum, u32 n,
                                             u32 m, double* __restrict__ copies, double* __restrict__ resid) {
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  double ex = __ddiv_rn(__dmul_rn((double)m, w[i]), cum[n - 1]);
  double c = floor(ex);
  copies[i] = c;
  double r = __dsub_rn(ex, c);
  resid[i] = r > 0.0 ? r : 0.0;
}

// Residual resampling, step 2: add the extra draws to the copies (counts[anc[s]] += 1).
extern "C" __global__ void jz_add_draws(const u32* __restrict__ anc, u32 m, double* __restrict__ counts) {
  u32 s = blockIdx.x * blockDim.x + threadIdx.x;
  if (s >= m) return;
  atomicAdd(&counts[anc[s]], 1.0);
}

// ---------------------------------------------------------------------------------------------
// Gaussian-mixture energy (gmm.rs): U(x) = -log sum_i exp(-|x - a_i|^2 / (2 s_i^2) - z_i).
// Per-point work as on the CPU (squared distances in f32, log-terms and softmax in f64, gradient
// in f32); exp and log are CUDA's, so results agree with the CPU to float round-off, not bits.
// One thread per walker. gamma (N x K) receives the responsibilities; sq (N x K) the squared
// distances and u (N) the f64 energies when not null (for the parameter gradients).

extern "C" __global__ void jz_gmm_eval(u32 n, u32 dim, u32 kc, const float* __restrict__ means,
                                       const double* __restrict__ half_inv_var, const double* __restrict__ zs,
                                       const float* __restrict__ inv_var, const float* __restrict__ x,
                                       float* __restrict__ e, float* __restrict__ g, double* __restrict__ gamma,
                                       double* __restrict__ sq, double* __restrict__ u) {
  u32 w = blockIdx.x * blockDim.x + threadIdx.x;
  if (w >= n) return;
  const float* row = x + (u64)w * dim;
  double* gm = gamma + (u64)w * kc;
  double m = NEG_INF;
  for (u32 i = 0; i < kc; ++i) {
    const float* am = means + (u64)i * dim;
    float s2 = 0.0f;
    for (u32 j = 0; j < dim; ++j) {
      float dv = __fsub_rn(row[j], am[j]);
      s2 = __fadd_rn(s2, __fmul_rn(dv, dv));
    }
    if (sq != 0) sq[(u64)w * kc + i] = (double)s2;
    double r = __dsub_rn(-__dmul_rn((double)s2, half_inv_var[i]), zs[i]);
    gm[i] = r;
    m = r > m ? r : m;
  }
  double uu;
  if (!finite_d(m)) {
    for (u32 i = 0; i < kc; ++i) gm[i] = __longlong_as_double(0x7FF8000000000000ll);
    uu = __longlong_as_double(0x7FF8000000000000ll);
  } else {
    double s = 0.0;
    for (u32 i = 0; i < kc; ++i) {
      double v = gm[i] == m ? 1.0 : exp(__dsub_rn(gm[i], m));
      gm[i] = v;
      s = __dadd_rn(s, v);
    }
    double inv = __ddiv_rn(1.0, s);
    for (u32 i = 0; i < kc; ++i) gm[i] = __dmul_rn(gm[i], inv);
    uu = -__dadd_rn(m, log(s));
  }
  if (e != 0) e[w] = (float)uu;
  if (u != 0) u[w] = uu;
  if (g != 0) {
    float* gr = g + (u64)w * dim;
    for (u32 j = 0; j < dim; ++j) {
      float acc = 0.0f;
      for (u32 i = 0; i < kc; ++i) {
        float c = __fmul_rn(__double2float_rn(gm[i]), inv_var[i]);
        acc = __fadd_rn(acc, __fmul_rn(c, __fsub_rn(row[j], means[(u64)i * dim + j])));
      }
      gr[j] = acc;
    }
  }
}

// Walker-weighted parameter-gradient partials (gmm.rs WalkerGradKernel): block (c, p) sums, over
// the walkers of chunk c (`chunk` walkers, the summary's chunks), term p with weights
// exp(A_j - part_max[c]). Terms, K x d means first: p < K d: dU/da_i,j = -gamma_i (x_j - a_i,j) /
// s_i^2; then K of dU/dz_i = gamma_i; K of dU/dlog s_i = -gamma_i |x - a_i|^2 / s_i^2; then the
// weight sum and the weighted energy sum. out[p * chunks + c]. blockDim must be PART_THREADS.
#define PART_THREADS 256

extern "C" __global__ void jz_gmm_partials(u32 n, u32 dim, u32 kc, u32 chunk, const float* __restrict__ means,
                                           const double* __restrict__ half_inv_var, const float* __restrict__ x,
                                           const double* __restrict__ a, const double* __restrict__ part_max,
                                           const double* __restrict__ gamma, const double* __restrict__ sq,
                                           const double* __restrict__ u, double* __restrict__ out) {
  __shared__ double sh[PART_THREADS];
  u32 c = blockIdx.x, p = blockIdx.y, t = threadIdx.x;
  u32 nparam = kc * (dim + 2u);
  u64 lo = (u64)c * chunk;
  u64 hi = min((u64)n, lo + chunk);
  double mx = part_max[c];
  double acc = 0.0;
  if (mx != NEG_INF) {
    for (u64 j = lo + t; j < hi; j += PART_THREADS) {
      double aj = a[j];
      if (!finite_d(aj)) continue;
      double wj = exp(__dsub_rn(aj, mx));
      double term;
      if (p < kc * dim) {
        u32 i = p / dim, k = p % dim;
        double cc = -__dmul_rn(__dmul_rn(__dmul_rn(wj, gamma[j * kc + i]), 2.0), half_inv_var[i]);
        term = __dmul_rn(cc, (double)__fsub_rn(x[j * dim + k], means[(u64)i * dim + k]));
      } else if (p < kc * dim + kc) {
        term = __dmul_rn(wj, gamma[j * kc + (p - kc * dim)]);
      } else if (p < nparam) {
        u32 i = p - kc * dim - kc;
        term = -__dmul_rn(__dmul_rn(__dmul_rn(__dmul_rn(wj, gamma[j * kc + i]), sq[j * kc + i]), 2.0), half_inv_var[i]);
      } else if (p == nparam) {
        term = wj;
      } else {
        term = __dmul_rn(wj, u[j]);
      }
      acc = __dadd_rn(acc, term);
    }
  }
  sh[t] = acc;
  __syncthreads();
  for (u32 s = PART_THREADS / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] = __dadd_rn(sh[t], sh[t + s]);
    __syncthreads();
  }
  if (t == 0) out[(u64)p * gridDim.x + c] = sh[0];
}
