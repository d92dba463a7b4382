//! Shared by the integration tests (and, through `#[path]`, by crates/jarzyn-cuda-emu's tests):
//! Gaussian energies whose mean and scale follow a schedule, exact initial positions, a test
//! mixture, and the setup of CPU and device walkers driven side by side.
#![allow(dead_code)]

use jarzyn_core::models::gmm::GaussianMixture;
use jarzyn_core::normal::fill_normals;
use jarzyn_core::philox::{key_from_seed, Counter, Stream};
use jarzyn_core::{CpuWalkers, Energy, View, WalkerConfig, WalkerPart, Walkers};

/// U(x) = |x - mean|^2 / (2 sigma^2): log Z = d/2 log(2 pi sigma^2), E[x] = mean.
pub struct Gauss {
  pub mean: Vec<f64>,
  pub sigma: f64,
}

impl Gauss {
  /// U and grad U at the rows of `x` into `e` and `g`.
  pub fn eval(&self, x: &[f32], d: usize, e: &mut [f32], g: &mut [f32]) {
    let inv = 1.0 / (self.sigma * self.sigma);
    for (i, row) in x.chunks_exact(d).enumerate() {
      let mut u = 0.0;
      for c in 0..d {
        let dx = row[c] as f64 - self.mean[c];
        u += 0.5 * dx * dx * inv;
        g[i * d + c] = (dx * inv) as f32;
      }
      e[i] = u as f32;
    }
  }

  /// U and grad U at the rows of `x`, as new vectors.
  pub fn eval_vecs(&self, x: &[f32], d: usize) -> (Vec<f32>, Vec<f32>) {
    let n = x.len() / d;
    let (mut e, mut g) = (vec![0f32; n], vec![0f32; n * d]);
    self.eval(x, d, &mut e, &mut g);
    (e, g)
  }

  /// Exact samples into `x` (rows of d): the normals of stream Init, counter 0, under `seed`,
  /// scaled and shifted.
  pub fn fill_exact(&self, x: &mut [f32], d: usize, seed: u64) {
    fill_normals(key_from_seed(seed), Counter::new(Stream::Init, 0), 0, d, x);
    for row in x.chunks_exact_mut(d) {
      for (v, m) in row.iter_mut().zip(&self.mean) {
        *v = (m + self.sigma * *v as f64) as f32;
      }
    }
  }

  /// `n` exact samples (see [`Gauss::fill_exact`]).
  pub fn exact(&self, n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut x = vec![0f32; n * d];
    self.fill_exact(&mut x, d, seed);
    x
  }
}

/// The Gaussian as a native energy whose parameters are the mean (dU/dmean = -(x - mean) /
/// sigma^2): an energy without device kernels, which device walkers evaluate on the host.
impl Energy for Gauss {
  fn dim(&self) -> usize {
    self.mean.len()
  }
  fn param_count(&self) -> usize {
    self.mean.len()
  }
  fn validate(&self) -> jarzyn_core::Result<()> {
    match self.mean.iter().all(|m| m.is_finite()) && self.sigma.is_finite() && self.sigma > 0.0 {
      true => Ok(()),
      false => Err(jarzyn_core::CoreError::BadState("Gaussian parameters are not finite")),
    }
  }
  fn evaluate(&self, x: &[f32], energy: &mut [f32], grad: &mut [f32]) {
    self.eval(x, self.mean.len(), energy, grad)
  }
  fn walker_part(&self, x: &[f32], a: &[f64]) -> WalkerPart {
    let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = a
      .iter()
      .map(|&v| if v == f64::NEG_INFINITY { 0.0 } else { (v - max).exp() })
      .collect();
    let (sums, energy_sum) = self.sums(x, &w);
    WalkerPart {
      max,
      sums,
      energy_sum,
      weight_sum: w.iter().sum(),
    }
  }
  fn param_grad(
    &self,
    _pool: &rayon::ThreadPool,
    x: &[f32],
    weights: Option<&[f64]>,
  ) -> jarzyn_core::Result<(Vec<f64>, f64)> {
    let n = x.len() / self.mean.len();
    let w = weights.map_or_else(|| vec![1.0 / n as f64; n], |w| w.to_vec());
    Ok(self.sums(x, &w))
  }
}

impl Gauss {
  /// sum_j w_j dU/dmean(x_j) and sum_j w_j U(x_j), skipping zero weights.
  fn sums(&self, x: &[f32], w: &[f64]) -> (Vec<f64>, f64) {
    let d = self.mean.len();
    let inv = 1.0 / (self.sigma * self.sigma);
    let (mut sums, mut energy_sum) = (vec![0f64; d], 0.0);
    for (row, &wj) in x.chunks_exact(d).zip(w) {
      if wj == 0.0 {
        continue;
      }
      let mut u = 0.0;
      for c in 0..d {
        let dx = row[c] as f64 - self.mean[c];
        u += 0.5 * dx * dx * inv;
        sums[c] -= wj * dx * inv;
      }
      energy_sum += wj * u;
    }
    (sums, energy_sum)
  }
}

/// Mean 0 -> 1.5 (c + 1) / d and sigma 1 -> 1.6 over `steps`.
pub fn schedule(k: usize, steps: usize, d: usize) -> Gauss {
  let t = k as f64 / steps as f64;
  Gauss {
    mean: (0..d).map(|c| 1.5 * t * (c as f64 + 1.0) / d as f64).collect(),
    sigma: 1.0 + 0.6 * t,
  }
}

/// The options of a population.
pub fn config(walkers: usize, dim: usize, step_size: f64, seed: u64, threads: usize, weighted: bool) -> WalkerConfig {
  WalkerConfig {
    walkers,
    dim,
    step_size,
    seed,
    threads,
    weighted,
  }
}

/// A K-component mixture in R^d with distinct means, weights and scales.
pub fn mixture(d: usize, k: usize) -> GaussianMixture {
  let mut m = GaussianMixture::new(d, k).unwrap();
  let means = (0..k * d).map(|i| ((i * 37) % 11) as f64 / 5.0 - 1.0);
  let log_weights = (0..k).map(|i| 0.3 * i as f64);
  let log_scales = (0..k).map(|i| -0.2 + 0.1 * i as f64);
  let p: Vec<f64> = means.chain(log_weights).chain(log_scales).collect();
  m.set_params(&p).unwrap();
  m
}

/// Copy `src` into the CPU walkers' host buffer `view`.
pub fn write_view(s: &mut CpuWalkers, view: View, src: &[f32]) {
  s.f32_buffer(view).unwrap().as_mut_slice().copy_from_slice(src);
}

/// Copy `a` into the CPU walkers' log-weights.
pub fn write_log_weights(s: &mut CpuWalkers, a: &[f64]) {
  s.log_weight_buffer().as_mut_slice().copy_from_slice(a);
}

/// Set the CPU walkers' positions to `x`.
pub fn set_positions(s: &mut CpuWalkers, x: &[f32]) {
  s.fill_positions(&mut |p| {
    p.copy_from_slice(x);
    Ok(())
  })
  .unwrap();
}

/// CPU walkers and device walkers of the same options, both at positions `x0`.
#[cfg(feature = "cuda")]
pub fn cpu_and_device(cfg: WalkerConfig, x0: &[f32]) -> (CpuWalkers, jarzyn_core::cuda::DeviceWalkers) {
  let mut cpu = CpuWalkers::new(cfg.clone()).unwrap();
  let mut dev = jarzyn_core::cuda::DeviceWalkers::new(cfg).unwrap();
  set_positions(&mut cpu, x0);
  dev.set_positions(x0).unwrap();
  (cpu, dev)
}

/// The mixture tests' setup: [`mixture`]`(d, k)`, N weighted walkers on the CPU and on the device
/// at the same exact samples of it, both observed once (the CPU with the native mixture, the
/// device with its kernels).
#[cfg(feature = "cuda")]
pub fn gmm_pair(n: usize, d: usize, k: usize) -> (GaussianMixture, CpuWalkers, jarzyn_core::cuda::DeviceWalkers) {
  let m = mixture(d, k);
  let mut x0 = vec![0f32; n * d];
  m.sample(&mut x0, 4, 0, true).unwrap();
  let (mut cpu, mut dev) = cpu_and_device(config(n, d, 0.02, 21, 2, true), &x0);
  cpu.observe_energy(&m, false).unwrap();
  dev.observe_gmm(&m).unwrap();
  (m, cpu, dev)
}

/// One move of both, the positions compared (to round-off: the gradients agree to round-off, so
/// positions drift apart by round-off over the steps, and cannot be set between a move and its
/// observation), then both observe `m`. Returns the device's positions and the largest |dx|.
#[cfg(feature = "cuda")]
pub fn gmm_move_observe(
  cpu: &mut CpuWalkers,
  dev: &mut jarzyn_core::cuda::DeviceWalkers,
  m: &GaussianMixture,
  what: &str,
) -> (Vec<f32>, f32) {
  cpu.move_walkers().unwrap();
  dev.move_walkers().unwrap();
  let xg = dev.positions().unwrap();
  let worst = xg
    .iter()
    .zip(cpu.positions())
    .map(|(a, b)| (a - b).abs())
    .fold(0f32, f32::max);
  assert!(worst < 1e-4, "{what}: positions differ by {worst}");
  cpu.observe_energy(m, false).unwrap();
  dev.observe_gmm(m).unwrap();
  (xg, worst)
}

/// The walker-weighted parameter gradients of `m`: the CPU's (normalised weights, then the
/// mixture's weighted sums) against the device's chunk parts combined, to 1e-4 of their scale,
/// and the weighted mean energies to 1e-5. Returns the CPU's gradient and its scale.
#[cfg(feature = "cuda")]
pub fn gmm_param_grads(
  cpu: &mut CpuWalkers,
  dev: &mut jarzyn_core::cuda::DeviceWalkers,
  m: &GaussianMixture,
) -> ParamGrads {
  let n = cpu.config().walkers;
  let mut w = vec![0f64; n];
  cpu.normalized_weights(&mut w).unwrap();
  let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
  let (pc, uc) = m.weighted_param_grad(&pool, cpu.positions(), Some(&w)).unwrap();
  let (pg, ug) = device_param_grad(dev, m);
  let scale = pc.iter().fold(1e-3f64, |s, v| s.max(v.abs()));
  let mut worst = 0f64;
  for i in 0..pc.len() {
    assert!(
      (pc[i] - pg[i]).abs() <= 1e-4 * scale,
      "param {i}: {} vs {}",
      pc[i],
      pg[i]
    );
    worst = worst.max((pc[i] - pg[i]).abs() / scale);
  }
  assert!((uc - ug).abs() <= 1e-5 * (1.0 + uc.abs()), "mean U {uc} vs {ug}");
  ParamGrads {
    cpu: pc,
    scale,
    worst,
    mean_u_err: (uc - ug).abs(),
  }
}

/// What [`gmm_param_grads`] compared.
pub struct ParamGrads {
  /// The CPU's gradient.
  pub cpu: Vec<f64>,
  /// Its largest magnitude (at least 1e-3): the tolerance's scale.
  pub scale: f64,
  /// The largest difference over the scale.
  pub worst: f64,
  /// |mean U (CPU) - mean U (device)|.
  pub mean_u_err: f64,
}

/// (sum_j p_j dU/dtheta(X_j), sum_j p_j U(X_j)) of the device walkers: their chunk parts combined.
#[cfg(feature = "cuda")]
pub fn device_param_grad(dev: &mut jarzyn_core::cuda::DeviceWalkers, m: &GaussianMixture) -> (Vec<f64>, f64) {
  let parts = dev.gmm_walker_parts(m).unwrap();
  jarzyn_core::combine_parts(&parts, m.param_count()).unwrap()
}
