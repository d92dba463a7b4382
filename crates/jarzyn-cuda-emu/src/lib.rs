#![doc = include_str!("../README.md")]

#[cfg(jz_emu)]
pub mod backend;

/// A launch configuration: `gx` x `gy` blocks of `block` threads (1-D blocks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
  pub gx: u32,
  pub gy: u32,
  pub block: u32,
}

impl Grid {
  /// ceil(n / block) blocks (at least one) of `block` threads, as `grid()` in cuda/backend.rs.
  pub fn linear(n: u64, block: u32) -> Grid {
    let blocks = n.div_ceil(block as u64).max(1);
    assert!(blocks <= i32::MAX as u64, "too many blocks");
    Grid {
      gx: blocks as u32,
      gy: 1,
      block,
    }
  }
  /// Exactly `blocks` blocks of `block` threads.
  pub fn blocks(blocks: u32, block: u32) -> Grid {
    Grid {
      gx: blocks,
      gy: 1,
      block,
    }
  }
}

/// A kernel found in the source by the build script (build/scan.rs).
#[derive(Clone, Copy, Debug)]
pub struct KernelInfo {
  pub name: &'static str,
  /// Whether it reaches `__syncthreads` (and so runs its blocks as fibers).
  pub uses_syncthreads: bool,
  /// Its parameter list as preprocessed.
  pub signature: &'static str,
}

/// The order in which the threads of a block run (and, for kernels with barriers, are resumed
/// at each barrier). Setting of the calling OS thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
  Forward,
  Reverse,
  /// A fresh permutation for each block and barrier pass, from this seed.
  Shuffled(u64),
}

#[cfg(jz_emu)]
mod imp {
  use super::Schedule;

  extern "C" {
    fn jz_emu_set_schedule(mode: i32, seed: u64);
    fn jz_emu_set_strict_barriers(on: i32);
    fn jz_emu_take_error(buf: *mut u8, len: usize) -> i32;
    fn jz_emu_alloc(bytes: usize) -> *mut u8;
    fn jz_emu_free(p: *mut u8, bytes: usize) -> i32;
  }

  pub fn set_schedule(s: Schedule) {
    let (m, seed) = match s {
      Schedule::Forward => (0, 0),
      Schedule::Reverse => (1, 0),
      Schedule::Shuffled(seed) => (2, seed),
    };
    // SAFETY: sets a thread-local of the runtime.
    unsafe { jz_emu_set_schedule(m, seed) }
  }

  pub fn set_strict_barriers(on: bool) {
    // SAFETY: sets a thread-local of the runtime.
    unsafe { jz_emu_set_strict_barriers(on as i32) }
  }

  pub fn take_error() -> Option<String> {
    let mut buf = vec![0u8; 1024];
    // SAFETY: buf is valid for its length; the runtime NUL-terminates.
    if unsafe { jz_emu_take_error(buf.as_mut_ptr(), buf.len()) } == 0 {
      return None;
    }
    let n = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
  }

  pub fn alloc(bytes: usize) -> *mut u8 {
    // SAFETY: plain allocation.
    let p = unsafe { jz_emu_alloc(bytes) };
    assert!(!p.is_null(), "jarzyn-cuda-emu: out of memory allocating {bytes} bytes");
    p
  }

  /// SAFETY: p came from `alloc(bytes)` and is not used afterwards.
  pub unsafe fn free(p: *mut u8, bytes: usize) -> bool {
    jz_emu_free(p, bytes) == 0
  }
}

#[cfg(jz_emu)]
pub use imp::{set_schedule, set_strict_barriers};

/// Runs `f` with the calling thread's schedule set to `s`, then back to forward.
#[cfg(jz_emu)]
pub fn with_schedule<R>(s: Schedule, f: impl FnOnce() -> R) -> R {
  struct Reset;
  impl Drop for Reset {
    fn drop(&mut self) {
      set_schedule(Schedule::Forward);
    }
  }
  set_schedule(s);
  let _r = Reset;
  f()
}

#[cfg(jz_emu)]
#[doc(hidden)]
pub fn before_launch() {
  // An error left over from a launch whose wrapper did not run to its check.
  let _ = imp::take_error();
}

#[cfg(jz_emu)]
#[doc(hidden)]
pub fn after_launch(name: &str) {
  if let Some(e) = imp::take_error() {
    panic!("jarzyn-cuda-emu: launch of {name} failed: {e}");
  }
}

/// The kernels of `jarzyn_core::cuda::kernel_source()`: one launcher per `extern "C" __global__`
/// function, with [`Grid`] first and the kernel's parameters after, plus [`kernels::KERNELS`].
#[cfg(jz_emu)]
pub mod kernels {
  include!(concat!(env!("OUT_DIR"), "/kernels.rs"));
}

/// The emulator's own test kernels (cuda/selftest.cu).
#[cfg(jz_emu)]
#[doc(hidden)]
pub mod selftest {
  include!(concat!(env!("OUT_DIR"), "/selftest.rs"));
}

/// Plain-old-data element types of device buffers.
///
/// # Safety
/// Every bit pattern must be a valid value.
pub unsafe trait Pod: Copy + Default + 'static {}
// SAFETY: all bit patterns are valid for these.
unsafe impl Pod for u8 {}
unsafe impl Pod for u16 {}
unsafe impl Pod for u32 {}
unsafe impl Pod for u64 {}
unsafe impl Pod for i32 {}
unsafe impl Pod for i64 {}
unsafe impl Pod for f32 {}
unsafe impl Pod for f64 {}
unsafe impl<T: Pod, const N: usize> Pod for [T; N] where [T; N]: Default {}

/// "Device" memory: a host buffer laid out so that kernels overrunning it are caught (see the
/// crate docs). Derefs to a slice; `ptr()` / `mut_ptr()` give the kernel arguments.
#[cfg(jz_emu)]
pub struct DeviceBuf<T: Pod> {
  ptr: *mut T,
  len: usize,
}

#[cfg(jz_emu)]
impl<T: Pod> DeviceBuf<T> {
  /// `len` zeros (as cudarc's `alloc_zeros`).
  pub fn zeros(len: usize) -> Self {
    let bytes = len * std::mem::size_of::<T>();
    let ptr = imp::alloc(bytes) as *mut T;
    assert_eq!(ptr as usize % std::mem::align_of::<T>(), 0);
    // SAFETY: ptr is valid for `bytes` bytes; zero bytes are a valid T (Pod).
    unsafe { std::ptr::write_bytes(ptr as *mut u8, 0, bytes) };
    DeviceBuf { ptr, len }
  }
  /// A copy of `v` (as `clone_htod`).
  pub fn from_slice(v: &[T]) -> Self {
    let mut b = Self::zeros(v.len());
    b.copy_from_slice(v);
    b
  }
  pub fn ptr(&self) -> *const T {
    self.ptr
  }
  pub fn mut_ptr(&mut self) -> *mut T {
    self.ptr
  }
  /// Checks the canary around the buffer: Err when a kernel wrote outside it.
  pub fn check(&self) -> Result<(), String> {
    let bytes = self.len * std::mem::size_of::<T>();
    let body = if bytes == 0 { 256 } else { bytes.div_ceil(256) * 256 };
    // SAFETY: the slack between the end and the 256-byte rounded end is mapped (same pages).
    let slack = unsafe { std::slice::from_raw_parts((self.ptr as *const u8).add(bytes), body - bytes) };
    if slack.iter().any(|&c| c != 0xA5) {
      return Err(format!(
        "a kernel wrote past the end of a device buffer of {} elements",
        self.len
      ));
    }
    Ok(())
  }
}

#[cfg(jz_emu)]
impl<T: Pod> std::ops::Deref for DeviceBuf<T> {
  type Target = [T];
  fn deref(&self) -> &[T] {
    // SAFETY: ptr is valid for len initialised elements.
    unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
  }
}

#[cfg(jz_emu)]
impl<T: Pod> std::ops::DerefMut for DeviceBuf<T> {
  fn deref_mut(&mut self) -> &mut [T] {
    // SAFETY: as above, uniquely borrowed.
    unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
  }
}

#[cfg(jz_emu)]
impl<T: Pod> Drop for DeviceBuf<T> {
  fn drop(&mut self) {
    let bytes = self.len * std::mem::size_of::<T>();
    // SAFETY: ptr came from alloc(bytes) and is not used after this.
    let clean = unsafe { imp::free(self.ptr as *mut u8, bytes) };
    if !clean && !std::thread::panicking() {
      panic!(
        "jarzyn-cuda-emu: a kernel wrote outside a device buffer of {} elements ({} bytes)",
        self.len, bytes
      );
    }
  }
}

// SAFETY: the buffer is owned memory like a Vec's.
#[cfg(jz_emu)]
unsafe impl<T: Pod + Send> Send for DeviceBuf<T> {}
#[cfg(jz_emu)]
unsafe impl<T: Pod + Sync> Sync for DeviceBuf<T> {}
