//! The CUDA backend of the binding: the walkers on a GPU when it can run (Linux and Windows
//! builds, `cfg(jarzyn_cuda)`), else why not; and `cudaStatus()`'s probe.

use jarzyn_core::{CoreError, WalkerConfig, Walkers};

/// Why there is no CUDA backend in a build without it (macOS).
#[cfg(not(jarzyn_cuda))]
pub(crate) const NO_CUDA_BUILD: &str =
  "this build of jarzyn has no CUDA backend (it is built for Linux and Windows only)";

/// Walkers on the GPU, or the reason they cannot run there (for the fallback warning).
pub(crate) fn new_walkers(cfg: WalkerConfig) -> Result<Box<dyn Walkers>, String> {
  #[cfg(jarzyn_cuda)]
  {
    jarzyn_core::cuda::CudaWalkers::new(cfg)
      .map(|w| Box::new(w) as Box<dyn Walkers>)
      .map_err(|e| match e {
        CoreError::Backend(m) => m,
        CoreError::OutOfMemory(b) => format!("out of GPU memory allocating {b} bytes"),
        other => other.to_string(),
      })
  }
  #[cfg(not(jarzyn_cuda))]
  {
    let _ = cfg;
    Err(NO_CUDA_BUILD.to_string())
  }
}

/// What `cudaStatus()` reports: the device (or why none), NVRTC (or why not).
pub(crate) struct Probe {
  pub built: bool,
  pub device: Result<jarzyn_core::DeviceInfo, String>,
  pub nvrtc: Result<((i32, i32), String), String>,
}

pub(crate) fn probe() -> Probe {
  #[cfg(jarzyn_cuda)]
  {
    // Loading NVRTC is cheap; the kernels are compiled when the first CUDA walkers are made.
    Probe {
      built: true,
      device: jarzyn_core::cuda::available(),
      nvrtc: jarzyn_core::cuda::nvrtc::version(),
    }
  }
  #[cfg(not(jarzyn_cuda))]
  {
    let _ = CoreError::Backend;
    Probe {
      built: false,
      device: Err(NO_CUDA_BUILD.to_string()),
      nvrtc: Err(NO_CUDA_BUILD.to_string()),
    }
  }
}
