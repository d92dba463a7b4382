//! The mixture's parameters, exact log Z and samples, and its [`Energy`] implementation.

use rayon::prelude::*;

use super::kernels::{eval_chunk, grad_chunk, KernelParams};
use super::walker_grad;
use crate::energy::{DeviceModel, Energy, ObservedChunk, UpdateChunk, WalkerPart};
use crate::error::{check_len, CoreError, Result};
use crate::math;
use crate::normal::fill_normals;
use crate::philox::{key_from_seed, philox4x32_10, Counter, Stream};

/// Points per reduction chunk (fixed; never derived from the thread count).
pub(super) const POINT_CHUNK: usize = 1024;
pub(super) const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Parameters of a K-component mixture in R^d. Mixture weight of component i is
/// proportional to (2 pi s_i^2)^{d/2} exp(-z_i).
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture {
  pub dim: usize,
  pub components: usize,
  /// Means a_i, K x d row-major.
  means: Vec<f64>,
  /// Log-weight offsets z_i (the energy's, not the mixture's: larger z, smaller weight).
  log_weights: Vec<f64>,
  /// log s_i.
  log_scales: Vec<f64>,
  /// What the per-point kernels use, derived from the parameters whenever they change.
  kp: KernelParams,
}

/// d U / d theta, laid out as [means (K x d) | log_weights (K) | log_scales (K)].
pub type ParamVector = Vec<f64>;

impl GaussianMixture {
  pub fn new(dim: usize, components: usize) -> Result<Self> {
    if dim == 0 {
      return Err(CoreError::InvalidOption {
        name: "dim",
        reason: "must be a positive integer".into(),
      });
    }
    if components == 0 || components > 4096 {
      return Err(CoreError::InvalidOption {
        name: "components",
        reason: "must be an integer in 1..4096".into(),
      });
    }
    let mut m = GaussianMixture {
      dim,
      components,
      means: vec![0.0; dim * components],
      log_weights: vec![0.0; components],
      log_scales: vec![0.0; components],
      kp: KernelParams::default(),
    };
    m.kp = m.kernel_params();
    Ok(m)
  }

  /// The parameters as one flat vector [means (K x d) | log_weights (K) | log_scales (K)].
  pub fn params(&self) -> ParamVector {
    let mut p = Vec::with_capacity(self.param_count());
    p.extend_from_slice(&self.means);
    p.extend_from_slice(&self.log_weights);
    p.extend_from_slice(&self.log_scales);
    p
  }

  /// Set every parameter from a flat vector laid out as [`GaussianMixture::params`]; refused
  /// (parameters unchanged) unless it has the right length and finite values.
  pub fn set_params(&mut self, p: &[f64]) -> Result<()> {
    let (k, d) = (self.components, self.dim);
    check_len("params", p.len(), self.param_count())?;
    if let Some(i) = p.iter().position(|v| !v.is_finite()) {
      return Err(CoreError::InvalidOption {
        name: "params",
        reason: format!("entry {i} is {}; parameters must be finite", p[i]),
      });
    }
    self.means.copy_from_slice(&p[..k * d]);
    self.log_weights.copy_from_slice(&p[k * d..k * d + k]);
    self.log_scales.copy_from_slice(&p[k * d + k..]);
    self.kp = self.kernel_params();
    Ok(())
  }

  /// Means a_i, K x d row-major.
  pub fn means(&self) -> &[f64] {
    &self.means
  }

  /// log s_i.
  pub fn log_scales(&self) -> &[f64] {
    &self.log_scales
  }

  /// Number of parameters in a [`ParamVector`].
  pub fn param_count(&self) -> usize {
    self.components * (self.dim + 2)
  }

  /// Check every parameter is finite.
  pub fn validate(&self) -> Result<()> {
    let ok = self
      .means
      .iter()
      .chain(&self.log_weights)
      .chain(&self.log_scales)
      .all(|v| v.is_finite());
    if !ok {
      return Err(CoreError::BadState("Gaussian-mixture parameters are not finite"));
    }
    if self.means.len() != self.dim * self.components
      || self.log_weights.len() != self.components
      || self.log_scales.len() != self.components
    {
      return Err(CoreError::BadState(
        "Gaussian-mixture parameter shapes do not match dim and components",
      ));
    }
    Ok(())
  }

  /// log of each component's unnormalised mass: d/2 log(2 pi) + d log s_i - z_i.
  fn log_masses(&self) -> Vec<f64> {
    let d = self.dim as f64;
    (0..self.components)
      .map(|i| 0.5 * d * LN_2PI + d * self.log_scales[i] - self.log_weights[i])
      .collect()
  }

  /// Exact log Z.
  pub fn log_z(&self) -> f64 {
    crate::weights::logsumexp(&self.log_masses())
  }

  /// The mixture's weights (sum to 1).
  pub fn mixture_weights(&self) -> Vec<f64> {
    let lm = self.log_masses();
    let lz = crate::weights::logsumexp(&lm);
    lm.iter().map(|v| math::exp(v - lz)).collect()
  }

  /// Exact log density log rho(x) = -U(x) - log Z, per point.
  pub fn log_density(&self, pool: &rayon::ThreadPool, x: &[f32], out: &mut [f64]) -> Result<()> {
    let n = self.check_points(x)?;
    check_len("out", out.len(), n)?;
    let mut e = vec![0f32; n];
    self.evaluate(pool, x, &mut e, None)?;
    let lz = self.log_z();
    for (o, &u) in out.iter_mut().zip(&e) {
      *o = -(u as f64) - lz;
    }
    Ok(())
  }

  fn check_points(&self, x: &[f32]) -> Result<usize> {
    if x.len() % self.dim != 0 {
      return Err(CoreError::BadLength {
        name: "x",
        got: x.len(),
        expected: (x.len() / self.dim + 1) * self.dim,
      });
    }
    Ok(x.len() / self.dim)
  }

  /// The per-point kernel's parameter arrays (means as f32, z, 1 / (2 s^2), 1 / s^2 as f32), for
  /// backends that upload them (the CUDA kernels use exactly these numbers).
  pub fn kernel_arrays(&self) -> (Vec<f32>, Vec<f64>, Vec<f64>, Vec<f32>) {
    let kp = &self.kp;
    (
      kp.means.clone(),
      kp.z.clone(),
      kp.half_inv_var.clone(),
      kp.inv_var.clone(),
    )
  }

  /// f32 copies of the parameters the per-point kernel uses.
  fn kernel_params(&self) -> KernelParams {
    KernelParams {
      dim: self.dim,
      means: self.means.iter().map(|&v| v as f32).collect(),
      z: self.log_weights.clone(),
      half_inv_var: self.log_scales.iter().map(|&l| 0.5 * math::exp(-2.0 * l)).collect(),
      inv_var: self.log_scales.iter().map(|&l| math::exp(-2.0 * l) as f32).collect(),
    }
  }

  /// U and (optionally) grad_x U at each point. Non-finite inputs give non-finite outputs, which
  /// the sampler then marks invalid; nothing here panics on them.
  pub fn evaluate(
    &self,
    pool: &rayon::ThreadPool,
    x: &[f32],
    energy: &mut [f32],
    grad: Option<&mut [f32]>,
  ) -> Result<()> {
    let n = self.check_points(x)?;
    check_len("energy", energy.len(), n)?;
    if let Some(g) = &grad {
      check_len("grad", g.len(), x.len())?;
    }
    let d = self.dim;
    let kp = &self.kp;
    pool.install(|| match grad {
      Some(grad) => x
        .par_chunks(POINT_CHUNK * d)
        .zip(energy.par_chunks_mut(POINT_CHUNK))
        .zip(grad.par_chunks_mut(POINT_CHUNK * d))
        .for_each(|((xc, ec), gc)| eval_chunk(kp, xc, ec, Some(gc))),
      None => x
        .par_chunks(POINT_CHUNK * d)
        .zip(energy.par_chunks_mut(POINT_CHUNK))
        .for_each(|(xc, ec)| eval_chunk(kp, xc, ec, None)),
    });
    Ok(())
  }

  /// sum_j w_j dU/dtheta(x_j) and sum_j w_j U(x_j), with w_j = `weights[j]` or 1/n when `None`.
  /// Points with zero weight are skipped (their energy may be non-finite).
  pub fn weighted_param_grad(
    &self,
    pool: &rayon::ThreadPool,
    x: &[f32],
    weights: Option<&[f64]>,
  ) -> Result<(ParamVector, f64)> {
    let n = self.check_points(x)?;
    if let Some(w) = weights {
      check_len("weights", w.len(), n)?;
    }
    if n == 0 {
      return Ok((vec![0.0; self.param_count()], 0.0));
    }
    let d = self.dim;
    let k = self.components;
    let kp = &self.kp;
    let uniform = 1.0 / n as f64;
    let partials: Vec<(Vec<f64>, f64)> = pool.install(|| {
      x.par_chunks(POINT_CHUNK * d)
        .enumerate()
        .map(|(ci, xc)| {
          let w = weights.map(|w| &w[ci * POINT_CHUNK..(ci * POINT_CHUNK + xc.len() / d)]);
          grad_chunk(kp, xc, w, uniform)
        })
        .collect()
    });
    let mut total = vec![0f64; k * (d + 2)];
    let mut mean_u = 0.0;
    for (acc, u) in partials {
      for (t, a) in total.iter_mut().zip(acc) {
        *t += a;
      }
      mean_u += u;
    }
    Ok((total, mean_u))
  }

  /// Exact samples into `out` (n x d). Component counts are stratified (largest-remainder
  /// rounding of n w_i, as the paper's "half from each component") when `stratified`, else drawn
  /// iid. Deterministic in (seed, step): the normals come from stream Init at counter step
  /// `2 step`, the component uniforms (iid case) from counter step `2 step + 1`.
  pub fn sample(&self, out: &mut [f32], seed: u64, step: u64, stratified: bool) -> Result<Vec<usize>> {
    let n = self.check_points(out)?;
    self.validate()?;
    let d = self.dim;
    let w = self.mixture_weights();
    let key = key_from_seed(seed);
    let comp: Vec<usize> = if stratified {
      let counts = largest_remainder(&w, n);
      counts
        .iter()
        .enumerate()
        .flat_map(|(i, &c)| std::iter::repeat_n(i, c))
        .collect()
    } else {
      // Uniforms from the Init stream's odd counters (normals use the even ones).
      let ctr = Counter::new(Stream::Init, 2 * step + 1);
      let mut cum = Vec::with_capacity(w.len());
      let mut acc = 0.0;
      for &v in &w {
        acc += v;
        cum.push(acc);
      }
      (0..n)
        .map(|j| {
          let r = philox4x32_10([0, j as u32, ctr.c2, ctr.c3], key);
          let u = (((r[0] as u64) << 21) ^ ((r[1] as u64) >> 11)) as f64 / 9_007_199_254_740_992.0 * acc;
          cum.iter().position(|&c| c > u).unwrap_or(w.len() - 1)
        })
        .collect()
    };
    fill_normals(key, Counter::new(Stream::Init, 2 * step), 0, d, out);
    for (j, row) in out.chunks_exact_mut(d).enumerate() {
      let i = comp[j];
      let s = math::exp(self.log_scales[i]);
      for c in 0..d {
        row[c] = (self.means[i * d + c] + s * row[c] as f64) as f32;
      }
    }
    Ok(comp)
  }
}

/// Integer counts summing to n, as close as possible to n w_i (largest remainders first, ties to
/// the lower index).
pub fn largest_remainder(w: &[f64], n: usize) -> Vec<usize> {
  let total: f64 = w.iter().sum();
  let exact: Vec<f64> = w.iter().map(|v| n as f64 * v / total).collect();
  let mut counts: Vec<usize> = exact.iter().map(|v| v.floor() as usize).collect();
  let mut left = n - counts.iter().sum::<usize>().min(n);
  let mut order: Vec<usize> = (0..w.len()).collect();
  order.sort_by(|&a, &b| {
    (exact[b] - exact[b].floor())
      .total_cmp(&(exact[a] - exact[a].floor()))
      .then(a.cmp(&b))
  });
  for &i in order.iter().cycle() {
    if left == 0 {
      break;
    }
    counts[i] += 1;
    left -= 1;
  }
  counts
}

impl Energy for GaussianMixture {
  fn dim(&self) -> usize {
    self.dim
  }
  fn param_count(&self) -> usize {
    GaussianMixture::param_count(self)
  }
  fn validate(&self) -> Result<()> {
    GaussianMixture::validate(self)
  }
  fn evaluate(&self, x: &[f32], energy: &mut [f32], grad: &mut [f32]) {
    eval_chunk(&self.kp, x, energy, Some(grad))
  }
  fn walker_part(&self, x: &[f32], a: &[f64]) -> WalkerPart {
    walker_grad::walker_part(&self.kp, x, a)
  }
  fn param_grad(&self, pool: &rayon::ThreadPool, x: &[f32], weights: Option<&[f64]>) -> Result<(Vec<f64>, f64)> {
    self.weighted_param_grad(pool, x, weights)
  }
  fn observe_chunk(&self, chunk: ObservedChunk<'_>, update: &mut UpdateChunk<'_>, fold: bool) -> Option<WalkerPart> {
    walker_grad::observe_chunk(&self.kp, chunk, update, fold)
  }
  fn device_model(&self) -> DeviceModel<'_> {
    DeviceModel::GaussianMixture(self)
  }
}
