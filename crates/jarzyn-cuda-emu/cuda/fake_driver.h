// jarzyn-cuda-emu fake driver: the table of emulated kernels that the build script generates
// (OUT_DIR/kernels_drv.cpp) for cuModuleGetFunction / cuLaunchKernel.
#pragma once

extern "C" {
struct JzDrvKernel {
  const char* name;
  unsigned nparams;
  // Runs the kernel on a gx x gy grid of bx threads with its arguments read from kernelParams
  // (kernelParams[i] points at argument i). Returns nonzero when a pointer argument is not inside a
  // live device allocation (reported on stderr; nothing ran).
  int (*launch)(unsigned gx, unsigned gy, unsigned bx, void** kernelParams);
};
extern const JzDrvKernel jz_drv_table_kernels[];
extern const unsigned jz_drv_table_kernels_len;
// Reports and returns 1 when p is neither null nor inside a live allocation.
int jz_drv_check_ptr(const char* kernel, unsigned index, const char* param, const void* p);
int jz_drv_not_supported(const char* name);
}
