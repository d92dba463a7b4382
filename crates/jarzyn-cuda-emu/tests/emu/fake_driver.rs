//! jarzyn-core's CUDA backend on the fake CUDA driver (cuda/fake_driver.cpp, linked by the build
//! script into OUT_DIR/fakecuda/libcuda.so with the emulated kernels and a fake NVRTC).
//!
//! Before `main` (an `.init_array` entry), this test binary loads the fake driver by its full path.
//! Its soname is `libcuda.so`, the first name cudarc asks the dynamic loader for, and glibc answers a
//! `dlopen` by name with an already loaded library of that soname: so `cuda::available()`,
//! `CudaBackend` and `DeviceWalkers` find the fake driver in this process, whatever driver the machine
//! has, with no environment set by the caller. JARZYN_NVRTC is pointed at the same library (its
//! fake NVRTC) and JARZYN_CACHE_DIR is emptied (no disk cache of the fake images).
//!
//! Then jarzyn-core's tests/cuda.rs runs here as a module: its GPU tests (CPU and GPU agree on
//! Philox, Box-Muller, normals and positions bit for bit, log-weights, summaries, resampling with
//! the four schemes, long rows, the Gaussian mixture, the Jarzynski identity) run the real host
//! code against the emulated kernels. The tests below check that the fake driver is the one in use
//! (so that nothing is skipped silently) and that it reports misuse.

use cudarc::driver::{CudaContext, LaunchConfig, PushKernelArg};
use jarzyn_core::cuda::{self, nvrtc};

#[path = "../../../jarzyn-core/tests/cuda.rs"]
mod core_cuda;

/// The fake driver's directory (the build script's output).
pub const FAKE_CUDA_DIR: &str = env!("JZ_FAKE_CUDA_DIR");

#[used]
#[link_section = ".init_array"]
static LOAD_FAKE_DRIVER: extern "C" fn() = load_fake_driver;

extern "C" fn load_fake_driver() {
  let lib = format!("{FAKE_CUDA_DIR}/libcuda.so");
  // SAFETY: the fake driver's initialisers only set up its own state.
  match unsafe { libloading::Library::new(&lib) } {
    // Kept loaded for the life of the process.
    Ok(l) => std::mem::forget(l),
    Err(e) => {
      eprintln!("jarzyn-cuda-emu: could not load the fake CUDA driver {lib}: {e}");
      return;
    }
  }
  // Before main: no other thread reads the environment yet.
  std::env::set_var("JARZYN_NVRTC", &lib);
  std::env::set_var("JARZYN_CACHE_DIR", "");
}

#[test]
fn the_fake_driver_is_in_use() {
  let info = cuda::available().expect("the fake CUDA driver is loaded");
  assert_eq!(info.name, "jarzyn emulated GPU");
  assert_eq!(info.compute_capability, (9, 0));
  assert_eq!(info.driver_version, 12080);
  assert_eq!(info.device_count, 1);
  let ((maj, min), path) = nvrtc::version().unwrap();
  assert_eq!((maj, min), (12, 99), "the fake NVRTC ({path})");
  let s = jarzyn_core::cuda::DeviceWalkers::new(jarzyn_core::WalkerConfig {
    walkers: 10,
    dim: 2,
    step_size: 0.1,
    seed: 1,
    threads: 1,
    weighted: true,
  })
  .unwrap();
  assert_eq!(s.device_info().name, "jarzyn emulated GPU");
}

fn cfg(n: u32) -> LaunchConfig {
  LaunchConfig {
    grid_dim: (n.div_ceil(256), 1, 1),
    block_dim: (256, 1, 1),
    shared_mem_bytes: 0,
  }
}

/// A launch through cudarc runs the emulated kernel; a wrong argument list, a bad configuration
/// and unknown kernels are errors (with the reason on stderr), as they would be (or should be) on a
/// GPU.
#[test]
fn the_fake_driver_launches_and_reports_misuse() {
  cuda::available().unwrap();
  let ctx = CudaContext::new(0).unwrap();
  let st = ctx.default_stream();
  let ptx = nvrtc::kernels_ptx("compute_90").unwrap();
  let m = ctx.load_module(cudarc::nvrtc::Ptx::from_src(ptx)).unwrap();
  assert!(m.load_function("jz_no_such_kernel").is_err());
  let f = m.load_function("jz_fill_f64").unwrap();
  let n = 1000u32;
  let mut a = st.alloc_zeros::<f64>(n as usize).unwrap();
  let v = 2.5f64;
  let mut b = st.launch_builder(&f);
  b.arg(&mut a).arg(&n).arg(&v);
  // SAFETY: jz_fill_f64(double* dst, u32 n, double v); a holds n doubles.
  unsafe { b.launch(cfg(n)) }.unwrap();
  assert!(st.clone_dtoh(&a).unwrap().iter().all(|&x| x == 2.5));

  // Arguments in the wrong order: the first is no device pointer.
  let bogus = 12345u64;
  let mut b = st.launch_builder(&f);
  b.arg(&bogus).arg(&n).arg(&v);
  // SAFETY: the fake driver checks pointer arguments before running anything.
  assert!(unsafe { b.launch(cfg(n)) }.is_err());

  // Blocks of more than 1024 threads.
  let mut b = st.launch_builder(&f);
  b.arg(&mut a).arg(&n).arg(&v);
  let big = LaunchConfig {
    grid_dim: (1, 1, 1),
    block_dim: (2048, 1, 1),
    shared_mem_bytes: 0,
  };
  // SAFETY: refused before running.
  assert!(unsafe { b.launch(big) }.is_err());
}

#[test]
fn fresh_device_memory_is_not_zero() {
  // cudarc's uninitialised `alloc` gets 0xFF bytes here, so host code that reads device memory
  // it never wrote sees NaN / u32::MAX, not a lucky zero.
  cuda::available().unwrap();
  let ctx = CudaContext::new(0).unwrap();
  let st = ctx.default_stream();
  // SAFETY: read back only to look at the fill.
  let a = unsafe { st.alloc::<u32>(8) }.unwrap();
  assert!(st.clone_dtoh(&a).unwrap().iter().all(|&x| x == u32::MAX));
}
