// jarzyn-cuda-emu runtime: grid launches, fibers with barriers for __syncthreads, guarded device
// buffers, error reporting. Linux (glibc) only: fibers, mmap guard pages, sigaction.
//
// Execution model
// - One launch at a time in the whole process (a mutex): the launch coordinates below and the
//   kernels' __shared__ statics are process globals.
// - Blocks run one after another, in increasing (blockIdx.y, blockIdx.x) order, on the OS thread
//   that launched.
// - Kernels without __syncthreads: the block's threads run one after another, each to completion.
// - Kernels with __syncthreads: each thread of the block is a fiber (its own stack; switched by a
//   few instructions on x86-64, by swapcontext elsewhere); the scheduler resumes every live fiber once per pass, and a fiber runs until
//   its next __syncthreads (or its end). So pass k runs every thread from barrier k-1 to barrier
//   k, which is the barrier's meaning; nothing else is ordered. Deterministic, single OS thread.
// - The order of threads within a block (and within each pass) is the calling thread's schedule:
//   forward, reverse or shuffled. A kernel free of data races gives the same bits for all three,
//   so tests run more than one to catch races between threads of a block.
#include "cuda_shim.h"

#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "emu_runtime.h"

uint3 threadIdx;
uint3 blockIdx;
dim3 blockDim;
dim3 gridDim;

namespace {

// ---- settings and errors of the calling OS thread ----
thread_local int tl_schedule = 0;  // 0 forward, 1 reverse, 2 shuffled
thread_local unsigned long long tl_seed = 0;
thread_local int tl_strict_barriers = 1;
thread_local std::string tl_error;
thread_local bool tl_has_error = false;

std::mutex g_launch;

// ---- state of the running launch (under g_launch) ----
volatile sig_atomic_t g_active = 0;
const char* volatile g_name = "";
bool g_fiber_mode = false;
void (*g_body)(void*) = nullptr;
void* g_ctx = nullptr;
unsigned g_cur = 0;

struct Fiber {
  ucontext_t ctx;  // with swapcontext
  void* sp;        // with jz_emu_switch: the saved stack pointer
  char* stack;     // usable stack (a guard page lies below it)
  bool done;
  unsigned syncs;
};
std::vector<Fiber*> g_fibers;
ucontext_t g_sched;
size_t g_page = 4096;

size_t stack_bytes() {
  static size_t s = [] {
    size_t kb = 256;
    if (const char* e = std::getenv("JZ_EMU_STACK_KB")) {
      long v = std::strtol(e, nullptr, 10);
      if (v >= 64) kb = (size_t)v;
    }
    return kb * 1024;
  }();
  return s;
}

[[noreturn]] void fatal(const std::string& m) {
  std::string s = "jarzyn-cuda-emu: fatal: " + m + "\n";
  ssize_t r = write(2, s.data(), s.size());
  (void)r;
  std::abort();
}

void record(const std::string& m) {
  if (!tl_has_error) {
    tl_has_error = true;
    tl_error = m;
  }
}

// ---- SIGSEGV / SIGBUS: name the kernel, then let the signal kill the process ----
struct sigaction g_old_segv, g_old_bus;

void on_fault(int sig, siginfo_t* si, void* uc) {
  if (g_active) {
    char buf[512];
    int n = std::snprintf(buf, sizeof buf,
                          "jarzyn-cuda-emu: %s at address %p in kernel %s, block (%u, %u), thread %u: "
                          "a device-memory access outside its buffer (guard page) or a fiber stack "
                          "overflow (set JZ_EMU_STACK_KB)\n",
                          sig == SIGSEGV ? "SIGSEGV" : "SIGBUS", si ? si->si_addr : nullptr, g_name,
                          blockIdx.x, blockIdx.y, threadIdx.x);
    if (n > 0) {
      ssize_t r = write(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
      (void)r;
    }
    g_active = 0;
  }
  struct sigaction* old = sig == SIGSEGV ? &g_old_segv : &g_old_bus;
  if (old->sa_flags & SA_SIGINFO) {
    if (old->sa_sigaction) {
      old->sa_sigaction(sig, si, uc);
      return;
    }
  } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
    old->sa_handler(sig);
    return;
  }
  // Default action: returning re-executes the faulting access, which now kills the process.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, nullptr);
}

void install_fault_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_page = (size_t)sysconf(_SC_PAGESIZE);
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_old_segv);
    sigaction(SIGBUS, &sa, &g_old_bus);
  });
}

// ---- fibers ----
// A fiber is resumed by the scheduler and yields back to it. On x86-64 the switch is a few
// instructions (callee-saved registers, MXCSR and the x87 control word, stack pointer: what the
// System V ABI asks a call to preserve); elsewhere, or with JZ_EMU_UCONTEXT=1 in the environment,
// glibc's swapcontext, which also saves the signal mask (a system call per switch, ~50x slower).

#if defined(__x86_64__)
extern "C" void jz_emu_switch(void** save_sp, void* to_sp);
asm(R"(
  .text
  .p2align 4
  .globl jz_emu_switch
  .hidden jz_emu_switch
  .type jz_emu_switch, @function
jz_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size jz_emu_switch, .-jz_emu_switch
)");
constexpr bool kFastSwitchAvailable = true;
#else
extern "C" void jz_emu_switch(void**, void*) { std::abort(); }
constexpr bool kFastSwitchAvailable = false;
#endif

bool use_fast_switch() {
  static bool fast = kFastSwitchAvailable && !(std::getenv("JZ_EMU_UCONTEXT") && std::getenv("JZ_EMU_UCONTEXT")[0] == '1');
  return fast;
}

void* g_sched_sp = nullptr;

// Back to the scheduler from the running fiber.
void yield_to_scheduler(Fiber* f) {
  if (use_fast_switch()) {
    jz_emu_switch(&f->sp, g_sched_sp);
  } else {
    swapcontext(&f->ctx, &g_sched);
  }
}

// From the scheduler into fiber f.
void resume(Fiber* f) {
  if (use_fast_switch()) {
    jz_emu_switch(&g_sched_sp, f->sp);
  } else {
    swapcontext(&g_sched, &f->ctx);
  }
}

[[noreturn]] void fiber_main() {
  for (;;) {
    g_body(g_ctx);
    Fiber* f = g_fibers[g_cur];
    f->done = true;
    yield_to_scheduler(f);
    // Resumed for the same thread index of a later block or launch: run the body again.
  }
}

Fiber* new_fiber() {
  size_t sz = stack_bytes();
  char* m = (char*)mmap(nullptr, sz + g_page, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (m == MAP_FAILED) fatal("mmap of a fiber stack failed");
  if (mprotect(m, g_page, PROT_NONE) != 0) fatal("mprotect of a fiber stack guard failed");
  Fiber* f = new Fiber();
  f->stack = m + g_page;
  f->done = true;
  f->syncs = 0;
  if (use_fast_switch()) {
    // The frame jz_emu_switch pops: control words, r15 r14 r13 r12 rbx rbp, then fiber_main as
    // the return address, so that fiber_main starts with the stack aligned as after a call.
    uintptr_t top = ((uintptr_t)(f->stack + sz)) & ~(uintptr_t)15;
    void** sp = (void**)(top - 72);
    uint32_t mxcsr = 0;
    uint16_t fpcw = 0;
#if defined(__x86_64__)
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpcw));
#endif
    std::memset(sp, 0, 72);
    std::memcpy((char*)sp, &mxcsr, 4);
    std::memcpy((char*)sp + 4, &fpcw, 2);
    sp[7] = (void*)&fiber_main;
    f->sp = sp;
  } else {
    if (getcontext(&f->ctx) != 0) fatal("getcontext failed");
    f->ctx.uc_stack.ss_sp = f->stack;
    f->ctx.uc_stack.ss_size = sz;
    f->ctx.uc_link = nullptr;
    makecontext(&f->ctx, (void (*)())fiber_main, 0);
  }
  return f;
}

struct Order {
  std::vector<unsigned> v;
  unsigned long long s = 0;
  void make(unsigned n, int mode, unsigned long long seed, unsigned long long salt) {
    v.resize(n);
    for (unsigned i = 0; i < n; ++i) v[i] = mode == 1 ? n - 1 - i : i;
    if (mode == 2) {
      // splitmix64 of (seed, salt), then Fisher-Yates.
      s = seed ^ (salt * 0x9E3779B97F4A7C15ull);
      auto next = [this]() {
        unsigned long long z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
      };
      for (unsigned i = n; i > 1; --i) {
        unsigned j = (unsigned)(next() % i);
        unsigned t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
      }
    }
  }
};

void run_block_loop(unsigned bx, Order& order, unsigned long long salt) {
  order.make(bx, tl_schedule, tl_seed, salt);
  for (unsigned t : order.v) {
    threadIdx.x = t;
    g_cur = t;
    g_body(g_ctx);
  }
}

void run_block_fibers(unsigned bx, Order& order, unsigned long long salt) {
  while (g_fibers.size() < bx) g_fibers.push_back(new_fiber());
  for (unsigned t = 0; t < bx; ++t) {
    g_fibers[t]->done = false;
    g_fibers[t]->syncs = 0;
  }
  unsigned alive = bx;
  bool reported = false;
  for (unsigned pass = 0; alive > 0; ++pass) {
    order.make(bx, tl_schedule, tl_seed, salt * 1315423911ull + pass);
    unsigned waiting = 0;
    for (unsigned t : order.v) {
      Fiber* f = g_fibers[t];
      if (f->done) continue;
      g_cur = t;
      threadIdx.x = t;
      resume(f);
      if (f->done) {
        --alive;
      } else {
        ++waiting;
      }
    }
    if (waiting > 0 && alive < bx && tl_strict_barriers && !reported) {
      unsigned gone = 0;
      for (unsigned t = 0; t < bx; ++t) {
        if (g_fibers[t]->done && gone == 0) gone = t + 1;
      }
      char buf[320];
      std::snprintf(buf, sizeof buf,
                    "kernel %s, block (%u, %u): thread %u returned while %u threads wait at __syncthreads "
                    "#%u (a barrier not reached by the whole block: undefined on a GPU)",
                    g_name, blockIdx.x, blockIdx.y, gone - 1, waiting, pass + 1);
      record(buf);
      reported = true;
    }
  }
}

}  // namespace

extern "C" {

void jz_emu_syncthreads() {
  if (!g_fiber_mode) {
    fatal(std::string("kernel ") + g_name +
          " called __syncthreads but the build script did not find a __syncthreads in it (or in a __device__ "
          "function it calls): fix the detection in crates/jarzyn-cuda-emu/build/scan.rs");
  }
  Fiber* f = g_fibers[g_cur];
  f->syncs++;
  yield_to_scheduler(f);
}

void jz_emu_error(const char* msg) { record(msg); }

void jz_emu_launch(const char* name, unsigned gx, unsigned gy, unsigned bx, int uses_sync,
                   void (*body)(void*), void* ctx) {
  if (gx == 0 || gy == 0 || bx == 0 || gx > 0x7FFFFFFFu || gy > 65535u || bx > 1024u) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "kernel %s: invalid launch configuration grid (%u, %u) block %u "
                  "(CUDA_ERROR_INVALID_VALUE on a GPU)",
                  name, gx, gy, bx);
    record(buf);
    return;
  }
  install_fault_handler();
  std::lock_guard<std::mutex> lock(g_launch);
  g_name = name;
  g_body = body;
  g_ctx = ctx;
  g_fiber_mode = uses_sync != 0;
  gridDim.x = gx;
  gridDim.y = gy;
  gridDim.z = 1;
  blockDim.x = bx;
  blockDim.y = 1;
  blockDim.z = 1;
  threadIdx.x = threadIdx.y = threadIdx.z = 0;
  blockIdx.z = 0;
  g_active = 1;
  Order order;
  for (unsigned y = 0; y < gy; ++y) {
    for (unsigned x = 0; x < gx; ++x) {
      blockIdx.x = x;
      blockIdx.y = y;
      unsigned long long salt = (unsigned long long)y * gx + x;
      if (g_fiber_mode) {
        run_block_fibers(bx, order, salt);
      } else {
        run_block_loop(bx, order, salt);
      }
    }
  }
  g_active = 0;
  g_fiber_mode = false;
  g_name = "";
}

// ---- settings, errors ----
void jz_emu_set_schedule(int mode, unsigned long long seed) {
  tl_schedule = mode;
  tl_seed = seed;
}
void jz_emu_set_strict_barriers(int on) { tl_strict_barriers = on; }

// Copies the calling thread's first error since the last call into buf (NUL-terminated, cut to
// len) and clears it; returns whether there was one.
int jz_emu_take_error(char* buf, size_t len) {
  if (!tl_has_error) return 0;
  if (len > 0) {
    size_t n = tl_error.size() < len - 1 ? tl_error.size() : len - 1;
    std::memcpy(buf, tl_error.data(), n);
    buf[n] = 0;
  }
  tl_has_error = false;
  tl_error.clear();
  return 1;
}

// ---- guarded device buffers ----
// The buffer starts 256-byte aligned (as cudaMalloc's) and is rounded up to 256 bytes; those
// rounded bytes are the last of its pages, followed by a PROT_NONE page, and a PROT_NONE page
// also precedes its first page. Reads or writes past the rounded end or before the first page
// fault (SIGSEGV, reported with the kernel's name); writes into the slack around the buffer
// inside its pages change a canary pattern that jz_emu_free checks.
static const unsigned char CANARY = 0xA5;

static void layout(size_t bytes, size_t* body, size_t* data_pages) {
  size_t b = bytes == 0 ? 256 : (bytes + 255) / 256 * 256;
  *body = b;
  *data_pages = (b + g_page - 1) / g_page * g_page;
}

void* jz_emu_alloc(size_t bytes) {
  install_fault_handler();
  size_t body, dp;
  layout(bytes, &body, &dp);
  char* base = (char*)mmap(nullptr, dp + 2 * g_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return nullptr;
  if (mprotect(base, g_page, PROT_NONE) != 0 || mprotect(base + g_page + dp, g_page, PROT_NONE) != 0) {
    munmap(base, dp + 2 * g_page);
    return nullptr;
  }
  std::memset(base + g_page, CANARY, dp);
  return base + g_page + dp - body;
}

// Frees a buffer from jz_emu_alloc; returns 0, or 1 when bytes around the buffer were overwritten.
int jz_emu_free(void* p, size_t bytes) {
  size_t body, dp;
  layout(bytes, &body, &dp);
  char* ptr = (char*)p;
  char* first = ptr + body - dp;
  int bad = 0;
  for (char* q = first; q < ptr; ++q) bad |= (unsigned char)*q != CANARY;
  for (char* q = ptr + bytes; q < ptr + body; ++q) bad |= (unsigned char)*q != CANARY;
  munmap(first - g_page, dp + 2 * g_page);
  return bad;
}

}  // extern "C"
