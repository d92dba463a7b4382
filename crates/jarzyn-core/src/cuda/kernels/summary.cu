// Uses only common.cuh, which precedes it in the concatenated source (cuda/mod.rs, KERNELS_CU).

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
