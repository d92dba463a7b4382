//! [`CudaBackend`] (context, stream, kernels) and [`CudaSampler`], the GPU counterpart of
//! [`crate::Sampler`] for the subset: new, move_walkers, observe(External), summary,
//! log_normalizer_ratio, normalized_weights, resample (on the host), maybe_resample.
//!
//! State lives on the device; `positions()`, `log_weights()`, `energies()` and `gradients()` copy
//! it back (O(N d) bytes over PCIe per call), `set_positions()` copies in.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};

use super::{available, nvrtc, DeviceInfo};
use crate::error::{CoreError, Result};
use crate::philox::{key_from_seed, Counter, Stream};
use crate::resample::{resample, Scheme, Uniforms};
use crate::sampler::{Observation, ObserveReport, SamplerConfig, SamplerCounters};
use crate::weights::{normalized_into, WeightSummary, REDUCE_CHUNK};

const THREADS: u32 = 256;
/// Must equal SUMMARY_THREADS in kernels.cu.
const SUMMARY_THREADS: u32 = 256;

fn be<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> CoreError + '_ {
  move |e| CoreError::Backend(format!("CUDA {what}: {e}"))
}

fn grid(n: u64) -> Result<LaunchConfig> {
  let blocks = n.div_ceil(THREADS as u64);
  if blocks > i32::MAX as u64 {
    return Err(CoreError::Backend("CUDA launch: too many threads".into()));
  }
  Ok(LaunchConfig {
    grid_dim: (blocks.max(1) as u32, 1, 1),
    block_dim: (THREADS, 1, 1),
    shared_mem_bytes: 0,
  })
}

/// A CUDA context on device 0 with the jarzyn kernels loaded.
pub struct CudaBackend {
  pub info: DeviceInfo,
  pub ctx: Arc<CudaContext>,
  pub stream: Arc<CudaStream>,
  _module: Arc<CudaModule>,
  f_philox: CudaFunction,
  f_box_muller: CudaFunction,
  f_normals: CudaFunction,
  f_move: CudaFunction,
  f_observe: CudaFunction,
  f_summary: CudaFunction,
  f_gather_f32: CudaFunction,
  f_gather_f64: CudaFunction,
  f_fill_f64: CudaFunction,
}

impl CudaBackend {
  /// Device 0, kernels compiled by NVRTC for its architecture (cached per process).
  pub fn new() -> Result<Self> {
    let info = available().map_err(CoreError::Backend)?;
    let ptx = nvrtc::kernels_ptx(&info.arch()).map_err(CoreError::Backend)?;
    let ctx = CudaContext::new(info.ordinal).map_err(be("context"))?;
    let stream = ctx.default_stream();
    let module = ctx.load_module(cudarc::nvrtc::Ptx::from_src(ptx)).map_err(be(
      "module load (a PTX newer than the driver gives CUDA_ERROR_UNSUPPORTED_PTX_VERSION)",
    ))?;
    let f = |n: &str| module.load_function(n).map_err(be("function"));
    Ok(CudaBackend {
      f_philox: f("jz_philox")?,
      f_box_muller: f("jz_box_muller")?,
      f_normals: f("jz_normals")?,
      f_move: f("jz_move")?,
      f_observe: f("jz_observe")?,
      f_summary: f("jz_summary")?,
      f_gather_f32: f("jz_gather_f32")?,
      f_gather_f64: f("jz_gather_f64")?,
      f_fill_f64: f("jz_fill_f64")?,
      _module: module,
      info,
      ctx,
      stream,
    })
  }

  /// Philox4x32-10 of each counter under `key` (test hook).
  pub fn philox(&self, ctrs: &[[u32; 4]], key: [u32; 2]) -> Result<Vec<[u32; 4]>> {
    let n = ctrs.len();
    let flat: Vec<u32> = ctrs.iter().flatten().copied().collect();
    let d_in = self.stream.clone_htod(&flat).map_err(be("copy"))?;
    let mut d_out = self.stream.alloc_zeros::<u32>(4 * n.max(1)).map_err(be("alloc"))?;
    let n32 = n as u32;
    let mut b = self.stream.launch_builder(&self.f_philox);
    b.arg(&d_in).arg(&key[0]).arg(&key[1]).arg(&n32).arg(&mut d_out);
    // SAFETY: argument list matches jz_philox; buffers hold 4 n words.
    unsafe { b.launch(grid(n as u64)?) }.map_err(be("launch"))?;
    let out = self.stream.clone_dtoh(&d_out).map_err(be("copy"))?;
    Ok(
      (0..n)
        .map(|i| [out[4 * i], out[4 * i + 1], out[4 * i + 2], out[4 * i + 3]])
        .collect(),
    )
  }

  /// Box-Muller of each word pair (test hook).
  pub fn box_muller(&self, pairs: &[(u32, u32)]) -> Result<Vec<(f32, f32)>> {
    let n = pairs.len();
    let flat: Vec<u32> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
    let d_in = self.stream.clone_htod(&flat).map_err(be("copy"))?;
    let mut d_out = self.stream.alloc_zeros::<f32>(2 * n.max(1)).map_err(be("alloc"))?;
    let n32 = n as u32;
    let mut b = self.stream.launch_builder(&self.f_box_muller);
    b.arg(&d_in).arg(&n32).arg(&mut d_out);
    // SAFETY: argument list matches jz_box_muller.
    unsafe { b.launch(grid(n as u64)?) }.map_err(be("launch"))?;
    let out = self.stream.clone_dtoh(&d_out).map_err(be("copy"))?;
    Ok((0..n).map(|i| (out[2 * i], out[2 * i + 1])).collect())
  }

  /// Compact normals as `normal::fill_normals` (test hook).
  pub fn normals(&self, key: [u32; 2], ctr: Counter, walker0: u32, walkers: usize, dim: usize) -> Result<Vec<f32>> {
    let mut d_out = self
      .stream
      .alloc_zeros::<f32>((walkers * dim).max(1))
      .map_err(be("alloc"))?;
    let (n32, d32) = (walkers as u32, dim as u32);
    let mut b = self.stream.launch_builder(&self.f_normals);
    b.arg(&key[0])
      .arg(&key[1])
      .arg(&ctr.c2)
      .arg(&ctr.c3)
      .arg(&walker0)
      .arg(&n32)
      .arg(&d32)
      .arg(&mut d_out);
    // SAFETY: argument list matches jz_normals; the output holds walkers * dim floats.
    unsafe { b.launch(grid((walkers * dim.div_ceil(4)) as u64)?) }.map_err(be("launch"))?;
    let mut out = self.stream.clone_dtoh(&d_out).map_err(be("copy"))?;
    out.truncate(walkers * dim);
    Ok(out)
  }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
  Fresh = 0,
  Moved = 1,
  Observed = 2,
}

/// Walkers on the GPU. Same counters, same noise stream and same weight update as
/// [`crate::Sampler`]; see the module docs for what is bit-identical.
pub struct CudaSampler {
  cfg: SamplerConfig,
  key: [u32; 2],
  be: CudaBackend,
  x: CudaSlice<f32>,
  xp: CudaSlice<f32>,
  g: CudaSlice<f32>,
  e: CudaSlice<f32>,
  a: CudaSlice<f64>,
  fwd: CudaSlice<f64>,
  counts: CudaSlice<u32>,
  scratch32: Option<CudaSlice<f32>>,
  scratch64: Option<CudaSlice<f64>>,
  pool: rayon::ThreadPool,
  phase: Phase,
  summary_cache: Option<WeightSummary>,
  log_norm_absorbed: f64,
  steps: u64,
  resamplings: u64,
  invalid_total: u64,
  generation: u64,
}

impl CudaSampler {
  /// Allocates N x d positions (zero; set them with [`CudaSampler::set_positions`]) on device 0.
  /// `cfg.threads` sizes the host pool used for resampling.
  pub fn new(cfg: SamplerConfig) -> Result<Self> {
    // Validate exactly as the CPU sampler does (cheap: it allocates nothing large on failure).
    if cfg.walkers == 0 || cfg.dim == 0 || cfg.walkers > u32::MAX as usize || cfg.dim > u32::MAX as usize {
      return Err(CoreError::InvalidOption {
        name: if cfg.walkers == 0 || cfg.walkers > u32::MAX as usize {
          "walkers"
        } else {
          "dim"
        },
        reason: "must be a positive integer below 2^32".into(),
      });
    }
    if !(cfg.step_size.is_finite() && cfg.step_size > 0.0) {
      return Err(CoreError::InvalidOption {
        name: "stepSize",
        reason: "must be a finite number > 0".into(),
      });
    }
    let nd = cfg
      .walkers
      .checked_mul(cfg.dim)
      .ok_or(CoreError::OutOfMemory(usize::MAX))?;
    let backend = CudaBackend::new()?;
    let s = &backend.stream;
    let alloc32 = |n: usize| {
      s.alloc_zeros::<f32>(n.max(1))
        .map_err(|_| CoreError::OutOfMemory(n * 4))
    };
    let alloc64 = |n: usize| {
      s.alloc_zeros::<f64>(n.max(1))
        .map_err(|_| CoreError::OutOfMemory(n * 8))
    };
    let x = alloc32(nd)?;
    let xp = alloc32(if cfg.weighted { nd } else { 0 })?;
    let g = alloc32(nd)?;
    let e = alloc32(cfg.walkers)?;
    let a = alloc64(cfg.walkers)?;
    let fwd = alloc64(if cfg.weighted { cfg.walkers } else { 0 })?;
    let counts = s.alloc_zeros::<u32>(2).map_err(be("alloc"))?;
    let pool = rayon::ThreadPoolBuilder::new()
      .num_threads(cfg.threads.clamp(1, 1024))
      .build()
      .map_err(|e| CoreError::InvalidOption {
        name: "threads",
        reason: e.to_string(),
      })?;
    Ok(CudaSampler {
      key: key_from_seed(cfg.seed),
      cfg,
      x,
      xp,
      g,
      e,
      a,
      fwd,
      counts,
      scratch32: None,
      scratch64: None,
      pool,
      be: backend,
      phase: Phase::Fresh,
      summary_cache: None,
      log_norm_absorbed: 0.0,
      steps: 0,
      resamplings: 0,
      invalid_total: 0,
      generation: 0,
    })
  }

  pub fn device_info(&self) -> &DeviceInfo {
    &self.be.info
  }
  pub fn config(&self) -> &SamplerConfig {
    &self.cfg
  }
  pub fn steps(&self) -> u64 {
    self.steps
  }
  pub fn resamplings(&self) -> u64 {
    self.resamplings
  }
  pub fn invalid_total(&self) -> u64 {
    self.invalid_total
  }
  pub fn log_norm_absorbed(&self) -> f64 {
    self.log_norm_absorbed
  }

  /// Changes whenever the walkers' state changes (moves, observations, resamplings, restores,
  /// copies in): the key for host mirrors of the device buffers.
  pub fn generation(&self) -> u64 {
    self.generation
  }
  /// Whether walkers have moved since the last observation.
  pub fn move_pending(&self) -> bool {
    self.phase == Phase::Moved
  }
  pub fn has_observation(&self) -> bool {
    self.phase != Phase::Fresh
  }

  /// Change the step size between moves, as [`crate::Sampler::set_step_size`].
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

  /// As [`crate::Sampler::reinitialize`]: A = 0, log-normaliser 0, the next observation only records.
  pub fn reinitialize(&mut self) -> Result<()> {
    let n32 = self.cfg.walkers as u32;
    let zero = 0f64;
    let mut b = self.be.stream.launch_builder(&self.be.f_fill_f64);
    b.arg(&mut self.a).arg(&n32).arg(&zero);
    // SAFETY: argument list matches jz_fill_f64; a holds N doubles.
    unsafe { b.launch(grid(self.cfg.walkers as u64)?) }.map_err(be("launch"))?;
    self.log_norm_absorbed = 0.0;
    self.phase = Phase::Fresh;
    self.summary_cache = None;
    self.generation += 1;
    Ok(())
  }

  /// As [`crate::Sampler::counters`].
  pub fn counters(&self) -> SamplerCounters {
    SamplerCounters {
      steps: self.steps,
      resamplings: self.resamplings,
      invalid_total: self.invalid_total,
      log_norm_absorbed: self.log_norm_absorbed,
      observed: self.phase == Phase::Observed,
    }
  }

  /// As [`crate::Sampler::restore_counters`], after positions, log-weights, energies and gradients
  /// were copied in ([`CudaSampler::set_positions`] and friends).
  pub fn restore_counters(&mut self, c: SamplerCounters) -> Result<()> {
    if !c.log_norm_absorbed.is_finite() {
      return Err(CoreError::InvalidOption {
        name: "logNormAbsorbed",
        reason: "must be finite".into(),
      });
    }
    if self.cfg.weighted {
      // fwd holds U of the last observation between iterations (jz_observe leaves it so).
      let e = self.energies()?;
      let f: Vec<f64> = e.iter().map(|&u| u as f64).collect();
      self.be.stream.memcpy_htod(&f, &mut self.fwd).map_err(be("copy"))?;
    }
    self.steps = c.steps;
    self.resamplings = c.resamplings;
    self.invalid_total = c.invalid_total;
    self.log_norm_absorbed = c.log_norm_absorbed;
    self.phase = if c.observed { Phase::Observed } else { Phase::Fresh };
    self.summary_cache = None;
    self.generation += 1;
    Ok(())
  }

  /// Copy energies in (checkpoint restores; an observation copies its own).
  pub fn set_energies(&mut self, e: &[f32]) -> Result<()> {
    if e.len() != self.cfg.walkers {
      return Err(CoreError::BadLength {
        name: "energies",
        got: e.len(),
        expected: self.cfg.walkers,
      });
    }
    self.be.stream.memcpy_htod(e, &mut self.e).map_err(be("copy"))?;
    self.generation += 1;
    Ok(())
  }

  /// Copy gradients in (checkpoint restores; an observation copies its own).
  pub fn set_gradients(&mut self, g: &[f32]) -> Result<()> {
    let nd = self.cfg.walkers * self.cfg.dim;
    if g.len() != nd {
      return Err(CoreError::BadLength {
        name: "gradients",
        got: g.len(),
        expected: nd,
      });
    }
    self.be.stream.memcpy_htod(g, &mut self.g).map_err(be("copy"))?;
    self.generation += 1;
    Ok(())
  }

  /// Copy positions in (N x d, row-major). Only between iterations (no move pending).
  pub fn set_positions(&mut self, x: &[f32]) -> Result<()> {
    let nd = self.cfg.walkers * self.cfg.dim;
    if x.len() != nd {
      return Err(CoreError::BadLength {
        name: "positions",
        got: x.len(),
        expected: nd,
      });
    }
    if self.phase == Phase::Moved {
      return Err(CoreError::BadState("cannot set positions between move() and observe()"));
    }
    self.be.stream.memcpy_htod(x, &mut self.x).map_err(be("copy"))?;
    self.generation += 1;
    Ok(())
  }

  /// Copy the log-weights in (e.g. to continue a CPU run). Invalidates the summary.
  pub fn set_log_weights(&mut self, a: &[f64]) -> Result<()> {
    if a.len() != self.cfg.walkers {
      return Err(CoreError::BadLength {
        name: "logWeights",
        got: a.len(),
        expected: self.cfg.walkers,
      });
    }
    self.be.stream.memcpy_htod(a, &mut self.a).map_err(be("copy"))?;
    self.generation += 1;
    self.summary_cache = None;
    Ok(())
  }

  fn dtoh<T: cudarc::driver::DeviceRepr + Default + Clone>(&self, s: &CudaSlice<T>, n: usize) -> Result<Vec<T>> {
    let mut v = self.be.stream.clone_dtoh(s).map_err(be("copy"))?;
    v.truncate(n);
    Ok(v)
  }
  /// Positions, copied back from the device.
  pub fn positions(&self) -> Result<Vec<f32>> {
    self.dtoh(&self.x, self.cfg.walkers * self.cfg.dim)
  }
  /// Log-weights, copied back from the device.
  pub fn log_weights(&self) -> Result<Vec<f64>> {
    self.dtoh(&self.a, self.cfg.walkers)
  }
  pub fn energies(&self) -> Result<Vec<f32>> {
    self.dtoh(&self.e, self.cfg.walkers)
  }
  pub fn gradients(&self) -> Result<Vec<f32>> {
    self.dtoh(&self.g, self.cfg.walkers * self.cfg.dim)
  }

  /// One ULA step with the last observed gradient, noise from the same Philox counters as the CPU.
  pub fn move_walkers(&mut self) -> Result<()> {
    match self.phase {
      Phase::Fresh => {
        return Err(CoreError::BadState(
          "observe() energies and gradients before the first move()",
        ))
      }
      Phase::Moved => {
        return Err(CoreError::BadState(
          "move() called twice: observe() the energies at the moved positions first",
        ))
      }
      Phase::Observed => {}
    }
    let h = self.cfg.step_size;
    let (hf, sf, qh) = (h as f32, (2.0 * h).sqrt() as f32, 0.25 * h);
    let ctr = Counter::new(Stream::Noise, self.steps);
    let (n32, d32, wt) = (self.cfg.walkers as u32, self.cfg.dim as u32, self.cfg.weighted as i32);
    let s = &self.be.stream;
    let mut b = s.launch_builder(&self.be.f_move);
    b.arg(&self.key[0])
      .arg(&self.key[1])
      .arg(&ctr.c2)
      .arg(&ctr.c3)
      .arg(&n32)
      .arg(&d32)
      .arg(&hf)
      .arg(&sf)
      .arg(&qh)
      .arg(&wt)
      .arg(&mut self.x)
      .arg(&mut self.xp)
      .arg(&self.g)
      .arg(&self.e)
      .arg(&self.a)
      .arg(&mut self.fwd);
    // SAFETY: argument list matches jz_move; buffers sized N x d / N (xp, fwd unused unweighted).
    unsafe { b.launch(grid(self.cfg.walkers as u64)?) }.map_err(be("launch"))?;
    self.steps += 1;
    self.generation += 1;
    self.phase = Phase::Moved;
    Ok(())
  }

  /// Copy U and grad U at the current positions to the device and update the log-weights.
  /// Only `Observation::External` (the energies live on the host).
  pub fn observe(&mut self, obs: Observation<'_>) -> Result<ObserveReport> {
    let (n, d) = (self.cfg.walkers, self.cfg.dim);
    let (energy, grad) = match obs {
      Observation::External { energy, grad } => (energy, grad),
      Observation::InPlace => {
        return Err(CoreError::BadState(
          "the CUDA sampler observes host arrays only (Observation::External)",
        ))
      }
    };
    if energy.len() != n {
      return Err(CoreError::BadLength {
        name: "energy",
        got: energy.len(),
        expected: n,
      });
    }
    if grad.len() != n * d {
      return Err(CoreError::BadLength {
        name: "grad",
        got: grad.len(),
        expected: n * d,
      });
    }
    let s = self.be.stream.clone();
    s.memcpy_htod(energy, &mut self.e).map_err(be("copy"))?;
    s.memcpy_htod(grad, &mut self.g).map_err(be("copy"))?;
    s.memset_zeros(&mut self.counts).map_err(be("memset"))?;
    let (n32, d32) = (n as u32, d as u32);
    let qh = 0.25 * self.cfg.step_size;
    let (wt, ph) = (self.cfg.weighted as i32, self.phase as i32);
    let mut b = s.launch_builder(&self.be.f_observe);
    b.arg(&n32)
      .arg(&d32)
      .arg(&qh)
      .arg(&wt)
      .arg(&ph)
      .arg(&self.x)
      .arg(&self.xp)
      .arg(&mut self.fwd)
      .arg(&mut self.a)
      .arg(&self.e)
      .arg(&self.g)
      .arg(&mut self.counts);
    // SAFETY: argument list matches jz_observe.
    unsafe { b.launch(grid(n as u64)?) }.map_err(be("launch"))?;
    let c = s.clone_dtoh(&self.counts).map_err(be("copy"))?;
    let report = ObserveReport {
      newly_invalid: c[0] as usize,
      invalid: c[1] as usize,
    };
    self.invalid_total += report.newly_invalid as u64;
    self.phase = Phase::Observed;
    self.generation += 1;
    self.summary_cache = None;
    if report.invalid == n {
      return Err(CoreError::AllWalkersInvalid { invalid: n, walkers: n });
    }
    Ok(report)
  }

  /// The log-weight summary: per-block partials on the device (chunks of REDUCE_CHUNK walkers,
  /// as the CPU), combined on the host in chunk order. Cached until the weights change.
  pub fn summary(&mut self) -> Result<WeightSummary> {
    if let Some(s) = self.summary_cache {
      return Ok(s);
    }
    let n = self.cfg.walkers;
    let blocks = n.div_ceil(REDUCE_CHUNK);
    let s = self.be.stream.clone();
    let mut pm = s.alloc_zeros::<f64>(blocks).map_err(be("alloc"))?;
    let mut ps = s.alloc_zeros::<f64>(blocks).map_err(be("alloc"))?;
    let mut ps2 = s.alloc_zeros::<f64>(blocks).map_err(be("alloc"))?;
    let mut pz = s.alloc_zeros::<u32>(blocks).map_err(be("alloc"))?;
    let (n32, c32) = (n as u32, REDUCE_CHUNK as u32);
    let mut b = s.launch_builder(&self.be.f_summary);
    b.arg(&self.a)
      .arg(&n32)
      .arg(&c32)
      .arg(&mut pm)
      .arg(&mut ps)
      .arg(&mut ps2)
      .arg(&mut pz);
    let cfg = LaunchConfig {
      grid_dim: (blocks as u32, 1, 1),
      block_dim: (SUMMARY_THREADS, 1, 1),
      shared_mem_bytes: 0,
    };
    // SAFETY: argument list matches jz_summary; one block per chunk, SUMMARY_THREADS threads.
    unsafe { b.launch(cfg) }.map_err(be("launch"))?;
    let (pm, ps, ps2, pz) = (
      s.clone_dtoh(&pm).map_err(be("copy"))?,
      s.clone_dtoh(&ps).map_err(be("copy"))?,
      s.clone_dtoh(&ps2).map_err(be("copy"))?,
      s.clone_dtoh(&pz).map_err(be("copy"))?,
    );
    let sum = combine_partials(n, &pm, &ps, &ps2, &pz);
    self.summary_cache = Some(sum);
    Ok(sum)
  }

  pub fn log_normalizer_ratio(&mut self) -> Result<f64> {
    Ok(self.log_norm_absorbed + self.summary()?.log_mean())
  }

  /// Normalised weights, computed on the host from copied-back log-weights.
  pub fn normalized_weights(&mut self) -> Result<Vec<f64>> {
    let s = self.summary()?;
    if s.max == f64::NEG_INFINITY {
      return Err(CoreError::AllWalkersInvalid {
        invalid: s.n,
        walkers: s.n,
      });
    }
    let a = self.log_weights()?;
    let mut p = vec![0f64; a.len()];
    normalized_into(&self.pool, &a, &s, &mut p);
    Ok(p)
  }

  /// Resample on the host (the CPU schemes on the copied-back normalised weights, Philox
  /// `Resample` stream as the CPU), gather rows on the device, set A = 0.
  pub fn resample(&mut self, scheme: Scheme) -> Result<Vec<usize>> {
    let (n, d) = (self.cfg.walkers, self.cfg.dim);
    let s = self.summary()?;
    if s.max == f64::NEG_INFINITY || !s.log_sum.is_finite() {
      return Err(CoreError::AllWalkersInvalid {
        invalid: s.zero,
        walkers: n,
      });
    }
    let p = self.normalized_weights()?;
    let uniforms = Uniforms::new(self.key, Counter::new(Stream::Resample, self.resamplings));
    let mut ancestors = vec![0usize; n];
    resample(scheme, &p, &uniforms, &mut ancestors);
    let anc32: Vec<u32> = ancestors.iter().map(|&i| i as u32).collect();
    let st = self.be.stream.clone();
    let d_anc = st.clone_htod(&anc32).map_err(be("copy"))?;
    if self.scratch32.is_none() {
      self.scratch32 = Some(
        st.alloc_zeros::<f32>(n * d)
          .map_err(|_| CoreError::OutOfMemory(n * d * 4))?,
      );
      self.scratch64 = Some(st.alloc_zeros::<f64>(n).map_err(|_| CoreError::OutOfMemory(n * 8))?);
    }
    let (n32, d32, one) = (n as u32, d as u32, 1u32);
    let weighted = self.cfg.weighted;
    let moved = self.phase == Phase::Moved;
    let be_ = &self.be;
    let tmp = self.scratch32.as_mut().expect("allocated");
    let gather32 = |buf: &mut CudaSlice<f32>, tmp: &mut CudaSlice<f32>, width: u32| -> Result<()> {
      let mut b = st.launch_builder(&be_.f_gather_f32);
      b.arg(&*buf).arg(&d_anc).arg(&n32).arg(&width).arg(&mut *tmp);
      // SAFETY: argument list matches jz_gather_f32; both buffers hold n * width floats.
      unsafe { b.launch(grid(n as u64 * width as u64)?) }.map_err(be("launch"))?;
      let len = n * width as usize;
      st.memcpy_dtod(&tmp.slice(..len), &mut buf.slice_mut(..len))
        .map_err(be("copy"))?;
      Ok(())
    };
    gather32(&mut self.x, tmp, d32)?;
    gather32(&mut self.g, tmp, d32)?;
    if weighted && moved {
      gather32(&mut self.xp, tmp, d32)?;
    }
    gather32(&mut self.e, tmp, one)?;
    if weighted {
      let t64 = self.scratch64.as_mut().expect("allocated");
      let mut b = st.launch_builder(&be_.f_gather_f64);
      b.arg(&self.fwd).arg(&d_anc).arg(&n32).arg(&mut *t64);
      // SAFETY: argument list matches jz_gather_f64.
      unsafe { b.launch(grid(n as u64)?) }.map_err(be("launch"))?;
      st.memcpy_dtod(&t64.slice(..n), &mut self.fwd.slice_mut(..n))
        .map_err(be("copy"))?;
    }
    let zero = 0f64;
    let mut b = st.launch_builder(&be_.f_fill_f64);
    b.arg(&mut self.a).arg(&n32).arg(&zero);
    // SAFETY: argument list matches jz_fill_f64.
    unsafe { b.launch(grid(n as u64)?) }.map_err(be("launch"))?;
    self.log_norm_absorbed += s.log_mean();
    self.resamplings += 1;
    self.generation += 1;
    self.summary_cache = None;
    Ok(ancestors)
  }

  /// Resample when ESS < ess_fraction * N. Returns whether it did.
  pub fn maybe_resample(&mut self, ess_fraction: f64, scheme: Scheme) -> Result<bool> {
    if !(ess_fraction.is_finite() && (0.0..=1.0).contains(&ess_fraction)) {
      return Err(CoreError::InvalidOption {
        name: "essFraction",
        reason: "must be a number in [0, 1]".into(),
      });
    }
    if self.summary()?.ess() < ess_fraction * self.cfg.walkers as f64 {
      self.resample(scheme)?;
      Ok(true)
    } else {
      Ok(false)
    }
  }
}

/// Combine the device's per-chunk partials in chunk order, as `weights::summarize` does.
pub(crate) fn combine_partials(n: usize, pm: &[f64], ps: &[f64], ps2: &[f64], pz: &[u32]) -> WeightSummary {
  crate::weights::combine_chunks(n, (0..pm.len()).map(|i| (pm[i], ps[i], ps2[i], pz[i] as usize)))
}
