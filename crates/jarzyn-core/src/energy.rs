//! Native energies behind the walkers, in the spirit of nuts-rs: an [`Energy`] evaluates U and
//! grad U at given points and parameter gradients at given points and weights; it never sees the
//! walkers. The walkers evaluate it at their own positions ([`crate::Walkers::observe_energy`]),
//! and [`FusedEnergy`] keeps, in one place, the walker-weighted gradient that an observation folded
//! in, until the walkers or the parameters change.
//!
//! Adding an energy: implement [`Energy`] (evaluate, weighted sums, data gradient); override
//! [`Energy::observe_chunk`] if the evaluation leaves numbers the weighted sums can reuse, and
//! [`Energy::device_model`] if a backend has kernels for it.

use crate::error::{check_len, CoreError, Result};
use crate::math;
use crate::walkers::{ObserveReport, Walkers};

/// One chunk of walkers' weighted parameter-gradient sums with weights exp(A_j - max), max being
/// the chunk's own largest log-weight (keeps them in range; [`combine_parts`] rescales).
#[derive(Default, Clone, Debug, PartialEq)]
pub struct WalkerPart {
  pub max: f64,
  /// sum_j w_j dU/dtheta(x_j), in the energy's parameter layout.
  pub sums: Vec<f64>,
  /// sum_j w_j U(x_j).
  pub energy_sum: f64,
  /// sum_j w_j.
  pub weight_sum: f64,
}

/// Combine chunk parts in chunk order: (sum_j p_j dU/dtheta(X_j), sum_j p_j U(X_j)) with p the
/// normalised weights. Fails (`BadState`) when no walker has positive weight.
pub fn combine_parts(parts: &[WalkerPart], params: usize) -> Result<(Vec<f64>, f64)> {
  let m = parts
    .iter()
    .filter(|p| p.weight_sum > 0.0)
    .map(|p| p.max)
    .fold(f64::NEG_INFINITY, f64::max);
  if m == f64::NEG_INFINITY {
    return Err(CoreError::BadState("no walker has positive weight"));
  }
  let mut total = vec![0f64; params];
  let (mut sw, mut su) = (0.0, 0.0);
  for p in parts.iter().filter(|p| p.weight_sum > 0.0) {
    let f = math::exp(p.max - m);
    for (t, v) in total.iter_mut().zip(&p.sums) {
      *t += f * v;
    }
    sw += f * p.weight_sum;
    su += f * p.energy_sum;
  }
  for t in total.iter_mut() {
    *t /= sw;
  }
  Ok((total, su / sw))
}

/// Models a backend has kernels of its own for (see [`Energy::device_model`]).
pub enum DeviceModel<'a> {
  /// No device kernels: a device evaluates the energy on the host.
  None,
  GaussianMixture(&'a crate::models::gmm::GaussianMixture),
}

/// One chunk of walkers in an observation: their positions, and the energies, gradients and
/// log-weights the observation writes.
pub struct ObservedChunk<'a> {
  pub x: &'a [f32],
  pub energy: &'a mut [f32],
  pub grad: &'a mut [f32],
  pub log_weights: &'a mut [f64],
}

/// The chunk's weight update, handed to [`Energy::observe_chunk`]: called with the chunk's new
/// energies and gradients, it updates the chunk's log-weights.
pub type UpdateChunk<'a> = dyn FnMut(&[f32], &[f32], &mut [f64]) + 'a;

/// A native energy U_theta(x) on R^d with parameters theta.
pub trait Energy: Send + Sync {
  fn dim(&self) -> usize;
  /// Length of the flat parameter vector (the layout of every gradient).
  fn param_count(&self) -> usize;
  /// Fails when the parameters cannot be evaluated (e.g. not finite).
  fn validate(&self) -> Result<()>;
  /// U and grad U at the rows of `x` (one chunk of points, called in parallel).
  fn evaluate(&self, x: &[f32], energy: &mut [f32], grad: &mut [f32]);
  /// The weighted sums of one chunk of walkers with log-weights `a` (see [`WalkerPart`]).
  fn walker_part(&self, x: &[f32], a: &[f64]) -> WalkerPart;
  /// sum_j w_j dU/dtheta(x_j) and sum_j w_j U(x_j) over points `x`, with w = `weights` or 1/n,
  /// in parallel on `pool` (the data side of the cross-entropy gradient).
  fn param_grad(&self, pool: &rayon::ThreadPool, x: &[f32], weights: Option<&[f64]>) -> Result<(Vec<f64>, f64)>;
  /// One chunk of a walkers' observation: evaluate, `update` the chunk's weights, and with `fold`
  /// return its walker-weighted sums with the new weights. Energies whose evaluation leaves
  /// numbers the sums can reuse override it; the result must equal this default's.
  fn observe_chunk(&self, chunk: ObservedChunk<'_>, update: &mut UpdateChunk<'_>, fold: bool) -> Option<WalkerPart> {
    let ObservedChunk {
      x,
      energy,
      grad,
      log_weights,
    } = chunk;
    self.evaluate(x, energy, grad);
    update(energy, grad, log_weights);
    fold.then(|| self.walker_part(x, log_weights))
  }
  /// Kernels a device backend has for this model.
  fn device_model(&self) -> DeviceModel<'_> {
    DeviceModel::None
  }
}

/// An energy with the walker-weighted parameter gradient its last observation folded in: the only
/// cache between an observation and the next iteration's gradient, keyed on the walkers' state and
/// the parameters' version, so a stale value is never used.
pub struct FusedEnergy<E: Energy> {
  energy: E,
  /// Bumped by every parameter change.
  version: u64,
  cached: Option<Folded>,
}

/// A walker-weighted gradient and mean energy, with the walkers' state key and the parameters'
/// version it belongs to.
struct Folded {
  key: (u64, u64),
  version: u64,
  grad: (Vec<f64>, f64),
}

/// The gradient of the walkers' weights, or the divergence error naming them all.
fn combine_walker_parts(parts: &[WalkerPart], params: usize, walkers: usize) -> Result<(Vec<f64>, f64)> {
  combine_parts(parts, params).map_err(|_| CoreError::AllWalkersInvalid {
    invalid: walkers,
    walkers,
  })
}

impl<E: Energy> FusedEnergy<E> {
  pub fn new(energy: E) -> Self {
    FusedEnergy {
      energy,
      version: 0,
      cached: None,
    }
  }

  pub fn energy(&self) -> &E {
    &self.energy
  }

  /// Change the parameters through `f`; the folded gradient is dropped.
  pub fn update<R>(&mut self, f: impl FnOnce(&mut E) -> Result<R>) -> Result<R> {
    self.version += 1;
    self.cached = None;
    f(&mut self.energy)
  }

  fn check_dim(&self, walkers: &dyn Walkers) -> Result<()> {
    check_len("walkers' dim", walkers.config().dim, self.energy.dim())
  }

  /// Observe the energy at the walkers, folding the next iteration's walker-weighted gradient in.
  pub fn observe(&mut self, walkers: &mut dyn Walkers) -> Result<ObserveReport> {
    self.observe_folding(walkers, true)
  }

  /// Observe the energy at the walkers; with `fold` false no gradient is folded in, for an
  /// observation whose walker-weighted gradient nobody reads (the annealed-importance observation
  /// at new parameters of the backward kernel at theta_k, which a move and another observation
  /// follow before the next gradient). The weight update is the same either way, bit for bit.
  pub fn observe_folding(&mut self, walkers: &mut dyn Walkers, fold: bool) -> Result<ObserveReport> {
    self.check_dim(walkers)?;
    self.energy.validate()?;
    self.cached = None;
    let (report, parts) = walkers.observe_energy(&self.energy, fold)?;
    if fold {
      if let Ok(grad) = combine_parts(&parts, self.energy.param_count()) {
        self.cached = Some(Folded {
          key: walkers.state_key(),
          version: self.version,
          grad,
        });
      }
    }
    Ok(report)
  }

  /// (sum_i p_i dU/dtheta(X_i), sum_i p_i U(X_i)) with p the walkers' normalised weights: from the
  /// last observation when nothing changed since, else computed anew (the same arithmetic, so
  /// the same bits).
  pub fn walker_param_grad(&mut self, walkers: &mut dyn Walkers) -> Result<(Vec<f64>, f64)> {
    self.check_dim(walkers)?;
    if let Some(f) = &self.cached {
      if f.key == walkers.state_key() && f.version == self.version {
        return Ok(f.grad.clone());
      }
    }
    self.energy.validate()?;
    let parts = walkers.walker_sums(&self.energy)?;
    combine_walker_parts(&parts, self.energy.param_count(), walkers.config().walkers)
  }
}
