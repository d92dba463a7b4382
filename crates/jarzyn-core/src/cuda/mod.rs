//! CUDA backend (cargo feature `cuda`): the ULA move, the Jarzynski weight update and the
//! log-weight summary on an NVIDIA GPU, through `cudarc` with the driver loaded at run time.
//!
//! - Building needs no CUDA. At run time [`available`] needs `libcuda.so.1` (Windows:
//!   `nvcuda.dll`; NVIDIA driver for CUDA 12.2 or newer) and a device; the kernels need NVRTC
//!   (`libnvrtc.so`, Windows `nvrtc64_120_0.dll`, found by [`nvrtc`]), which compiles
//!   [`kernel_source`] (the CUDA C of `kernels/`) to PTX at first use (cached per process).
//! - Bits: Philox blocks, normals and positions after moves are computed by the same IEEE
//!   operations as the CPU (kernels/common.cuh says which), so they are meant to be bit-identical; the
//!   weight summary uses a block tree reduction and agrees with the CPU to round-off only.
//! - Resampling runs on the device (four schemes, same uniforms as the CPU; ancestors agree with
//!   the CPU's up to round-off at boundaries), and so does the native Gaussian-mixture energy with
//!   its weighted parameter gradients: a mixture training run stays on the GPU.
//! - NOT YET RUN ON A GPU: written and compiled (NVRTC) without a device, and the kernels' logic
//!   checked against the CPU on a CPU emulation of CUDA (crates/jarzyn-cuda-emu); see README.

mod backend;
mod gmm;
mod mirror;
pub mod nvrtc;
mod resample;
mod walkers;

use std::sync::OnceLock;

pub use crate::walkers::DeviceInfo;
pub use backend::CudaBackend;
pub use mirror::CudaWalkers;
pub use walkers::DeviceWalkers;

/// The CUDA C source of the kernels, without the generated constant prelude: the files of
/// `cuda/kernels/` in an order where every definition precedes its uses (common.cuh first).
pub const KERNELS_CU: &str = concat!(
  include_str!("kernels/common.cuh"),
  include_str!("kernels/rng.cu"),
  include_str!("kernels/move_observe.cu"),
  include_str!("kernels/summary.cu"),
  include_str!("kernels/resample.cu"),
  include_str!("kernels/gmm.cu"),
);

/// Minimum driver API version (cuDriverGetVersion): the cudarc bindings are built for 12.2.
pub const MIN_DRIVER_VERSION: i32 = 12020;

/// The full source handed to NVRTC: `#define`s of the Philox and Box-Muller constants generated
/// from the Rust constants' bits, then [`KERNELS_CU`].
pub fn kernel_source() -> String {
  use crate::normal::*;
  use crate::philox::{M0, M1, W0, W1};
  let mut s = String::from("// generated from crates/jarzyn-core/src/{philox,normal}.rs\n");
  for (n, v) in [
    ("M0", M0),
    ("M1", M1),
    ("W0", W0),
    ("W1", W1),
    ("SQRT_HALF_BITS", SQRT_HALF_BITS),
  ] {
    s += &format!("#define {n} 0x{v:08X}u\n");
  }
  let f: [(&str, f32); 20] = [
    ("LN2_F", LN2),
    ("HALF_PI_F", HALF_PI),
    ("L3_F", L3),
    ("L5_F", L5),
    ("L7_F", L7),
    ("L9_F", L9),
    ("S3_F", S3),
    ("S5_F", S5),
    ("S7_F", S7),
    ("S9_F", S9),
    ("S11_F", S11),
    ("C2_F", C2),
    ("C4_F", C4),
    ("C6_F", C6),
    ("C8_F", C8),
    ("C10_F", C10),
    ("C12_F", C12),
    ("INV_2_32_F", INV_2_32),
    ("INV_2_33_F", INV_2_33),
    ("INV_2_30_F", INV_2_30),
  ];
  for (n, v) in f {
    s += &format!("#define {n} __uint_as_float(0x{:08X}u) // {v:e}\n", v.to_bits());
  }
  s + KERNELS_CU
}

fn probe() -> Result<DeviceInfo, String> {
  use cudarc::driver::{result, sys};
  // SAFETY: only tries to dlopen the driver library.
  if !unsafe { sys::is_culib_present() } {
    let lib = if cfg!(windows) {
      "nvcuda.dll"
    } else {
      "libcuda.so.1 (or libcuda.so)"
    };
    return Err(format!(
      "no CUDA driver: {lib} could not be loaded; install the NVIDIA driver"
    ));
  }
  result::init()
    .map_err(|e| format!("cuInit failed: {e} (no usable GPU, or the driver does not match the kernel module)"))?;
  let mut v = 0;
  // SAFETY: valid out-pointer.
  unsafe { sys::cuDriverGetVersion(&mut v) }
    .result()
    .map_err(|e| format!("cuDriverGetVersion failed: {e}"))?;
  if v < MIN_DRIVER_VERSION {
    return Err(format!(
      "the NVIDIA driver supports CUDA {}.{}; jarzyn's CUDA backend needs 12.2 or newer",
      v / 1000,
      (v % 1000) / 10
    ));
  }
  let count = result::device::get_count().map_err(|e| format!("cuDeviceGetCount failed: {e}"))?;
  if count <= 0 {
    return Err("the CUDA driver reports no device".into());
  }
  let dev = result::device::get(0).map_err(|e| format!("cuDeviceGet(0) failed: {e}"))?;
  let name = result::device::get_name(dev).map_err(|e| format!("cuDeviceGetName failed: {e}"))?;
  let attr = |a| unsafe { result::device::get_attribute(dev, a) };
  let major = attr(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
    .map_err(|e| format!("cuDeviceGetAttribute failed: {e}"))?;
  let minor = attr(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
    .map_err(|e| format!("cuDeviceGetAttribute failed: {e}"))?;
  // SAFETY: dev is a valid device handle.
  let total = unsafe { result::device::total_mem(dev) }.map_err(|e| format!("cuDeviceTotalMem failed: {e}"))?;
  Ok(DeviceInfo {
    ordinal: 0,
    name,
    compute_capability: (major, minor),
    total_memory: total,
    driver_version: v,
    device_count: count,
  })
}

/// Whether the CUDA backend can run here, and on what. Never panics: a missing driver, a failing
/// cuInit, no device or a driver older than CUDA 12.2 give `Err` with the reason. Probed once per
/// process.
pub fn available() -> Result<DeviceInfo, String> {
  static PROBE: OnceLock<Result<DeviceInfo, String>> = OnceLock::new();
  PROBE
    .get_or_init(|| {
      std::panic::catch_unwind(probe).unwrap_or_else(|p| {
        let msg = p
          .downcast_ref::<String>()
          .cloned()
          .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
          .unwrap_or_else(|| "unknown panic".into());
        Err(format!("CUDA driver unusable: {msg}"))
      })
    })
    .clone()
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn prelude_defines_every_constant_the_kernels_use() {
    let src = kernel_source();
    for name in [
      "M0",
      "M1",
      "W0",
      "W1",
      "SQRT_HALF_BITS",
      "LN2_F",
      "HALF_PI_F",
      "L3_F",
      "L9_F",
      "S11_F",
      "C12_F",
      "INV_2_33_F",
    ] {
      assert!(src.contains(&format!("#define {name} ")), "{name}");
      assert!(KERNELS_CU.contains(name), "{name} unused");
    }
    assert!(src.contains("#define M0 0xD2511F53u"));
    assert!(src.contains("#define L3_F __uint_as_float(0x3EAAAAABu)"));
  }
}
