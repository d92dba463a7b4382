// Uses only common.cuh, which precedes it in the concatenated source (cuda/mod.rs, KERNELS_CU).

// Gaussian-mixture energy (models/gmm): U(x) = -log sum_i exp(-|x - a_i|^2 / (2 s_i^2) - z_i).
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

// Walker-weighted parameter-gradient partials (models/gmm/walker_grad.rs walker_sums): block
// (c, p) sums, over the walkers of chunk c (`chunk` walkers, the summary's chunks), term p with
// weights exp(A_j - part_max[c]). Terms, K x d means first: p < K d: dU/da_i,j = -gamma_i (x_j -
// a_i,j) / s_i^2; then K of dU/dz_i = gamma_i; K of dU/dlog s_i = -gamma_i |x - a_i|^2 / s_i^2;
// then the weight sum and the weighted energy sum. out[p * chunks + c]. blockDim must be
// PART_THREADS.
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
