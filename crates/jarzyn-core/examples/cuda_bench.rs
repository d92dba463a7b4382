//! The GPU benchmark (`npm run bench` runs it with cargo; on a GPU machine without Node run it
//! directly): device-to-device copy bandwidth, move + observe walker-steps per second with the
//! fraction of that bandwidth they reach, and a Gaussian-mixture training iteration on the GPU
//! against the CPU.
//!
//! `cargo run --release -p jarzyn-core --features cuda --example cuda_bench [cpu_threads] [--quick]`
//!
//! Prints the JSON of [`run_all`] on stdout, or why the GPU is unavailable on stderr (exit code 2).

use std::time::Instant;

use jarzyn_core::cuda::{self, CudaBackend, DeviceWalkers};
use jarzyn_core::models::gmm::GaussianMixture;
use jarzyn_core::normal::fill_normals;
use jarzyn_core::philox::{key_from_seed, Counter, Stream};
use jarzyn_core::{combine_parts, CoreError, CpuWalkers, Observation, Result, Scheme, WalkerConfig, Walkers};

fn main() {
  let args: Vec<String> = std::env::args().skip(1).collect();
  let quick = args.iter().any(|a| a == "--quick");
  let threads = args
    .iter()
    .find_map(|a| a.parse::<usize>().ok())
    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
  match run_all(threads, quick) {
    Ok(json) => println!("{json}"),
    Err(e) => {
      eprintln!("GPU benchmark skipped: {e}");
      std::process::exit(2);
    }
  }
}

/// A CUDA error as the backend reports it.
fn be<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> CoreError + '_ {
  move |e| CoreError::Backend(format!("CUDA {what}: {e}"))
}

/// Device-to-device copy bandwidth: bytes read + written per second, best of `repeats` copies of
/// a `bytes`-sized buffer.
fn copy_bandwidth(bytes: usize, repeats: usize) -> Result<f64> {
  let b = CudaBackend::new()?;
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
struct StepRow {
  walkers: usize,
  dim: usize,
  weighted: bool,
  /// Wall time of one move + observe (launches and the observation's 8-byte read-back included).
  seconds_per_step: f64,
  walker_steps_per_second: f64,
  /// bytes_per_step / seconds_per_step over the copy bandwidth.
  bandwidth_fraction: f64,
}

/// Bytes one move + observe must move: weighted, per element x, g read and x, x_prev written by
/// the move, x, x_prev, g read by the observation (28 B), per walker A, U read and the forward
/// term written by the move, U, forward term, A read and A, U written by the observation (56 B);
/// unweighted, 16 B per element and 28 B per walker.
fn step_bytes(walkers: usize, dim: usize, weighted: bool) -> f64 {
  let (per_elem, per_walker) = if weighted { (28.0, 56.0) } else { (16.0, 28.0) };
  walkers as f64 * (dim as f64 * per_elem + per_walker)
}

fn config(walkers: usize, dim: usize, step_size: f64, seed: u64, threads: usize, weighted: bool) -> WalkerConfig {
  WalkerConfig {
    walkers,
    dim,
    step_size,
    seed,
    threads,
    weighted,
  }
}

/// Time `steps` move + observe(in place) rounds of N walkers in d dimensions, energies and
/// gradients of a fixed quadratic already on the device (the device walkers themselves: no host
/// mirror is involved).
fn move_observe(walkers: usize, dim: usize, weighted: bool, steps: usize, copy_bw: f64) -> Result<StepRow> {
  let mut s = DeviceWalkers::new(config(walkers, dim, 1e-3, 7, 1, weighted))?;
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
    bandwidth_fraction: bytes / sec / copy_bw,
  })
}

/// One Gaussian-mixture iteration timing.
#[derive(Clone, Debug)]
struct GmmRow {
  walkers: usize,
  data: usize,
  dim: usize,
  components: usize,
  gpu_seconds: f64,
  /// None when the CPU side was skipped.
  cpu_seconds: Option<f64>,
  cpu_threads: usize,
}

fn paper_mixture(dim: usize) -> Result<GaussianMixture> {
  let mut g = GaussianMixture::new(dim, 2)?;
  let mut p = g.params();
  // means[0], means[dim] (the first coordinate of each mean), log_weights[1].
  p[0] = -1.0;
  p[dim] = 1.0;
  p[2 * dim + 1] = 0.5;
  g.set_params(&p)?;
  Ok(g)
}

/// A small parameter step on the first coordinate of the first mean (as training would).
fn nudge_first_mean(model: &mut GaussianMixture, by: f64) -> Result<()> {
  let mut p = model.params();
  p[0] += by;
  model.set_params(&p)
}

/// The walker-weighted parameter gradient of `model` on device walkers: the chunk parts combined.
fn device_param_grad(s: &mut DeviceWalkers, model: &GaussianMixture) -> Result<(Vec<f64>, f64)> {
  let parts = s.gmm_walker_parts(model)?;
  combine_parts(&parts, model.param_count())
}

/// A training iteration of the paper's mixture experiment: data term, walker term (weighted
/// parameter gradients), a ULA move, an observation of the mixture, the ESS check and resampling
/// when ESS < N/2 (systematic). The parameters change every iteration, as in training, so no
/// evaluation is reused across iterations. GPU: everything on the device (the data set is a
/// second set of device walkers). CPU (when `cpu_threads > 0`): the CPU walkers and the native
/// mixture.
fn gmm_iteration(walkers: usize, data: usize, dim: usize, iters: usize, cpu_threads: usize) -> Result<GmmRow> {
  let mut model = paper_mixture(dim)?;
  let mut xd = vec![0f32; data * dim];
  model.sample(&mut xd, 1, 0, true)?;
  let mut x0 = vec![0f32; walkers * dim];
  model.sample(&mut x0, 2, 0, true)?;
  let cfg = |n: usize, weighted: bool| config(n, dim, 0.01, 3, cpu_threads.max(1), weighted);
  // GPU.
  let mut ds = DeviceWalkers::new(cfg(data, false))?;
  ds.set_positions(&xd)?;
  let mut s = DeviceWalkers::new(cfg(walkers, true))?;
  s.set_positions(&x0)?;
  s.observe_gmm(&model)?;
  let run_gpu = |ds: &mut DeviceWalkers, s: &mut DeviceWalkers, model: &mut GaussianMixture| -> Result<()> {
    let (gd, _) = device_param_grad(ds, model)?;
    let (gw, _) = device_param_grad(s, model)?;
    nudge_first_mean(model, 1e-6 * (gd[0] - gw[0]))?;
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
    let mut s = CpuWalkers::new(cfg(walkers, true))?;
    s.fill_positions(&mut |x| {
      x.copy_from_slice(&x0);
      Ok(())
    })?;
    s.observe_energy(&model, false)?;
    let mut w = vec![0f64; walkers];
    let mut run_cpu = |s: &mut CpuWalkers, model: &mut GaussianMixture| -> Result<()> {
      s.normalized_weights(&mut w)?;
      let (gd, _) = model.weighted_param_grad(&pool, &xd, None)?;
      let (gw, _) = model.weighted_param_grad(&pool, s.positions(), Some(&w))?;
      nudge_first_mean(model, 1e-6 * (gd[0] - gw[0]))?;
      s.move_walkers()?;
      s.observe_energy(model, false)?;
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
fn run_all(cpu_threads: usize, quick: bool) -> Result<String> {
  let info = cuda::available().map_err(CoreError::Backend)?;
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
