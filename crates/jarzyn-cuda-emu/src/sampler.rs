//! [`EmuSampler`] is `CudaSampler` (crates/jarzyn-core/src/cuda/sampler.rs, resample.rs, gmm.rs)
//! with the device buffers in emulated memory. Every launch has CudaSampler's argument list and
//! configuration, and the host-side logic (phases, counters, tiles, summary combination, device
//! resampling, gathers, the mixture's partials) is the same, line for line where it can be: keep
//! the two in step when either changes. (The generated launchers have the kernels' exact
//! parameter lists, so a changed kernel signature fails to compile here.)

use jarzyn_core::philox::{key_from_seed, Counter, Stream};
use jarzyn_core::resample::Scheme;
use jarzyn_core::weights::{combine_chunks, normalized_into, WeightSummary, REDUCE_CHUNK};
use jarzyn_core::{CoreError, ObserveReport, Result, SamplerConfig, SamplerCounters};

use crate::backend::{blocks, grid, BLOCK_THREADS, TILE_ELEMS};
use crate::resample::ResampleScratch;
use crate::{kernels, DeviceBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
  Fresh = 0,
  Moved = 1,
  Observed = 2,
}

/// Per-chunk partials of the log-weight summary, kept on the "device" (`SummaryParts`).
pub(crate) struct SummaryParts {
  pub max: DeviceBuf<f64>,
  pub s: DeviceBuf<f64>,
  pub s2: DeviceBuf<f64>,
  pub zero: DeviceBuf<u32>,
  pub chunks: usize,
}

/// Walkers in emulated device memory, driven as `CudaSampler` drives the GPU.
pub struct EmuSampler {
  pub(crate) cfg: SamplerConfig,
  pub(crate) key: [u32; 2],
  pub(crate) x: DeviceBuf<f32>,
  pub(crate) xp: DeviceBuf<f32>,
  pub(crate) g: DeviceBuf<f32>,
  pub(crate) e: DeviceBuf<f32>,
  pub(crate) a: DeviceBuf<f64>,
  pub(crate) fwd: DeviceBuf<f64>,
  counts: DeviceBuf<u32>,
  pub(crate) parts: SummaryParts,
  pub(crate) resample_scratch: Option<ResampleScratch>,
  pub(crate) gmm: Option<crate::gmm::DeviceGmm>,
  pool: rayon::ThreadPool,
  pub(crate) phase: Phase,
  pub(crate) summary_cache: Option<WeightSummary>,
  pub(crate) log_norm_absorbed: f64,
  steps: u64,
  pub(crate) resamplings: u64,
  invalid_total: u64,
  pub(crate) generation: u64,
  /// Test switch (not in CudaSampler): use the one-thread-per-walker jz_move_rows /
  /// jz_observe_rows even where a tile holds a walker.
  pub force_rows: bool,
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
    let chunks = cfg.walkers.div_ceil(REDUCE_CHUNK);
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
      parts: SummaryParts {
        max: alloc64(chunks),
        s: alloc64(chunks),
        s2: alloc64(chunks),
        zero: DeviceBuf::zeros(chunks),
        chunks,
      },
      resample_scratch: None,
      gmm: None,
      pool,
      phase: Phase::Fresh,
      summary_cache: None,
      log_norm_absorbed: 0.0,
      steps: 0,
      resamplings: 0,
      invalid_total: 0,
      generation: 0,
      force_rows: false,
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

  pub(crate) fn fill_log_weights(&mut self, v: f64) {
    let n32 = self.cfg.walkers as u32;
    // SAFETY: argument list of jz_fill_f64; a holds N doubles.
    unsafe { kernels::jz_fill_f64(grid(self.cfg.walkers as u64), self.a.mut_ptr(), n32, v) };
  }

  /// As `CudaSampler::reinitialize` (jz_fill_f64 of A with 0).
  pub fn reinitialize(&mut self) {
    self.fill_log_weights(0.0);
    self.log_norm_absorbed = 0.0;
    self.phase = Phase::Fresh;
    self.summary_cache = None;
    self.generation += 1;
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
    self.generation += 1;
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
    self.generation += 1;
    Ok(())
  }
  /// Test hook (not in CudaSampler): copy positions in whatever the phase, e.g. to re-sync them
  /// with the CPU's between a move and its observation (set_positions refuses that, as
  /// CudaSampler's does).
  pub fn force_positions(&mut self, x: &[f32]) {
    self.x[..self.cfg.walkers * self.cfg.dim].copy_from_slice(x);
    self.generation += 1;
  }
  pub fn set_energies(&mut self, e: &[f32]) {
    self.e[..self.cfg.walkers].copy_from_slice(e);
    self.generation += 1;
  }
  pub fn set_gradients(&mut self, g: &[f32]) {
    self.g[..self.cfg.walkers * self.cfg.dim].copy_from_slice(g);
    self.generation += 1;
  }
  pub fn set_log_weights(&mut self, a: &[f64]) {
    self.a[..self.cfg.walkers].copy_from_slice(a);
    self.summary_cache = None;
    self.generation += 1;
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

  /// Walkers per move/observe tile, or None when one row is longer than a tile (then the
  /// one-thread-per-walker kernels run).
  fn walkers_per_tile(&self) -> Option<u32> {
    if self.force_rows {
      return None;
    }
    (self.cfg.dim <= TILE_ELEMS).then(|| (TILE_ELEMS / self.cfg.dim).min(self.cfg.walkers) as u32)
  }

  /// As `CudaSampler::move_walkers`: jz_move over tiles (jz_move_rows for rows longer than a tile).
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
    let n = self.cfg.walkers;
    let (n32, d32, wt) = (n as u32, self.cfg.dim as u32, self.cfg.weighted as i32);
    let (k0, k1) = (self.key[0], self.key[1]);
    match self.walkers_per_tile() {
      // SAFETY: argument list of jz_move; BLOCK_THREADS = TILE_THREADS threads per tile; buffers
      // sized N x d / N (xp, fwd unused unweighted).
      Some(w) => unsafe {
        kernels::jz_move(
          blocks(n.div_ceil(w as usize) as u64, BLOCK_THREADS),
          k0,
          k1,
          ctr.c2,
          ctr.c3,
          n32,
          d32,
          w,
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
      },
      // SAFETY: argument list of jz_move_rows.
      None => unsafe {
        kernels::jz_move_rows(
          grid(n as u64),
          k0,
          k1,
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
      },
    }
    self.steps += 1;
    self.generation += 1;
    self.phase = Phase::Moved;
    Ok(())
  }

  /// As `CudaSampler::observe(Observation::External { energy, grad })`.
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
    self.update_weights()
  }

  /// As `CudaSampler::update_weights`: jz_observe over tiles (jz_observe_rows for long rows).
  pub(crate) fn update_weights(&mut self) -> Result<ObserveReport> {
    let n = self.cfg.walkers;
    self.counts.fill(0);
    let (n32, d32) = (n as u32, self.cfg.dim as u32);
    let qh = 0.25 * self.cfg.step_size;
    let (wt, ph) = (self.cfg.weighted as i32, self.phase as i32);
    match self.walkers_per_tile() {
      // SAFETY: argument list of jz_observe.
      Some(w) => unsafe {
        kernels::jz_observe(
          blocks(n.div_ceil(w as usize) as u64, BLOCK_THREADS),
          n32,
          d32,
          w,
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
      },
      // SAFETY: argument list of jz_observe_rows.
      None => unsafe {
        kernels::jz_observe_rows(
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
      },
    }
    let report = ObserveReport {
      newly_invalid: self.counts[0] as usize,
      invalid: self.counts[1] as usize,
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

  /// As `CudaSampler::summary_parts`: jz_summary into the per-chunk partials.
  pub(crate) fn summary_parts(&mut self) {
    let (n32, c32) = (self.cfg.walkers as u32, REDUCE_CHUNK as u32);
    let p = &mut self.parts;
    // SAFETY: argument list of jz_summary; one block per chunk, SUMMARY_THREADS threads.
    unsafe {
      kernels::jz_summary(
        blocks(p.chunks as u64, BLOCK_THREADS),
        self.a.ptr(),
        n32,
        c32,
        p.max.mut_ptr(),
        p.s.mut_ptr(),
        p.s2.mut_ptr(),
        p.zero.mut_ptr(),
      )
    };
  }

  /// As `CudaSampler::summary`: the partials combined on the host in chunk order by
  /// `weights::combine_chunks`. Cached until the weights change.
  pub fn summary(&mut self) -> WeightSummary {
    if let Some(s) = self.summary_cache {
      return s;
    }
    self.summary_parts();
    let p = &self.parts;
    let sum = combine_partials(self.cfg.walkers, &p.max, &p.s, &p.s2, &p.zero);
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

  /// As `CudaSampler::resample`: resampling on the device (crate::resample), the ancestors
  /// copied back.
  pub fn resample(&mut self, scheme: Scheme) -> Result<Vec<usize>> {
    self.resample_on_device(scheme)?;
    let sc = self.resample_scratch.as_ref().expect("allocated by resample_on_device");
    Ok(sc.anc[..self.cfg.walkers].iter().map(|&i| i as usize).collect())
  }

  pub fn maybe_resample(&mut self, ess_fraction: f64, scheme: Scheme) -> Result<bool> {
    if self.summary().ess() < ess_fraction * self.cfg.walkers as f64 {
      self.resample_on_device(scheme)?;
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
