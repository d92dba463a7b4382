// jarzyn-cuda-emu: a fake CUDA driver (libcuda.so) and a fake NVRTC, on the CPU emulator.
//
// Linked by the build script into OUT_DIR/fakecuda/libcuda.so (soname libcuda.so, copies named
// libcuda.so.1 and libnvrtc.so) together with the emulated kernels (kernels_emu.cpp) and the
// emulator runtime. cudarc (dynamic loading) and jarzyn-core's NVRTC loader then run the REAL host
// code of the CUDA backend on it: every cuLaunchKernel runs the kernel's emulator launcher with the
// arguments unpacked from kernelParams.
//
// Model
// - One device, "jarzyn emulated GPU", compute capability 9.0, 16 GiB, driver version 12080, memory
//   pools supported (so cudarc takes the cuMemAllocAsync path, as on real GPUs).
// - Device pointers are host addresses of guarded buffers (jz_emu_alloc: guard pages on both sides,
//   canary in the slack). Fresh allocations are filled with 0xFF bytes (NaN, UINT_MAX), so host
//   code that reads memory it never wrote gives visibly wrong results.
// - Everything is synchronous: streams and events are handles that do nothing; a launch or copy
//   is complete when the call returns.
// - Checks, reported on stderr and as an error code to the caller: copies and memsets must lie
//   inside one live allocation; pointer arguments of kernels must point into a live allocation (or
//   be null); launches must be 1-D blocks without dynamic shared memory or `extra`; emulator errors
//   (invalid grid, a barrier not reached by the whole block, __restrict__ aliasing) fail the launch.
// - Every other driver entry point that cudarc may resolve exists (generated from
//   cuda/driver_symbols.txt as weak stubs) and returns CUDA_ERROR_NOT_SUPPORTED after naming itself
//   on stderr.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "fake_driver.h"

extern "C" {
void* jz_emu_alloc(size_t bytes);
int jz_emu_free(void* p, size_t bytes);
int jz_emu_take_error(char* buf, size_t len);
}

namespace {

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void* CUcontext;
typedef void* CUstream;
typedef void* CUevent;
typedef void* CUmodule;
typedef const JzDrvKernel* CUfunction;

enum : int {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_NOT_INITIALIZED = 3,
  CUDA_ERROR_INVALID_DEVICE = 101,
  CUDA_ERROR_INVALID_IMAGE = 200,
  CUDA_ERROR_INVALID_CONTEXT = 201,
  CUDA_ERROR_INVALID_HANDLE = 400,
  CUDA_ERROR_NOT_FOUND = 500,
  CUDA_ERROR_ILLEGAL_ADDRESS = 700,
  CUDA_ERROR_LAUNCH_FAILED = 719,
  CUDA_ERROR_NOT_SUPPORTED = 801,
};

const char* kName = "jarzyn emulated GPU";
const size_t kTotalMem = 16ull << 30;
const int kDriverVersion = 12080;

bool g_init = false;
int g_ctx_object = 0;        // the primary context's identity
int g_primary_refs = 0;
thread_local CUcontext tl_current = nullptr;

std::mutex g_mu;                        // allocations, handles
std::map<uintptr_t, size_t> g_allocs;   // start -> bytes
size_t g_in_use = 0;
std::set<void*> g_streams, g_events;

void report(const char* fn, const std::string& m) {
  std::string s = std::string("jarzyn fake CUDA driver: ") + fn + ": " + m + "\n";
  fputs(s.c_str(), stderr);
}

bool verbose() {
  static bool v = std::getenv("JZ_FAKE_CUDA_TRACE") != nullptr;
  return v;
}

// The allocation containing [p, p + n), or false. n == 0 still needs p inside (or at the end of)
// an allocation.
bool inside(uintptr_t p, size_t n, uintptr_t* base = nullptr, size_t* size = nullptr) {
  std::lock_guard<std::mutex> l(g_mu);
  auto it = g_allocs.upper_bound(p);
  if (it == g_allocs.begin()) return false;
  --it;
  uintptr_t b = it->first;
  size_t s = it->second;
  if (p < b || p > b + s || n > b + s - p) return false;
  if (base) *base = b;
  if (size) *size = s;
  return true;
}

std::string range(uintptr_t p, size_t n) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "[0x%llx, +%zu bytes)", (unsigned long long)p, n);
  return buf;
}

CUresult check_range(const char* fn, const char* what, uintptr_t p, size_t n) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (n == 0) return CUDA_SUCCESS;
  if (!inside(p, n)) {
    report(fn, std::string(what) + " range " + range(p, n) + " is not inside one live device allocation");
    return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

CUresult alloc(const char* fn, CUdeviceptr* out, size_t bytes) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  if (bytes == 0) {
    // cuMemAlloc(0) is CUDA_ERROR_INVALID_VALUE on the real driver.
    report(fn, "zero-byte allocation (CUDA_ERROR_INVALID_VALUE on a GPU)");
    return CUDA_ERROR_INVALID_VALUE;
  }
  {
    std::lock_guard<std::mutex> l(g_mu);
    if (g_in_use + bytes > kTotalMem) return CUDA_ERROR_OUT_OF_MEMORY;
  }
  void* p = jz_emu_alloc(bytes);
  if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
  std::memset(p, 0xFF, bytes);
  std::lock_guard<std::mutex> l(g_mu);
  g_allocs[(uintptr_t)p] = bytes;
  g_in_use += bytes;
  *out = (CUdeviceptr)(uintptr_t)p;
  if (verbose()) std::fprintf(stderr, "jarzyn fake CUDA driver: %s %zu bytes at %p\n", fn, bytes, p);
  return CUDA_SUCCESS;
}

CUresult release(const char* fn, CUdeviceptr d) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (d == 0) return CUDA_SUCCESS;
  size_t bytes;
  {
    std::lock_guard<std::mutex> l(g_mu);
    auto it = g_allocs.find((uintptr_t)d);
    if (it == g_allocs.end()) {
      report(fn, "pointer " + range((uintptr_t)d, 0) + " is not the start of a live allocation (double free?)");
      return CUDA_ERROR_INVALID_VALUE;
    }
    bytes = it->second;
    g_allocs.erase(it);
    g_in_use -= bytes;
  }
  if (jz_emu_free((void*)(uintptr_t)d, bytes) != 0) {
    report(fn, "a kernel wrote outside the device allocation of " + std::to_string(bytes) +
                   " bytes being freed (canary overwritten)");
    return CUDA_ERROR_ILLEGAL_ADDRESS;
  }
  return CUDA_SUCCESS;
}

CUresult new_handle(std::set<void*>& set, void** out) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  void* h = std::malloc(8);
  std::lock_guard<std::mutex> l(g_mu);
  set.insert(h);
  *out = h;
  return CUDA_SUCCESS;
}

CUresult drop_handle(std::set<void*>& set, void* h) {
  std::lock_guard<std::mutex> l(g_mu);
  if (!set.erase(h)) return CUDA_ERROR_INVALID_HANDLE;
  std::free(h);
  return CUDA_SUCCESS;
}

// Stream handles: null (the legacy default stream), CU_STREAM_PER_THREAD (2) or created ones.
CUresult check_stream(CUstream s) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (s == nullptr || (uintptr_t)s == 1 || (uintptr_t)s == 2) return CUDA_SUCCESS;
  std::lock_guard<std::mutex> l(g_mu);
  return g_streams.count(s) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult check_event(CUevent e) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  std::lock_guard<std::mutex> l(g_mu);
  return g_events.count(e) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

struct Module {
  std::string image;
  bool fake;  // made by the fake NVRTC: lists its entries
};

// Whether the image names kernel `name` as an entry (PTX or our pseudo-PTX); true for images we
// cannot read (a real CUBIN).
bool has_entry(const Module& m, const char* name) {
  if (m.image.compare(0, 4, "\x7f" "ELF") == 0 && !m.fake) return true;
  return m.image.find(std::string(".entry ") + name + "(") != std::string::npos;
}

const JzDrvKernel* find_kernel(const char* name) {
  for (unsigned i = 0; i < jz_drv_table_kernels_len; ++i) {
    if (std::strcmp(jz_drv_table_kernels[i].name, name) == 0) return &jz_drv_table_kernels[i];
  }
  return nullptr;
}

}  // namespace

#define API extern "C" __attribute__((visibility("default")))

// ---------------------------------------------------------------------------------------------
// Initialisation, device.

API CUresult cuInit(unsigned flags) {
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  g_init = true;
  return CUDA_SUCCESS;
}

API CUresult cuDriverGetVersion(int* v) {
  if (!v) return CUDA_ERROR_INVALID_VALUE;
  *v = kDriverVersion;
  return CUDA_SUCCESS;
}

API CUresult cuDeviceGetCount(int* n) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (!n) return CUDA_ERROR_INVALID_VALUE;
  *n = 1;
  return CUDA_SUCCESS;
}

API CUresult cuDeviceGet(CUdevice* d, int ordinal) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (!d) return CUDA_ERROR_INVALID_VALUE;
  if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
  *d = 0;
  return CUDA_SUCCESS;
}

API CUresult cuDeviceGetName(char* name, int len, CUdevice d) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
  std::snprintf(name, (size_t)len, "%s", kName);
  return CUDA_SUCCESS;
}

API CUresult cuDeviceGetAttribute(int* v, int attr, CUdevice d) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  if (!v) return CUDA_ERROR_INVALID_VALUE;
  switch (attr) {
    case 1: *v = 1024; break;             // MAX_THREADS_PER_BLOCK
    case 2: *v = 1024; break;             // MAX_BLOCK_DIM_X
    case 3: *v = 1; break;                // MAX_BLOCK_DIM_Y (the emulator: 1-D blocks)
    case 4: *v = 1; break;                // MAX_BLOCK_DIM_Z
    case 5: *v = 0x7FFFFFFF; break;       // MAX_GRID_DIM_X
    case 6: *v = 65535; break;            // MAX_GRID_DIM_Y
    case 7: *v = 1; break;                // MAX_GRID_DIM_Z (the emulator: 2-D grids)
    case 8: *v = 49152; break;            // MAX_SHARED_MEMORY_PER_BLOCK
    case 10: *v = 32; break;              // WARP_SIZE
    case 16: *v = 132; break;             // MULTIPROCESSOR_COUNT
    case 75: *v = 9; break;               // COMPUTE_CAPABILITY_MAJOR
    case 76: *v = 0; break;               // COMPUTE_CAPABILITY_MINOR
    case 39: *v = 2048; break;            // MAX_THREADS_PER_MULTIPROCESSOR
    case 115: *v = 1; break;              // MEMORY_POOLS_SUPPORTED
    case 41: *v = 1; break;               // UNIFIED_ADDRESSING
    default: *v = 0; break;
  }
  return CUDA_SUCCESS;
}

API CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice d) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  if (!bytes) return CUDA_ERROR_INVALID_VALUE;
  *bytes = kTotalMem;
  return CUDA_SUCCESS;
}

API CUresult cuDeviceGetUuid(unsigned char* uuid, CUdevice d) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  for (int i = 0; i < 16; ++i) uuid[i] = (unsigned char)(0x10 + i);
  return CUDA_SUCCESS;
}
API CUresult cuDeviceGetUuid_v2(unsigned char* uuid, CUdevice d) { return cuDeviceGetUuid(uuid, d); }

API CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  std::lock_guard<std::mutex> l(g_mu);
  if (free_bytes) *free_bytes = kTotalMem - g_in_use;
  if (total) *total = kTotalMem;
  return CUDA_SUCCESS;
}

// ---------------------------------------------------------------------------------------------
// Contexts (one primary context).

API CUresult cuDevicePrimaryCtxRetain(CUcontext* c, CUdevice d) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  if (!c) return CUDA_ERROR_INVALID_VALUE;
  std::lock_guard<std::mutex> l(g_mu);
  ++g_primary_refs;
  *c = &g_ctx_object;
  return CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  std::lock_guard<std::mutex> l(g_mu);
  if (g_primary_refs <= 0) {
    report("cuDevicePrimaryCtxRelease_v2", "released more often than retained");
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  --g_primary_refs;
  return CUDA_SUCCESS;
}

API CUresult cuCtxSetCurrent(CUcontext c) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (c != nullptr && c != &g_ctx_object) return CUDA_ERROR_INVALID_CONTEXT;
  tl_current = c;
  return CUDA_SUCCESS;
}

API CUresult cuCtxGetCurrent(CUcontext* c) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (!c) return CUDA_ERROR_INVALID_VALUE;
  *c = tl_current;
  return CUDA_SUCCESS;
}

API CUresult cuCtxGetDevice(CUdevice* d) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (!tl_current) return CUDA_ERROR_INVALID_CONTEXT;
  *d = 0;
  return CUDA_SUCCESS;
}

API CUresult cuCtxSynchronize() { return g_init ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED; }

// ---------------------------------------------------------------------------------------------
// Streams and events: handles only (everything is synchronous).

API CUresult cuStreamCreate(CUstream* s, unsigned) { return new_handle(g_streams, s); }
API CUresult cuStreamCreateWithPriority(CUstream* s, unsigned, int) { return new_handle(g_streams, s); }
API CUresult cuStreamDestroy_v2(CUstream s) { return drop_handle(g_streams, s); }
API CUresult cuStreamSynchronize(CUstream s) { return check_stream(s); }
API CUresult cuStreamQuery(CUstream s) { return check_stream(s); }
API CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned) {
  CUresult r = check_stream(s);
  return r ? r : check_event(e);
}
API CUresult cuCtxGetStreamPriorityRange(int* least, int* greatest) {
  if (least) *least = 0;
  if (greatest) *greatest = -5;
  return CUDA_SUCCESS;
}

API CUresult cuEventCreate(CUevent* e, unsigned) { return new_handle(g_events, e); }
API CUresult cuEventDestroy_v2(CUevent e) { return drop_handle(g_events, e); }
API CUresult cuEventRecord(CUevent e, CUstream s) {
  CUresult r = check_stream(s);
  return r ? r : check_event(e);
}
API CUresult cuEventSynchronize(CUevent e) { return check_event(e); }
API CUresult cuEventQuery(CUevent e) { return check_event(e); }
API CUresult cuEventElapsedTime(float* ms, CUevent a, CUevent b) {
  CUresult r = check_event(a);
  if (!r) r = check_event(b);
  if (!r && ms) *ms = 0.0f;
  return r;
}
API CUresult cuEventElapsedTime_v2(float* ms, CUevent a, CUevent b) { return cuEventElapsedTime(ms, a, b); }

// ---------------------------------------------------------------------------------------------
// Memory.

API CUresult cuMemAlloc_v2(CUdeviceptr* d, size_t bytes) { return alloc("cuMemAlloc_v2", d, bytes); }
API CUresult cuMemFree_v2(CUdeviceptr d) { return release("cuMemFree_v2", d); }
API CUresult cuMemAllocAsync(CUdeviceptr* d, size_t bytes, CUstream s) {
  CUresult r = check_stream(s);
  return r ? r : alloc("cuMemAllocAsync", d, bytes);
}
API CUresult cuMemFreeAsync(CUdeviceptr d, CUstream s) {
  CUresult r = check_stream(s);
  return r ? r : release("cuMemFreeAsync", d);
}

API CUresult cuMemHostAlloc(void** p, size_t bytes, unsigned) {
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  *p = std::malloc(bytes ? bytes : 1);
  return *p ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}
API CUresult cuMemFreeHost(void* p) {
  std::free(p);
  return CUDA_SUCCESS;
}

API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
  CUresult r = check_range("cuMemcpyHtoD", "destination", (uintptr_t)dst, n);
  if (r) return r;
  if (n) std::memcpy((void*)(uintptr_t)dst, src, n);
  return CUDA_SUCCESS;
}
API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, CUstream s) {
  CUresult r = check_stream(s);
  return r ? r : cuMemcpyHtoD_v2(dst, src, n);
}
API CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
  CUresult r = check_range("cuMemcpyDtoH", "source", (uintptr_t)src, n);
  if (r) return r;
  if (n) std::memcpy(dst, (const void*)(uintptr_t)src, n);
  return CUDA_SUCCESS;
}
API CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, CUstream s) {
  CUresult r = check_stream(s);
  return r ? r : cuMemcpyDtoH_v2(dst, src, n);
}
API CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  CUresult r = check_range("cuMemcpyDtoD", "source", (uintptr_t)src, n);
  if (!r) r = check_range("cuMemcpyDtoD", "destination", (uintptr_t)dst, n);
  if (r) return r;
  if (n) std::memmove((void*)(uintptr_t)dst, (const void*)(uintptr_t)src, n);
  return CUDA_SUCCESS;
}
API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
  CUresult r = check_stream(s);
  return r ? r : cuMemcpyDtoD_v2(dst, src, n);
}
API CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n) {
  CUresult r = check_range("cuMemsetD8", "destination", (uintptr_t)dst, n);
  if (r) return r;
  if (n) std::memset((void*)(uintptr_t)dst, v, n);
  return CUDA_SUCCESS;
}
API CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream s) {
  CUresult r = check_stream(s);
  return r ? r : cuMemsetD8_v2(dst, v, n);
}
API CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned v, size_t n) {
  CUresult r = check_range("cuMemsetD32", "destination", (uintptr_t)dst, n * 4);
  if (r) return r;
  for (size_t i = 0; i < n; ++i) std::memcpy((char*)(uintptr_t)dst + 4 * i, &v, 4);
  return CUDA_SUCCESS;
}
API CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned v, size_t n, CUstream s) {
  CUresult r = check_stream(s);
  return r ? r : cuMemsetD32_v2(dst, v, n);
}

// ---------------------------------------------------------------------------------------------
// Modules and launches.

API CUresult cuModuleLoadData(CUmodule* m, const void* image) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (!tl_current) return CUDA_ERROR_INVALID_CONTEXT;
  if (!m || !image) return CUDA_ERROR_INVALID_VALUE;
  const char* c = (const char*)image;
  Module* mod = new Module();
  if (std::memcmp(c, "\x7f" "ELF", 4) == 0) {
    // Our fake CUBIN: ELF magic, then a NUL-terminated pseudo-PTX text; a real one is opaque.
    if (std::memcmp(c + 4, "JZFAKE", 6) == 0) {
      mod->image = std::string("\x7f" "ELF") + std::string(c + 11);
      mod->fake = true;
    } else {
      mod->image.assign(c, 4);
      mod->fake = false;
    }
  } else {
    mod->image = c;  // PTX: NUL-terminated text
    mod->fake = mod->image.find("jarzyn fake NVRTC") != std::string::npos;
    if (mod->image.find(".entry") == std::string::npos && mod->image.find(".version") == std::string::npos) {
      report("cuModuleLoadData", "the image is neither ELF nor PTX text");
      delete mod;
      return CUDA_ERROR_INVALID_IMAGE;
    }
  }
  *m = mod;
  return CUDA_SUCCESS;
}

API CUresult cuModuleUnload(CUmodule m) {
  if (!m) return CUDA_ERROR_INVALID_HANDLE;
  delete (Module*)m;
  return CUDA_SUCCESS;
}

API CUresult cuModuleGetFunction(CUfunction* f, CUmodule m, const char* name) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (!f || !m || !name) return CUDA_ERROR_INVALID_VALUE;
  const JzDrvKernel* k = find_kernel(name);
  if (!k || !has_entry(*(Module*)m, name)) {
    report("cuModuleGetFunction", std::string("no kernel named ") + name +
                                      (k ? " in this module's image" : " in the emulated kernels"));
    return CUDA_ERROR_NOT_FOUND;
  }
  *f = k;
  return CUDA_SUCCESS;
}

API CUresult cuFuncGetAttribute(int* v, int attr, CUfunction f) {
  if (!f || !v) return CUDA_ERROR_INVALID_VALUE;
  switch (attr) {
    case 0: *v = 1024; break;  // MAX_THREADS_PER_BLOCK
    default: *v = 0; break;
  }
  return CUDA_SUCCESS;
}

API CUresult cuFuncSetAttribute(CUfunction f, int, int) { return f ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }
API CUresult cuFuncSetCacheConfig(CUfunction f, int) { return f ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }

// Called by the generated unpackers for each pointer argument.
extern "C" int jz_drv_check_ptr(const char* kernel, unsigned index, const char* param, const void* p) {
  if (p == nullptr) return 0;
  if (!inside((uintptr_t)p, 0)) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "argument %u (%s) = %p is not inside a live device allocation", index,
                  param, p);
    report((std::string("cuLaunchKernel(") + kernel + ")").c_str(), buf);
    return 1;
  }
  return 0;
}

API CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                            unsigned bz, unsigned shmem, CUstream s, void** params, void** extra) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (!tl_current) {
    report("cuLaunchKernel", "no current context on this thread");
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  CUresult r = check_stream(s);
  if (r) return r;
  if (!f) return CUDA_ERROR_INVALID_HANDLE;
  std::string fn = std::string("cuLaunchKernel(") + f->name + ")";
  if (gz != 1 || by != 1 || bz != 1 || shmem != 0 || extra != nullptr) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "grid (%u, %u, %u), block (%u, %u, %u), %u bytes of dynamic shared memory, extra %p: the "
                  "emulator runs 2-D grids of 1-D blocks without dynamic shared memory",
                  gx, gy, gz, bx, by, bz, shmem, (void*)extra);
    report(fn.c_str(), buf);
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  if (f->nparams > 0 && params == nullptr) {
    report(fn.c_str(), "kernelParams is null");
    return CUDA_ERROR_INVALID_VALUE;
  }
  char err[1024];
  jz_emu_take_error(err, sizeof err);  // stale
  if (verbose()) std::fprintf(stderr, "jarzyn fake CUDA driver: launch %s grid (%u, %u) block %u\n", f->name, gx, gy, bx);
  if (f->launch(gx, gy, bx, params) != 0) return CUDA_ERROR_ILLEGAL_ADDRESS;
  if (jz_emu_take_error(err, sizeof err)) {
    report(fn.c_str(), err);
    return (gx == 0 || gy == 0 || bx == 0 || bx > 1024 || gy > 65535) ? CUDA_ERROR_INVALID_VALUE
                                                                      : CUDA_ERROR_LAUNCH_FAILED;
  }
  return CUDA_SUCCESS;
}

// ---------------------------------------------------------------------------------------------
// Errors.

namespace {
struct ErrName {
  int code;
  const char* name;
  const char* text;
};
const ErrName kErrors[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {801, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
};
}  // namespace

API CUresult cuGetErrorName(CUresult e, const char** s) {
  for (const auto& x : kErrors) {
    if (x.code == e) {
      *s = x.name;
      return CUDA_SUCCESS;
    }
  }
  *s = nullptr;
  return CUDA_ERROR_INVALID_VALUE;
}

API CUresult cuGetErrorString(CUresult e, const char** s) {
  for (const auto& x : kErrors) {
    if (x.code == e) {
      *s = x.text;
      return CUDA_SUCCESS;
    }
  }
  *s = nullptr;
  return CUDA_ERROR_INVALID_VALUE;
}

extern "C" int jz_drv_not_supported(const char* name) {
  report(name, "not emulated by the fake driver (CUDA_ERROR_NOT_SUPPORTED)");
  return CUDA_ERROR_NOT_SUPPORTED;
}

// ---------------------------------------------------------------------------------------------
// Fake NVRTC: "compiles" by listing the emulated kernels that the source defines. The output is a
// pseudo-PTX text (".entry NAME(" per kernel, no code) or, as CUBIN, the ELF magic, "JZFAKE", a NUL
// and the same text. Version 12.99 (no real NVRTC has it, so cache keys never collide with real
// ones). A source with unbalanced brackets fails to compile (NVRTC_ERROR_COMPILATION).

namespace {
struct Prog {
  std::string src, name, log, out_ptx, out_cubin;
};
const char* kNvrtcErrors[] = {
    "NVRTC_SUCCESS",
    "NVRTC_ERROR_OUT_OF_MEMORY",
    "NVRTC_ERROR_PROGRAM_CREATION_FAILURE",
    "NVRTC_ERROR_INVALID_INPUT",
    "NVRTC_ERROR_INVALID_PROGRAM",
    "NVRTC_ERROR_INVALID_OPTION",
    "NVRTC_ERROR_COMPILATION",
};

bool is_ident(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

// Whether `src` has `__global__ ... NAME (` for this name (a word followed by an opening paren).
bool defines_kernel(const std::string& src, const char* name) {
  size_t n = std::strlen(name);
  for (size_t at = src.find(name); at != std::string::npos; at = src.find(name, at + 1)) {
    if (at > 0 && is_ident(src[at - 1])) continue;
    size_t e = at + n;
    if (e < src.size() && is_ident(src[e])) continue;
    while (e < src.size() && (src[e] == ' ' || src[e] == '\n' || src[e] == '\t')) ++e;
    if (e >= src.size() || src[e] != '(') continue;
    size_t line = src.rfind('\n', at);
    line = line == std::string::npos ? 0 : line;
    size_t g = src.rfind("__global__", at);
    if (g != std::string::npos && at - g < 200) return true;
    (void)line;
  }
  return false;
}
}  // namespace

API int nvrtcVersion(int* major, int* minor) {
  if (!major || !minor) return 3;
  *major = 12;
  *minor = 99;
  return 0;
}

API const char* nvrtcGetErrorString(int r) {
  if (r >= 0 && r < (int)(sizeof kNvrtcErrors / sizeof *kNvrtcErrors)) return kNvrtcErrors[r];
  return "NVRTC_ERROR unknown";
}

API int nvrtcCreateProgram(void** prog, const char* src, const char* name, int, const char* const*,
                           const char* const*) {
  if (!prog || !src) return 3;
  Prog* p = new Prog();
  p->src = src;
  p->name = name ? name : "default_program";
  *prog = p;
  return 0;
}

API int nvrtcCompileProgram(void* prog, int nopts, const char* const* opts) {
  if (!prog) return 4;
  Prog* p = (Prog*)prog;
  std::string arch = "compute_52";
  for (int i = 0; i < nopts; ++i) {
    const char* o = opts[i];
    if (std::strncmp(o, "--gpu-architecture=", 19) == 0) arch = o + 19;
    else if (std::strncmp(o, "-arch=", 6) == 0) arch = o + 6;
  }
  // Brackets must balance (outside comments, strings and character literals).
  const std::string& s = p->src;
  std::vector<char> stack;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '/') {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      size_t e = s.find("*/", i + 2);
      i = e == std::string::npos ? s.size() : e + 1;
    } else if (c == '"' || c == '\'') {
      for (++i; i < s.size() && s[i] != c; ++i) {
        if (s[i] == '\\') ++i;
      }
    } else if (c == '(' || c == '{' || c == '[') {
      stack.push_back(c);
    } else if (c == ')' || c == '}' || c == ']') {
      char o = c == ')' ? '(' : c == '}' ? '{' : '[';
      if (stack.empty() || stack.back() != o) {
        p->log = p->name + ": error: unbalanced '" + std::string(1, c) + "' (jarzyn fake NVRTC)";
        return 6;
      }
      stack.pop_back();
    }
  }
  if (!stack.empty()) {
    p->log = p->name + ": error: unclosed '" + std::string(1, stack.back()) + "' (jarzyn fake NVRTC)";
    return 6;
  }
  std::string text = "// jarzyn fake NVRTC: pseudo-PTX, no code\n.version 0.0\n.target " + arch + "\n";
  for (unsigned i = 0; i < jz_drv_table_kernels_len; ++i) {
    const char* n = jz_drv_table_kernels[i].name;
    if (defines_kernel(s, n)) text += std::string(".visible .entry ") + n + "(\n)\n{\n\tret;\n}\n";
  }
  p->out_ptx = text;
  p->out_cubin = std::string("\x7f" "ELF" "JZFAKE", 10) + std::string(1, '\0') + text;
  return 0;
}

API int nvrtcGetProgramLogSize(void* prog, size_t* n) {
  if (!prog || !n) return 3;
  *n = ((Prog*)prog)->log.size() + 1;
  return 0;
}
API int nvrtcGetProgramLog(void* prog, char* log) {
  if (!prog || !log) return 3;
  const std::string& l = ((Prog*)prog)->log;
  std::memcpy(log, l.c_str(), l.size() + 1);
  return 0;
}
API int nvrtcGetPTXSize(void* prog, size_t* n) {
  if (!prog || !n) return 3;
  *n = ((Prog*)prog)->out_ptx.size() + 1;
  return 0;
}
API int nvrtcGetPTX(void* prog, char* out) {
  if (!prog || !out) return 3;
  const std::string& t = ((Prog*)prog)->out_ptx;
  std::memcpy(out, t.c_str(), t.size() + 1);
  return 0;
}
API int nvrtcGetCUBINSize(void* prog, size_t* n) {
  if (!prog || !n) return 3;
  *n = ((Prog*)prog)->out_cubin.size() + 1;
  return 0;
}
API int nvrtcGetCUBIN(void* prog, char* out) {
  if (!prog || !out) return 3;
  const std::string& t = ((Prog*)prog)->out_cubin;
  std::memcpy(out, t.data(), t.size());
  out[t.size()] = 0;
  return 0;
}
API int nvrtcDestroyProgram(void** prog) {
  if (!prog) return 3;
  delete (Prog*)*prog;
  *prog = nullptr;
  return 0;
}
