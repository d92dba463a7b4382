//! The emulator's tests, in one binary (each test binary costs a link with LTO in the release
//! profile `npm test` uses). The sampler, resampling and mixture tests run jarzyn-core's real
//! `DeviceWalkers` on the fake CUDA driver (loaded before main by fake_driver.rs); the others launch
//! kernels directly through `jarzyn_cuda_emu::kernels`. Without the `cuda` feature only the
//! latter build.
//! - emulator: the emulator itself, on its own test kernels (cuda/selftest.cu);
//! - rng: jz_philox, jz_box_muller, jz_normals against philox.rs and normal/, bit for bit;
//! - sampler: DeviceWalkers' moves and observations (tiled and row kernels) against
//!   jarzyn_core::CpuWalkers, bit for bit, with resampling and re-initialisation; thread orders on
//!   direct launches of jz_move / jz_observe;
//! - summary: jz_summary against weights::summarize;
//! - resample: the scan (direct, several thread orders) and DeviceWalkers' device resampling
//!   against the CPU's ancestors;
//! - gather: the gathers and fills, and launch timings;
//! - gmm: DeviceWalkers' mixture against models/gmm;
//! - fake_driver: jarzyn-core's CUDA backend (the real host code: CudaBackend, DeviceWalkers, CudaWalkers) on the
//!   fake CUDA driver built from the emulator, with jarzyn-core's GPU tests (tests/cuda.rs) run
//!   on it (feature `cuda`, on by default).
#![cfg(jz_emu)]

mod common;
mod emulator;
#[cfg(feature = "cuda")]
mod fake_driver;
mod gather;
#[cfg(feature = "cuda")]
mod gmm;
mod resample;
mod rng;
#[cfg(feature = "cuda")]
mod sampler;
mod summary;
