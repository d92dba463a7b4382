//! `NativeGmm`: the native Gaussian mixture (a `FusedEnergy`, which keeps the walker-weighted
//! gradient an observation folded in), wrapped for JavaScript. A training iteration takes two
//! calls: `gradient` (the surrogate-loss gradient at theta_k) and `advance` (theta_{k+1}, the move,
//! the observation, the resampling). With the backward kernel at theta_k (the trainer's
//! `backwardKernel: 'current'`) the move and the observation at theta_k go into `gradient`
//! (`moveFirst`), and `advance` only observes at theta_{k+1} (no move, nothing folded) and
//! resamples: still two calls.

use jarzyn_core::{Energy, FusedEnergy, GaussianMixture, Walkers};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::errors::{check_no_alias, seed, throw, Class, OrThrow};
use crate::sampler::{report_to_js, scheme, NativeObserveReport, NativeSampler, NativeWeightSummary};

/// Parameter gradient and mean energy of a weighted set of points.
#[napi(object)]
pub struct NativeParamGrad {
  /// [means (K x d) | logWeights (K) | logScales (K)]
  pub grad: Float64Array,
  pub mean_energy: f64,
}

/// What one training iteration needs at theta_k: both sides of the surrogate-loss gradient, the
/// walkers' weight summary and the exact log Z.
#[napi(object)]
pub struct NativeGradient {
  /// theta_k, [means | logWeights | logScales].
  pub params: Float64Array,
  /// mean_j dU/dtheta(data_j).
  pub data_grad: Float64Array,
  pub mean_data_energy: f64,
  /// sum_i p_i dU/dtheta(X_i).
  pub walker_grad: Float64Array,
  pub mean_walker_energy: f64,
  pub summary: NativeWeightSummary,
  pub log_z: f64,
  /// With `moveFirst`: what the observation at theta_k after the move found; else null.
  pub report: Option<NativeObserveReport>,
}

/// What `advance` did.
#[napi(object)]
pub struct NativeAdvance {
  pub report: NativeObserveReport,
  pub resampled: bool,
  /// Resamplings so far.
  pub resamplings: f64,
  /// log Z and the mixture weights at the new parameters.
  pub log_z: f64,
  pub mixture_weights: Float64Array,
}

#[napi]
pub struct NativeGmm {
  fused: FusedEnergy<GaussianMixture>,
  /// Threads for the data side and the point-wise functions.
  pool: rayon::ThreadPool,
}

impl NativeGmm {
  pub(crate) fn fused_mut(&mut self) -> &mut FusedEnergy<GaussianMixture> {
    &mut self.fused
  }

  fn model(&self) -> &GaussianMixture {
    self.fused.energy()
  }
}

/// The walkers of `sampler`, checked to be of the mixture's dimension.
fn walkers_of<'a>(env: &Env, sampler: &'a mut NativeSampler, dim: usize) -> Result<&'a mut dyn Walkers> {
  let w = sampler.walkers(env)?;
  if w.config().dim != dim {
    return Err(throw(
      env,
      Class::RangeError,
      "ERR_JARZYN_BAD_LENGTH",
      &format!("the sampler has dim {}, the mixture {dim}", w.config().dim),
    ));
  }
  Ok(w)
}

#[napi]
impl NativeGmm {
  #[napi(constructor)]
  pub fn new(env: Env, dim: u32, components: u32, threads: u32) -> Result<Self> {
    let model = GaussianMixture::new(dim as usize, components as usize).or_throw(&env)?;
    if threads == 0 || threads > 1024 {
      return Err(throw(
        &env,
        Class::RangeError,
        "ERR_JARZYN_INVALID_OPTION",
        "invalid option `threads`: must be an integer in 1..1024",
      ));
    }
    let pool = rayon::ThreadPoolBuilder::new()
      .num_threads(threads as usize)
      .build()
      .map_err(|e| throw(&env, Class::Error, "ERR_JARZYN_BACKEND", &e.to_string()))?;
    Ok(NativeGmm {
      fused: FusedEnergy::new(model),
      pool,
    })
  }

  /// All parameters, [means | logWeights | logScales].
  #[napi]
  pub fn get_params(&self) -> Float64Array {
    Float64Array::new(self.model().params())
  }

  /// Set all parameters; refuses non-finite values (and then changes nothing).
  #[napi]
  pub fn set_params(&mut self, env: Env, p: Float64ArraySlice) -> Result<()> {
    self.fused.update(|m| m.set_params(p.as_ref())).or_throw(&env)
  }

  #[napi]
  pub fn log_z(&self) -> f64 {
    self.model().log_z()
  }

  #[napi]
  pub fn mixture_weights(&self) -> Float64Array {
    Float64Array::new(self.model().mixture_weights())
  }

  /// U (and grad U when `grad` is given) at the points `x` (n x d).
  #[napi]
  pub fn evaluate(
    &self,
    env: Env,
    x: Float32ArraySlice,
    mut energy: Float32ArraySlice,
    grad: Option<Float32ArraySlice>,
  ) -> Result<()> {
    check_no_alias(&env, x.as_ref(), energy.as_ref(), "outputs must not alias `x`")?;
    if let Some(g) = &grad {
      check_no_alias(&env, x.as_ref(), g.as_ref(), "outputs must not alias `x`")?;
      check_no_alias(&env, energy.as_ref(), g.as_ref(), "`energy` and `grad` must not alias")?;
    }
    // SAFETY: the outputs alias neither `x` nor each other (checked above).
    let e = unsafe { energy.as_mut() };
    match grad {
      Some(mut g) => self
        .model()
        .evaluate(&self.pool, x.as_ref(), e, Some(unsafe { g.as_mut() })),
      None => self.model().evaluate(&self.pool, x.as_ref(), e, None),
    }
    .or_throw(&env)
  }

  /// log rho(x) = -U(x) - log Z per point.
  #[napi]
  pub fn log_density(&self, env: Env, x: Float32ArraySlice, mut out: Float64ArraySlice) -> Result<()> {
    check_no_alias(&env, x.as_ref(), out.as_ref(), "`out` must not alias `x`")?;
    // SAFETY: `out` does not alias `x` (checked above).
    let o = unsafe { out.as_mut() };
    self.model().log_density(&self.pool, x.as_ref(), o).or_throw(&env)
  }

  /// sum_j w_j dU/dtheta(x_j) and sum_j w_j U(x_j); w = 1/n when `weights` is null.
  #[napi]
  pub fn param_grad(
    &self,
    env: Env,
    x: Float32ArraySlice,
    weights: Option<Float64ArraySlice>,
  ) -> Result<NativeParamGrad> {
    let w = weights.as_ref().map(|w| -> &[f64] { w.as_ref() });
    let (g, u) = self.model().param_grad(&self.pool, x.as_ref(), w).or_throw(&env)?;
    Ok(NativeParamGrad {
      grad: Float64Array::new(g),
      mean_energy: u,
    })
  }

  /// sum_i p_i dU/dtheta(X_i) and sum_i p_i U(X_i) over the sampler's walkers, p their normalised
  /// weights: from the last observation's pass when nothing changed since, else computed anew
  /// (the same arithmetic either way, so the same bits).
  #[napi]
  pub fn walker_param_grad(&mut self, env: Env, sampler: &mut NativeSampler) -> Result<NativeParamGrad> {
    let w = walkers_of(&env, sampler, self.model().dim)?;
    let (g, u) = self.fused.walker_param_grad(w).or_throw(&env)?;
    Ok(NativeParamGrad {
      grad: Float64Array::new(g),
      mean_energy: u,
    })
  }

  /// One training iteration's look at theta_k, in one call: the data and walker sides of the
  /// surrogate-loss gradient, the walkers' weight summary, and the exact log Z. With `moveFirst`
  /// (the backward kernel at theta_k), first a ULA move with grad U_k and the observation at
  /// theta_k (the MALA log-ratio; it folds the walker side in), so that everything is read from
  /// the weights after that step.
  #[napi]
  pub fn gradient(
    &mut self,
    env: Env,
    sampler: &mut NativeSampler,
    data: Float32ArraySlice,
    move_first: bool,
  ) -> Result<NativeGradient> {
    let w = walkers_of(&env, sampler, self.model().dim)?;
    let report = if move_first {
      w.move_walkers().or_throw(&env)?;
      Some(report_to_js(self.fused.observe(w).or_throw(&env)?))
    } else {
      None
    };
    let summary = NativeSampler::summary_of(&env, w)?;
    let (dg, du) = self
      .model()
      .param_grad(&self.pool, data.as_ref(), None)
      .or_throw(&env)?;
    let (wg, wu) = self.fused.walker_param_grad(w).or_throw(&env)?;
    Ok(NativeGradient {
      params: Float64Array::new(self.model().params()),
      data_grad: Float64Array::new(dg),
      mean_data_energy: du,
      walker_grad: Float64Array::new(wg),
      mean_walker_energy: wu,
      summary,
      log_z: self.model().log_z(),
      report,
    })
  }

  /// The rest of a training iteration, in one call: theta_{k+1} = `params`, a ULA move (unless
  /// `moveWalkers` is false: the walkers were moved by `gradient`, or not at all, and the
  /// observation adds the annealed-importance increment U_k - U_{k+1}), the observation (folding
  /// the next iteration's walker-weighted gradient in when `fold`; the backward kernel at theta_k
  /// reads its gradient after another move, so it passes false), and a resampling when
  /// ESS < essFraction N (`essFraction` null: never).
  #[napi]
  #[allow(clippy::too_many_arguments)]
  pub fn advance(
    &mut self,
    env: Env,
    sampler: &mut NativeSampler,
    params: Float64ArraySlice,
    move_walkers: bool,
    fold: bool,
    ess_fraction: Option<f64>,
    scheme_name: String,
  ) -> Result<NativeAdvance> {
    let s = scheme(&env, &scheme_name)?;
    let w = walkers_of(&env, sampler, self.model().dim)?;
    self.fused.update(|m| m.set_params(params.as_ref())).or_throw(&env)?;
    if move_walkers {
      w.move_walkers().or_throw(&env)?;
    }
    let report = self.fused.observe_folding(w, fold).or_throw(&env)?;
    let resampled = match ess_fraction {
      Some(f) => w.maybe_resample(f, s).or_throw(&env)?,
      None => false,
    };
    Ok(NativeAdvance {
      report: report_to_js(report),
      resampled,
      resamplings: w.counters().resamplings as f64,
      log_z: self.model().log_z(),
      mixture_weights: Float64Array::new(self.model().mixture_weights()),
    })
  }

  /// Exact samples into `out` (n x d); returns each sample's component.
  #[napi]
  pub fn sample(
    &self,
    env: Env,
    mut out: Float32ArraySlice,
    seed_value: BigInt,
    step: f64,
    stratified: bool,
  ) -> Result<Uint32Array> {
    let s = seed(&env, seed_value)?;
    // SAFETY: only this call references `out`.
    let o = unsafe { out.as_mut() };
    let comp = self.model().sample(o, s, step as u64, stratified).or_throw(&env)?;
    Ok(Uint32Array::new(comp.into_iter().map(|c| c as u32).collect()))
  }

  /// Exact samples into the sampler's positions (a fresh start of a weighted run).
  #[napi]
  pub fn sample_into(
    &self,
    env: Env,
    sampler: &mut NativeSampler,
    seed_value: BigInt,
    step: f64,
    stratified: bool,
  ) -> Result<()> {
    let s = seed(&env, seed_value)?;
    let w = walkers_of(&env, sampler, self.model().dim)?;
    let m = self.model();
    w.fill_positions(&mut |x| m.sample(x, s, step as u64, stratified).map(|_| ()))
      .or_throw(&env)
  }
}
