//! Node.js binding of jarzyn-core. Thin on purpose: argument checks that need JavaScript values
//! (aliasing, typed-array kinds) happen here; everything else is the core's. The public,
//! documented API is the TypeScript layer in `ts/`, which wraps these classes.
#![deny(clippy::all)]

mod cuda;
mod errors;
mod gmm;
mod random;
mod sampler;

use napi_derive::napi;

/// Whether CUDA walkers can be made here, and on what.
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
  let p = cuda::probe();
  let (nvrtc_version, nvrtc_path, nvrtc_error) = match (p.built, p.nvrtc) {
    (false, _) => (None, None, None),
    (true, Ok(((maj, min), path))) => (Some(format!("{maj}.{min}")), Some(path), None),
    (true, Err(e)) => (None, None, Some(e)),
  };
  let (device, device_error) = match p.device {
    Ok(i) => (Some(sampler::device_info_to_js(&i)), None),
    Err(e) => (None, Some(e)),
  };
  let reason = device_error.or(nvrtc_error.clone());
  NativeCudaStatus {
    built: p.built,
    available: reason.is_none(),
    reason,
    device,
    nvrtc_version,
    nvrtc_path,
    nvrtc_error,
  }
}
