//! [`CpuWalkers`]: the walkers on the CPU, on a thread pool of their own. Every pass runs over
//! fixed chunks of walkers ([`super::walker_chunk`]) combined in chunk order, so results are
//! bit-identical for any thread count.

use rayon::prelude::*;

use super::rows::{move_rows, observe_rows, MoveRows, ObserveRows};
use super::{
  check_len, check_resamplable, check_some_weight, resample_due, walker_chunk, Book, Counters, DeviceInfo, HostBuffers,
  Observation, ObserveReport, Phase, SharedPtr, View, WalkerConfig, Walkers, CHUNK_FLOATS,
};
use crate::energy::{Energy, ObservedChunk, WalkerPart};
use crate::error::{CoreError, Result};
use crate::normal::{blocks_per_walker, fill_padded};
use crate::par::{map_chunks, map_chunks_init};
use crate::philox::{Counter, Stream};
use crate::resample::{resample, Scheme, Uniforms};
use crate::weights::{normalized_into, summarize, WeightSummary};

pub struct CpuWalkers {
  book: Book,
  pool: rayon::ThreadPool,
  /// Positions, gradients, energies and log-weights.
  host: HostBuffers,
  /// Positions before the pending move (weighted walkers only).
  prev_positions: Vec<f32>,
  /// alpha_k(X_k, X_{k+1}) of the pending move, per walker (U of the last observation between
  /// iterations, for an AIS re-observation).
  forward: Vec<f64>,
  /// Scratch for resampling gathers, allocated at the first resampling.
  gather: Vec<f32>,
  /// The last summary and the log-weights it summarised (compared bit for bit, which also
  /// catches writes through the views).
  summary_cache: Option<(Vec<f64>, WeightSummary)>,
}

/// Where an observation's energies and gradients come from, inside the pass.
enum Source<'a> {
  InPlace,
  External(&'a [f32], &'a [f32]),
  Energy(&'a dyn Energy),
}

impl CpuWalkers {
  pub fn new(cfg: WalkerConfig) -> Result<Self> {
    let book = Book::new(cfg)?;
    let cfg = &book.cfg;
    let nd = cfg.elements();
    let pool = rayon::ThreadPoolBuilder::new()
      .num_threads(cfg.threads)
      .thread_name(|i| format!("jarzyn-{i}"))
      .build()
      .map_err(|e| CoreError::InvalidOption {
        name: "threads",
        reason: e.to_string(),
      })?;
    let mut prev_positions = Vec::new();
    let mut forward = Vec::new();
    if cfg.weighted {
      prev_positions
        .try_reserve_exact(nd)
        .map_err(|_| CoreError::OutOfMemory(nd * 4))?;
      prev_positions.resize(nd, 0.0);
      forward.resize(cfg.walkers, 0.0);
    }
    Ok(CpuWalkers {
      pool,
      host: HostBuffers::new(cfg)?,
      prev_positions,
      forward,
      gather: Vec::new(),
      summary_cache: None,
      book,
    })
  }

  /// Positions X, N x d row-major (read-only here; write through [`Walkers::fill_positions`] or the
  /// host buffer).
  pub fn positions(&self) -> &[f32] {
    self.host.positions.as_slice()
  }
  pub fn log_weights(&self) -> &[f64] {
    self.host.log_weights.as_slice()
  }
  pub fn energies(&self) -> &[f32] {
    self.host.energies.as_slice()
  }
  pub fn gradients(&self) -> &[f32] {
    self.host.gradients.as_slice()
  }
  /// The walkers' thread pool, for native work alongside them.
  pub fn pool(&self) -> &rayon::ThreadPool {
    &self.pool
  }

  /// The observation pass: per chunk, the energies and gradients from `src`, the weight update,
  /// and with `fold` the energy's weighted sums of the chunk.
  fn observe_pass(&mut self, src: Source<'_>, fold: bool) -> Result<(ObserveReport, Vec<WalkerPart>)> {
    let (n, d) = (self.book.cfg.walkers, self.book.cfg.dim);
    let (weighted, phase) = (self.book.cfg.weighted, self.book.phase);
    let rows = ObserveRows {
      d,
      quarter_h: 0.25 * self.book.cfg.step_size,
      weighted,
      phase,
    };
    let cw = walker_chunk(d);
    let xs_all = self.host.positions.as_slice();
    let xp_all = &self.prev_positions;
    let fwd = SharedPtr(self.forward.as_mut_ptr());
    let a = SharedPtr(self.host.log_weights.as_mut_ptr());
    let e = SharedPtr(self.host.energies.as_mut_ptr());
    let g = SharedPtr(self.host.gradients.as_mut_ptr());
    let src = &src;
    let per_chunk: Vec<(usize, usize, Option<WalkerPart>)> = map_chunks(&self.pool, n.div_ceil(cw), |ci| {
      let w0 = ci * cw;
      let nw = cw.min(n - w0);
      // SAFETY: chunk ci owns walkers w0..w0+nw of each buffer; `forward` is empty (never
      // sliced) when unweighted.
      let (a_s, e_s, g_s) = unsafe { (a.slice(w0, nw), e.slice(w0, nw), g.slice(w0 * d, nw * d)) };
      let fw: &mut [f64] = if weighted {
        unsafe { fwd.slice(w0, nw) }
      } else {
        &mut []
      };
      let x = &xs_all[w0 * d..(w0 + nw) * d];
      let (xs, xps) = if phase == Phase::Moved && weighted {
        (x, &xp_all[w0 * d..(w0 + nw) * d])
      } else {
        (&[][..], &[][..])
      };
      let mut counts = (0, 0);
      let mut update = |e: &[f32], g: &[f32], a: &mut [f64]| counts = observe_rows(&rows, xs, xps, fw, a, e, g);
      let part = match src {
        Source::InPlace => {
          update(e_s, g_s, a_s);
          None
        }
        Source::External(ei, gi) => {
          e_s.copy_from_slice(&ei[w0..w0 + nw]);
          g_s.copy_from_slice(&gi[w0 * d..(w0 + nw) * d]);
          update(e_s, g_s, a_s);
          None
        }
        Source::Energy(en) => {
          let chunk = ObservedChunk {
            x,
            energy: e_s,
            grad: g_s,
            log_weights: a_s,
          };
          en.observe_chunk(chunk, &mut update, fold)
        }
      };
      (counts.0, counts.1, part)
    });
    let mut report = ObserveReport::default();
    let mut parts = Vec::with_capacity(if fold { per_chunk.len() } else { 0 });
    for (newly, invalid, part) in per_chunk {
      report.newly_invalid += newly;
      report.invalid += invalid;
      parts.extend(part);
    }
    self.book.observed(report.newly_invalid);
    if report.invalid == n {
      return Err(CoreError::AllWalkersInvalid { invalid: n, walkers: n });
    }
    Ok((report, parts))
  }

  fn gather_rows(pool: &rayon::ThreadPool, buf: &mut [f32], gather: &mut [f32], anc: &[usize], d: usize) {
    pool.install(|| {
      gather
        .par_chunks_mut(d)
        .zip(anc.par_iter())
        .for_each(|(dst, &i)| dst.copy_from_slice(&buf[i * d..(i + 1) * d]));
      buf
        .par_chunks_mut(CHUNK_FLOATS)
        .zip(gather.par_chunks(CHUNK_FLOATS))
        .for_each(|(a, b)| a.copy_from_slice(b));
    })
  }
}

impl Walkers for CpuWalkers {
  fn config(&self) -> &WalkerConfig {
    &self.book.cfg
  }

  fn device(&self) -> Option<&DeviceInfo> {
    None
  }

  fn state_key(&self) -> (u64, u64) {
    self.book.state_key()
  }

  fn counters(&self) -> Counters {
    self.book.counters()
  }

  fn restore_counters(&mut self, c: Counters) -> Result<()> {
    self.book.restore(c)?;
    if self.book.cfg.weighted {
      for (f, &u) in self.forward.iter_mut().zip(self.host.energies.as_slice()) {
        *f = u as f64;
      }
    }
    Ok(())
  }

  fn set_step_size(&mut self, h: f64) -> Result<()> {
    self.book.set_step_size(h)
  }

  fn set_noise_std(&mut self, std: Option<f64>) -> Result<()> {
    self.book.set_noise_std(std)
  }

  fn host_buffers(&mut self) -> &mut HostBuffers {
    &mut self.host
  }

  fn sync_view(&mut self, _view: View, _write: bool) -> Result<()> {
    Ok(())
  }

  fn view_traffic(&self) -> [u64; 2] {
    [0, 0]
  }

  fn move_walkers(&mut self) -> Result<()> {
    self.book.check_move()?;
    let cfg = &self.book.cfg;
    let (n, d, h, weighted) = (cfg.walkers, cfg.dim, cfg.step_size, cfg.weighted);
    let cw = walker_chunk(d);
    let padded = blocks_per_walker(d) * 4;
    let rows = MoveRows {
      d,
      padded,
      hf: h as f32,
      sf: self.book.noise_scale() as f32,
      quarter_h: 0.25 * h,
      weighted,
    };
    let (ctr, key) = (Counter::new(Stream::Noise, self.book.steps), self.book.key);
    let x = SharedPtr(self.host.positions.as_mut_ptr());
    let xp = SharedPtr(self.prev_positions.as_mut_ptr());
    let fwd = SharedPtr(self.forward.as_mut_ptr());
    let (g, e, a) = (
      self.host.gradients.as_slice(),
      self.host.energies.as_slice(),
      self.host.log_weights.as_slice(),
    );
    map_chunks_init(
      &self.pool,
      n.div_ceil(cw),
      || vec![0f32; cw * padded],
      |noise: &mut Vec<f32>, ci| {
        let w0 = ci * cw;
        let nw = cw.min(n - w0);
        fill_padded(key, ctr, w0 as u32, nw, d, noise);
        // SAFETY: chunk ci owns walkers w0..w0+nw of each buffer (the weighted-only buffers are
        // empty when unweighted).
        let xs = unsafe { x.slice(w0 * d, nw * d) };
        let (xps, fs): (&mut [f32], &mut [f64]) = if weighted {
          unsafe { (xp.slice(w0 * d, nw * d), fwd.slice(w0, nw)) }
        } else {
          (&mut [], &mut [])
        };
        let (gs, ws) = (&g[w0 * d..(w0 + nw) * d], w0..w0 + nw);
        move_rows(&rows, noise, xs, xps, gs, &a[ws.clone()], &e[ws], fs);
      },
    );
    self.book.moved();
    Ok(())
  }

  fn observe(&mut self, obs: Observation<'_>) -> Result<ObserveReport> {
    let (n, d) = (self.book.cfg.walkers, self.book.cfg.dim);
    let (report, _) = match obs {
      Observation::InPlace => self.observe_pass(Source::InPlace, false)?,
      Observation::External { energy, grad } => {
        check_len("energy", energy.len(), n)?;
        check_len("grad", grad.len(), n * d)?;
        // Inputs that alias the walkers' own memory are copied out first, so that no reference
        // to them is alive while the pass writes the buffers.
        if self.host.aliases(energy) || self.host.aliases(grad) {
          let (e, g) = (energy.to_vec(), grad.to_vec());
          self.observe_pass(Source::External(&e, &g), false)?
        } else {
          self.observe_pass(Source::External(energy, grad), false)?
        }
      }
    };
    Ok(report)
  }

  fn observe_energy(&mut self, energy: &dyn Energy, fold: bool) -> Result<(ObserveReport, Vec<WalkerPart>)> {
    check_len("energy dim", energy.dim(), self.book.cfg.dim)?;
    self.observe_pass(Source::Energy(energy), fold)
  }

  fn walker_sums(&mut self, energy: &dyn Energy) -> Result<Vec<WalkerPart>> {
    check_len("energy dim", energy.dim(), self.book.cfg.dim)?;
    let (n, d) = (self.book.cfg.walkers, self.book.cfg.dim);
    let cw = walker_chunk(d);
    let (x, a) = (self.host.positions.as_slice(), self.host.log_weights.as_slice());
    Ok(map_chunks(&self.pool, n.div_ceil(cw), |ci| {
      let (w0, w1) = (ci * cw, (ci * cw + cw).min(n));
      energy.walker_part(&x[w0 * d..w1 * d], &a[w0..w1])
    }))
  }

  fn fill_positions(&mut self, fill: &mut dyn FnMut(&mut [f32]) -> Result<()>) -> Result<()> {
    self.book.check_positions_writable()?;
    fill(self.host.positions.as_mut_slice())?;
    self.book.generation += 1;
    Ok(())
  }

  fn summary(&mut self) -> Result<WeightSummary> {
    let a = self.host.log_weights.as_slice();
    if let Some((seen, s)) = &self.summary_cache {
      // Compare bits, not values: NaN != NaN and -0.0 == 0.0 would mislead a value comparison.
      if seen.len() == a.len() && seen.iter().zip(a).all(|(x, y)| x.to_bits() == y.to_bits()) {
        return Ok(*s);
      }
    }
    let s = summarize(&self.pool, a);
    match &mut self.summary_cache {
      Some((seen, old)) => {
        seen.clear();
        seen.extend_from_slice(a);
        *old = s;
      }
      None => self.summary_cache = Some((a.to_vec(), s)),
    }
    Ok(s)
  }

  fn log_normalizer_ratio(&mut self) -> Result<f64> {
    Ok(self.book.log_norm_absorbed + self.summary()?.log_mean())
  }

  fn normalized_weights(&mut self, out: &mut [f64]) -> Result<WeightSummary> {
    check_len("out", out.len(), self.book.cfg.walkers)?;
    let s = self.summary()?;
    check_some_weight(&s)?;
    normalized_into(&self.pool, self.host.log_weights.as_slice(), &s, out);
    Ok(s)
  }

  fn resample(&mut self, scheme: Scheme) -> Result<Vec<usize>> {
    let (n, d) = (self.book.cfg.walkers, self.book.cfg.dim);
    let s = self.summary()?;
    check_resamplable(&s)?;
    let mut p = vec![0f64; n];
    normalized_into(&self.pool, self.host.log_weights.as_slice(), &s, &mut p);
    let uniforms = Uniforms::new(self.book.key, Counter::new(Stream::Resample, self.book.resamplings));
    let mut ancestors = vec![0usize; n];
    resample(scheme, &p, &uniforms, &mut ancestors);
    if self.gather.len() != n * d {
      self.gather = vec![0f32; n * d];
    }
    let (pool, gather, anc) = (&self.pool, &mut self.gather, &ancestors);
    Self::gather_rows(pool, self.host.positions.as_mut_slice(), gather, anc, d);
    Self::gather_rows(pool, self.host.gradients.as_mut_slice(), gather, anc, d);
    if self.book.cfg.weighted && self.book.phase == Phase::Moved {
      Self::gather_rows(pool, &mut self.prev_positions, gather, anc, d);
    }
    let e_old: Vec<f32> = self.host.energies.as_slice().to_vec();
    for (e, &i) in self.host.energies.as_mut_slice().iter_mut().zip(anc) {
      *e = e_old[i];
    }
    if self.book.cfg.weighted {
      let f_old = self.forward.clone();
      for (f, &i) in self.forward.iter_mut().zip(anc) {
        *f = f_old[i];
      }
    }
    self.host.log_weights.as_mut_slice().fill(0.0);
    self.book.resampled(s.log_mean());
    Ok(ancestors)
  }

  fn maybe_resample(&mut self, ess_fraction: f64, scheme: Scheme) -> Result<bool> {
    let due = resample_due(ess_fraction, self.book.cfg.walkers, || self.summary())?;
    if due {
      self.resample(scheme)?;
    }
    Ok(due)
  }

  fn reinitialize(&mut self) -> Result<()> {
    self.host.log_weights.as_mut_slice().fill(0.0);
    self.book.reinitialized();
    Ok(())
  }
}
