//! Node.js binding of jarzyn-core. Thin on purpose: argument checks that need JavaScript values
//! (aliasing, typed-array kinds) happen here; everything else is the core's. The public,
//! documented API is the TypeScript layer in `ts/`, which wraps these classes.
#![deny(clippy::all)]

use std::ops::Range;

use jarzyn_core::CoreError;
use napi::bindgen_prelude::*;

#[cfg(jarzyn_cuda)]
mod cuda;
mod gmm;
mod mirror;
mod rng;
mod sampler;

use napi_derive::napi;

/// Why there is no CUDA backend in a build without it (macOS).
#[cfg(not(jarzyn_cuda))]
pub(crate) const NO_CUDA_BUILD: &str =
  "this build of jarzyn has no CUDA backend (it is built for Linux and Windows only)";

/// Whether CUDA samplers can be made here, and on what.
#[napi(object)]
pub struct NativeCudaStatus {
  /// The addon was built with the CUDA backend (Linux, Windows).
  pub built: bool,
  /// A driver (CUDA 12.2+), a device and NVRTC were found.
  pub available: bool,
  /// Why not, when not available.
  pub reason: Option<String>,
  pub device: Option<sampler::NativeDeviceInfo>,
  /// NVRTC's version, e.g. "12.9", and the library loaded.
  pub nvrtc_version: Option<String>,
  pub nvrtc_path: Option<String>,
  /// Why NVRTC could not be loaded (also when the driver or device is what is missing).
  pub nvrtc_error: Option<String>,
}

/// Probe the CUDA driver, device 0 and NVRTC (once per process; never throws).
#[napi]
pub fn cuda_status() -> NativeCudaStatus {
  #[cfg(jarzyn_cuda)]
  {
    let st = cuda::status();
    let (nvrtc_version, nvrtc_path, nvrtc_err) = match st.nvrtc {
      Ok(((maj, min), path)) => (Some(format!("{maj}.{min}")), Some(path), None),
      Err(e) => (None, None, Some(e)),
    };
    let (device, dev_err) = match st.info {
      Ok(i) => (Some(sampler::device_info_to_js(&cuda::desc(&i))), None),
      Err(e) => (None, Some(e)),
    };
    let reason = dev_err.or(nvrtc_err.clone());
    NativeCudaStatus {
      built: true,
      available: reason.is_none(),
      reason,
      device,
      nvrtc_version,
      nvrtc_path,
      nvrtc_error: nvrtc_err,
    }
  }
  #[cfg(not(jarzyn_cuda))]
  NativeCudaStatus {
    built: false,
    available: false,
    reason: Some(NO_CUDA_BUILD.to_string()),
    device: None,
    nvrtc_version: None,
    nvrtc_path: None,
    nvrtc_error: None,
  }
}

/// Errors cross the boundary as "CODE|Class|message"; the TypeScript layer turns them into a
/// TypeError/RangeError/Error with `code` set.
pub(crate) fn js_err(e: CoreError) -> Error {
  Error::new(Status::GenericFailure, format!("{}|{}|{}", e.code(), e.js_class(), e))
}

pub(crate) fn disposed() -> Error {
  Error::new(
    Status::GenericFailure,
    "ERR_JARZYN_DISPOSED|Error|the sampler was disposed; create a new one".to_string(),
  )
}

pub(crate) fn addr_range<T>(s: &[T]) -> Range<usize> {
  let start = s.as_ptr() as usize;
  start..start + std::mem::size_of_val(s)
}

pub(crate) fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
  a.start < b.end && b.start < a.end && !a.is_empty() && !b.is_empty()
}

/// The GPU section of `npm run bench` (jarzyn_core::cuda::bench::run_all): JSON with the device's
/// copy bandwidth, move + observe walker-steps per second and bandwidth fractions, and the
/// Gaussian-mixture iteration on GPU and CPU. Throws ERR_JARZYN_BACKEND without a usable GPU.
/// Blocks the calling thread for the whole benchmark (minutes): a benchmark entry point only.
#[napi]
pub fn cuda_bench(cpu_threads: u32, quick: bool) -> Result<String> {
  #[cfg(jarzyn_cuda)]
  {
    jarzyn_core::cuda::bench::run_all(cpu_threads.max(1) as usize, quick).map_err(js_err)
  }
  #[cfg(not(jarzyn_cuda))]
  {
    let _ = (cpu_threads, quick);
    Err(js_err(CoreError::Backend(NO_CUDA_BUILD.to_string())))
  }
}
