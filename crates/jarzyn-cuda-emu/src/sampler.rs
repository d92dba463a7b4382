//! [`EmuSampler`]: `CudaSampler` (crates/jarzyn-core/src/cuda/sampler.rs) with the device
//! buffers in emulated memory. Every launch has CudaSampler's argument list and configuration,
//! and the host-side logic (phases, counters, summary combination, host resampling, gathers) is
//! the same, line for line where it can be: keep the two in step when either changes.

use jarzyn_core::philox::{key_from_seed, Counter, Stream};
use jarzyn_core::resample::{resample, Scheme, Uniforms};
use jarzyn_core::weights::{combine_chunks, normalized_into, WeightSummary, REDUCE_CHUNK};
use jarzyn_core::{CoreError, ObserveReport, Result, SamplerConfig, SamplerCounters};

use crate::backend::{grid, SUMMARY_THREADS};
use crate::{kernels, DeviceBuf, Grid};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
  Fresh = 0,
  Moved = 1,
  Observed = 2,
}

/// Walkers in emulated device memory, driven as `CudaSampler` drives the GPU.
pub struct EmuSampler {
  cfg: SamplerConfig,
  key: [u32; 2],
  x: DeviceBuf<f32>,
  xp: DeviceBuf<f32>,
  g: DeviceBuf<f32>,
  e: DeviceBuf<f32>,
  a: DeviceBuf<f64>,
  fwd: DeviceBuf<f64>,
  counts: DeviceBuf<u32>,
  scratch32: Option<DeviceBuf<f32>>,
  scratch64: Option<DeviceBuf<f64>>,
  pool: rayon::ThreadPool,
  phase: Phase,
  summary_cache: Option<WeightSummary>,
  log_norm_absorbed: f64,
  steps: u64,
  resamplings: u64,
  invalid_total: u64,
}

impl EmuSampler {
  /// As `CudaSampler::new`: N x d zero positions.
  pub fn new(cfg: SamplerConfig) -> Result<Self> {
    if cfg.walkers == 0 || cfg.walkers > u32::MAX as usize || cfg.dim == 0 || cfg.dim > u32::MAX as usize {
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
    let nd = cfg.walkers * cfg.dim;
    let alloc32 = |n: usize| DeviceBuf::<f32>::zeros(n.max(1));
    let alloc64 = |n: usize| DeviceBuf::<f64>::zeros(n.max(1));
    let pool = rayon::ThreadPoolBuilder::new()
      .num_threads(cfg.threads.clamp(1, 1024))
      .build()
      .map_err(|e| CoreError::InvalidOption {
        name: "threads",
        reason: e.to_string(),
      })?;
    Ok(EmuSampler {
      key: key_from_seed(cfg.seed),
      x: alloc32(nd),
      xp: alloc32(if cfg.weighted { nd } else { 0 }),
      g: alloc32(nd),
      e: alloc32(cfg.walkers),
      a: alloc64(cfg.walkers),
      fwd: alloc64(if cfg.weighted { cfg.walkers } else { 0 }),
      counts: DeviceBuf::zeros(2),
      scratch32: None,
      scratch64: None,
      pool,
      phase: Phase::Fresh,
      summary_cache: None,
      log_norm_absorbed: 0.0,
      steps: 0,
      resamplings: 0,
      invalid_total: 0,
      cfg,
    })
  }

  pub fn config(&self) -> &SamplerConfig {
    &self.cfg
  }
  pub fn steps(&self) -> u64 {
    self.steps
  }
  pub fn invalid_total(&self) -> u64 {
    self.invalid_total
  }
  pub fn log_norm_absorbed(&self) -> f64 {
    self.log_norm_absorbed
  }

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

  /// As `CudaSampler::reinitialize` (jz_fill_f64 of A with 0).
  pub fn reinitialize(&mut self) {
    let n32 = self.cfg.walkers as u32;
    // SAFETY: argument list of jz_fill_f64; a holds N doubles.
    unsafe { kernels::jz_fill_f64(grid(self.cfg.walkers as u64), self.a.mut_ptr(), n32, 0.0) };
    self.log_norm_absorbed = 0.0;
    self.phase = Phase::Fresh;
    self.summary_cache = None;
  }

  pub fn counters(&self) -> SamplerCounters {
    SamplerCounters {
      steps: self.steps,
      resamplings: self.resamplings,
      invalid_total: self.invalid_total,
      log_norm_absorbed: self.log_norm_absorbed,
      observed: self.phase == Phase::Observed,
    }
  }

  /// As `CudaSampler::restore_counters`.
  pub fn restore_counters(&mut self, c: SamplerCounters) -> Result<()> {
    if !c.log_norm_absorbed.is_finite() {
      return Err(CoreError::InvalidOption {
        name: "logNormAbsorbed",
        reason: "must be finite".into(),
      });
    }
    if self.cfg.weighted {
      let n = self.cfg.walkers;
      for i in 0..n {
        self.fwd[i] = self.e[i] as f64;
      }
    }
    self.steps = c.steps;
    self.resamplings = c.resamplings;
    self.invalid_total = c.invalid_total;
    self.log_norm_absorbed = c.log_norm_absorbed;
    self.phase = if c.observed { Phase::Observed } else { Phase::Fresh };
    self.summary_cache = None;
    Ok(())
  }

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
    self.x[..nd].copy_from_slice(x);
    Ok(())
  }
  pub fn set_energies(&mut self, e: &[f32]) {
    self.e[..self.cfg.walkers].copy_from_slice(e);
  }
  pub fn set_gradients(&mut self, g: &[f32]) {
    self.g[..self.cfg.walkers * self.cfg.dim].copy_from_slice(g);
  }
  pub fn set_log_weights(&mut self, a: &[f64]) {
    self.a[..self.cfg.walkers].copy_from_slice(a);
    self.summary_cache = None;
  }

  pub fn positions(&self) -> Vec<f32> {
    self.x[..self.cfg.walkers * self.cfg.dim].to_vec()
  }
  pub fn log_weights(&self) -> Vec<f64> {
    self.a[..self.cfg.walkers].to_vec()
  }
  pub fn energies(&self) -> Vec<f32> {
    self.e[..self.cfg.walkers].to_vec()
  }
  pub fn gradients(&self) -> Vec<f32> {
    self.g[..self.cfg.walkers * self.cfg.dim].to_vec()
  }

  /// As `CudaSampler::move_walkers` (jz_move).
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
    // SAFETY: argument list of jz_move; buffers sized N x d / N (xp, fwd unused unweighted).
    unsafe {
      kernels::jz_move(
        grid(self.cfg.walkers as u64),
        self.key[0],
        self.key[1],
        ctr.c2,
        ctr.c3,
        n32,
        d32,
        hf,
        sf,
        qh,
        wt,
        self.x.mut_ptr(),
        self.xp.mut_ptr(),
        self.g.ptr(),
        self.e.ptr(),
        self.a.ptr(),
        self.fwd.mut_ptr(),
      )
    };
    self.steps += 1;
    self.phase = Phase::Moved;
    Ok(())
  }

  /// As `CudaSampler::observe(Observation::External { energy, grad })` (jz_observe).
  pub fn observe(&mut self, energy: &[f32], grad: &[f32]) -> Result<ObserveReport> {
    let (n, d) = (self.cfg.walkers, self.cfg.dim);
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
    self.e[..n].copy_from_slice(energy);
    self.g[..n * d].copy_from_slice(grad);
    self.counts.fill(0);
    let (n32, d32) = (n as u32, d as u32);
    let qh = 0.25 * self.cfg.step_size;
    let (wt, ph) = (self.cfg.weighted as i32, self.phase as i32);
    // SAFETY: argument list of jz_observe.
    unsafe {
      kernels::jz_observe(
        grid(n as u64),
        n32,
        d32,
        qh,
        wt,
        ph,
        self.x.ptr(),
        self.xp.ptr(),
        self.fwd.mut_ptr(),
        self.a.mut_ptr(),
        self.e.ptr(),
        self.g.ptr(),
        self.counts.mut_ptr(),
      )
    };
    let report = ObserveReport {
      newly_invalid: self.counts[0] as usize,
      invalid: self.counts[1] as usize,
    };
    self.invalid_total += report.newly_invalid as u64;
    self.phase = Phase::Observed;
    self.summary_cache = None;
    if report.invalid == n {
      return Err(CoreError::AllWalkersInvalid { invalid: n, walkers: n });
    }
    Ok(report)
  }

  /// As `CudaSampler::summary`: jz_summary partials per REDUCE_CHUNK walkers, combined on the host
  /// in chunk order by `weights::combine_chunks`.
  pub fn summary(&mut self) -> WeightSummary {
    if let Some(s) = self.summary_cache {
      return s;
    }
    let n = self.cfg.walkers;
    let blocks = n.div_ceil(REDUCE_CHUNK);
    let mut pm = DeviceBuf::<f64>::zeros(blocks);
    let mut ps = DeviceBuf::<f64>::zeros(blocks);
    let mut ps2 = DeviceBuf::<f64>::zeros(blocks);
    let mut pz = DeviceBuf::<u32>::zeros(blocks);
    // SAFETY: argument list of jz_summary; one block per chunk, SUMMARY_THREADS threads.
    unsafe {
      kernels::jz_summary(
        Grid::blocks(blocks as u32, SUMMARY_THREADS),
        self.a.ptr(),
        n as u32,
        REDUCE_CHUNK as u32,
        pm.mut_ptr(),
        ps.mut_ptr(),
        ps2.mut_ptr(),
        pz.mut_ptr(),
      )
    };
    let sum = combine_partials(n, &pm, &ps, &ps2, &pz);
    self.summary_cache = Some(sum);
    sum
  }

  pub fn log_normalizer_ratio(&mut self) -> f64 {
    self.log_norm_absorbed + self.summary().log_mean()
  }

  pub fn normalized_weights(&mut self) -> Result<Vec<f64>> {
    let s = self.summary();
    if s.max == f64::NEG_INFINITY {
      return Err(CoreError::AllWalkersInvalid {
        invalid: s.n,
        walkers: s.n,
      });
    }
    let a = self.log_weights();
    let mut p = vec![0f64; a.len()];
    normalized_into(&self.pool, &a, &s, &mut p);
    Ok(p)
  }

  /// As `CudaSampler::resample`: ancestors on the host, rows gathered by jz_gather_f32 /
  /// jz_gather_f64 into scratch and copied back, A = 0 by jz_fill_f64.
  pub fn resample(&mut self, scheme: Scheme) -> Result<Vec<usize>> {
    let (n, d) = (self.cfg.walkers, self.cfg.dim);
    let s = self.summary();
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
    let d_anc = DeviceBuf::from_slice(&anc32);
    if self.scratch32.is_none() {
      self.scratch32 = Some(DeviceBuf::zeros(n * d));
      self.scratch64 = Some(DeviceBuf::zeros(n));
    }
    let (n32, d32, one) = (n as u32, d as u32, 1u32);
    let weighted = self.cfg.weighted;
    let moved = self.phase == Phase::Moved;
    let tmp = self.scratch32.as_mut().expect("allocated");
    let gather32 = |buf: &mut DeviceBuf<f32>, tmp: &mut DeviceBuf<f32>, width: u32| {
      // SAFETY: argument list of jz_gather_f32; both buffers hold n * width floats.
      unsafe {
        kernels::jz_gather_f32(
          grid(n as u64 * width as u64),
          buf.ptr(),
          d_anc.ptr(),
          n32,
          width,
          tmp.mut_ptr(),
        )
      };
      let len = n * width as usize;
      buf[..len].copy_from_slice(&tmp[..len]);
    };
    gather32(&mut self.x, tmp, d32);
    gather32(&mut self.g, tmp, d32);
    if weighted && moved {
      gather32(&mut self.xp, tmp, d32);
    }
    gather32(&mut self.e, tmp, one);
    if weighted {
      let t64 = self.scratch64.as_mut().expect("allocated");
      // SAFETY: argument list of jz_gather_f64.
      unsafe { kernels::jz_gather_f64(grid(n as u64), self.fwd.ptr(), d_anc.ptr(), n32, t64.mut_ptr()) };
      self.fwd[..n].copy_from_slice(&t64[..n]);
    }
    // SAFETY: argument list of jz_fill_f64.
    unsafe { kernels::jz_fill_f64(grid(n as u64), self.a.mut_ptr(), n32, 0.0) };
    self.log_norm_absorbed += s.log_mean();
    self.resamplings += 1;
    self.summary_cache = None;
    Ok(ancestors)
  }

  pub fn maybe_resample(&mut self, ess_fraction: f64, scheme: Scheme) -> Result<bool> {
    if self.summary().ess() < ess_fraction * self.cfg.walkers as f64 {
      self.resample(scheme)?;
      Ok(true)
    } else {
      Ok(false)
    }
  }
}

/// `combine_partials` of cuda/sampler.rs.
pub fn combine_partials(n: usize, pm: &[f64], ps: &[f64], ps2: &[f64], pz: &[u32]) -> WeightSummary {
  combine_chunks(n, (0..pm.len()).map(|i| (pm[i], ps[i], ps2[i], pz[i] as usize)))
}
