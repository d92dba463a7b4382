//! The book-keeping every walker population keeps, whatever runs it: where it is in the
//! move/observe cycle, its counters, the RNG key and the generation. The CPU and CUDA walkers both
//! hold one [`Book`], so the rules (when a move may start, what a restore accepts) are written once.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Counters, WalkerConfig};
use crate::error::{CoreError, Result};
use crate::philox::key_from_seed;

/// Where walkers are in their move/observe cycle (the values are the `phase` argument of the CUDA
/// observation kernels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
  /// Nothing observed yet: the next observation only records.
  Fresh = 0,
  /// Walkers moved; the cached energies and gradients belong to the previous positions.
  Moved = 1,
  /// The cached energies and gradients belong to the current positions.
  Observed = 2,
}

/// Identifies each population for caches keyed on walker state (see [`Book::state_key`]).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) struct Book {
  pub cfg: WalkerConfig,
  /// Philox key of the seed.
  pub key: [u32; 2],
  pub phase: Phase,
  /// ULA moves taken (the position of the noise stream).
  pub steps: u64,
  /// Resamplings so far (the position of the resampling stream).
  pub resamplings: u64,
  /// Walker observations that turned out non-finite, summed over the run.
  pub invalid_total: u64,
  /// log(Z_now / Z_0) absorbed by past resamplings.
  pub log_norm_absorbed: f64,
  /// Bumped by every operation that changes positions, weights or observations.
  pub generation: u64,
  /// The standard deviation of a move's noise when it is not sqrt(2h) (see [`Book::noise_scale`]).
  pub noise_std: Option<f64>,
  id: u64,
}

impl Book {
  /// Validates `cfg` (the same rules on every backend) and starts a fresh population.
  pub fn new(cfg: WalkerConfig) -> Result<Self> {
    cfg.validate()?;
    Ok(Book {
      key: key_from_seed(cfg.seed),
      cfg,
      phase: Phase::Fresh,
      steps: 0,
      resamplings: 0,
      invalid_total: 0,
      log_norm_absorbed: 0.0,
      generation: 0,
      noise_std: None,
      id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
    })
  }

  /// (population, generation): equal keys mean the same walkers in the same state.
  pub fn state_key(&self) -> (u64, u64) {
    (self.id, self.generation)
  }

  /// Whether a move may start now: only after an observation, and not twice in a row.
  pub fn check_move(&self) -> Result<()> {
    match self.phase {
      Phase::Fresh => Err(CoreError::BadState(
        "observe() energies and gradients before the first move()",
      )),
      Phase::Moved => Err(CoreError::BadState(
        "move() called twice: observe() the energies at the moved positions first",
      )),
      Phase::Observed => Ok(()),
    }
  }

  /// A move happened: the noise stream advances.
  pub fn moved(&mut self) {
    self.steps += 1;
    self.generation += 1;
    self.phase = Phase::Moved;
  }

  /// An observation happened, making `newly_invalid` walkers invalid.
  pub fn observed(&mut self, newly_invalid: usize) {
    self.invalid_total += newly_invalid as u64;
    self.phase = Phase::Observed;
    self.generation += 1;
  }

  /// A resampling happened, absorbing `log_mean` = log mean exp(A) into the log-normaliser.
  pub fn resampled(&mut self, log_mean: f64) {
    self.log_norm_absorbed += log_mean;
    self.resamplings += 1;
    self.generation += 1;
  }

  /// The walkers as they are now count as exact samples of the current model.
  pub fn reinitialized(&mut self) {
    self.log_norm_absorbed = 0.0;
    self.phase = Phase::Fresh;
    self.generation += 1;
  }

  /// Change the step size: a finite h > 0, and not between move and observe (the pending move's
  /// Jarzynski increment uses the old h).
  pub fn set_step_size(&mut self, h: f64) -> Result<()> {
    if !(h.is_finite() && h > 0.0) {
      return Err(CoreError::InvalidOption {
        name: "stepSize",
        reason: "must be a finite number > 0".into(),
      });
    }
    if self.phase == Phase::Moved {
      return Err(CoreError::BadState(
        "cannot change the step size between move() and observe()",
      ));
    }
    self.cfg.step_size = h;
    Ok(())
  }

  /// The standard deviation of a move's Gaussian noise: sqrt(2h), which the Jarzynski weights
  /// assume, unless [`Book::set_noise_std`] decoupled it (the weights are then not exact).
  pub fn noise_scale(&self) -> f64 {
    self.noise_std.unwrap_or_else(|| (2.0 * self.cfg.step_size).sqrt())
  }

  /// Decouple the noise from the step size (`Some(std)`), or tie it back to sqrt(2h) (`None`).
  pub fn set_noise_std(&mut self, std: Option<f64>) -> Result<()> {
    if let Some(v) = std {
      if !(v.is_finite() && v >= 0.0) {
        return Err(CoreError::InvalidOption {
          name: "noiseStd",
          reason: "must be a finite number >= 0".into(),
        });
      }
    }
    if self.phase == Phase::Moved {
      return Err(CoreError::BadState(
        "cannot change the noise between move() and observe()",
      ));
    }
    self.noise_std = std;
    Ok(())
  }

  pub fn counters(&self) -> Counters {
    Counters {
      steps: self.steps,
      resamplings: self.resamplings,
      invalid_total: self.invalid_total,
      log_norm_absorbed: self.log_norm_absorbed,
      observed: self.phase == Phase::Observed,
    }
  }

  /// Take counters saved by [`Book::counters`] (a state between iterations: observed or fresh).
  pub fn restore(&mut self, c: Counters) -> Result<()> {
    if !c.log_norm_absorbed.is_finite() {
      return Err(CoreError::InvalidOption {
        name: "logNormAbsorbed",
        reason: "must be finite".into(),
      });
    }
    self.steps = c.steps;
    self.resamplings = c.resamplings;
    self.invalid_total = c.invalid_total;
    self.log_norm_absorbed = c.log_norm_absorbed;
    self.phase = if c.observed { Phase::Observed } else { Phase::Fresh };
    self.generation += 1;
    Ok(())
  }

  /// Fails when positions may not be written now (between move and observe).
  pub fn check_positions_writable(&self) -> Result<()> {
    if self.phase == Phase::Moved {
      return Err(CoreError::BadState("cannot set positions between move() and observe()"));
    }
    Ok(())
  }
}
