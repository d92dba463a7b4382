//! The GPU benchmark, shared by `npm run bench` (through the binding) and the `cuda_bench` example
//! (a binary that runs on a GPU machine without Node): device-to-device copy bandwidth,
//! move + observe walker-steps per second with the fraction of that bandwidth they reach, and a
//! Gaussian-mixture training iteration on the GPU against the CPU.

use std::time::Instant;

use super::backend::be;
use super::CudaSampler;
use crate::error::{CoreError, Result};
use crate::gmm::GaussianMixture;
use crate::normal::fill_normals;
use crate::philox::{key_from_seed, Counter, Stream};
use crate::{Observation, Sampler, SamplerConfig, Scheme};

/// Device-to-device copy bandwidth: bytes read + written per second, best of `repeats` copies of
/// a `bytes`-sized buffer.
pub fn copy_bandwidth(bytes: usize, repeats: usize) -> Result<f64> {
  let b = super::CudaBackend::new()?;
  let n = (bytes / 4).max(1 << 20);
  let src = b
    .stream
    .alloc_zeros::<f32>(n)
    .map_err(|_| CoreError::OutOfMemory(n * 4))?;
  let mut dst = b
    .stream
    .alloc_zeros::<f32>(n)
    .map_err(|_| CoreError::OutOfMemory(n * 4))?;
  b.stream.memcpy_dtod(&src, &mut dst).map_err(be("copy"))?;
  b.stream.synchronize().map_err(be("synchronize"))?;
  let mut best = f64::INFINITY;
  for _ in 0..repeats.max(1) {
    let t = Instant::now();
    b.stream.memcpy_dtod(&src, &mut dst).map_err(be("copy"))?;
    b.stream.synchronize().map_err(be("synchronize"))?;
    best = best.min(t.elapsed().as_secs_f64());
  }
  Ok((2 * n * 4) as f64 / best)
}

/// One move + observe measurement.
#[derive(Clone, Debug)]
pub struct StepRow {
  pub walkers: usize,
  pub dim: usize,
  pub weighted: bool,
  /// Wall time of one move + observe (launches and the observation's 8-byte read-back included).
  pub seconds_per_step: f64,
  pub walker_steps_per_second: f64,
  /// Bytes a move + observe must read and write (the model below).
  pub bytes_per_step: f64,
  /// bytes_per_step / seconds_per_step over the copy bandwidth.
  pub bandwidth_fraction: f64,
}

/// Bytes one move + observe must move: weighted, per element x, g read and x, x_prev written by
/// the move, x, x_prev, g read by the observation (28 B), per walker A, U read and the forward
/// term written by the move, U, forward term, A read and A, U written by the observation (56 B);
/// unweighted, 16 B per element and 28 B per walker.
pub fn step_bytes(walkers: usize, dim: usize, weighted: bool) -> f64 {
  let (per_elem, per_walker) = if weighted { (28.0, 56.0) } else { (16.0, 28.0) };
  walkers as f64 * (dim as f64 * per_elem + per_walker)
}

/// Time `steps` move + observe(in place) rounds of N walkers in d dimensions, energies and
/// gradients of a fixed quadratic already on the device.
pub fn move_observe(walkers: usize, dim: usize, weighted: bool, steps: usize, copy_bw: f64) -> Result<StepRow> {
  let mut s = CudaSampler::new(SamplerConfig {
    walkers,
    dim,
    step_size: 1e-3,
    seed: 7,
    threads: 1,
    weighted,
  })?;
  let mut x = vec![0f32; walkers * dim];
  fill_normals(key_from_seed(1), Counter::new(Stream::Init, 0), 0, dim, &mut x);
  let g: Vec<f32> = x.iter().map(|v| 0.1 * v).collect();
  s.set_positions(&x)?;
  drop(x);
  s.set_gradients(&g)?;
  drop(g);
  s.set_energies(&vec![0f32; walkers])?;
  s.observe(Observation::InPlace)?;
  // Warm-up (first launches load the module's functions).
  for _ in 0..3 {
    s.move_walkers()?;
    s.observe(Observation::InPlace)?;
  }
  s.synchronize()?;
  let t = Instant::now();
  for _ in 0..steps {
    s.move_walkers()?;
    s.observe(Observation::InPlace)?;
  }
  s.synchronize()?;
  let sec = t.elapsed().as_secs_f64() / steps as f64;
  let bytes = step_bytes(walkers, dim, weighted);
  Ok(StepRow {
    walkers,
    dim,
    weighted,
    seconds_per_step: sec,
    walker_steps_per_second: walkers as f64 / sec,
    bytes_per_step: bytes,
    bandwidth_fraction: bytes / sec / copy_bw,
  })
}

/// One Gaussian-mixture iteration timing.
#[derive(Clone, Debug)]
pub struct GmmRow {
  pub walkers: usize,
  pub data: usize,
  pub dim: usize,
  pub components: usize,
  pub gpu_seconds: f64,
  /// None when the CPU side was skipped.
  pub cpu_seconds: Option<f64>,
  pub cpu_threads: usize,
}

fn paper_mixture(dim: usize) -> Result<GaussianMixture> {
  let mut g = GaussianMixture::new(dim, 2)?;
  g.means[0] = -1.0;
  g.means[dim] = 1.0;
  g.log_weights[1] = 0.5;
  Ok(g)
}

/// A training iteration of the paper's mixture experiment: data term, walker term (weighted
/// parameter gradients), a ULA move, an observation of the mixture, the ESS check and resampling
/// when ESS < N/2 (systematic). The parameters change every iteration, as in training, so no
/// evaluation is reused across iterations. GPU: everything on the device (the data set is a
/// second device sampler). CPU (when `cpu_threads > 0`): the CPU sampler and native mixture.
pub fn gmm_iteration(walkers: usize, data: usize, dim: usize, iters: usize, cpu_threads: usize) -> Result<GmmRow> {
  let mut model = paper_mixture(dim)?;
  let mut xd = vec![0f32; data * dim];
  model.sample(&mut xd, 1, 0, true)?;
  let mut x0 = vec![0f32; walkers * dim];
  model.sample(&mut x0, 2, 0, true)?;
  let cfg = |n: usize, weighted: bool| SamplerConfig {
    walkers: n,
    dim,
    step_size: 0.01,
    seed: 3,
    threads: cpu_threads.max(1),
    weighted,
  };
  // GPU.
  let mut ds = CudaSampler::new(cfg(data, false))?;
  ds.set_positions(&xd)?;
  let mut s = CudaSampler::new(cfg(walkers, true))?;
  s.set_positions(&x0)?;
  s.observe_gmm(&model)?;
  let run_gpu = |ds: &mut CudaSampler, s: &mut CudaSampler, model: &mut GaussianMixture| -> Result<()> {
    let (gd, _) = ds.gmm_weighted_param_grad(model)?;
    let (gw, _) = s.gmm_weighted_param_grad(model)?;
    model.means[0] += 1e-6 * (gd[0] - gw[0]);
    s.move_walkers()?;
    s.observe_gmm(model)?;
    s.maybe_resample(0.5, Scheme::Systematic)?;
    Ok(())
  };
  for _ in 0..2 {
    run_gpu(&mut ds, &mut s, &mut model)?;
  }
  s.synchronize()?;
  let t = Instant::now();
  for _ in 0..iters {
    run_gpu(&mut ds, &mut s, &mut model)?;
  }
  s.synchronize()?;
  let gpu_seconds = t.elapsed().as_secs_f64() / iters as f64;
  // CPU.
  let cpu_seconds = if cpu_threads > 0 {
    let mut model = paper_mixture(dim)?;
    let pool = rayon::ThreadPoolBuilder::new()
      .num_threads(cpu_threads)
      .build()
      .map_err(|e| CoreError::Backend(e.to_string()))?;
    let mut s = Sampler::new(cfg(walkers, true))?;
    s.positions.as_mut_slice().copy_from_slice(&x0);
    s.observe_with(model.chunk_evaluator())?;
    let mut w = vec![0f64; walkers];
    let mut run_cpu = |s: &mut Sampler, model: &mut GaussianMixture| -> Result<()> {
      s.normalized_weights(&mut w)?;
      let (gd, _) = model.weighted_param_grad(&pool, &xd, None)?;
      let (gw, _) = model.weighted_param_grad(&pool, s.positions.as_slice(), Some(&w))?;
      model.means[0] += 1e-6 * (gd[0] - gw[0]);
      s.move_walkers()?;
      s.observe_with(model.chunk_evaluator())?;
      s.maybe_resample(0.5, Scheme::Systematic)?;
      Ok(())
    };
    run_cpu(&mut s, &mut model)?;
    let reps = iters.clamp(1, 20);
    let t = Instant::now();
    for _ in 0..reps {
      run_cpu(&mut s, &mut model)?;
    }
    Some(t.elapsed().as_secs_f64() / reps as f64)
  } else {
    None
  };
  Ok(GmmRow {
    walkers,
    data,
    dim,
    components: 2,
    gpu_seconds,
    cpu_seconds,
    cpu_threads,
  })
}

/// The whole GPU section: copy bandwidth, move + observe over N = 10^5..10^7 and d = 2..100
/// (cases that do not fit in 80% of the device memory are skipped), and the mixture iteration at
/// the paper's size (N = 10^4, d = 50) and at N = 10^6. Returns JSON.
pub fn run_all(cpu_threads: usize, quick: bool) -> Result<String> {
  let info = super::available().map_err(CoreError::Backend)?;
  let bw = copy_bandwidth(1 << 30, 10)?;
  let mut out = String::new();
  out += &format!(
    "{{\"device\":{:?},\"computeCapability\":\"{}.{}\",\"driverVersion\":{},\"copyBandwidthGBs\":{:.1},\"steps\":[",
    info.name,
    info.compute_capability.0,
    info.compute_capability.1,
    info.driver_version,
    bw / 1e9
  );
  let ns: &[usize] = if quick {
    &[100_000, 1_000_000]
  } else {
    &[100_000, 1_000_000, 10_000_000]
  };
  let ds: &[usize] = &[2, 10, 100];
  let mut first = true;
  for &n in ns {
    for &d in ds {
      for weighted in [true, false] {
        let need = n * d * 12 + n * 40;
        if need as f64 > 0.8 * info.total_memory as f64 {
          continue;
        }
        let steps = ((2e9 / (n * d) as f64) as usize).clamp(10, 1000);
        let r = move_observe(n, d, weighted, steps, bw)?;
        if !first {
          out += ",";
        }
        first = false;
        out += &format!(
          "{{\"walkers\":{},\"dim\":{},\"weighted\":{},\"msPerStep\":{:.4},\"walkerStepsPerSecond\":{:.4e},\"bandwidthFraction\":{:.3}}}",
          r.walkers, r.dim, r.weighted, r.seconds_per_step * 1e3, r.walker_steps_per_second, r.bandwidth_fraction
        );
      }
    }
  }
  out += "],\"gmm\":[";
  let cases: &[(usize, usize)] = &[(10_000, 10_000), (1_000_000, 10_000)];
  for (i, &(n, nd)) in cases.iter().enumerate() {
    let r = gmm_iteration(n, nd, 50, if quick { 5 } else { 50 }, cpu_threads)?;
    if i > 0 {
      out += ",";
    }
    out += &format!(
      "{{\"walkers\":{},\"data\":{},\"dim\":{},\"components\":{},\"gpuMsPerIteration\":{:.4},\"cpuMsPerIteration\":{},\"cpuThreads\":{}}}",
      r.walkers,
      r.data,
      r.dim,
      r.components,
      r.gpu_seconds * 1e3,
      r.cpu_seconds.map_or("null".into(), |c| format!("{:.4}", c * 1e3)),
      r.cpu_threads
    );
  }
  out += "]}";
  Ok(out)
}
