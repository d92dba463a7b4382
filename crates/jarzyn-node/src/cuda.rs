//! The CUDA backend behind `NativeSampler` (built on Linux and Windows, `cfg(jarzyn_cuda)`):
//! [`CudaSampler`] as a [`DeviceSampler`], `cudaStatus()`'s probe, and fallback reasons.

use jarzyn_core::cuda::{available, nvrtc, CudaSampler, DeviceInfo};
use jarzyn_core::{
  CoreError, GaussianMixture, Observation, ObserveReport, Result as CoreResult, SamplerConfig, SamplerCounters, Scheme,
  WeightSummary,
};

use crate::mirror::{DeviceDesc, DeviceSampler};

pub(crate) fn desc(i: &DeviceInfo) -> DeviceDesc {
  DeviceDesc {
    ordinal: i.ordinal as u32,
    name: i.name.clone(),
    compute_capability: i.compute_capability,
    total_memory: i.total_memory as f64,
    driver_version: i.driver_version,
    device_count: i.device_count,
  }
}

impl DeviceSampler for CudaSampler {
  fn desc(&self) -> DeviceDesc {
    desc(self.device_info())
  }
  fn config(&self) -> &SamplerConfig {
    CudaSampler::config(self)
  }
  fn generation(&self) -> u64 {
    CudaSampler::generation(self)
  }
  fn move_pending(&self) -> bool {
    CudaSampler::move_pending(self)
  }
  fn counters(&self) -> SamplerCounters {
    CudaSampler::counters(self)
  }
  fn log_norm_absorbed(&self) -> f64 {
    CudaSampler::log_norm_absorbed(self)
  }
  fn positions(&self) -> CoreResult<Vec<f32>> {
    CudaSampler::positions(self)
  }
  fn gradients(&self) -> CoreResult<Vec<f32>> {
    CudaSampler::gradients(self)
  }
  fn energies(&self) -> CoreResult<Vec<f32>> {
    CudaSampler::energies(self)
  }
  fn log_weights(&self) -> CoreResult<Vec<f64>> {
    CudaSampler::log_weights(self)
  }
  fn set_positions(&mut self, x: &[f32]) -> CoreResult<()> {
    CudaSampler::set_positions(self, x)
  }
  fn set_gradients(&mut self, g: &[f32]) -> CoreResult<()> {
    CudaSampler::set_gradients(self, g)
  }
  fn set_energies(&mut self, e: &[f32]) -> CoreResult<()> {
    CudaSampler::set_energies(self, e)
  }
  fn set_log_weights(&mut self, a: &[f64]) -> CoreResult<()> {
    CudaSampler::set_log_weights(self, a)
  }
  fn set_step_size(&mut self, h: f64) -> CoreResult<()> {
    CudaSampler::set_step_size(self, h)
  }
  fn move_walkers(&mut self) -> CoreResult<()> {
    CudaSampler::move_walkers(self)
  }
  fn observe(&mut self, energy: &[f32], grad: &[f32]) -> CoreResult<ObserveReport> {
    CudaSampler::observe(self, Observation::External { energy, grad })
  }
  fn summary(&mut self) -> CoreResult<WeightSummary> {
    CudaSampler::summary(self)
  }
  fn log_normalizer_ratio(&mut self) -> CoreResult<f64> {
    CudaSampler::log_normalizer_ratio(self)
  }
  fn normalized_weights(&mut self) -> CoreResult<Vec<f64>> {
    CudaSampler::normalized_weights(self)
  }
  fn resample(&mut self, scheme: Scheme) -> CoreResult<Vec<usize>> {
    CudaSampler::resample(self, scheme)
  }
  fn maybe_resample(&mut self, ess_fraction: f64, scheme: Scheme) -> CoreResult<bool> {
    CudaSampler::maybe_resample(self, ess_fraction, scheme)
  }
  fn reinitialize(&mut self) -> CoreResult<()> {
    CudaSampler::reinitialize(self)
  }
  fn restore_counters(&mut self, c: SamplerCounters) -> CoreResult<()> {
    CudaSampler::restore_counters(self, c)
  }

  // The native Gaussian mixture on the device (energies, gradients, weight update and weighted
  // parameter gradients stay on the GPU: only the K (d + 2) parameters go in and per-chunk partial
  // sums come back). The mirror bookkeeping is the caller's (mirror.rs: both read positions and
  // log-weights; the observation writes log-weights, energies and gradients).
  fn observe_gmm(&mut self, model: &GaussianMixture, _pool: &rayon::ThreadPool) -> CoreResult<ObserveReport> {
    CudaSampler::observe_gmm(self, model)
  }

  fn gmm_walker_grad(&mut self, model: &GaussianMixture, _pool: &rayon::ThreadPool) -> CoreResult<(Vec<f64>, f64)> {
    CudaSampler::gmm_weighted_param_grad(self, model)
  }
}

/// What `cudaStatus()` reports.
pub(crate) struct Status {
  pub info: Result<DeviceInfo, String>,
  pub nvrtc: Result<((i32, i32), String), String>,
}

pub(crate) fn status() -> Status {
  // Loading NVRTC is cheap; the kernels are compiled when the first CUDA sampler is made.
  Status {
    info: available(),
    nvrtc: nvrtc::version(),
  }
}

/// A CUDA sampler, or why it cannot be made (for the fallback warning).
pub(crate) fn new_sampler(cfg: SamplerConfig) -> CoreResult<CudaSampler> {
  CudaSampler::new(cfg)
}

/// The fallback reason for an error of [`new_sampler`].
pub(crate) fn reason(e: &CoreError) -> String {
  match e {
    CoreError::Backend(m) => m.clone(),
    CoreError::OutOfMemory(b) => format!("out of GPU memory allocating {b} bytes"),
    other => other.to_string(),
  }
}
