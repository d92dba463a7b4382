//! The CUDA side of `NativeSampler` (built on Linux and Windows, `cfg(jarzyn_cuda)`): a
//! [`CudaSampler`] and host mirrors of its four buffers, which the JavaScript views point into.
//!
//! Mirror rules (the TypeScript layer documents them for users):
//! - A mirror is `Clean(g)` when it equals the device buffer as of the sampler's generation `g`,
//!   `Stale` when the device has changed since, and `HostDirty` when JavaScript was handed the view
//!   for writing since the last copy (the binding cannot see writes, so a handed-out view counts as
//!   written).
//! - Reads ([`CudaEngine::access`]) copy a stale mirror from the device (N d 4 bytes for positions
//!   and gradients, N 4 for energies, N 8 for log-weights).
//! - Before an operation reads a buffer on the device, a `HostDirty` mirror of it is copied to the
//!   device ([`CudaEngine::pre`]), except positions between `move()` and `observe()`, which the device
//!   cannot take: those writes are dropped and the mirror refreshed from the device on its next read.
//! - After an operation, the buffers it wrote are `Stale`; the others keep their state
//!   ([`CudaEngine::post`]).

use jarzyn_core::cuda::{available, nvrtc, CudaSampler, DeviceInfo};
use jarzyn_core::gmm::WalkerGradKernel;
use jarzyn_core::sampler::{walker_chunk, FixedBuf};
use jarzyn_core::{CoreError, GaussianMixture, Observation, ObserveReport, Result as CoreResult, SamplerConfig};
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mirror {
  Stale,
  Clean(u64),
  HostDirty,
}

pub(crate) struct CudaEngine {
  pub s: CudaSampler,
  pub positions: FixedBuf<f32>,
  pub gradients: FixedBuf<f32>,
  pub energies: FixedBuf<f32>,
  pub log_weights: FixedBuf<f64>,
  state: [Mirror; 4],
}

impl CudaEngine {
  pub fn new(cfg: SamplerConfig) -> CoreResult<Self> {
    let (n, nd) = (cfg.walkers, cfg.walkers.saturating_mul(cfg.dim));
    let s = CudaSampler::new(cfg)?;
    // The device buffers start zeroed, as the host mirrors do: all clean.
    let g = s.generation();
    Ok(CudaEngine {
      positions: FixedBuf::new(nd)?,
      gradients: FixedBuf::new(nd)?,
      energies: FixedBuf::new(n)?,
      log_weights: FixedBuf::new(n)?,
      state: [Mirror::Clean(g); 4],
      s,
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

  /// Positions were written on the host (exact samples drawn into the mirror).
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
    let g1 = self.s.generation();
    for (j, st) in self.state.iter_mut().enumerate() {
      if j == i || *st == Mirror::Clean(g0) {
        *st = Mirror::Clean(g1);
      }
    }
    Ok(())
  }

  /// Before an operation that reads the buffers in `reads` on the device: send JS writes there.
  /// Returns the generation to hand to [`CudaEngine::post`].
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
  /// `writes`: those are stale, the others still mirror the device. Call it whatever the
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

  /// Observe the energies and gradients in the mirrors (the zero-copy path's counterpart: one
  /// copy of each to the device). Mirrors that JS has not written are refreshed first, so that
  /// `observe()` with no arguments re-observes the last observation as on the CPU.
  pub fn observe_mirrors(&mut self) -> CoreResult<ObserveReport> {
    self.pull(E)?;
    self.pull(G)?;
    let g0 = self.pre(bit(X) | bit(A))?;
    let r = self.s.observe(Observation::External {
      energy: self.energies.as_slice(),
      grad: self.gradients.as_slice(),
    });
    let g1 = self.s.generation();
    self.post(g0, bit(A));
    if g1 != g0 {
      // The device now holds what the mirrors hold.
      self.state[E] = Mirror::Clean(g1);
      self.state[G] = Mirror::Clean(g1);
    }
    r
  }

  /// Observe caller arrays (not the mirrors).
  pub fn observe_external(&mut self, energy: &[f32], grad: &[f32]) -> CoreResult<ObserveReport> {
    let g0 = self.pre(bit(X) | bit(A))?;
    let r = self.s.observe(Observation::External { energy, grad });
    self.post(g0, bit(A) | bit(E) | bit(G));
    r
  }

  /// Run `f` on the device sampler with the mirror bookkeeping of an operation that reads
  /// `reads` and may write `writes`.
  pub fn op<R>(&mut self, reads: u8, writes: u8, f: impl FnOnce(&mut CudaSampler) -> CoreResult<R>) -> CoreResult<R> {
    let g0 = self.pre(reads)?;
    let r = f(&mut self.s);
    self.post(g0, writes);
    r
  }
}

// ---------------------------------------------------------------------------------------------
// GMM ON A CUDA SAMPLER: HOST PATH (temporary).
//
// Until CudaSampler has `observe_gmm(&GaussianMixture)` and
// `gmm_weighted_param_grad(&GaussianMixture)` (the mixture evaluated on the device), these two
// functions do the same on the host: copy positions (and log-weights) back, evaluate with the CPU
// kernels chunked as the CPU sampler chunks its walkers (so U, grad U and the parameter-gradient
// sums have the CPU's bits for the same positions and log-weights), and observe `External`.
// Cost per call: N d 4 bytes device -> host, plus N (d + 1) 4 bytes host -> device for the
// observation, or N 8 bytes device -> host for the weights. To swap in the device versions,
// replace the two bodies with `s.observe_gmm(model)` and `s.gmm_weighted_param_grad(model)`; the
// callers (gmm.rs) do the mirror bookkeeping (reads X and A; observe writes A, E and G).

/// U and grad U of the mixture at the walkers, then the Jarzynski update (as
/// `CudaSampler::observe_gmm` will).
pub(crate) fn gmm_observe_on_cuda(
  s: &mut CudaSampler,
  model: &GaussianMixture,
  pool: &rayon::ThreadPool,
) -> CoreResult<ObserveReport> {
  let (n, d) = (s.config().walkers, s.config().dim);
  let x = s.positions()?;
  let mut e = vec![0f32; n];
  let mut g = vec![0f32; n * d];
  let kern = model.walker_grad_kernel();
  let cw = walker_chunk(d);
  pool.install(|| {
    x.par_chunks(cw * d)
      .zip(e.par_chunks_mut(cw))
      .zip(g.par_chunks_mut(cw * d))
      .for_each_init(|| kern.scratch(), |sc, ((xc, ec), gc)| kern.eval(sc, xc, ec, gc))
  });
  s.observe(Observation::External { energy: &e, grad: &g })
}

/// sum_i p_i dU/dtheta(X_i) and sum_i p_i U(X_i) over the walkers with their normalised weights
/// (as `CudaSampler::gmm_weighted_param_grad` will).
pub(crate) fn gmm_walker_grad_on_cuda(
  s: &mut CudaSampler,
  model: &GaussianMixture,
  pool: &rayon::ThreadPool,
) -> CoreResult<(Vec<f64>, f64)> {
  let d = s.config().dim;
  let (x, a) = (s.positions()?, s.log_weights()?);
  let kern: WalkerGradKernel = model.walker_grad_kernel();
  let cw = walker_chunk(d);
  let parts: Vec<_> = pool.install(|| {
    x.par_chunks(cw * d)
      .zip(a.par_chunks(cw))
      .map(|(xc, ac)| kern.standalone(xc, ac))
      .collect()
  });
  kern.combine(&parts)
}

// END OF THE GMM HOST PATH.
// ---------------------------------------------------------------------------------------------

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

/// Why a CUDA sampler could not be made, for the fallback warning.
pub(crate) fn reason(e: &CoreError) -> String {
  match e {
    CoreError::Backend(m) => m.clone(),
    CoreError::OutOfMemory(b) => format!("out of GPU memory allocating {b} bytes"),
    other => other.to_string(),
  }
}
