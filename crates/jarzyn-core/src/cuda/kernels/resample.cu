// Uses only common.cuh, which precedes it in the concatenated source (cuda/mod.rs, KERNELS_CU).

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
