//! Samplers whose walkers live on a device (CUDA), seen from JavaScript through host mirrors of
//! their four buffers: [`MirrorEngine`] over a [`DeviceSampler`].
//!
//! Mirror rules (the TypeScript layer documents them for users):
//! - A mirror is `Clean(g)` when it equals the device buffer as of the sampler's generation `g`,
//!   `Stale` when the device has changed since, and `HostDirty` when JavaScript was handed the view
//!   for writing since the last copy (the binding cannot see writes, so a handed-out view counts as
//!   written).
//! - Reads ([`MirrorEngine::access`]) copy a stale mirror from the device (N d 4 bytes for
//!   positions and gradients, N 4 for energies, N 8 for log-weights).
//! - Before an operation reads a buffer on the device, a `HostDirty` mirror of it is copied to the
//!   device ([`MirrorEngine::pre`]), except positions between `move()` and `observe()`, which the
//!   device refuses: those writes are dropped and the mirror refreshed from the device on its next
//!   read.
//! - After an operation, the buffers it wrote are `Stale`; the others keep their state
//!   ([`MirrorEngine::post`]).
//!
//! [`Emulated`] is a [`DeviceSampler`] made of the CPU sampler with private buffers: the same
//! copies in and out as a GPU, so that the mirror logic is tested on machines without one
//! (`JARZYN_CUDA_EMULATE=1`, for tests only).

use jarzyn_core::sampler::{walker_chunk, FixedBuf};
use jarzyn_core::{
  CoreError, GaussianMixture, Observation, ObserveReport, Result as CoreResult, Sampler, SamplerConfig,
  SamplerCounters, Scheme, WeightSummary,
};
use rayon::prelude::*;

/// Buffer indices, as the views' `which` (0 positions, 1 gradients, 2 energies, 3 log-weights).
pub(crate) const X: usize = 0;
pub(crate) const G: usize = 1;
pub(crate) const E: usize = 2;
pub(crate) const A: usize = 3;
pub(crate) const ALL: u8 = 0b1111;
pub(crate) const fn bit(i: usize) -> u8 {
  1 << i
}

/// The device a sampler runs on, for JavaScript.
#[derive(Clone, Debug)]
pub(crate) struct DeviceDesc {
  pub ordinal: u32,
  pub name: String,
  pub compute_capability: (i32, i32),
  pub total_memory: f64,
  pub driver_version: i32,
  pub device_count: i32,
}

/// What a sampler with device-resident walkers offers: the operations of `jarzyn_core::Sampler`
/// with copies in and out instead of shared buffers (`jarzyn_core::cuda::CudaSampler`'s API).
pub(crate) trait DeviceSampler: Send {
  fn desc(&self) -> DeviceDesc;
  fn config(&self) -> &SamplerConfig;
  /// Bumped by every change of the walkers' state.
  fn generation(&self) -> u64;
  fn move_pending(&self) -> bool;
  fn counters(&self) -> SamplerCounters;
  fn log_norm_absorbed(&self) -> f64;
  fn positions(&self) -> CoreResult<Vec<f32>>;
  fn gradients(&self) -> CoreResult<Vec<f32>>;
  fn energies(&self) -> CoreResult<Vec<f32>>;
  fn log_weights(&self) -> CoreResult<Vec<f64>>;
  /// Refused between `move_walkers` and `observe`.
  fn set_positions(&mut self, x: &[f32]) -> CoreResult<()>;
  fn set_gradients(&mut self, g: &[f32]) -> CoreResult<()>;
  fn set_energies(&mut self, e: &[f32]) -> CoreResult<()>;
  fn set_log_weights(&mut self, a: &[f64]) -> CoreResult<()>;
  fn set_step_size(&mut self, h: f64) -> CoreResult<()>;
  fn move_walkers(&mut self) -> CoreResult<()>;
  /// Host arrays only (`Observation::External`).
  fn observe(&mut self, energy: &[f32], grad: &[f32]) -> CoreResult<ObserveReport>;
  fn summary(&mut self) -> CoreResult<WeightSummary>;
  fn log_normalizer_ratio(&mut self) -> CoreResult<f64>;
  fn normalized_weights(&mut self) -> CoreResult<Vec<f64>>;
  fn resample(&mut self, scheme: Scheme) -> CoreResult<Vec<usize>>;
  fn maybe_resample(&mut self, ess_fraction: f64, scheme: Scheme) -> CoreResult<bool>;
  fn reinitialize(&mut self) -> CoreResult<()>;
  fn restore_counters(&mut self, c: SamplerCounters) -> CoreResult<()>;
  /// The Gaussian mixture's U and grad U at the walkers, then the weight update.
  fn observe_gmm(&mut self, model: &GaussianMixture, pool: &rayon::ThreadPool) -> CoreResult<ObserveReport>;
  /// sum_i p_i dU/dtheta(X_i) and sum_i p_i U(X_i) with the normalised weights p.
  fn gmm_walker_grad(&mut self, model: &GaussianMixture, pool: &rayon::ThreadPool) -> CoreResult<(Vec<f64>, f64)>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mirror {
  Stale,
  Clean(u64),
  HostDirty,
}

pub(crate) struct MirrorEngine {
  pub s: Box<dyn DeviceSampler>,
  pub positions: FixedBuf<f32>,
  pub gradients: FixedBuf<f32>,
  pub energies: FixedBuf<f32>,
  pub log_weights: FixedBuf<f64>,
  state: [Mirror; 4],
  /// Bytes copied device -> host into the mirrors, and host -> device from them (tests).
  pub bytes_down: u64,
  pub bytes_up: u64,
}

fn bytes_of(i: usize, n: usize, d: usize) -> u64 {
  (match i {
    X | G => n * d * 4,
    E => n * 4,
    _ => n * 8,
  }) as u64
}

impl MirrorEngine {
  /// Mirrors of a sampler whose buffers are all zero (as a new one's are).
  pub fn new(s: Box<dyn DeviceSampler>) -> CoreResult<Self> {
    let (n, d) = (s.config().walkers, s.config().dim);
    let g = s.generation();
    Ok(MirrorEngine {
      positions: FixedBuf::new(n * d)?,
      gradients: FixedBuf::new(n * d)?,
      energies: FixedBuf::new(n)?,
      log_weights: FixedBuf::new(n)?,
      state: [Mirror::Clean(g); 4],
      s,
      bytes_down: 0,
      bytes_up: 0,
    })
  }

  fn current(&self, i: usize) -> bool {
    self.state[i] == Mirror::Clean(self.s.generation())
  }

  /// Copy buffer `i` from the device into its mirror unless the mirror is current or JS-written.
  fn pull(&mut self, i: usize) -> CoreResult<()> {
    if self.state[i] == Mirror::HostDirty || self.current(i) {
      return Ok(());
    }
    match i {
      X => self.positions.as_mut_slice().copy_from_slice(&self.s.positions()?),
      G => self.gradients.as_mut_slice().copy_from_slice(&self.s.gradients()?),
      E => self.energies.as_mut_slice().copy_from_slice(&self.s.energies()?),
      _ => self.log_weights.as_mut_slice().copy_from_slice(&self.s.log_weights()?),
    }
    self.bytes_down += bytes_of(i, self.s.config().walkers, self.s.config().dim);
    self.state[i] = Mirror::Clean(self.s.generation());
    Ok(())
  }

  /// The view of buffer `i` is about to be used from JavaScript: refresh it if stale, and with
  /// `write`, count it as written (copied to the device before the next operation that reads it).
  pub fn access(&mut self, i: usize, write: bool) -> CoreResult<()> {
    self.pull(i)?;
    if write {
      self.state[i] = Mirror::HostDirty;
    }
    Ok(())
  }

  /// Positions were written into the mirror on the host (exact samples drawn there).
  pub fn positions_written(&mut self) {
    self.state[X] = Mirror::HostDirty;
  }

  /// Copy a JS-written mirror to the device.
  fn push(&mut self, i: usize) -> CoreResult<()> {
    let g0 = self.s.generation();
    match i {
      X => self.s.set_positions(self.positions.as_slice())?,
      G => self.s.set_gradients(self.gradients.as_slice())?,
      E => self.s.set_energies(self.energies.as_slice())?,
      _ => self.s.set_log_weights(self.log_weights.as_slice())?,
    }
    self.bytes_up += bytes_of(i, self.s.config().walkers, self.s.config().dim);
    let g1 = self.s.generation();
    for (j, st) in self.state.iter_mut().enumerate() {
      if j == i || *st == Mirror::Clean(g0) {
        *st = Mirror::Clean(g1);
      }
    }
    Ok(())
  }

  /// Before an operation that reads the buffers in `reads` on the device: send JS writes there.
  /// Returns the generation to hand to [`MirrorEngine::post`].
  pub fn pre(&mut self, reads: u8) -> CoreResult<u64> {
    for i in [X, G, E, A] {
      if reads & bit(i) == 0 || self.state[i] != Mirror::HostDirty {
        continue;
      }
      if i == X && self.s.move_pending() {
        // The device refuses positions between move() and observe(): drop the writes.
        self.state[X] = Mirror::Stale;
      } else {
        self.push(i)?;
      }
    }
    Ok(self.s.generation())
  }

  /// After an operation that began at generation `g0` and may have written the buffers in
  /// `writes`: those are stale, the others still mirror the device. Called whatever the
  /// operation returned (an error after a partial update bumps the generation too).
  pub fn post(&mut self, g0: u64, writes: u8) {
    let g1 = self.s.generation();
    if g1 == g0 {
      return;
    }
    for (i, st) in self.state.iter_mut().enumerate() {
      if writes & bit(i) != 0 {
        *st = Mirror::Stale;
      } else if *st == Mirror::Clean(g0) {
        *st = Mirror::Clean(g1);
      }
    }
  }

  /// Run `f` on the device sampler with the bookkeeping of an operation that reads `reads` and may
  /// write `writes`.
  pub fn op<R>(
    &mut self,
    reads: u8,
    writes: u8,
    f: impl FnOnce(&mut dyn DeviceSampler) -> CoreResult<R>,
  ) -> CoreResult<R> {
    let g0 = self.pre(reads)?;
    let r = f(self.s.as_mut());
    self.post(g0, writes);
    r
  }

  /// Observe the energies and gradients in the mirrors (the zero-copy path's counterpart: one
  /// copy of each to the device). Mirrors that JS has not written are refreshed first, so that
  /// `observe()` with no arguments re-observes the last observation, as on the CPU.
  pub fn observe_mirrors(&mut self) -> CoreResult<ObserveReport> {
    self.pull(E)?;
    self.pull(G)?;
    let g0 = self.pre(bit(X) | bit(A))?;
    let r = self.s.observe(self.energies.as_slice(), self.gradients.as_slice());
    let g1 = self.s.generation();
    self.post(g0, bit(A));
    if g1 != g0 {
      // The device now holds what the mirrors hold.
      self.state[E] = Mirror::Clean(g1);
      self.state[G] = Mirror::Clean(g1);
    }
    r
  }

  /// Observe caller arrays (not the mirrors; the device only reads them, so arrays that alias the
  /// mirrors need no copy).
  pub fn observe_external(&mut self, energy: &[f32], grad: &[f32]) -> CoreResult<ObserveReport> {
    self.op(bit(X) | bit(A), bit(A) | bit(E) | bit(G), |s| s.observe(energy, grad))
  }

  /// The mixture observed at the walkers: reads positions and log-weights, writes log-weights,
  /// energies and gradients.
  pub fn observe_gmm(&mut self, model: &GaussianMixture, pool: &rayon::ThreadPool) -> CoreResult<ObserveReport> {
    self.op(bit(X) | bit(A), bit(A) | bit(E) | bit(G), |s| {
      s.observe_gmm(model, pool)
    })
  }

  /// The mixture's walker-weighted parameter gradient: reads positions and log-weights.
  pub fn gmm_walker_grad(&mut self, model: &GaussianMixture, pool: &rayon::ThreadPool) -> CoreResult<(Vec<f64>, f64)> {
    self.op(bit(X) | bit(A), 0, |s| s.gmm_walker_grad(model, pool))
  }
}

/// The GMM walker sums over host copies of positions and log-weights, chunked as the CPU sampler
/// chunks its walkers: the CPU's bits for the same positions and log-weights.
pub(crate) fn gmm_walker_grad_host(
  model: &GaussianMixture,
  pool: &rayon::ThreadPool,
  d: usize,
  x: &[f32],
  a: &[f64],
) -> CoreResult<(Vec<f64>, f64)> {
  let kern = model.walker_grad_kernel();
  let cw = walker_chunk(d);
  let parts: Vec<_> = pool.install(|| {
    x.par_chunks(cw * d)
      .zip(a.par_chunks(cw))
      .map(|(xc, ac)| kern.standalone(xc, ac))
      .collect()
  });
  kern.combine(&parts)
}

/// The CPU sampler behind a device's interface: its buffers are private and reached by copies,
/// as a GPU's are. For tests of the mirror logic on machines without a GPU.
pub(crate) struct Emulated {
  s: Sampler,
  /// Copies in bump the generation too (the CPU sampler does not count writes to its buffers).
  copies_in: u64,
}

impl Emulated {
  pub fn new(cfg: SamplerConfig) -> CoreResult<Self> {
    Ok(Emulated {
      s: Sampler::new(cfg)?,
      copies_in: 0,
    })
  }

  fn copy_in<T: Copy + Default + Send + Sync + 'static>(
    buf: &mut FixedBuf<T>,
    name: &'static str,
    v: &[T],
  ) -> CoreResult<()> {
    if v.len() != buf.len() {
      return Err(CoreError::BadLength {
        name,
        got: v.len(),
        expected: buf.len(),
      });
    }
    buf.as_mut_slice().copy_from_slice(v);
    Ok(())
  }
}

impl DeviceSampler for Emulated {
  fn desc(&self) -> DeviceDesc {
    DeviceDesc {
      ordinal: 0,
      name: "emulated on the CPU (JARZYN_CUDA_EMULATE=1, for tests)".into(),
      compute_capability: (0, 0),
      total_memory: 0.0,
      driver_version: 0,
      device_count: 0,
    }
  }
  fn config(&self) -> &SamplerConfig {
    self.s.config()
  }
  fn generation(&self) -> u64 {
    self.s.generation() + self.copies_in
  }
  fn move_pending(&self) -> bool {
    self.s.move_pending()
  }
  fn counters(&self) -> SamplerCounters {
    self.s.counters()
  }
  fn log_norm_absorbed(&self) -> f64 {
    self.s.log_norm_absorbed()
  }
  fn positions(&self) -> CoreResult<Vec<f32>> {
    Ok(self.s.positions.as_slice().to_vec())
  }
  fn gradients(&self) -> CoreResult<Vec<f32>> {
    Ok(self.s.gradients.as_slice().to_vec())
  }
  fn energies(&self) -> CoreResult<Vec<f32>> {
    Ok(self.s.energies.as_slice().to_vec())
  }
  fn log_weights(&self) -> CoreResult<Vec<f64>> {
    Ok(self.s.log_weights.as_slice().to_vec())
  }
  fn set_positions(&mut self, x: &[f32]) -> CoreResult<()> {
    if self.s.move_pending() {
      return Err(CoreError::BadState("cannot set positions between move() and observe()"));
    }
    Self::copy_in(&mut self.s.positions, "positions", x)?;
    self.copies_in += 1;
    Ok(())
  }
  fn set_gradients(&mut self, g: &[f32]) -> CoreResult<()> {
    Self::copy_in(&mut self.s.gradients, "gradients", g)?;
    self.copies_in += 1;
    Ok(())
  }
  fn set_energies(&mut self, e: &[f32]) -> CoreResult<()> {
    Self::copy_in(&mut self.s.energies, "energies", e)?;
    self.copies_in += 1;
    Ok(())
  }
  fn set_log_weights(&mut self, a: &[f64]) -> CoreResult<()> {
    Self::copy_in(&mut self.s.log_weights, "logWeights", a)?;
    self.copies_in += 1;
    Ok(())
  }
  fn set_step_size(&mut self, h: f64) -> CoreResult<()> {
    self.s.set_step_size(h)
  }
  fn move_walkers(&mut self) -> CoreResult<()> {
    self.s.move_walkers()
  }
  fn observe(&mut self, energy: &[f32], grad: &[f32]) -> CoreResult<ObserveReport> {
    self.s.observe(Observation::External { energy, grad })
  }
  fn summary(&mut self) -> CoreResult<WeightSummary> {
    Ok(self.s.summary())
  }
  fn log_normalizer_ratio(&mut self) -> CoreResult<f64> {
    Ok(self.s.log_normalizer_ratio())
  }
  fn normalized_weights(&mut self) -> CoreResult<Vec<f64>> {
    let mut p = vec![0f64; self.s.walkers()];
    self.s.normalized_weights(&mut p)?;
    Ok(p)
  }
  fn resample(&mut self, scheme: Scheme) -> CoreResult<Vec<usize>> {
    self.s.resample(scheme)
  }
  fn maybe_resample(&mut self, ess_fraction: f64, scheme: Scheme) -> CoreResult<bool> {
    self.s.maybe_resample(ess_fraction, scheme)
  }
  fn reinitialize(&mut self) -> CoreResult<()> {
    self.s.reinitialize();
    Ok(())
  }
  fn restore_counters(&mut self, c: SamplerCounters) -> CoreResult<()> {
    self.s.restore_counters(c)
  }
  fn observe_gmm(&mut self, model: &GaussianMixture, _pool: &rayon::ThreadPool) -> CoreResult<ObserveReport> {
    // The CPU trainer's fused pass (NativeGmm::observe_sampler), without its walker sums.
    let kern = model.walker_grad_kernel();
    let (r, _) = self
      .s
      .observe_with_state(|| kern.scratch(), |sc, x, e, g| kern.eval(sc, x, e, g), |_, _, _| ())?;
    Ok(r)
  }
  fn gmm_walker_grad(&mut self, model: &GaussianMixture, pool: &rayon::ThreadPool) -> CoreResult<(Vec<f64>, f64)> {
    let d = self.s.dim();
    gmm_walker_grad_host(
      model,
      pool,
      d,
      self.s.positions.as_slice(),
      self.s.log_weights.as_slice(),
    )
  }
}
