// jarzyn-cuda-emu: the launcher's interface, used by the wrappers that the build script generates.
#pragma once

extern "C" {
// Runs kernel `name` on a gx x gy grid of blocks of bx threads: `body(ctx)` is one thread's run of
// the kernel (it reads threadIdx & co.). `uses_sync`: the kernel calls __syncthreads (directly or
// through __device__ functions), so each block's threads run as fibers with barriers; otherwise
// one after another in a loop. Errors (bad grid, barrier divergence) are recorded for
// jz_emu_take_error(); fatal ones (a __syncthreads where none was expected) abort.
void jz_emu_launch(const char* name, unsigned gx, unsigned gy, unsigned bx, int uses_sync,
                   void (*body)(void*), void* ctx);
// Records an error of the calling OS thread's current launch (the first one is kept).
void jz_emu_error(const char* msg);
}

template <class F>
static void jz_emu_thunk(void* f) {
  (*static_cast<F*>(f))();
}
