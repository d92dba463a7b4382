// The emulator's own test kernels (tests/emulator.rs): launch coordinates, barriers (direct and
// through __device__ functions), barrier divergence, races made visible by thread order,
// intrinsics, atomics, restrict aliasing, out-of-bounds writes, macro-made kernels, typedefs and
// vector types in signatures. Compiled exactly as the kernels are, through the same scanner.

typedef unsigned int u32;
typedef unsigned long long u64;
typedef u32 index_t;  // a typedef of a typedef

// Every thread writes its coordinates: 6 words per thread, by global thread id.
extern "C" __global__ void jzt_coords(u32* __restrict__ out) {
  u32 b = blockIdx.y * gridDim.x + blockIdx.x;
  u32 t = b * blockDim.x + threadIdx.x;
  out[6 * t + 0] = threadIdx.x;
  out[6 * t + 1] = blockIdx.x;
  out[6 * t + 2] = blockIdx.y;
  out[6 * t + 3] = blockDim.x;
  out[6 * t + 4] = gridDim.x;
  out[6 * t + 5] = gridDim.y;
}

// out[i] = in[block start + (t + 1) % blockDim]: needs every thread's store before any load.
extern "C" __global__ void jzt_rotate(const u32* __restrict__ in, u32* __restrict__ out) {
  __shared__ u32 sh[1024];
  u32 t = threadIdx.x;
  u32 base = blockIdx.x * blockDim.x;
  sh[t] = in[base + t];
  __syncthreads();
  out[base + t] = sh[(t + 1) % blockDim.x];
}

// A block tree sum with the barrier inside a __device__ function (two levels down).
__device__ __noinline__ void barrier_leaf() { __syncthreads(); }
__device__ __forceinline__ void barrier_mid() { barrier_leaf(); }

extern "C" __global__ void jzt_block_sum(const u64* __restrict__ in, index_t n, u64* __restrict__ out) {
  __shared__ u64 sh[256];
  u32 t = threadIdx.x;
  u64 i = (u64)blockIdx.x * blockDim.x + t;
  sh[t] = i < n ? in[i] : 0ull;
  barrier_mid();
  for (u32 s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] += sh[t + s];
    barrier_mid();
  }
  if (t == 0) out[blockIdx.x] = sh[0];
}

// Thread 0 leaves early while the others wait at a barrier: undefined on a GPU, reported here.
extern "C" __global__ void jzt_divergent(u32* __restrict__ out) {
  if (threadIdx.x == 0) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

// A data race between threads of a block: thread i reads what thread i + 1 writes.
extern "C" __global__ void jzt_racy_shift(u32* buf, u32 n) {
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i + 1 < n) buf[i] = buf[i + 1] + 1u;
}

// Intrinsics on one input each; layout in tests/emulator.rs.
extern "C" __global__ void jzt_intrinsics(const u32* __restrict__ a, const u32* __restrict__ b, u32 n,
                                          u32* __restrict__ o32, u64* __restrict__ o64,
                                          float* __restrict__ of, double* __restrict__ od) {
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  u32 x = a[i], y = b[i];
  u64 xx = ((u64)x << 32) | y, yy = ((u64)y << 32) | x;
  o32[8 * i + 0] = __umulhi(x, y);
  o32[8 * i + 1] = min(x, y);
  o32[8 * i + 2] = (u32)max((int)x, (int)y);
  o32[8 * i + 3] = __float_as_uint(__uint2float_rn(x));
  o32[8 * i + 4] = __float_as_uint(__int2float_rn((int)y));
  o32[8 * i + 5] = (u32)__popc(x);
  o32[8 * i + 6] = __brev(x);
  o32[8 * i + 7] = (u32)__float2int_rz(__uint_as_float(y));
  o64[2 * i + 0] = __umul64hi(xx, yy);
  o64[2 * i + 1] = (u64)__double_as_longlong(__ull2double_rn(xx));
  float fx = __uint_as_float(x), fy = __uint_as_float(y);
  of[4 * i + 0] = __fadd_rn(fx, fy);
  of[4 * i + 1] = __fmul_rn(fx, fy);
  of[4 * i + 2] = __fdiv_rn(fx, fy);
  of[4 * i + 3] = __fsqrt_rn(fx);
  double dx = __longlong_as_double((long long)xx), dy = __longlong_as_double((long long)yy);
  od[4 * i + 0] = __dadd_rn(dx, dy);
  od[4 * i + 1] = __dmul_rn(dx, dy);
  od[4 * i + 2] = __ddiv_rn(dx, dy);
  od[4 * i + 3] = __dsqrt_rn(dx);
}

// Atomics from every thread: counters[0] += 1, counters[1] = max, counters[2] = min, a u64 and a
// double sum.
extern "C" __global__ void jzt_atomics(const u32* __restrict__ v, u32 n, u32* __restrict__ counters,
                                       u64* __restrict__ sum64, double* __restrict__ sumd) {
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  atomicAdd(&counters[0], 1u);
  atomicMax(&counters[1], v[i]);
  atomicMin(&counters[2], v[i]);
  atomicAdd(sum64, (u64)v[i]);
  atomicAdd(sumd, (double)v[i]);
}

// Writes one element past the end of `buf` (n elements) from the last thread.
extern "C" __global__ void jzt_oob_write(float* __restrict__ buf, u32 n) {
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) buf[i] = 1.0f;
  if (i == n - 1) buf[n] = 2.0f;
}

// dst = 2 src; called with dst == src the restrict promise is broken.
extern "C" __global__ void jzt_twice(const float* __restrict__ src, float* __restrict__ dst, u32 n) {
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = 2.0f * src[i];
}

// Kernels made by a macro (found in the preprocessor's output).
#define JZT_FILL(T, N)                                                             \
  extern "C" __global__ void jzt_fill_##N(T* __restrict__ p, u32 n, T v) {         \
    u32 i = blockIdx.x * blockDim.x + threadIdx.x;                                 \
    if (i < n) p[i] = v;                                                           \
  }
JZT_FILL(float, f32)
JZT_FILL(double, f64)

// Vector types in a signature: out[i] = in[i].zwyx.
extern "C" __global__ void jzt_swizzle4(const float4* __restrict__ in, float4* __restrict__ out, u32 n) {
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = make_float4(in[i].w, in[i].z, in[i].y, in[i].x);
}

// A block-wide inclusive scan (Hillis-Steele) as a member function of a class template in a
// namespace, kernels in an `extern "C" { }` block: the barrier is found through the member call.
namespace jzt {
template <typename T>
struct BlockScan {
  T* sh;
  __device__ T inclusive(T v) {
    u32 t = threadIdx.x;
    sh[t] = v;
    __syncthreads();
    for (u32 off = 1; off < blockDim.x; off <<= 1) {
      T add = t >= off ? sh[t - off] : T(0);
      __syncthreads();
      sh[t] += add;
      __syncthreads();
    }
    return sh[t];
  }
};
}  // namespace jzt

extern "C" {
__global__ void jzt_scan(const u32* __restrict__ in, u32* __restrict__ out) {
  __shared__ u32 sh[1024];
  jzt::BlockScan<u32> scan{sh};
  u32 i = blockIdx.x * blockDim.x + threadIdx.x;
  out[i] = scan.inclusive(in[i]);
}

// The same scan missing the barrier between the reads and the writes: a race that thread order
// exposes.
__global__ void jzt_scan_racy(const u32* __restrict__ in, u32* __restrict__ out) {
  __shared__ u32 sh[1024];
  u32 t = threadIdx.x;
  u32 i = blockIdx.x * blockDim.x + t;
  sh[t] = in[i];
  __syncthreads();
  for (u32 off = 1; off < blockDim.x; off <<= 1) {
    u32 add = t >= off ? sh[t - off] : 0u;
    sh[t] += add;
    __syncthreads();
  }
  out[i] = sh[t];
}
}
