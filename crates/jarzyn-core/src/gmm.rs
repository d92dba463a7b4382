//! A native Gaussian-mixture energy, U(x) = -log sum_i exp(-|x - a_i|^2 / (2 s_i^2) - z_i), with
//! exact log Z, exact samples, energies, gradients and weighted parameter gradients.
//!
//! This is the paper's first experiment's model (with learnable scales as an option). Per-point work
//! is in f32 (what a TensorFlow.js implementation computes, so the two agree to f32 round-off);
//! sums over points are in f64 over fixed chunks combined in order, so results are bit-identical
//! for any thread count.

use rayon::prelude::*;

use crate::dispatch::avx2_dispatch;
use crate::error::{CoreError, Result};
use crate::math;
use crate::normal::fill_normals;
use crate::philox::{key_from_seed, philox4x32_10, Counter, Stream};
use crate::weights::{max_log_weight, zero_weight};

/// Points per reduction chunk (fixed; never derived from the thread count).
const POINT_CHUNK: usize = 1024;
/// Accumulator lanes for the squared distance, so that the f32 sum vectorises in a fixed order.
const ACC: usize = 8;
/// Points per f32 partial sum of the mean gradient before it is added into f64.
const FLUSH: usize = 32;
/// Points whose responsibilities are computed together before their gradient sums.
const BLOCK: usize = 8;
const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Parameters of a K-component mixture in R^d. Mixture weight of component i is
/// proportional to (2 pi s_i^2)^{d/2} exp(-z_i).
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture {
  pub dim: usize,
  pub components: usize,
  /// Means a_i, K x d row-major.
  pub means: Vec<f64>,
  /// Log-weight offsets z_i (the energy's, not the mixture's: larger z, smaller weight).
  pub log_weights: Vec<f64>,
  /// log s_i.
  pub log_scales: Vec<f64>,
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
    Ok(GaussianMixture {
      dim,
      components,
      means: vec![0.0; dim * components],
      log_weights: vec![0.0; components],
      log_scales: vec![0.0; components],
    })
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
    if out.len() != n {
      return Err(CoreError::BadLength {
        name: "out",
        got: out.len(),
        expected: n,
      });
    }
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
    let kp = self.kernel_params();
    (kp.means, kp.z, kp.half_inv_var, kp.inv_var)
  }

  /// f32 copies of the parameters the per-point kernel uses.
  fn kernel_params(&self) -> KernelParams {
    KernelParams {
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
    if energy.len() != n {
      return Err(CoreError::BadLength {
        name: "energy",
        got: energy.len(),
        expected: n,
      });
    }
    if let Some(g) = &grad {
      if g.len() != x.len() {
        return Err(CoreError::BadLength {
          name: "grad",
          got: g.len(),
          expected: x.len(),
        });
      }
    }
    let d = self.dim;
    let kp = self.kernel_params();
    let k = self.components;
    pool.install(|| match grad {
      Some(grad) => x
        .par_chunks(POINT_CHUNK * d)
        .zip(energy.par_chunks_mut(POINT_CHUNK))
        .zip(grad.par_chunks_mut(POINT_CHUNK * d))
        .for_each(|((xc, ec), gc)| eval_grad_chunk(&kp, k, d, xc, ec, gc)),
      None => x
        .par_chunks(POINT_CHUNK * d)
        .zip(energy.par_chunks_mut(POINT_CHUNK))
        .for_each(|(xc, ec)| eval_chunk(&kp, k, d, xc, ec)),
    });
    Ok(())
  }

  /// A per-chunk evaluator for [`crate::Sampler::observe_with`]: U and grad U of the points of one
  /// chunk, on the caller's thread.
  pub fn chunk_evaluator(&self) -> impl Fn(&[f32], &mut [f32], &mut [f32]) + Sync + '_ {
    let kp = self.kernel_params();
    let (k, d) = (self.components, self.dim);
    move |x: &[f32], e: &mut [f32], g: &mut [f32]| eval_grad_chunk(&kp, k, d, x, e, g)
  }

  /// The kernel for walker-weighted parameter gradients (fused into observations or standalone).
  pub fn walker_grad_kernel(&self) -> WalkerGradKernel {
    WalkerGradKernel {
      kp: self.kernel_params(),
      k: self.components,
      d: self.dim,
    }
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
      if w.len() != n {
        return Err(CoreError::BadLength {
          name: "weights",
          got: w.len(),
          expected: n,
        });
      }
    }
    if n == 0 {
      return Ok((vec![0.0; self.param_count()], 0.0));
    }
    let d = self.dim;
    let k = self.components;
    let kp = self.kernel_params();
    let uniform = 1.0 / n as f64;
    let partials: Vec<(Vec<f64>, f64)> = pool.install(|| {
      x.par_chunks(POINT_CHUNK * d)
        .enumerate()
        .map(|(ci, xc)| {
          let w = weights.map(|w| &w[ci * POINT_CHUNK..(ci * POINT_CHUNK + xc.len() / d)]);
          grad_chunk(&kp, k, d, xc, w, uniform)
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

/// One chunk of points: U and grad_x U.
#[inline(always)]
fn eval_grad_chunk_inner<const AVX2: bool>(
  kp: &KernelParams,
  k: usize,
  d: usize,
  xc: &[f32],
  ec: &mut [f32],
  gc: &mut [f32],
) {
  // Two phases per block of points: first every point's responsibilities (independent scalar
  // chains that the CPU overlaps), then the vectorised gradient sums. Same operations per point,
  // so the same bits as one point at a time.
  let (mut gamma, mut sq, mut u) = (vec![0f64; BLOCK * k], vec![0f64; BLOCK * k], [0f64; BLOCK]);
  for ((xb, eb), gb) in xc
    .chunks(BLOCK * d)
    .zip(ec.chunks_mut(BLOCK))
    .zip(gc.chunks_mut(BLOCK * d))
  {
    let nb = eb.len();
    kp.block_with_sq::<AVX2>(xb, &mut gamma[..nb * k], &mut sq[..nb * k], &mut u[..nb], d);
    for (e, &v) in eb.iter_mut().zip(&u[..nb]) {
      *e = v as f32;
    }
    kp.grad_rows(xb, &gamma[..nb * k], gb, d);
  }
}

avx2_dispatch!(fn eval_grad_chunk = eval_grad_chunk_inner::<AVX2>(kp: &KernelParams, k: usize, d: usize, xc: &[f32], ec: &mut [f32], gc: &mut [f32]));

/// The per-walker numbers an evaluation keeps for the weighted sums of the same chunk.
#[derive(Default)]
pub struct WalkerScratch {
  gamma: Vec<f64>,
  sq: Vec<f64>,
  u: Vec<f64>,
}

/// One chunk of walkers' weighted parameter-gradient sums, with weights exp(A_j - max): the
/// chunk's own largest log-weight keeps them in range; [`WalkerGradKernel::combine`] rescales.
#[derive(Default, Clone, Debug, PartialEq)]
pub struct WalkerPart {
  pub max: f64,
  pub sums: Vec<f64>,
  pub energy_sum: f64,
  pub weight_sum: f64,
}

/// U and grad U of one chunk, recording responsibilities, squared distances and energies.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn eval_record_inner<const AVX2: bool>(
  kp: &KernelParams,
  d: usize,
  xc: &[f32],
  ec: &mut [f32],
  gc: &mut [f32],
  gamma: &mut [f64],
  sq: &mut [f64],
  u: &mut [f64],
) {
  let n = ec.len();
  kp.block_with_sq::<AVX2>(xc, gamma, sq, u, d);
  for j in 0..n {
    ec[j] = u[j] as f32;
  }
  kp.grad_rows(xc, gamma, gc, d);
}

avx2_dispatch!(fn eval_record = eval_record_inner::<AVX2>(kp: &KernelParams, d: usize, xc: &[f32], ec: &mut [f32], gc: &mut [f32], gamma: &mut [f64], sq: &mut [f64], u: &mut [f64]));

/// Weighted sums of one chunk from recorded responsibilities: weights exp(A_j - max_chunk).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn walker_sums_inner<const AVX2: bool>(
  kp: &KernelParams,
  k: usize,
  d: usize,
  xc: &[f32],
  a: &[f64],
  gamma: &[f64],
  sq: &[f64],
  u: &[f64],
) -> WalkerPart {
  let max = max_log_weight(a);
  let mut part = WalkerPart {
    max,
    sums: vec![0f64; k * (d + 2)],
    energy_sum: 0.0,
    weight_sum: 0.0,
  };
  if max == f64::NEG_INFINITY {
    return part;
  }
  let mut acc32 = vec![0f32; k * d];
  let n = a.len();
  for j in 0..n {
    if !zero_weight(a[j]) {
      let w = math::exp_f32(a[j] - max);
      let row = &xc[j * d..(j + 1) * d];
      part.weight_sum += w;
      part.energy_sum += w * u[j];
      for i in 0..k {
        let gm = gamma[j * k + i];
        let c = (-w * gm * 2.0 * kp.half_inv_var[i]) as f32;
        let am = &kp.means[i * d..(i + 1) * d];
        for ((o, &xv), &av) in acc32[i * d..(i + 1) * d].iter_mut().zip(row).zip(am) {
          *o += c * (xv - av);
        }
        part.sums[k * d + i] += w * gm;
        part.sums[k * d + k + i] -= w * gm * sq[j * k + i] * 2.0 * kp.half_inv_var[i];
      }
    }
    if (j + 1) % FLUSH == 0 || j + 1 == n {
      for (o, v) in part.sums[..k * d].iter_mut().zip(acc32.iter_mut()) {
        *o += *v as f64;
        *v = 0.0;
      }
    }
  }
  part
}

avx2_dispatch!(fn walker_sums = walker_sums_inner::<AVX2>(kp: &KernelParams, k: usize, d: usize, xc: &[f32], a: &[f64], gamma: &[f64], sq: &[f64], u: &[f64]) -> WalkerPart);

/// sum_j p_j dU/dtheta(X_j) over a sampler's walkers (p = normalised exp(A)), computed either while
/// observing (fused into the evaluation pass) or on its own, with the same arithmetic either way.
pub struct WalkerGradKernel {
  kp: KernelParams,
  k: usize,
  d: usize,
}

impl WalkerGradKernel {
  /// Scratch for one worker.
  pub fn scratch(&self) -> WalkerScratch {
    WalkerScratch::default()
  }

  fn ensure(&self, s: &mut WalkerScratch, n: usize) {
    s.gamma.resize(n * self.k, 0.0);
    s.sq.resize(n * self.k, 0.0);
    s.u.resize(n, 0.0);
  }

  /// The evaluation half of a fused observation: U and grad U, recording what `after` needs.
  pub fn eval(&self, s: &mut WalkerScratch, x: &[f32], e: &mut [f32], g: &mut [f32]) {
    self.ensure(s, e.len());
    let n = e.len();
    eval_record(
      &self.kp,
      self.d,
      x,
      e,
      g,
      &mut s.gamma[..n * self.k],
      &mut s.sq[..n * self.k],
      &mut s.u[..n],
    );
  }

  /// The sums half, once the chunk's log-weights `a` are updated.
  pub fn after(&self, s: &mut WalkerScratch, x: &[f32], a: &[f64]) -> WalkerPart {
    let n = a.len();
    walker_sums(
      &self.kp,
      self.k,
      self.d,
      x,
      a,
      &s.gamma[..n * self.k],
      &s.sq[..n * self.k],
      &s.u[..n],
    )
  }

  /// The same sums for one chunk without an observation (recomputing the responsibilities).
  pub fn standalone(&self, x: &[f32], a: &[f64]) -> WalkerPart {
    let n = a.len();
    let mut s = self.scratch();
    self.ensure(&mut s, n);
    let mut e = vec![0f32; n];
    let mut g = vec![0f32; n * self.d];
    self.eval(&mut s, x, &mut e, &mut g);
    self.after(&mut s, x, a)
  }

  /// Combine chunk parts in order: (sum_j p_j dU/dtheta(X_j), sum_j p_j U(X_j)).
  pub fn combine(&self, parts: &[WalkerPart]) -> Result<(ParamVector, f64)> {
    let m = parts
      .iter()
      .filter(|p| p.weight_sum > 0.0)
      .map(|p| p.max)
      .fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
      return Err(CoreError::AllWalkersInvalid { invalid: 0, walkers: 0 });
    }
    let mut total = vec![0f64; self.k * (self.d + 2)];
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
}

/// One chunk of points: U only.
#[inline(always)]
fn eval_chunk_inner<const AVX2: bool>(kp: &KernelParams, k: usize, d: usize, xc: &[f32], ec: &mut [f32]) {
  let (mut gamma, mut sq, mut u) = (vec![0f64; BLOCK * k], vec![0f64; BLOCK * k], [0f64; BLOCK]);
  for (xb, eb) in xc.chunks(BLOCK * d).zip(ec.chunks_mut(BLOCK)) {
    let nb = eb.len();
    kp.block_with_sq::<AVX2>(xb, &mut gamma[..nb * k], &mut sq[..nb * k], &mut u[..nb], d);
    for (e, &v) in eb.iter_mut().zip(&u[..nb]) {
      *e = v as f32;
    }
  }
}

avx2_dispatch!(fn eval_chunk = eval_chunk_inner::<AVX2>(kp: &KernelParams, k: usize, d: usize, xc: &[f32], ec: &mut [f32]));

/// One chunk of points: sum_j w_j dU/dtheta(x_j) and sum_j w_j U(x_j).
#[inline(always)]
fn grad_chunk_inner<const AVX2: bool>(
  kp: &KernelParams,
  k: usize,
  d: usize,
  xc: &[f32],
  weights: Option<&[f64]>,
  uniform: f64,
) -> (Vec<f64>, f64) {
  let mut acc = vec![0f64; k * (d + 2)];
  // The K x d mean-gradient part accumulates in f32 over blocks of FLUSH points (so it
  // vectorises 8-wide), then into f64: error ~ FLUSH ulps of f32, far below the noise of the
  // estimator, and a fixed order.
  let mut acc32 = vec![0f32; k * d];
  let mut mean_u = 0f64;
  let mut gamma = vec![0f64; BLOCK * k];
  let mut sq = vec![0f64; BLOCK * k];
  let mut u = [0f64; BLOCK];
  let npts = xc.len() / d;
  for b0 in (0..npts).step_by(BLOCK) {
    let nb = BLOCK.min(npts - b0);
    // Phase 1: responsibilities of the block's points (independent chains).
    // (Zero-weight points are evaluated too and then skipped: simpler than compacting the block.)
    kp.block_with_sq::<AVX2>(
      &xc[b0 * d..(b0 + nb) * d],
      &mut gamma[..nb * k],
      &mut sq[..nb * k],
      &mut u[..nb],
      d,
    );
    // Phase 2: the sums, in point order.
    for p in 0..nb {
      let j = b0 + p;
      let w = weights.map_or(uniform, |w| w[j]);
      if w != 0.0 {
        let row = &xc[j * d..(j + 1) * d];
        let (gm, sqp) = (&gamma[p * k..(p + 1) * k], &sq[p * k..(p + 1) * k]);
        mean_u += w * u[p];
        for i in 0..k {
          // dU/da_i = -gamma_i (x - a_i) / s_i^2
          let c = (-w * gm[i] * 2.0 * kp.half_inv_var[i]) as f32;
          let a = &kp.means[i * d..(i + 1) * d];
          let dst = &mut acc32[i * d..(i + 1) * d];
          for ((o, &xv), &av) in dst.iter_mut().zip(row).zip(a) {
            *o += c * (xv - av);
          }
          // dU/dz_i = gamma_i ; dU/dlog s_i = -gamma_i |x - a_i|^2 / s_i^2
          acc[k * d + i] += w * gm[i];
          acc[k * d + k + i] -= w * gm[i] * sqp[i] * 2.0 * kp.half_inv_var[i];
        }
      }
      if (j + 1) % FLUSH == 0 || j + 1 == npts {
        for (o, v) in acc[..k * d].iter_mut().zip(acc32.iter_mut()) {
          *o += *v as f64;
          *v = 0.0;
        }
      }
    }
  }
  (acc, mean_u)
}

avx2_dispatch!(fn grad_chunk = grad_chunk_inner::<AVX2>(kp: &KernelParams, k: usize, d: usize, xc: &[f32], weights: Option<&[f64]>, uniform: f64) -> (Vec<f64>, f64));

pub(crate) struct KernelParams {
  means: Vec<f32>,
  z: Vec<f64>,
  half_inv_var: Vec<f64>,
  inv_var: Vec<f32>,
}

impl KernelParams {
  /// grad_x U = sum_i gamma_i (x - a_i) / s_i^2 of each row, from its responsibilities.
  #[inline(always)]
  fn grad_rows(&self, rows: &[f32], gamma: &[f64], grads: &mut [f32], d: usize) {
    let k = self.z.len();
    for ((row, g), gm) in rows
      .chunks_exact(d)
      .zip(grads.chunks_exact_mut(d))
      .zip(gamma.chunks_exact(k))
    {
      g.fill(0.0);
      for i in 0..k {
        let c = gm[i] as f32 * self.inv_var[i];
        let a = &self.means[i * d..(i + 1) * d];
        for ((gv, &xv), &av) in g.iter_mut().zip(row).zip(a) {
          *gv += c * (xv - av);
        }
      }
    }
  }

  /// U, responsibilities and squared distances of the `u.len()` points of `rows` (the softmax four
  /// points at a time under AVX2: the same operations, so the same bits as one at a time).
  #[inline(always)]
  fn block_with_sq<const AVX2: bool>(&self, rows: &[f32], gamma: &mut [f64], sq: &mut [f64], u: &mut [f64], d: usize) {
    let k = self.z.len();
    let n = u.len();
    let mut m = [f64::NEG_INFINITY; BLOCK];
    let mut p0 = 0;
    while p0 < n {
      let nb = BLOCK.min(n - p0);
      for p in 0..nb {
        let j = p0 + p;
        let row = &rows[j * d..(j + 1) * d];
        m[p] = f64::NEG_INFINITY;
        for i in 0..k {
          let s2 = sq_dist::<AVX2>(row, &self.means[i * d..(i + 1) * d]) as f64;
          sq[j * k + i] = s2;
          let r = -s2 * self.half_inv_var[i] - self.z[i];
          gamma[j * k + i] = r;
          m[p] = m[p].max(r);
        }
      }
      let mut p = 0;
      #[cfg(target_arch = "x86_64")]
      if AVX2 {
        while p + 4 <= nb && m[p..p + 4].iter().all(|v| v.is_finite()) {
          // SAFETY: AVX2 is true only in the AVX2 copy made by `avx2_dispatch!`, after detection.
          unsafe {
            softmax4(
              &mut gamma[(p0 + p) * k..(p0 + p + 4) * k],
              &m[p..p + 4],
              &mut u[p0 + p..p0 + p + 4],
              k,
            )
          };
          p += 4;
        }
      }
      while p < nb {
        let j = p0 + p;
        u[j] = softmax_in_place(&mut gamma[j * k..(j + 1) * k], m[p]);
        p += 1;
      }
      p0 += nb;
    }
  }
}

/// `softmax_in_place` for four points with finite maxima, one point per lane.
/// SAFETY: the CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn softmax4(gamma: &mut [f64], m: &[f64], u: &mut [f64], k: usize) {
  use std::arch::x86_64::*;
  let mv = _mm256_loadu_pd(m.as_ptr());
  let mut s = _mm256_setzero_pd();
  for i in 0..k {
    let g = _mm256_set_pd(gamma[3 * k + i], gamma[2 * k + i], gamma[k + i], gamma[i]);
    // exp(0) is exactly 1 in math::exp_f32 too, so the scalar shortcut for the maximum agrees.
    let e = math::x4::exp_f32(_mm256_sub_pd(g, mv));
    let mut out = [0f64; 4];
    _mm256_storeu_pd(out.as_mut_ptr(), e);
    for (l, v) in out.iter().enumerate() {
      gamma[l * k + i] = *v;
    }
    s = _mm256_add_pd(s, e);
  }
  let inv = _mm256_div_pd(_mm256_set1_pd(1.0), s);
  let mut invs = [0f64; 4];
  _mm256_storeu_pd(invs.as_mut_ptr(), inv);
  for (l, iv) in invs.iter().enumerate() {
    for g in &mut gamma[l * k..(l + 1) * k] {
      *g *= iv;
    }
  }
  let uv = _mm256_sub_pd(_mm256_setzero_pd(), _mm256_add_pd(mv, math::x4::ln_f32_ge1(s)));
  _mm256_storeu_pd(u.as_mut_ptr(), uv);
}

/// Turn log-terms into probabilities in place; return -logsumexp (the energy).
#[inline(always)]
fn softmax_in_place(gamma: &mut [f64], m: f64) -> f64 {
  if !m.is_finite() {
    gamma.fill(f64::NAN);
    return f64::NAN;
  }
  let mut s = 0.0;
  for g in gamma.iter_mut() {
    // The largest term is exactly exp(0) = 1: no need to compute it.
    *g = if *g == m { 1.0 } else { math::exp_f32(*g - m) };
    s += *g;
  }
  let inv = 1.0 / s;
  for g in gamma.iter_mut() {
    *g *= inv;
  }
  -(m + math::ln_f32(s))
}

/// |x - a|^2 in f32 over ACC fixed lanes, combined in a fixed tree: the same bits with or without
/// AVX2 (`AVX2` says the caller is the AVX2 copy of a kernel).
#[inline(always)]
fn sq_dist<const AVX2: bool>(x: &[f32], a: &[f32]) -> f32 {
  let n = x.len();
  let a = &a[..n];
  let full = n - n % ACC;
  #[cfg(target_arch = "x86_64")]
  // SAFETY: AVX2 is true only in the AVX2 copy made by `avx2_dispatch!`, after detection.
  let mut acc = if AVX2 {
    unsafe { sq_dist_avx2(&x[..full], &a[..full]) }
  } else {
    sq_dist_lanes(&x[..full], &a[..full])
  };
  #[cfg(not(target_arch = "x86_64"))]
  let mut acc = sq_dist_lanes(&x[..full], &a[..full]);
  for l in 0..n - full {
    let t = x[full + l] - a[full + l];
    acc[l] += t * t;
  }
  ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

#[inline(always)]
fn sq_dist_lanes(x: &[f32], a: &[f32]) -> [f32; ACC] {
  let mut acc = [0f32; ACC];
  for (xs, as_) in x.chunks_exact(ACC).zip(a.chunks_exact(ACC)) {
    for l in 0..ACC {
      let t = xs[l] - as_[l];
      acc[l] += t * t;
    }
  }
  acc
}

/// SAFETY: the CPU must support AVX2; `x` and `a` have equal lengths, multiples of ACC.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sq_dist_avx2(x: &[f32], a: &[f32]) -> [f32; ACC] {
  use std::arch::x86_64::*;
  let mut acc = _mm256_setzero_ps();
  let mut i = 0;
  while i < x.len() {
    let t = _mm256_sub_ps(_mm256_loadu_ps(x.as_ptr().add(i)), _mm256_loadu_ps(a.as_ptr().add(i)));
    acc = _mm256_add_ps(acc, _mm256_mul_ps(t, t));
    i += ACC;
  }
  let mut out = [0f32; ACC];
  _mm256_storeu_ps(out.as_mut_ptr(), acc);
  out
}

#[cfg(test)]
mod tests {
  use super::*;

  fn pool(t: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap()
  }

  fn paper_model(d: usize) -> GaussianMixture {
    let mut g = GaussianMixture::new(d, 2).unwrap();
    g.means[0] = -10.0;
    g.means[d] = 6.0;
    g.log_weights[1] = -(3f64).ln(); // weights 1/4, 3/4
    g
  }

  #[test]
  fn log_z_and_weights() {
    let g = paper_model(50);
    let w = g.mixture_weights();
    assert!((w[0] - 0.25).abs() < 1e-12 && (w[1] - 0.75).abs() < 1e-12);
    let expect = 25.0 * LN_2PI + (1.0f64 + 3.0).ln();
    assert!((g.log_z() - expect).abs() < 1e-10);
  }

  #[test]
  fn gradients_match_finite_differences() {
    let d = 5;
    let mut g = GaussianMixture::new(d, 3).unwrap();
    for (i, v) in g.means.iter_mut().enumerate() {
      *v = ((i * 7 % 5) as f64 - 2.0) * 0.7;
    }
    g.log_weights = vec![0.0, 0.3, -0.2];
    g.log_scales = vec![0.1, -0.2, 0.3];
    let x: Vec<f32> = (0..4 * d).map(|i| ((i * 13 % 9) as f32 - 4.0) * 0.5).collect();
    let p = pool(1);
    let mut e = vec![0f32; 4];
    let mut gr = vec![0f32; 4 * d];
    g.evaluate(&p, &x, &mut e, Some(&mut gr)).unwrap();
    // grad_x by central differences in f64 through a perturbed copy.
    for j in 0..4 {
      for c in 0..d {
        let h = 1e-2f32;
        let mut xp = x[j * d..(j + 1) * d].to_vec();
        let mut xm = xp.clone();
        xp[c] += h;
        xm[c] -= h;
        let (mut ep, mut em) = ([0f32], [0f32]);
        g.evaluate(&p, &xp, &mut ep, None).unwrap();
        g.evaluate(&p, &xm, &mut em, None).unwrap();
        let fd = (ep[0] as f64 - em[0] as f64) / (2.0 * h as f64);
        assert!(
          (fd - gr[j * d + c] as f64).abs() < 2e-3 * (1.0 + fd.abs()),
          "x grad {j},{c}: {fd} vs {}",
          gr[j * d + c]
        );
      }
    }
    // Parameter gradient against finite differences of the mean energy.
    let (pg, mean_u) = g.weighted_param_grad(&p, &x, None).unwrap();
    assert!((mean_u - e.iter().map(|&v| v as f64).sum::<f64>() / 4.0).abs() < 1e-4);
    let mean_energy = |g: &GaussianMixture| {
      let mut e = vec![0f32; 4];
      g.evaluate(&p, &x, &mut e, None).unwrap();
      e.iter().map(|&v| v as f64).sum::<f64>() / 4.0
    };
    let k = 3;
    for idx in 0..g.param_count() {
      let h = 1e-3;
      let mut gp = g.clone();
      let mut gm = g.clone();
      let get = |g: &mut GaussianMixture| -> *mut f64 {
        if idx < k * d {
          &mut g.means[idx]
        } else if idx < k * d + k {
          &mut g.log_weights[idx - k * d]
        } else {
          &mut g.log_scales[idx - k * d - k]
        }
      };
      unsafe {
        *get(&mut gp) += h;
        *get(&mut gm) -= h;
      }
      let fd = (mean_energy(&gp) - mean_energy(&gm)) / (2.0 * h);
      assert!(
        (fd - pg[idx]).abs() < 5e-3 * (1.0 + fd.abs()),
        "param {idx}: fd {fd} vs {}",
        pg[idx]
      );
    }
  }

  #[test]
  fn thread_count_invariant() {
    let g = paper_model(7);
    let mut x = vec![0f32; 5000 * 7];
    g.sample(&mut x, 3, 0, false).unwrap();
    let w: Vec<f64> = (0..5000).map(|i| (i % 17) as f64 / 5000.0).collect();
    let a = g.weighted_param_grad(&pool(1), &x, Some(&w)).unwrap();
    let b = g.weighted_param_grad(&pool(3), &x, Some(&w)).unwrap();
    assert_eq!(a, b);
  }

  #[test]
  fn samples_have_the_right_law() {
    let d = 3;
    let g = paper_model(d);
    let n = 40_000;
    let mut x = vec![0f32; n * d];
    let comp = g.sample(&mut x, 1, 0, true).unwrap();
    assert_eq!(comp.iter().filter(|&&c| c == 0).count(), 10_000);
    let mut x = vec![0f32; n * d];
    let comp = g.sample(&mut x, 1, 0, false).unwrap();
    let k0 = comp.iter().filter(|&&c| c == 0).count() as f64;
    let se = (n as f64 * 0.25 * 0.75).sqrt();
    assert!((k0 - 0.25 * n as f64).abs() < 5.0 * se);
    // Points of component 1 have mean (6, 0, 0) and unit variance.
    let pts: Vec<&[f32]> = x
      .chunks_exact(d)
      .zip(&comp)
      .filter(|(_, &c)| c == 1)
      .map(|(r, _)| r)
      .collect();
    let m = pts.iter().map(|r| r[0] as f64).sum::<f64>() / pts.len() as f64;
    let v = pts.iter().map(|r| (r[0] as f64 - m).powi(2)).sum::<f64>() / pts.len() as f64;
    assert!((m - 6.0).abs() < 5.0 / (pts.len() as f64).sqrt());
    assert!((v - 1.0).abs() < 5.0 * (2.0 / pts.len() as f64).sqrt());
  }

  #[test]
  fn largest_remainder_sums() {
    assert_eq!(largest_remainder(&[0.5, 0.5], 10_000), vec![5000, 5000]);
    assert_eq!(largest_remainder(&[1.0, 1.0, 1.0], 10), vec![4, 3, 3]);
    assert_eq!(largest_remainder(&[0.25, 0.75], 3).iter().sum::<usize>(), 3);
  }

  /// The walker-weighted gradient folded into an observation equals the standalone one bit for
  /// bit, and the plain weighted formula to f32 round-off.
  #[test]
  fn fused_walker_grad_matches() {
    use crate::{Sampler, SamplerConfig};
    let d = 7;
    let g = paper_model(d);
    let mut s = Sampler::new(SamplerConfig {
      walkers: 3001,
      dim: d,
      step_size: 0.2,
      seed: 4,
      threads: 2,
      weighted: true,
    })
    .unwrap();
    g.sample(s.positions.as_mut_slice(), 9, 0, false).unwrap();
    let eval = g.chunk_evaluator();
    s.observe_with(eval).unwrap();
    s.move_walkers().unwrap();
    let kern = g.walker_grad_kernel();
    let (_, parts) = s
      .observe_with_state(
        || kern.scratch(),
        |sc, x, e, gr| kern.eval(sc, x, e, gr),
        |sc, x, a| kern.after(sc, x, a),
      )
      .unwrap();
    let fused = kern.combine(&parts).unwrap();
    let alone = kern
      .combine(&s.map_walker_chunks(|x, a| kern.standalone(x, a)))
      .unwrap();
    assert_eq!(
      fused.0.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
      alone.0.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(fused.1.to_bits(), alone.1.to_bits());
    let mut p = vec![0f64; 3001];
    s.normalized_weights(&mut p).unwrap();
    let (plain, u) = g
      .weighted_param_grad(&pool(1), s.positions.as_slice(), Some(&p))
      .unwrap();
    for (a, b) in fused.0.iter().zip(&plain) {
      assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
    }
    assert!((fused.1 - u).abs() < 1e-6 * (1.0 + u.abs()));
  }
}
