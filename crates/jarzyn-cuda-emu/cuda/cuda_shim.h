// jarzyn-cuda-emu: what NVRTC provides to the kernels (jarzyn-core's cuda/kernels/), for
// g++/clang++ on the host.
//
// Included before the kernel source (the build script puts it first in the translation unit).
// Compiled with -ffp-contract=off -fno-fast-math and no -march flag: on x86-64 float/double
// arithmetic is SSE2, on aarch64 the scalar FP unit, both IEEE binary32/binary64 with
// round-to-nearest-even and no fused multiply-add, which is what the CUDA `_rn` intrinsics (and
// `--fmad=false`) compute. Denormals are kept (NVRTC is run with --ftz=false).
//
// Not emulated, so a kernel using them does not build here (the build script names them): warp
// shuffles, votes and matches (__shfl*, __ballot_sync, __any_sync, __all_sync, __match*,
// __reduce*_sync, __activemask, __syncwarp), warpSize, cooperative groups, dynamic shared memory
// (extern __shared__), textures and surfaces.
#pragma once

#include <cassert>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>

#define JZ_CUDA_EMU 1

// ---------------------------------------------------------------------------------------------
// Qualifiers.

// The build script preprocesses the source once with JZ_EMU_SCAN defined, to find the kernels in
// the preprocessor's output (so kernels made by macros are found too).
#ifdef JZ_EMU_SCAN
#define __global__ __jz_emu_global__
#else
#define __global__
#endif
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __launch_bounds__(...)
// Per-block shared memory: blocks run one after another, all threads of a block run on one OS
// thread (fibers) and launches are serialised by a process-wide lock, so function statics are
// exactly one block's shared memory. Their contents carry over from block to block (on a GPU they
// are undefined at block start, so a kernel must not read before writing anyway).
#define __shared__ static
#define __constant__ static

// ---------------------------------------------------------------------------------------------
// Built-in vector types (alignment as CUDA's) and launch coordinates.

#define JZ_EMU_VEC(T, N, A)                                                                           \
  struct __attribute__((aligned(A))) N##1 { T x; };                                                   \
  struct __attribute__((aligned(2 * A))) N##2 { T x, y; };                                            \
  struct N##3 { T x, y, z; };                                                                         \
  struct __attribute__((aligned((4 * A) > 16 ? 16 : (4 * A)))) N##4 { T x, y, z, w; };                \
  static inline N##1 make_##N##1(T x) { N##1 r; r.x = x; return r; }                                 \
  static inline N##2 make_##N##2(T x, T y) { N##2 r; r.x = x; r.y = y; return r; }                   \
  static inline N##3 make_##N##3(T x, T y, T z) { N##3 r; r.x = x; r.y = y; r.z = z; return r; }     \
  static inline N##4 make_##N##4(T x, T y, T z, T w) { N##4 r; r.x = x; r.y = y; r.z = z; r.w = w; return r; }

JZ_EMU_VEC(signed char, char, 1)
JZ_EMU_VEC(unsigned char, uchar, 1)
JZ_EMU_VEC(short, short, 2)
JZ_EMU_VEC(unsigned short, ushort, 2)
JZ_EMU_VEC(int, int, 4)
JZ_EMU_VEC(unsigned int, uint, 4)
JZ_EMU_VEC(float, float, 4)
JZ_EMU_VEC(long long, longlong, 8)
JZ_EMU_VEC(unsigned long long, ulonglong, 8)
JZ_EMU_VEC(double, double, 8)
#undef JZ_EMU_VEC

struct dim3 {
  unsigned int x, y, z;
};

// Set by the launcher (emu_runtime.cpp) for the thread that runs; one launch at a time.
extern uint3 threadIdx;
extern uint3 blockIdx;
extern dim3 blockDim;
extern dim3 gridDim;

// ---------------------------------------------------------------------------------------------
// Synchronisation.

// A barrier for the block's threads: the calling fiber yields to the next one; every thread of the
// block reaches the k-th barrier before any passes it. Only in kernels that the build script found
// to call __syncthreads (directly or through __device__ functions); anywhere else it aborts with a
// message.
extern "C" void jz_emu_syncthreads();
#define __syncthreads() jz_emu_syncthreads()
// Memory fences order nothing here: one thread runs at a time.
#define __threadfence() ((void)0)
#define __threadfence_block() ((void)0)
#define __threadfence_system() ((void)0)

// ---------------------------------------------------------------------------------------------
// Intrinsics. Host IEEE operations with contraction off give the `_rn` results exactly.

static __forceinline__ float __fadd_rn(float a, float b) { return a + b; }
static __forceinline__ float __fsub_rn(float a, float b) { return a - b; }
static __forceinline__ float __fmul_rn(float a, float b) { return a * b; }
static __forceinline__ float __fdiv_rn(float a, float b) { return a / b; }
static __forceinline__ float __frcp_rn(float a) { return 1.0f / a; }
static __forceinline__ float __fsqrt_rn(float a) { return std::sqrt(a); }
static __forceinline__ float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
static __forceinline__ double __dadd_rn(double a, double b) { return a + b; }
static __forceinline__ double __dsub_rn(double a, double b) { return a - b; }
static __forceinline__ double __dmul_rn(double a, double b) { return a * b; }
static __forceinline__ double __ddiv_rn(double a, double b) { return a / b; }
static __forceinline__ double __drcp_rn(double a) { return 1.0 / a; }
static __forceinline__ double __dsqrt_rn(double a) { return std::sqrt(a); }
static __forceinline__ double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }

static __forceinline__ unsigned int __umulhi(unsigned int a, unsigned int b) {
  return (unsigned int)(((unsigned long long)a * b) >> 32);
}
static __forceinline__ int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
static __forceinline__ unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
static __forceinline__ long long __mul64hi(long long a, long long b) {
  return (long long)(((__int128)a * b) >> 64);
}

static __forceinline__ int __popc(unsigned int x) { return __builtin_popcount(x); }
static __forceinline__ int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static __forceinline__ int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned int)x); }
static __forceinline__ int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
static __forceinline__ int __ffs(int x) { return __builtin_ffs(x); }
static __forceinline__ int __ffsll(long long x) { return __builtin_ffsll(x); }
static __forceinline__ unsigned int __brev(unsigned int x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
  x = ((x >> 8) & 0x00FF00FFu) | ((x & 0x00FF00FFu) << 8);
  return (x >> 16) | (x << 16);
}

// Conversions, round to nearest even (the host's default rounding mode).
static __forceinline__ float __int2float_rn(int a) { return (float)a; }
static __forceinline__ float __uint2float_rn(unsigned int a) { return (float)a; }
static __forceinline__ float __ll2float_rn(long long a) { return (float)a; }
static __forceinline__ float __ull2float_rn(unsigned long long a) { return (float)a; }
static __forceinline__ double __int2double_rn(int a) { return (double)a; }
static __forceinline__ double __uint2double_rn(unsigned int a) { return (double)a; }
static __forceinline__ double __ll2double_rn(long long a) { return (double)a; }
static __forceinline__ double __ull2double_rn(unsigned long long a) { return (double)a; }
static __forceinline__ float __double2float_rn(double a) { return (float)a; }
// Float to integer as the GPU: NaN gives 0, out-of-range values saturate (C++ leaves them undefined).
template <typename I, typename F>
static __forceinline__ I jz_emu_sat(F v) {
  if (v != v) return 0;
  if (v <= (F)std::numeric_limits<I>::min()) return std::numeric_limits<I>::min();
  if (v >= (F)std::numeric_limits<I>::max()) return std::numeric_limits<I>::max();
  return (I)v;
}
static __forceinline__ int __float2int_rz(float a) { return jz_emu_sat<int>(a); }
static __forceinline__ int __float2int_rn(float a) { return jz_emu_sat<int>(std::nearbyint(a)); }
static __forceinline__ int __float2int_rd(float a) { return jz_emu_sat<int>(std::floor(a)); }
static __forceinline__ int __float2int_ru(float a) { return jz_emu_sat<int>(std::ceil(a)); }
static __forceinline__ unsigned int __float2uint_rz(float a) { return jz_emu_sat<unsigned int>(a); }
static __forceinline__ unsigned int __float2uint_rn(float a) { return jz_emu_sat<unsigned int>(std::nearbyint(a)); }
static __forceinline__ int __double2int_rz(double a) { return jz_emu_sat<int>(a); }
static __forceinline__ int __double2int_rn(double a) { return jz_emu_sat<int>(std::nearbyint(a)); }
static __forceinline__ int __double2int_rd(double a) { return jz_emu_sat<int>(std::floor(a)); }
static __forceinline__ unsigned int __double2uint_rz(double a) { return jz_emu_sat<unsigned int>(a); }
static __forceinline__ long long __double2ll_rz(double a) { return jz_emu_sat<long long>(a); }
static __forceinline__ long long __double2ll_rn(double a) { return jz_emu_sat<long long>(std::nearbyint(a)); }
static __forceinline__ unsigned long long __double2ull_rz(double a) { return jz_emu_sat<unsigned long long>(a); }

// Bit casts.
static __forceinline__ unsigned int __float_as_uint(float a) { unsigned int r; std::memcpy(&r, &a, 4); return r; }
static __forceinline__ float __uint_as_float(unsigned int a) { float r; std::memcpy(&r, &a, 4); return r; }
static __forceinline__ int __float_as_int(float a) { int r; std::memcpy(&r, &a, 4); return r; }
static __forceinline__ float __int_as_float(int a) { float r; std::memcpy(&r, &a, 4); return r; }
static __forceinline__ long long __double_as_longlong(double a) { long long r; std::memcpy(&r, &a, 8); return r; }
static __forceinline__ double __longlong_as_double(long long a) { double r; std::memcpy(&r, &a, 8); return r; }
static __forceinline__ int __double2hiint(double a) { return (int)((unsigned long long)__double_as_longlong(a) >> 32); }
static __forceinline__ int __double2loint(double a) { return (int)(unsigned int)__double_as_longlong(a); }
static __forceinline__ double __hiloint2double(int hi, int lo) {
  return __longlong_as_double((long long)(((unsigned long long)(unsigned int)hi << 32) | (unsigned int)lo));
}

template <typename T>
static __forceinline__ T __ldg(const T* p) { return *p; }

// ---------------------------------------------------------------------------------------------
// Atomics: plain read-modify-write (one thread runs at a time, never preempted inside one).

#define JZ_EMU_ATOMIC_ADD(T) \
  static __forceinline__ T atomicAdd(T* p, T v) { T o = *p; *p = o + v; return o; } \
  static __forceinline__ T atomicExch(T* p, T v) { T o = *p; *p = v; return o; }
JZ_EMU_ATOMIC_ADD(int)
JZ_EMU_ATOMIC_ADD(unsigned int)
JZ_EMU_ATOMIC_ADD(unsigned long long)
JZ_EMU_ATOMIC_ADD(float)
JZ_EMU_ATOMIC_ADD(double)
#undef JZ_EMU_ATOMIC_ADD

#define JZ_EMU_ATOMIC_INT(T) \
  static __forceinline__ T atomicSub(T* p, T v) { T o = *p; *p = o - v; return o; } \
  static __forceinline__ T atomicMax(T* p, T v) { T o = *p; *p = o > v ? o : v; return o; } \
  static __forceinline__ T atomicMin(T* p, T v) { T o = *p; *p = o < v ? o : v; return o; } \
  static __forceinline__ T atomicAnd(T* p, T v) { T o = *p; *p = o & v; return o; } \
  static __forceinline__ T atomicOr(T* p, T v) { T o = *p; *p = o | v; return o; } \
  static __forceinline__ T atomicXor(T* p, T v) { T o = *p; *p = o ^ v; return o; } \
  static __forceinline__ T atomicCAS(T* p, T cmp, T v) { T o = *p; if (o == cmp) *p = v; return o; }
JZ_EMU_ATOMIC_INT(int)
JZ_EMU_ATOMIC_INT(unsigned int)
JZ_EMU_ATOMIC_INT(unsigned long long)
JZ_EMU_ATOMIC_INT(long long)
#undef JZ_EMU_ATOMIC_INT

static __forceinline__ unsigned int atomicInc(unsigned int* p, unsigned int v) {
  unsigned int o = *p; *p = (o >= v) ? 0u : o + 1u; return o;
}
static __forceinline__ unsigned int atomicDec(unsigned int* p, unsigned int v) {
  unsigned int o = *p; *p = (o == 0u || o > v) ? v : o - 1u; return o;
}

// ---------------------------------------------------------------------------------------------
// min / max as CUDA's overloads (the float ones are fminf/fmaxf: a NaN operand loses).

static __forceinline__ int min(int a, int b) { return a < b ? a : b; }
static __forceinline__ int max(int a, int b) { return a > b ? a : b; }
static __forceinline__ unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
static __forceinline__ unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
static __forceinline__ long long min(long long a, long long b) { return a < b ? a : b; }
static __forceinline__ long long max(long long a, long long b) { return a > b ? a : b; }
static __forceinline__ unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
static __forceinline__ unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
static __forceinline__ float min(float a, float b) { return std::fmin(a, b); }
static __forceinline__ float max(float a, float b) { return std::fmax(a, b); }
static __forceinline__ double min(double a, double b) { return std::fmin(a, b); }
static __forceinline__ double max(double a, double b) { return std::fmax(a, b); }
// Mixed signed/unsigned calls resolve as CUDA's headers do (to the unsigned overload).
static __forceinline__ unsigned int min(int a, unsigned int b) { return min((unsigned int)a, b); }
static __forceinline__ unsigned int min(unsigned int a, int b) { return min(a, (unsigned int)b); }
static __forceinline__ unsigned int max(int a, unsigned int b) { return max((unsigned int)a, b); }
static __forceinline__ unsigned int max(unsigned int a, int b) { return max(a, (unsigned int)b); }
static __forceinline__ unsigned long long min(long long a, unsigned long long b) { return min((unsigned long long)a, b); }
static __forceinline__ unsigned long long min(unsigned long long a, long long b) { return min(a, (unsigned long long)b); }
static __forceinline__ unsigned long long max(long long a, unsigned long long b) { return max((unsigned long long)a, b); }
static __forceinline__ unsigned long long max(unsigned long long a, long long b) { return max(a, (unsigned long long)b); }

// ---------------------------------------------------------------------------------------------
// Math library: the host's libm (glibc). Exact for sqrt, floor, ceil, fabs, fmin, fmax, fma;
// exp, log, log1p, expm1, pow, sin, cos, ... may differ from CUDA's by an ulp or so (both are
// faithfully rounded, neither is correctly rounded), so results built on them agree with a GPU to
// round-off only. The float overloads (expf etc. on a GPU) come with `using std::...`.

using std::acos;
using std::asin;
using std::atan;
using std::atan2;
using std::cbrt;
using std::ceil;
using std::copysign;
using std::cos;
using std::cosh;
using std::erf;
using std::erfc;
using std::exp;
using std::exp2;
using std::expm1;
using std::fabs;
using std::floor;
using std::fma;
using std::fmax;
using std::fmin;
using std::fmod;
using std::hypot;
using std::isfinite;
using std::isinf;
using std::isnan;
using std::ldexp;
using std::lgamma;
using std::log;
using std::log10;
using std::log1p;
using std::log2;
using std::nearbyint;
using std::pow;
using std::rint;
using std::round;
using std::signbit;
using std::sin;
using std::sinh;
using std::sqrt;
using std::tan;
using std::tanh;
using std::trunc;
