//! The walker population and the one interface every backend implements: [`Walkers`].
//!
//! N walkers in R^d with f64 log-weights A, moved by the unadjusted Langevin algorithm. One
//! iteration of the paper's Algorithm 1 is [`Walkers::move_walkers`], a parameter change outside,
//! then an observation of U and grad U at the new positions under the new parameters, which
//! updates the log-weights (method.md section 2): with Delta = X_{k+1} - X_k,
//!
//!   A += alpha_k(X_k, X_{k+1}) - alpha_{k+1}(X_{k+1}, X_k)
//!   alpha_k(X_k, X_{k+1})     = U_k(X_k)         + 1/2 Delta . g_k     + h/4 |g_k|^2
//!   alpha_{k+1}(X_{k+1}, X_k) = U_{k+1}(X_{k+1}) - 1/2 Delta . g_{k+1} + h/4 |g_{k+1}|^2
//!
//! The first term is computed by the move (it needs g_k, which the next observation overwrites),
//! the second by the observation. An observation with no move in between (parameters changed,
//! walkers not moved) adds the pure AIS increment U_old(X) - U_new(X).
//!
//! The walkers never know how an energy is computed (nuts-rs' separation): an observation hands
//! them numbers ([`Observation`]), or a native [`Energy`] that they evaluate at their own positions
//! ([`Walkers::observe_energy`]).
//!
//! Implementations: [`CpuWalkers`] (the CPU, a thread pool of its own) and, with the `cuda`
//! feature, `crate::cuda::CudaWalkers` (an NVIDIA GPU, with host mirrors of its buffers).

mod book;
mod buffer;
mod cpu;
mod rows;

pub(crate) use crate::error::check_len;
pub(crate) use book::{Book, Phase};
pub(crate) use buffer::SharedPtr;
pub use buffer::{FixedBuf, HostBuffers};
pub use cpu::CpuWalkers;

use crate::energy::{Energy, WalkerPart};
use crate::error::{CoreError, Result};
use crate::resample::Scheme;
use crate::weights::WeightSummary;

/// Floats per parallel work item; walkers per chunk = max(1, CHUNK_FLOATS / dim). Fixed, never
/// derived from the thread count, so that any per-chunk arithmetic is thread-count invariant.
pub(crate) const CHUNK_FLOATS: usize = 16 * 1024;

/// Walkers per chunk of a d-dimensional population, max(1, CHUNK_FLOATS / d): the chunks of
/// observations and of walker-weighted sums (a computation chunked the same way combines its
/// partial sums in the same order, so it gives the same bits on every backend).
pub fn walker_chunk(dim: usize) -> usize {
  (CHUNK_FLOATS / dim.max(1)).max(1)
}

/// Options of a walker population, validated by [`WalkerConfig::validate`] on every backend.
#[derive(Clone, Debug, PartialEq)]
pub struct WalkerConfig {
  /// Number of walkers N.
  pub walkers: usize,
  /// Dimension d of a walker.
  pub dim: usize,
  /// ULA step size h > 0.
  pub step_size: f64,
  /// Seed of the counter-based RNG.
  pub seed: u64,
  /// Worker threads (1..=1024). Results do not depend on it.
  pub threads: usize,
  /// Whether observations update the Jarzynski log-weights. `false` gives PCD/CD walkers
  /// (A frozen at 0 except for invalid walkers, which still get A = -inf).
  pub weighted: bool,
}

impl WalkerConfig {
  pub fn validate(&self) -> Result<()> {
    let bad = |name, reason: &str| {
      Err(CoreError::InvalidOption {
        name,
        reason: reason.to_string(),
      })
    };
    if self.walkers == 0 || self.walkers > u32::MAX as usize {
      return bad("walkers", "must be a positive integer below 2^32");
    }
    if self.dim == 0 || self.dim > u32::MAX as usize {
      return bad("dim", "must be a positive integer below 2^32");
    }
    if self.walkers.checked_mul(self.dim).is_none() {
      return Err(CoreError::OutOfMemory(usize::MAX));
    }
    if !(self.step_size.is_finite() && self.step_size > 0.0) {
      return bad("stepSize", "must be a finite number > 0");
    }
    if self.threads == 0 || self.threads > 1024 {
      return bad("threads", "must be an integer in 1..1024");
    }
    Ok(())
  }

  /// N d: the length of the positions and gradients.
  pub fn elements(&self) -> usize {
    self.walkers * self.dim
  }
}

/// Where the energies and gradients of an observation come from.
pub enum Observation<'a> {
  /// Already written into the walkers' own host `energies` and `gradients` buffers (zero copy on
  /// the CPU; on a device, the host mirrors, copied over).
  InPlace,
  /// Caller's arrays (which may alias the walkers' own buffers: they are then copied first).
  External { energy: &'a [f32], grad: &'a [f32] },
}

/// What an observation found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObserveReport {
  /// Walkers whose energy, gradient or weight became non-finite in this observation.
  pub newly_invalid: usize,
  /// Walkers with zero weight (A = -inf) after it.
  pub invalid: usize,
}

/// The scalar state of a population between iterations; with the four buffers, all of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Counters {
  pub steps: u64,
  pub resamplings: u64,
  pub invalid_total: u64,
  pub log_norm_absorbed: f64,
  /// Whether an observation is recorded (false: the next observation only records).
  pub observed: bool,
}

/// The four host buffers a population shows to its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
  Positions = 0,
  Gradients = 1,
  Energies = 2,
  LogWeights = 3,
}

impl View {
  pub const ALL: [View; 4] = [View::Positions, View::Gradients, View::Energies, View::LogWeights];

  /// The view of index `i` (0 positions, 1 gradients, 2 energies, 3 log-weights).
  pub fn from_index(i: u32) -> Result<View> {
    View::ALL.get(i as usize).copied().ok_or(CoreError::InvalidOption {
      name: "view",
      reason: "must be 0 (positions), 1 (gradients), 2 (energies) or 3 (logWeights)".into(),
    })
  }
}

/// The GPU a population runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
  pub ordinal: usize,
  pub name: String,
  /// (major, minor).
  pub compute_capability: (i32, i32),
  pub total_memory: usize,
  /// cuDriverGetVersion, e.g. 13000 for CUDA 13.0.
  pub driver_version: i32,
  pub device_count: i32,
}

impl DeviceInfo {
  /// NVRTC's `--gpu-architecture` for this device, e.g. "compute_90".
  pub fn arch(&self) -> String {
    format!("compute_{}{}", self.compute_capability.0, self.compute_capability.1)
  }
}

/// A walker population on some backend. Every operation validates its input and state and fails
/// with a [`CoreError`] rather than panicking; results are bit-identical for any thread count.
pub trait Walkers: Send {
  fn config(&self) -> &WalkerConfig;
  /// The GPU, or `None` on the CPU.
  fn device(&self) -> Option<&DeviceInfo>;
  /// (population, generation): changes whenever positions, weights or observations change
  /// through this interface (writes through the host views are not seen); a key for caches.
  fn state_key(&self) -> (u64, u64);
  /// The scalar state between iterations (for checkpoints).
  fn counters(&self) -> Counters;
  /// Restore counters saved by [`Walkers::counters`], after the four views were written back.
  fn restore_counters(&mut self, c: Counters) -> Result<()>;
  /// Change the step size between moves (schedules). The identity holds for any h per step.
  fn set_step_size(&mut self, h: f64) -> Result<()>;
  /// Decouple the moves' noise from the step size: standard deviation `Some(std)` instead of
  /// sqrt(2h) (`None`, the default). The Jarzynski weights assume sqrt(2h): with any other noise
  /// they are NOT exact (the authors' image code uses h = 5e-5 with std 1e-4; kept only to
  /// reproduce it).
  fn set_noise_std(&mut self, std: Option<f64>) -> Result<()>;

  /// The host buffers, whose addresses never change (the caller makes its views of them once).
  /// On a device these are mirrors: call [`Walkers::sync_view`] before reading or writing one.
  fn host_buffers(&mut self) -> &mut HostBuffers;
  /// The f32 host buffer of `view` (see [`Walkers::host_buffers`]).
  fn f32_buffer(&mut self, view: View) -> Result<&mut FixedBuf<f32>> {
    self.host_buffers().f32_buffer(view)
  }
  /// The log-weights' host buffer (see [`Walkers::host_buffers`]).
  fn log_weight_buffer(&mut self) -> &mut FixedBuf<f64> {
    &mut self.host_buffers().log_weights
  }
  /// Make `view` current before the caller reads it; with `write`, count it as written by the
  /// caller (sent to the device before the next operation that reads it). A no-op on the CPU.
  fn sync_view(&mut self, view: View, write: bool) -> Result<()>;
  /// Bytes copied [device -> host, host -> device] for the views so far ([0, 0] on the CPU).
  fn view_traffic(&self) -> [u64; 2];

  /// One ULA step X <- X - h grad U(X) + sqrt(2h) xi with the last observed gradient; walkers
  /// with zero weight stay where they are.
  fn move_walkers(&mut self) -> Result<()>;
  /// Record U and grad U at the current positions (under the current parameters) and update the
  /// log-weights. Walkers whose energy, gradient or new weight is not finite get A = -inf. Fails,
  /// after updating, if no walker has positive weight left.
  fn observe(&mut self, obs: Observation<'_>) -> Result<ObserveReport>;
  /// Observe a native energy evaluated at the walkers' positions, chunk by chunk, each chunk's
  /// weight update right after its evaluation. With `fold`, also returns each chunk's
  /// walker-weighted parameter-gradient sums with the new weights, in chunk order (for
  /// [`crate::energy::combine_parts`]); otherwise an empty vector.
  fn observe_energy(&mut self, energy: &dyn Energy, fold: bool) -> Result<(ObserveReport, Vec<WalkerPart>)>;
  /// The walker-weighted parameter-gradient sums of every chunk with the current weights, without
  /// observing (the same arithmetic as a folded observation, so the same result).
  fn walker_sums(&mut self, energy: &dyn Energy) -> Result<Vec<WalkerPart>>;
  /// Write the positions on the host (`fill` gets all N d of them), e.g. exact samples.
  fn fill_positions(&mut self, fill: &mut dyn FnMut(&mut [f32]) -> Result<()>) -> Result<()>;

  /// One pass over the log-weights (cached while they do not change).
  fn summary(&mut self) -> Result<WeightSummary>;
  /// Estimate of log(Z_now / Z_0): absorbed resampling increments plus log mean exp(A).
  fn log_normalizer_ratio(&mut self) -> Result<f64>;
  /// Normalised weights into `out` (N), and the summary they came from.
  fn normalized_weights(&mut self, out: &mut [f64]) -> Result<WeightSummary>;
  /// Resample with `scheme`: copy positions and cached observations of the chosen ancestors, set
  /// A = 0, absorb log mean exp(A) into the log-normaliser. Returns each new walker's ancestor.
  fn resample(&mut self, scheme: Scheme) -> Result<Vec<usize>>;
  /// Resample when ESS < ess_fraction * N. Returns whether it did.
  fn maybe_resample(&mut self, ess_fraction: f64, scheme: Scheme) -> Result<bool>;
  /// Forget the last observation and the weights: the walkers as they are now count as exact
  /// samples of the current model (A = 0, log-normaliser 0, the next observation only records).
  fn reinitialize(&mut self) -> Result<()>;
}

/// Whether a population of `walkers` is due for resampling at `ess_fraction` (ESS below
/// `ess_fraction` N), with the weights' `summary`; fails unless `ess_fraction` is in [0, 1].
pub(crate) fn resample_due(
  ess_fraction: f64,
  walkers: usize,
  summary: impl FnOnce() -> Result<WeightSummary>,
) -> Result<bool> {
  if !(ess_fraction.is_finite() && (0.0..=1.0).contains(&ess_fraction)) {
    return Err(CoreError::InvalidOption {
      name: "essFraction",
      reason: "must be a number in [0, 1]".into(),
    });
  }
  Ok(summary()?.ess() < ess_fraction * walkers as f64)
}

/// Fails unless some walker has positive weight (normalised weights exist).
pub(crate) fn check_some_weight(s: &WeightSummary) -> Result<()> {
  if s.max == f64::NEG_INFINITY {
    return Err(CoreError::AllWalkersInvalid {
      invalid: s.n,
      walkers: s.n,
    });
  }
  Ok(())
}

/// Fails unless the weights summarised by `s` can be resampled (some positive weight, and a
/// finite total).
pub(crate) fn check_resamplable(s: &WeightSummary) -> Result<()> {
  if s.max == f64::NEG_INFINITY || !s.log_sum.is_finite() {
    return Err(CoreError::AllWalkersInvalid {
      invalid: s.zero,
      walkers: s.n,
    });
  }
  Ok(())
}
