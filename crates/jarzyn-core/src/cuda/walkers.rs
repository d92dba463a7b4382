//! [`DeviceWalkers`], the GPU counterpart of [`crate::CpuWalkers`]: the same book-keeping (one
//! [`Book`]), noise stream and weight update, with the walkers' state on the device. The
//! [`crate::Walkers`] interface over it, with host mirrors, is [`super::CudaWalkers`].
//!
//! - Positions, gradients, energies and log-weights live on the device. `positions()`,
//!   `log_weights()`, `energies()` and `gradients()` copy them back (N d 4 bytes for positions or
//!   gradients, N 8 for log-weights, over PCIe per call); the `set_*` methods copy in.
//! - Observations either copy host energies and gradients in ([`Observation::External`]) or take
//!   what a device energy left in the device buffers ([`Observation::InPlace`], as
//!   [`DeviceWalkers::observe_gmm`] does), so a Gaussian-mixture run never leaves the GPU.
//! - Moves and observations are tiled kernels (coalesced; see kernels/move_observe.cu) whose positions and
//!   log-weights are meant to equal the CPU's bit for bit; the summary and the resampling use
//!   parallel reductions and scans, which agree with the CPU to round-off.

use cudarc::driver::{CudaFunction, CudaSlice, LaunchConfig, PushKernelArg};

use super::backend::{be, blocks, grid, CudaBackend, BLOCK_THREADS, TILE_ELEMS};
use super::resample::ResampleScratch;
use crate::error::{CoreError, Result};
use crate::philox::{Counter, Stream};
use crate::resample::Scheme;
use crate::walkers::{
  check_len, check_some_weight, resample_due, Book, Counters, DeviceInfo, Observation, ObserveReport, Phase,
  WalkerConfig,
};
use crate::weights::{normalized_into, WeightSummary, REDUCE_CHUNK};

/// Per-chunk partials of the log-weight summary (one entry per REDUCE_CHUNK walkers), kept on the
/// device: the Gaussian-mixture parameter gradients reuse the chunk maxima.
pub(crate) struct SummaryParts {
  pub max: CudaSlice<f64>,
  pub s: CudaSlice<f64>,
  pub s2: CudaSlice<f64>,
  pub zero: CudaSlice<u32>,
  pub chunks: usize,
}

/// Walkers on the GPU. See the module docs for what is bit-identical to [`crate::CpuWalkers`].
pub struct DeviceWalkers {
  pub(crate) book: Book,
  pub(crate) be: CudaBackend,
  pub(crate) x: CudaSlice<f32>,
  pub(crate) xp: CudaSlice<f32>,
  pub(crate) g: CudaSlice<f32>,
  pub(crate) e: CudaSlice<f32>,
  pub(crate) a: CudaSlice<f64>,
  pub(crate) fwd: CudaSlice<f64>,
  counts: CudaSlice<u32>,
  pub(crate) parts: SummaryParts,
  pub(crate) resample_scratch: Option<ResampleScratch>,
  pub(crate) gmm: Option<super::gmm::DeviceGmm>,
  pool: rayon::ThreadPool,
  pub(crate) summary_cache: Option<WeightSummary>,
}

impl DeviceWalkers {
  /// Allocates N x d positions (zero; set them with [`DeviceWalkers::set_positions`]) on device 0.
  /// `cfg.threads` sizes the host pool used by [`DeviceWalkers::normalized_weights`].
  pub fn new(cfg: WalkerConfig) -> Result<Self> {
    // Validated as on the CPU, before anything is allocated.
    let book = Book::new(cfg)?;
    let cfg = book.cfg.clone();
    let nd = cfg.elements();
    let backend = CudaBackend::new()?;
    let s = &backend.stream;
    let b = &backend;
    let x = b.zeros::<f32>(nd)?;
    let xp = b.zeros::<f32>(if cfg.weighted { nd } else { 0 })?;
    let g = b.zeros::<f32>(nd)?;
    let e = b.zeros::<f32>(cfg.walkers)?;
    let a = b.zeros::<f64>(cfg.walkers)?;
    let fwd = b.zeros::<f64>(if cfg.weighted { cfg.walkers } else { 0 })?;
    let counts = s.alloc_zeros::<u32>(2).map_err(be("alloc"))?;
    let chunks = cfg.walkers.div_ceil(REDUCE_CHUNK);
    let parts = SummaryParts {
      max: b.zeros(chunks)?,
      s: b.zeros(chunks)?,
      s2: b.zeros(chunks)?,
      zero: s.alloc_zeros::<u32>(chunks).map_err(be("alloc"))?,
      chunks,
    };
    let pool = rayon::ThreadPoolBuilder::new()
      .num_threads(cfg.threads)
      .build()
      .map_err(|e| CoreError::InvalidOption {
        name: "threads",
        reason: e.to_string(),
      })?;
    Ok(DeviceWalkers {
      book,
      x,
      xp,
      g,
      e,
      a,
      fwd,
      counts,
      parts,
      resample_scratch: None,
      gmm: None,
      pool,
      be: backend,
      summary_cache: None,
    })
  }

  pub fn device_info(&self) -> &DeviceInfo {
    &self.be.info
  }
  pub fn config(&self) -> &WalkerConfig {
    &self.book.cfg
  }
  /// ULA moves taken so far.
  pub fn steps(&self) -> u64 {
    self.book.steps
  }
  pub fn resamplings(&self) -> u64 {
    self.book.resamplings
  }
  /// Changes whenever the walkers' state changes (moves, observations, resamplings, restores,
  /// copies in): the key for host mirrors of the device buffers.
  pub fn generation(&self) -> u64 {
    self.book.generation
  }
  /// The host pool (normalised weights, host-side evaluations).
  pub(crate) fn pool(&self) -> &rayon::ThreadPool {
    &self.pool
  }
  /// Whether walkers have moved since the last observation.
  pub fn move_pending(&self) -> bool {
    self.book.phase == Phase::Moved
  }

  /// Wait for the device to finish the work queued so far (benchmarks time with it).
  pub fn synchronize(&self) -> Result<()> {
    self.be.stream.synchronize().map_err(be("synchronize"))
  }

  /// Change the step size between moves, as on the CPU.
  pub fn set_step_size(&mut self, h: f64) -> Result<()> {
    self.book.set_step_size(h)
  }

  pub(crate) fn fill_log_weights(&mut self, v: f64) -> Result<()> {
    let n32 = self.book.cfg.walkers as u32;
    let mut b = self.be.stream.launch_builder(&self.be.f_fill_f64);
    b.arg(&mut self.a).arg(&n32).arg(&v);
    // SAFETY: argument list matches jz_fill_f64; a holds N doubles.
    unsafe { b.launch(grid(self.book.cfg.walkers as u64)?) }.map_err(be("launch"))?;
    Ok(())
  }

  /// As on the CPU: A = 0, log-normaliser 0, the next observation only records.
  pub fn reinitialize(&mut self) -> Result<()> {
    self.fill_log_weights(0.0)?;
    self.summary_cache = None;
    self.book.reinitialized();
    Ok(())
  }

  pub fn counters(&self) -> Counters {
    self.book.counters()
  }

  /// As on the CPU, after positions, log-weights, energies and gradients were copied in
  /// ([`DeviceWalkers::set_positions`] and friends).
  pub fn restore_counters(&mut self, c: Counters) -> Result<()> {
    self.book.restore(c)?;
    self.summary_cache = None;
    if self.book.cfg.weighted {
      // fwd holds U of the last observation between iterations (jz_observe leaves it so).
      let e = self.energies()?;
      let f: Vec<f64> = e.iter().map(|&u| u as f64).collect();
      self.be.stream.memcpy_htod(&f, &mut self.fwd).map_err(be("copy"))?;
    }
    Ok(())
  }

  /// Copy positions in (N x d, row-major). Only between iterations (no move pending).
  pub fn set_positions(&mut self, x: &[f32]) -> Result<()> {
    check_len("positions", x.len(), self.book.cfg.elements())?;
    self.book.check_positions_writable()?;
    self.be.stream.memcpy_htod(x, &mut self.x).map_err(be("copy"))?;
    self.book.generation += 1;
    Ok(())
  }

  /// Copy the log-weights in (e.g. to continue a CPU run). Invalidates the summary.
  pub fn set_log_weights(&mut self, a: &[f64]) -> Result<()> {
    check_len("logWeights", a.len(), self.book.cfg.walkers)?;
    self.be.stream.memcpy_htod(a, &mut self.a).map_err(be("copy"))?;
    self.summary_cache = None;
    self.book.generation += 1;
    Ok(())
  }

  /// Copy energies in (checkpoint restores, or before an [`Observation::InPlace`]).
  pub fn set_energies(&mut self, e: &[f32]) -> Result<()> {
    check_len("energies", e.len(), self.book.cfg.walkers)?;
    self.be.stream.memcpy_htod(e, &mut self.e).map_err(be("copy"))?;
    self.book.generation += 1;
    Ok(())
  }

  /// Copy gradients in (checkpoint restores, or before an [`Observation::InPlace`]).
  pub fn set_gradients(&mut self, g: &[f32]) -> Result<()> {
    check_len("gradients", g.len(), self.book.cfg.walkers * self.book.cfg.dim)?;
    self.be.stream.memcpy_htod(g, &mut self.g).map_err(be("copy"))?;
    self.book.generation += 1;
    Ok(())
  }

  fn dtoh<T: cudarc::driver::DeviceRepr + Default + Clone>(&self, s: &CudaSlice<T>, n: usize) -> Result<Vec<T>> {
    let mut v = self.be.stream.clone_dtoh(s).map_err(be("copy"))?;
    v.truncate(n);
    Ok(v)
  }
  /// Positions, copied back from the device.
  pub fn positions(&self) -> Result<Vec<f32>> {
    self.dtoh(&self.x, self.book.cfg.walkers * self.book.cfg.dim)
  }
  /// Log-weights, copied back from the device.
  pub fn log_weights(&self) -> Result<Vec<f64>> {
    self.dtoh(&self.a, self.book.cfg.walkers)
  }
  pub fn energies(&self) -> Result<Vec<f32>> {
    self.dtoh(&self.e, self.book.cfg.walkers)
  }
  pub fn gradients(&self) -> Result<Vec<f32>> {
    self.dtoh(&self.g, self.book.cfg.walkers * self.book.cfg.dim)
  }

  /// Which of a move's or observation's two kernels runs, with its walkers per tile and launch:
  /// the `tiled` one (coalesced) on tiles of whole walkers, or when one row is longer than a tile,
  /// the `rows` one with one thread per walker (and no walkers-per-tile argument).
  fn tiling<'a>(
    &self,
    tiled: &'a CudaFunction,
    rows: &'a CudaFunction,
  ) -> Result<(&'a CudaFunction, Option<u32>, LaunchConfig)> {
    let (n, d) = (self.book.cfg.walkers, self.book.cfg.dim);
    if d > TILE_ELEMS {
      return Ok((rows, None, grid(n as u64)?));
    }
    let wpt = (TILE_ELEMS / d).min(n);
    Ok((tiled, Some(wpt as u32), blocks(n.div_ceil(wpt) as u64, BLOCK_THREADS)?))
  }

  /// One ULA step with the last observed gradient, noise from the same Philox counters as the CPU.
  pub fn move_walkers(&mut self) -> Result<()> {
    self.book.check_move()?;
    let h = self.book.cfg.step_size;
    let (hf, sf, qh) = (h as f32, self.book.noise_scale() as f32, 0.25 * h);
    let ctr = Counter::new(Stream::Noise, self.book.steps);
    let (n32, d32) = (self.book.cfg.walkers as u32, self.book.cfg.dim as u32);
    let wt = self.book.cfg.weighted as i32;
    let (kernel, wpt, cfg) = self.tiling(&self.be.f_move, &self.be.f_move_rows)?;
    let mut b = self.be.stream.launch_builder(kernel);
    b.arg(&self.book.key[0])
      .arg(&self.book.key[1])
      .arg(&ctr.c2)
      .arg(&ctr.c3)
      .arg(&n32)
      .arg(&d32);
    if let Some(w) = &wpt {
      b.arg(w);
    }
    b.arg(&hf)
      .arg(&sf)
      .arg(&qh)
      .arg(&wt)
      .arg(&mut self.x)
      .arg(&mut self.xp)
      .arg(&self.g)
      .arg(&self.e)
      .arg(&self.a)
      .arg(&mut self.fwd);
    // SAFETY: argument list matches jz_move (with wpt) / jz_move_rows; buffers sized N x d / N
    // (xp, fwd unused unweighted); the tiled kernel runs BLOCK_THREADS = TILE_THREADS threads.
    unsafe { b.launch(cfg) }.map_err(be("launch"))?;
    self.book.moved();
    Ok(())
  }

  /// Record U and grad U at the current positions and update the log-weights:
  /// [`Observation::External`] copies host arrays to the device first; [`Observation::InPlace`]
  /// uses what the device buffers hold (a device energy's output, or `set_energies`/`set_gradients`).
  pub fn observe(&mut self, obs: Observation<'_>) -> Result<ObserveReport> {
    let (n, d) = (self.book.cfg.walkers, self.book.cfg.dim);
    if let Observation::External { energy, grad } = obs {
      check_len("energy", energy.len(), n)?;
      check_len("grad", grad.len(), n * d)?;
      let s = self.be.stream.clone();
      s.memcpy_htod(energy, &mut self.e).map_err(be("copy"))?;
      s.memcpy_htod(grad, &mut self.g).map_err(be("copy"))?;
    }
    self.update_weights()
  }

  /// The weight update of an observation whose energies and gradients are in the device buffers.
  pub(crate) fn update_weights(&mut self) -> Result<ObserveReport> {
    let n = self.book.cfg.walkers;
    let s = self.be.stream.clone();
    s.memset_zeros(&mut self.counts).map_err(be("memset"))?;
    let (n32, d32) = (n as u32, self.book.cfg.dim as u32);
    let qh = 0.25 * self.book.cfg.step_size;
    let (wt, ph) = (self.book.cfg.weighted as i32, self.book.phase as i32);
    let (kernel, wpt, cfg) = self.tiling(&self.be.f_observe, &self.be.f_observe_rows)?;
    let mut b = s.launch_builder(kernel);
    b.arg(&n32).arg(&d32);
    if let Some(w) = &wpt {
      b.arg(w);
    }
    b.arg(&qh)
      .arg(&wt)
      .arg(&ph)
      .arg(&self.x)
      .arg(&self.xp)
      .arg(&mut self.fwd)
      .arg(&mut self.a)
      .arg(&self.e)
      .arg(&self.g)
      .arg(&mut self.counts);
    // SAFETY: argument list matches jz_observe (with wpt) / jz_observe_rows.
    unsafe { b.launch(cfg) }.map_err(be("launch"))?;
    let c = s.clone_dtoh(&self.counts).map_err(be("copy"))?;
    let report = ObserveReport {
      newly_invalid: c[0] as usize,
      invalid: c[1] as usize,
    };
    self.book.observed(report.newly_invalid);
    self.summary_cache = None;
    if report.invalid == n {
      return Err(CoreError::AllWalkersInvalid { invalid: n, walkers: n });
    }
    Ok(report)
  }

  /// Fill the per-chunk summary partials on the device (chunks of REDUCE_CHUNK walkers, as the CPU).
  pub(crate) fn summary_parts(&mut self) -> Result<()> {
    let (n32, c32) = (self.book.cfg.walkers as u32, REDUCE_CHUNK as u32);
    let p = &mut self.parts;
    let mut b = self.be.stream.launch_builder(&self.be.f_summary);
    b.arg(&self.a)
      .arg(&n32)
      .arg(&c32)
      .arg(&mut p.max)
      .arg(&mut p.s)
      .arg(&mut p.s2)
      .arg(&mut p.zero);
    // SAFETY: argument list matches jz_summary; one block per chunk, SUMMARY_THREADS threads.
    unsafe { b.launch(blocks(p.chunks as u64, BLOCK_THREADS)?) }.map_err(be("launch"))?;
    Ok(())
  }

  /// The log-weight summary: per-chunk partials on the device, combined on the host in chunk
  /// order. Cached until the weights change.
  pub fn summary(&mut self) -> Result<WeightSummary> {
    if let Some(s) = self.summary_cache {
      return Ok(s);
    }
    self.summary_parts()?;
    let st = &self.be.stream;
    let p = &self.parts;
    let (pm, ps, ps2, pz) = (
      st.clone_dtoh(&p.max).map_err(be("copy"))?,
      st.clone_dtoh(&p.s).map_err(be("copy"))?,
      st.clone_dtoh(&p.s2).map_err(be("copy"))?,
      st.clone_dtoh(&p.zero).map_err(be("copy"))?,
    );
    let sum = combine_partials(self.book.cfg.walkers, &pm, &ps, &ps2, &pz);
    self.summary_cache = Some(sum);
    Ok(sum)
  }

  pub fn log_normalizer_ratio(&mut self) -> Result<f64> {
    Ok(self.book.log_norm_absorbed + self.summary()?.log_mean())
  }

  /// Normalised weights, computed on the host from copied-back log-weights.
  pub fn normalized_weights(&mut self) -> Result<Vec<f64>> {
    let s = self.summary()?;
    check_some_weight(&s)?;
    let a = self.log_weights()?;
    let mut p = vec![0f64; a.len()];
    normalized_into(&self.pool, &a, &s, &mut p);
    Ok(p)
  }

  /// Resample on the device (see [`super::resample`]) and return the ancestors (copied back:
  /// N 4 bytes; [`DeviceWalkers::maybe_resample`] does not copy them).
  pub fn resample(&mut self, scheme: Scheme) -> Result<Vec<usize>> {
    self.resample_on_device(scheme)?;
    let anc = self.resample_scratch.as_ref().expect("allocated by resample_on_device");
    let v = self.be.stream.clone_dtoh(&anc.anc).map_err(be("copy"))?;
    Ok(v[..self.book.cfg.walkers].iter().map(|&i| i as usize).collect())
  }

  /// Resample when ESS < ess_fraction * N. Returns whether it did.
  pub fn maybe_resample(&mut self, ess_fraction: f64, scheme: Scheme) -> Result<bool> {
    let due = resample_due(ess_fraction, self.book.cfg.walkers, || self.summary())?;
    if due {
      self.resample_on_device(scheme)?;
    }
    Ok(due)
  }
}

/// Combine the device's per-chunk partials in chunk order, as `weights::summarize` does.
pub(crate) fn combine_partials(n: usize, pm: &[f64], ps: &[f64], ps2: &[f64], pz: &[u32]) -> WeightSummary {
  crate::weights::combine_chunks(n, (0..pm.len()).map(|i| (pm[i], ps[i], ps2[i], pz[i] as usize)))
}
