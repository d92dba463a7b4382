// Uses only common.cuh, which precedes it in the concatenated source (cuda/mod.rs, KERNELS_CU).

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

// Compact normals of walkers walker0 .. walker0 + n (normal/mod.rs fill_normals): one thread per
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
