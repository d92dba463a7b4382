// Uses only common.cuh, which precedes it in the concatenated source (cuda/mod.rs, KERNELS_CU).

// Lane sums (lanes.rs): element j goes to lane j % 8, in increasing j, which is what the CPU's
// chunked loop plus remainder does; rows shorter than 8 use one plain accumulator.

__device__ __forceinline__ double combine8(const double a[8]) {
  return __dadd_rn(__dadd_rn(__dadd_rn(a[0], a[4]), __dadd_rn(a[1], a[5])),
                   __dadd_rn(__dadd_rn(a[2], a[6]), __dadd_rn(a[3], a[7])));
}

// One thread per walker (rows longer than TILE_ELEMS; see jz_move for the usual case). The move
// (walkers/rows.rs move_rows), noise generated on the fly.
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

// The observation of walker w once its sums d = Delta . g (phase 1) and g2 = |g|^2 are known
// (walkers/rows.rs observe_rows). fwd hands over the forward term of the move (U_old after none)
// and keeps U_new (weighted walkers). A walker already invalid is only counted; for a live one
// A += forward term - (U_new - dot / 2 + h/4 |g|^2) after a move (phase 1), A += U_old - U_new on
// a re-observation (phase 2), and a non-finite energy, gradient or weight makes it invalid
// (A = -inf, counted).
__device__ __forceinline__ void observe_walker(u32 w, double d, double g2, double quarter_h, int weighted, int phase,
                                               const float* __restrict__ e, double* __restrict__ fwd,
                                               double* __restrict__ a, u32* __restrict__ counts) {
  double u_new = (double)e[w];
  double fw = weighted ? fwd[w] : 0.0;
  if (weighted) fwd[w] = u_new;
  if (a[w] == NEG_INF) {
    atomicAdd(&counts[1], 1u);
    return;
  }
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
// The weight update of an observation (walkers/rows.rs observe_rows). phase: 0 fresh, 1 moved,
// 2 observed (AIS increment). Weighted and moved: xp holds the pre-move positions.
// counts[0] += newly invalid, counts[1] += invalid. Afterwards fwd = U (weighted samplers).
extern "C" __global__ void jz_observe_rows(u32 n, u32 dim, double quarter_h, int weighted, int phase,
                                      const float* __restrict__ x, const float* __restrict__ xp,
                                      double* __restrict__ fwd, double* __restrict__ a,
                                      const float* __restrict__ e, const float* __restrict__ g,
                                      u32* __restrict__ counts) {
  u32 w = blockIdx.x * blockDim.x + threadIdx.x;
  if (w >= n) return;
  u64 base = (u64)w * dim;
  // The sums of an invalid walker go unused (observe_walker only counts it).
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
  observe_walker(w, d, g2, quarter_h, weighted, phase, e, fwd, a, counts);
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

// The walkers [w0, w0 + nwalk) of this block's tile, bpw groups of four elements each.
struct Tile {
  u32 w0, nwalk, bpw;
};

__device__ __forceinline__ Tile this_tile(u32 n, u32 dim, u32 wpt) {
  Tile t;
  t.w0 = blockIdx.x * wpt;
  t.nwalk = min(wpt, n - t.w0);
  t.bpw = (dim + 3u) / 4u;
  return t;
}

// Group q of a tile: element c0 .. c0 + cn of walker w (the tile's wl-th; cn < 4 at a row's end),
// which Philox block b of that walker covers; at offset `at` of the walkers' arrays and `sh` of the
// tile's shared arrays.
struct Group {
  u32 wl, w, b, c0, cn, sh;
  u64 at;
};

__device__ __forceinline__ Group tile_group(Tile t, u32 q, u32 dim) {
  Group gq;
  gq.wl = q / t.bpw;
  gq.b = q % t.bpw;
  gq.w = t.w0 + gq.wl;
  gq.c0 = 4u * gq.b;
  gq.cn = min(4u, dim - gq.c0);
  gq.sh = gq.wl * dim + gq.c0;
  gq.at = (u64)gq.w * dim + gq.c0;
  return gq;
}

// Once every thread has written its terms to sh_a and sh_b: for dim >= 8, threads (wl, l) add up
// lane l of walker wl's row, writing over sh[row + l]. Returns after a barrier.
__device__ __forceinline__ void tile_lane_sums(double* sh_a, double* sh_b, u32 nwalk, u32 dim) {
  __syncthreads();
  if (dim < 8u) return;
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
  __syncthreads();
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
  Tile t = this_tile(n, dim, wpt);
  for (u32 q = threadIdx.x; q < t.nwalk * t.bpw; q += blockDim.x) {
    Group gq = tile_group(t, q, dim);
    u64 at = gq.at;
    if (a[gq.w] == NEG_INF) {
      if (weighted) for (u32 j = 0; j < gq.cn; ++j) xp[at + j] = x[at + j];
      continue;
    }
    float z[4];
    normals4(gq.b, gq.w, c2, c3, k0, k1, z);
    for (u32 j = 0; j < gq.cn; ++j) {
      float old = x[at + j];
      float gv = g[at + j];
      // (old - hf g) + sf z, as the CPU.
      float nv = __fadd_rn(__fsub_rn(old, __fmul_rn(hf, gv)), __fmul_rn(sf, z[j]));
      x[at + j] = nv;
      if (weighted) {
        xp[at + j] = old;
        double gd = (double)gv;
        sh_dot[gq.sh + j] = __dmul_rn(__dsub_rn((double)nv, (double)old), gd);
        sh_sq[gq.sh + j] = __dmul_rn(gd, gd);
      }
    }
  }
  if (!weighted) return;
  tile_lane_sums(sh_dot, sh_sq, t.nwalk, dim);
  for (u32 wl = threadIdx.x; wl < t.nwalk; wl += blockDim.x) {
    u32 w = t.w0 + wl;
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
  Tile t = this_tile(n, dim, wpt);
  bool with_dot = weighted && phase == 1;
  for (u32 q = threadIdx.x; q < t.nwalk * t.bpw; q += blockDim.x) {
    Group gq = tile_group(t, q, dim);
    u64 at = gq.at;
    for (u32 j = 0; j < gq.cn; ++j) {
      double gd = (double)g[at + j];
      sh_dot[gq.sh + j] = with_dot ? __dmul_rn(__dsub_rn((double)x[at + j], (double)xp[at + j]), gd) : 0.0;
      sh_sq[gq.sh + j] = __dmul_rn(gd, gd);
    }
  }
  tile_lane_sums(sh_dot, sh_sq, t.nwalk, dim);
  for (u32 wl = threadIdx.x; wl < t.nwalk; wl += blockDim.x) {
    double d, g2;
    tile_walker_sums(sh_dot, sh_sq, wl, dim, &d, &g2);
    observe_walker(t.w0 + wl, d, g2, quarter_h, weighted, phase, e, fwd, a, counts);
  }
}
