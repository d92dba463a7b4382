//! The walker population: positions, log-weights, the last observation, and the Jarzynski update.
//!
//! One iteration of Algorithm 1 is `move_walkers()`, a parameter change outside, then `observe()`
//! of U and grad U at the new positions under the new parameters. The sampler never knows how the
//! energy is computed (nuts-rs' separation): it only sees the numbers.
//!
//! Weight update (method.md section 2): with Delta = X_{k+1} - X_k,
//!   A += alpha_k(X_k, X_{k+1}) - alpha_{k+1}(X_{k+1}, X_k)
//!   alpha_k(X_k, X_{k+1})     = U_k(X_k)         + 1/2 Delta . g_k     + h/4 |g_k|^2
//!   alpha_{k+1}(X_{k+1}, X_k) = U_{k+1}(X_{k+1}) - 1/2 Delta . g_{k+1} + h/4 |g_{k+1}|^2
//! The first term is computed in `move_walkers` (it needs g_k, which the next observation
//! overwrites), the second in `observe`. An observation with no move in between (parameters
//! changed, walkers not moved) adds the pure AIS increment U_old(X) - U_new(X).

use std::sync::Arc;

use rayon::prelude::*;

use crate::dispatch::avx2_dispatch;
use crate::error::{CoreError, Result};
use crate::lanes::{diff_dot_and_sum_sq, sum_sq, ula_row};
use crate::normal::{blocks_per_walker, fill_padded};
use crate::par::{map_chunks, map_chunks_init};
use crate::philox::{key_from_seed, Counter, Stream};
use crate::resample::{resample, Scheme, Uniforms};
use crate::weights::{normalized_into, summarize, WeightSummary};

/// Floats per parallel work item; walkers per chunk = max(1, CHUNK_FLOATS / dim). Fixed, never
/// derived from the thread count, so that any per-chunk arithmetic is thread-count invariant.
const CHUNK_FLOATS: usize = 16 * 1024;

/// Walkers per parallel chunk of a d-dimensional sampler, max(1, CHUNK_FLOATS / d): the chunks of
/// observations and [`Sampler::map_walker_chunks`] (a host-side computation chunked the same way
/// combines its partial sums in the same order, so it gives the same bits).
pub fn walker_chunk(dim: usize) -> usize {
  (CHUNK_FLOATS / dim.max(1)).max(1)
}

/// Options of a sampler, validated by [`Sampler::new`].
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerConfig {
  /// Number of walkers N.
  pub walkers: usize,
  /// Dimension d of a walker.
  pub dim: usize,
  /// ULA step size h > 0.
  pub step_size: f64,
  /// Seed of the counter-based RNG.
  pub seed: u64,
  /// Worker threads (>= 1). Results do not depend on it.
  pub threads: usize,
  /// Whether observations update the Jarzynski log-weights. `false` gives PCD/CD walkers
  /// (A frozen at 0 except for invalid walkers, which still get A = -inf).
  pub weighted: bool,
}

/// Where the energies and gradients of an observation come from.
pub enum Observation<'a> {
  /// Already written into the sampler's own `energies` and `gradients` buffers (zero copy).
  InPlace,
  /// Caller's arrays; copied into the sampler's buffers during the update pass.
  External { energy: &'a [f32], grad: &'a [f32] },
}

/// What an observation found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObserveReport {
  /// Walkers whose energy, gradient or weight became non-finite in this observation.
  pub newly_invalid: usize,
  /// Walkers with zero weight (A = -inf) after it.
  pub invalid: usize,
}

/// The scalar state of a sampler between iterations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerCounters {
  pub steps: u64,
  pub resamplings: u64,
  pub invalid_total: u64,
  pub log_norm_absorbed: f64,
  /// Whether an observation is recorded (false: the next observation only records).
  pub observed: bool,
}

impl SamplerCounters {
  /// Whether these counters can be restored (the CPU and CUDA samplers both check with this).
  pub fn validate(&self) -> Result<()> {
    if !self.log_norm_absorbed.is_finite() {
      return Err(CoreError::InvalidOption {
        name: "logNormAbsorbed",
        reason: "must be finite".into(),
      });
    }
    Ok(())
  }
}

/// Where a sampler is in its move/observe cycle (shared by the CPU and CUDA samplers; the values
/// are the `phase` argument of the CUDA observation kernels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
  /// Nothing observed yet: the next observation only records.
  Fresh = 0,
  /// Walkers moved; the cached energies and gradients belong to the previous positions.
  Moved = 1,
  /// The cached energies and gradients belong to the current positions.
  Observed = 2,
}

impl Phase {
  /// Whether a move may start now: only after an observation, and not twice in a row.
  pub(crate) fn check_move(self) -> Result<()> {
    match self {
      Phase::Fresh => Err(CoreError::BadState(
        "observe() energies and gradients before the first move()",
      )),
      Phase::Moved => Err(CoreError::BadState(
        "move() called twice: observe() the energies at the moved positions first",
      )),
      Phase::Observed => Ok(()),
    }
  }

  /// Whether the step size may become `h` now: a finite h > 0, and not between move and observe
  /// (the pending move's Jarzynski increment uses the old h).
  pub(crate) fn check_step_size(self, h: f64) -> Result<()> {
    if !(h.is_finite() && h > 0.0) {
      return Err(CoreError::InvalidOption {
        name: "stepSize",
        reason: "must be a finite number > 0".into(),
      });
    }
    if self == Phase::Moved {
      return Err(CoreError::BadState(
        "cannot change the step size between move() and observe()",
      ));
    }
    Ok(())
  }
}

/// A heap buffer whose address never changes: JavaScript views point into it. The memory is
/// reference-counted so that a view can keep it alive after the sampler that made it is gone
/// (external-buffer finalizers run only when the garbage collector gets to them).
pub struct FixedBuf<T: Copy + Default + Send + Sync + 'static> {
  mem: Arc<RawBuf<T>>,
}

struct RawBuf<T> {
  ptr: *mut T,
  len: usize,
}

// SAFETY: RawBuf owns its allocation; access is coordinated by the sampler (one mutator at a time).
unsafe impl<T: Send> Send for RawBuf<T> {}
unsafe impl<T: Sync> Sync for RawBuf<T> {}

impl<T> Drop for RawBuf<T> {
  fn drop(&mut self) {
    // SAFETY: ptr/len came from Box::into_raw of a boxed slice of exactly this length.
    unsafe { drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr, self.len))) }
  }
}

impl<T: Copy + Default + Send + Sync + 'static> FixedBuf<T> {
  /// `len` zeroed elements (e.g. host mirrors of a device sampler's buffers, viewed from JavaScript).
  pub fn new(len: usize) -> Result<Self> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
      .map_err(|_| CoreError::OutOfMemory(len * std::mem::size_of::<T>()))?;
    v.resize(len, T::default());
    let b = Box::into_raw(v.into_boxed_slice());
    Ok(FixedBuf {
      mem: Arc::new(RawBuf { ptr: b as *mut T, len }),
    })
  }
  pub fn as_slice(&self) -> &[T] {
    // SAFETY: live allocation of len elements; JS only touches it while no Rust code runs.
    unsafe { std::slice::from_raw_parts(self.mem.ptr, self.mem.len) }
  }
  pub fn as_mut_slice(&mut self) -> &mut [T] {
    // SAFETY: as above, and &mut self makes this the only Rust reference.
    unsafe { std::slice::from_raw_parts_mut(self.mem.ptr, self.mem.len) }
  }
  pub fn as_mut_ptr(&mut self) -> *mut T {
    self.mem.ptr
  }
  /// Address range, to detect caller arrays that alias this buffer.
  pub fn addr_range(&self) -> std::ops::Range<usize> {
    let start = self.mem.ptr as usize;
    start..start + self.mem.len * std::mem::size_of::<T>()
  }
  /// A handle that keeps the memory alive (for a JavaScript view's finalizer).
  pub fn keep_alive(&self) -> Arc<dyn std::any::Any + Send + Sync> {
    self.mem.clone()
  }
  pub fn len(&self) -> usize {
    self.mem.len
  }
  pub fn is_empty(&self) -> bool {
    self.mem.len == 0
  }
}

/// Raw pointer that chunked parallel loops split into disjoint ranges.
#[derive(Clone, Copy)]
struct SharedPtr<T>(*mut T);
unsafe impl<T> Send for SharedPtr<T> {}
unsafe impl<T> Sync for SharedPtr<T> {}
impl<T> SharedPtr<T> {
  /// SAFETY: callers hand each parallel chunk a disjoint range of a live allocation.
  #[allow(clippy::mut_from_ref)]
  unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
    std::slice::from_raw_parts_mut(self.0.add(start), len)
  }
}

pub struct Sampler {
  cfg: SamplerConfig,
  key: [u32; 2],
  pool: rayon::ThreadPool,
  /// Positions X, N x d row-major.
  pub positions: FixedBuf<f32>,
  /// Log-weights A.
  pub log_weights: FixedBuf<f64>,
  /// Energies of the last observation.
  pub energies: FixedBuf<f32>,
  /// Gradients of the last observation, N x d.
  pub gradients: FixedBuf<f32>,
  /// Positions before the pending move (weighted samplers only).
  prev_positions: Vec<f32>,
  /// alpha_k(X_k, X_{k+1}) of the pending move, per walker.
  forward: Vec<f64>,
  /// Scratch for resampling gathers, allocated at the first resampling.
  gather: Vec<f32>,
  phase: Phase,
  /// The last summary and the log-weights it summarised.
  summary_cache: std::sync::Mutex<Option<(Vec<f64>, WeightSummary)>>,
  /// log(Z_now / Z_0) absorbed by past resamplings.
  log_norm_absorbed: f64,
  steps: u64,
  resamplings: u64,
  invalid_total: u64,
  /// Bumped by every operation of the core that changes positions, weights or observations.
  generation: u64,
}

impl Sampler {
  pub fn new(cfg: SamplerConfig) -> Result<Self> {
    let bad = |name, reason: &str| {
      Err(CoreError::InvalidOption {
        name,
        reason: reason.to_string(),
      })
    };
    if cfg.walkers == 0 {
      return bad("walkers", "must be a positive integer");
    }
    if cfg.walkers > u32::MAX as usize {
      return bad("walkers", "must be below 2^32");
    }
    if cfg.dim == 0 {
      return bad("dim", "must be a positive integer");
    }
    if cfg.dim > (u32::MAX as usize) {
      return bad("dim", "must be below 2^32");
    }
    if !(cfg.step_size.is_finite() && cfg.step_size > 0.0) {
      return bad("stepSize", "must be a finite number > 0");
    }
    if cfg.threads == 0 || cfg.threads > 1024 {
      return bad("threads", "must be an integer in 1..1024");
    }
    let nd = cfg
      .walkers
      .checked_mul(cfg.dim)
      .ok_or(CoreError::OutOfMemory(usize::MAX))?;
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
    Ok(Sampler {
      key: key_from_seed(cfg.seed),
      pool,
      positions: FixedBuf::new(nd)?,
      log_weights: FixedBuf::new(cfg.walkers)?,
      energies: FixedBuf::new(cfg.walkers)?,
      gradients: FixedBuf::new(nd)?,
      prev_positions,
      forward,
      gather: Vec::new(),
      phase: Phase::Fresh,
      summary_cache: std::sync::Mutex::new(None),
      log_norm_absorbed: 0.0,
      steps: 0,
      resamplings: 0,
      invalid_total: 0,
      generation: 0,
      cfg,
    })
  }

  pub fn config(&self) -> &SamplerConfig {
    &self.cfg
  }
  pub fn walkers(&self) -> usize {
    self.cfg.walkers
  }
  pub fn dim(&self) -> usize {
    self.cfg.dim
  }
  /// ULA moves taken so far (the RNG position of the noise stream).
  pub fn steps(&self) -> u64 {
    self.steps
  }
  /// Changes whenever the core changes the walkers' state (moves, observations, resamplings,
  /// re-initialisation, restores): a cheap key for results cached against that state. Writes through
  /// the JavaScript views are not seen.
  pub fn generation(&self) -> u64 {
    self.generation
  }
  pub fn resamplings(&self) -> u64 {
    self.resamplings
  }
  /// Walker observations that turned out non-finite, summed over the run.
  pub fn invalid_total(&self) -> u64 {
    self.invalid_total
  }
  /// Whether walkers have moved since the last observation.
  pub fn move_pending(&self) -> bool {
    self.phase == Phase::Moved
  }
  pub fn has_observation(&self) -> bool {
    self.phase != Phase::Fresh
  }

  /// Change the step size between moves (schedules). The identity holds for any h per step.
  pub fn set_step_size(&mut self, h: f64) -> Result<()> {
    self.phase.check_step_size(h)?;
    self.cfg.step_size = h;
    Ok(())
  }

  fn chunk_walkers(&self) -> usize {
    walker_chunk(self.cfg.dim)
  }

  /// One ULA step X <- X - h grad U(X) + sqrt(2h) xi with the last observed gradient.
  /// Walkers with zero weight stay where they are.
  pub fn move_walkers(&mut self) -> Result<()> {
    self.phase.check_move()?;
    let d = self.cfg.dim;
    let n = self.cfg.walkers;
    let h = self.cfg.step_size;
    let hf = h as f32;
    let sf = (2.0 * h).sqrt() as f32;
    let quarter_h = 0.25 * h;
    let weighted = self.cfg.weighted;
    let cw = self.chunk_walkers();
    let nchunks = n.div_ceil(cw);
    let padded = blocks_per_walker(d) * 4;
    let ctr = Counter::new(Stream::Noise, self.steps);
    let key = self.key;
    let x = SharedPtr(self.positions.as_mut_ptr());
    let xp = SharedPtr(self.prev_positions.as_mut_ptr());
    let fwd = SharedPtr(self.forward.as_mut_ptr());
    let g = self.gradients.as_slice();
    let e = self.energies.as_slice();
    let a = self.log_weights.as_slice();
    map_chunks_init(
      &self.pool,
      nchunks,
      || vec![0f32; cw * padded],
      |noise: &mut Vec<f32>, ci| {
        {
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
          let rows = MoveRows {
            d,
            padded,
            hf,
            sf,
            quarter_h,
            weighted,
          };
          move_rows(
            &rows,
            noise,
            xs,
            xps,
            &g[w0 * d..(w0 + nw) * d],
            &a[w0..w0 + nw],
            &e[w0..w0 + nw],
            fs,
          );
        }
      },
    );
    self.steps += 1;
    self.generation += 1;
    self.phase = Phase::Moved;
    Ok(())
  }

  /// Record U and grad U at the current positions (under the current parameters) and update the
  /// log-weights. Walkers whose energy, gradient or new weight is not finite get A = -inf.
  /// Fails, after updating, if no walker has positive weight left.
  pub fn observe(&mut self, obs: Observation<'_>) -> Result<ObserveReport> {
    type NoEval = fn(&mut (), &[f32], &mut [f32], &mut [f32]);
    type NoAfter = fn(&mut (), &[f32], &[f64]) -> ();
    self
      .observe_impl(obs, || (), None::<NoEval>, None::<NoAfter>)
      .map(|(r, _)| r)
  }

  fn observe_impl<S, R, I, F, G>(
    &mut self,
    obs: Observation<'_>,
    init: I,
    eval: Option<F>,
    after: Option<G>,
  ) -> Result<(ObserveReport, Vec<R>)>
  where
    S: Send,
    R: Send + Default,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, &[f32], &mut [f32], &mut [f32]) + Sync,
    G: Fn(&mut S, &[f32], &[f64]) -> R + Sync,
  {
    let d = self.cfg.dim;
    let n = self.cfg.walkers;
    if let Observation::External { energy, grad } = &obs {
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
    }
    let quarter_h = 0.25 * self.cfg.step_size;
    let weighted = self.cfg.weighted;
    let phase = self.phase;
    let cw = self.chunk_walkers();
    let nchunks = n.div_ceil(cw);
    let xs_all = self.positions.as_slice();
    let xp_all = &self.prev_positions;
    let fwd = SharedPtr(self.forward.as_mut_ptr());
    let a = SharedPtr(self.log_weights.as_mut_ptr());
    let e = SharedPtr(self.energies.as_mut_ptr());
    let g = SharedPtr(self.gradients.as_mut_ptr());
    let (e_in, g_in) = match obs {
      Observation::InPlace => (None, None),
      Observation::External { energy, grad } => (Some(energy), Some(grad)),
    };
    let (eval, after) = (eval.as_ref(), after.as_ref());
    let per_chunk: Vec<(usize, usize, R)> = map_chunks_init(&self.pool, nchunks, &init, |scratch: &mut S, ci| {
      {
        {
          let w0 = ci * cw;
          let nw = cw.min(n - w0);
          // SAFETY: chunk ci owns walkers w0..w0+nw of each buffer.
          let a_s = unsafe { a.slice(w0, nw) };
          let e_s = unsafe { e.slice(w0, nw) };
          let g_s = unsafe { g.slice(w0 * d, nw * d) };
          if let (Some(ei), Some(gi)) = (e_in, g_in) {
            e_s.copy_from_slice(&ei[w0..w0 + nw]);
            g_s.copy_from_slice(&gi[w0 * d..(w0 + nw) * d]);
          } else if let Some(f) = eval {
            f(scratch, &xs_all[w0 * d..(w0 + nw) * d], e_s, g_s);
          }
          let (xs, xps) = if phase == Phase::Moved && weighted {
            (&xs_all[w0 * d..(w0 + nw) * d], &xp_all[w0 * d..(w0 + nw) * d])
          } else {
            (&[][..], &[][..])
          };
          // SAFETY: as above; `forward` is empty (never sliced) when unweighted.
          let fw: &mut [f64] = if weighted {
            unsafe { fwd.slice(w0, nw) }
          } else {
            &mut []
          };
          let rows = ObserveRows {
            d,
            quarter_h,
            weighted,
            phase,
          };
          let (newly, invalid) = observe_rows(&rows, xs, xps, fw, a_s, e_s, g_s);
          let r = after.map_or_else(R::default, |f| f(scratch, &xs_all[w0 * d..(w0 + nw) * d], a_s));
          (newly, invalid, r)
        }
      }
    });
    let mut report = ObserveReport::default();
    let mut results = Vec::with_capacity(per_chunk.len());
    for (nw, inv, r) in per_chunk {
      report.newly_invalid += nw;
      report.invalid += inv;
      results.push(r);
    }
    self.invalid_total += report.newly_invalid as u64;
    self.phase = Phase::Observed;
    self.generation += 1;
    if report.invalid == n {
      return Err(CoreError::AllWalkersInvalid { invalid: n, walkers: n });
    }
    Ok((report, results))
  }

  /// Observe a native energy evaluated chunk by chunk: `eval(x, energies, gradients)` fills one
  /// chunk of walkers' U and grad U (in parallel over chunks), and that chunk's weight update runs
  /// right after, while its rows are still in cache. No copy through JavaScript, one pass over memory.
  pub fn observe_with<F>(&mut self, eval: F) -> Result<ObserveReport>
  where
    F: Fn(&[f32], &mut [f32], &mut [f32]) + Sync,
  {
    let eval = |_: &mut (), x: &[f32], e: &mut [f32], g: &mut [f32]| eval(x, e, g);
    self
      .observe_impl(
        Observation::InPlace,
        || (),
        Some(eval),
        None::<fn(&mut (), &[f32], &[f64]) -> ()>,
      )
      .map(|(r, _)| r)
  }

  /// As [`Sampler::observe_with`], with a per-worker scratch `S` that `eval` fills and `after`
  /// reads once the chunk's log-weights are updated: `after(scratch, x, A)` returns one result per
  /// chunk, in chunk order. A native energy uses it to fold the next iteration's weighted sums into
  /// the same pass (see [`Sampler::map_walker_chunks`] for the same sums without an observation).
  pub fn observe_with_state<S, R, I, F, G>(&mut self, init: I, eval: F, after: G) -> Result<(ObserveReport, Vec<R>)>
  where
    S: Send,
    R: Send + Default,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, &[f32], &mut [f32], &mut [f32]) + Sync,
    G: Fn(&mut S, &[f32], &[f64]) -> R + Sync,
  {
    self.observe_impl(Observation::InPlace, init, Some(eval), Some(after))
  }

  /// `f(x, A)` over the walkers in the chunks that observations use, in order, on the pool.
  pub fn map_walker_chunks<R, F>(&self, f: F) -> Vec<R>
  where
    R: Send,
    F: Fn(&[f32], &[f64]) -> R + Sync + Send,
  {
    let (n, d, cw) = (self.cfg.walkers, self.cfg.dim, self.chunk_walkers());
    let (x, a) = (self.positions.as_slice(), self.log_weights.as_slice());
    map_chunks(&self.pool, n.div_ceil(cw), |ci| {
      let (w0, w1) = (ci * cw, (ci * cw + cw).min(n));
      f(&x[w0 * d..w1 * d], &a[w0..w1])
    })
  }

  /// The sampler's thread pool, for native energies that work alongside it.
  pub fn pool(&self) -> &rayon::ThreadPool {
    &self.pool
  }

  /// Forget the last observation and the weights: the walkers as they are now count as exact
  /// samples of the current model (A = 0, log-normaliser 0, the next observation only records).
  /// Used after re-initialising walkers (CD resets, burn-in).
  pub fn reinitialize(&mut self) {
    self.log_weights.as_mut_slice().fill(0.0);
    self.log_norm_absorbed = 0.0;
    self.phase = Phase::Fresh;
    self.generation += 1;
  }

  /// Counters and scalars that, with the four buffers, make up the sampler's whole state between
  /// iterations (for checkpoints).
  pub fn counters(&self) -> SamplerCounters {
    SamplerCounters {
      steps: self.steps,
      resamplings: self.resamplings,
      invalid_total: self.invalid_total,
      log_norm_absorbed: self.log_norm_absorbed,
      observed: self.phase == Phase::Observed,
    }
  }

  /// Restore counters saved by [`Sampler::counters`] after the buffers were written back.
  /// Only states between iterations (observed, no move pending) can be restored.
  pub fn restore_counters(&mut self, c: SamplerCounters) -> Result<()> {
    c.validate()?;
    self.steps = c.steps;
    self.resamplings = c.resamplings;
    self.invalid_total = c.invalid_total;
    self.log_norm_absorbed = c.log_norm_absorbed;
    self.phase = if c.observed { Phase::Observed } else { Phase::Fresh };
    self.generation += 1;
    if self.cfg.weighted {
      let e = self.energies.as_slice();
      for (f, &u) in self.forward.iter_mut().zip(e) {
        *f = u as f64;
      }
    }
    Ok(())
  }

  /// One pass over the log-weights; repeated calls on unchanged weights (checked by comparing them
  /// with the ones last summarised, which also catches writes from JavaScript) reuse the result.
  pub fn summary(&self) -> WeightSummary {
    let a = self.log_weights.as_slice();
    let mut cache = self.summary_cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((seen, s)) = cache.as_ref() {
      // Compare bits, not values: NaN != NaN and -0.0 == 0.0 would mislead a value comparison.
      if seen.len() == a.len() && seen.iter().zip(a).all(|(x, y)| x.to_bits() == y.to_bits()) {
        return *s;
      }
    }
    let s = summarize(&self.pool, a);
    match cache.as_mut() {
      Some((seen, old)) => {
        seen.clear();
        seen.extend_from_slice(a);
        *old = s;
      }
      None => *cache = Some((a.to_vec(), s)),
    }
    s
  }

  /// Estimate of log(Z_now / Z_0): absorbed resampling increments plus log mean exp(A).
  pub fn log_normalizer_ratio(&self) -> f64 {
    self.log_norm_absorbed + self.summary().log_mean()
  }

  /// The part of log(Z_now / Z_0) that past resamplings absorbed.
  pub fn log_norm_absorbed(&self) -> f64 {
    self.log_norm_absorbed
  }

  pub fn normalized_weights(&self, out: &mut [f64]) -> Result<()> {
    self.normalized_weights_with_summary(out).map(|_| ())
  }

  /// Normalised weights into `out` and the summary they came from, in two passes over A.
  pub fn normalized_weights_with_summary(&self, out: &mut [f64]) -> Result<WeightSummary> {
    if out.len() != self.cfg.walkers {
      return Err(CoreError::BadLength {
        name: "out",
        got: out.len(),
        expected: self.cfg.walkers,
      });
    }
    let s = self.summary();
    if s.max == f64::NEG_INFINITY {
      return Err(CoreError::AllWalkersInvalid {
        invalid: s.n,
        walkers: s.n,
      });
    }
    let a = self.log_weights.as_slice();
    normalized_into(&self.pool, a, &s, out);
    Ok(s)
  }

  /// Resample the walkers with `scheme`: copy positions and cached observations of the chosen
  /// ancestors, set A = 0, and absorb log mean exp(A) into the log-normaliser.
  /// Returns the ancestor of each new walker.
  pub fn resample(&mut self, scheme: Scheme) -> Result<Vec<usize>> {
    let n = self.cfg.walkers;
    let d = self.cfg.dim;
    let s = self.summary();
    if s.max == f64::NEG_INFINITY || !s.log_sum.is_finite() {
      return Err(CoreError::AllWalkersInvalid {
        invalid: s.zero,
        walkers: n,
      });
    }
    let mut p = vec![0f64; n];
    {
      let a = self.log_weights.as_slice();
      normalized_into(&self.pool, a, &s, &mut p);
    }
    let uniforms = Uniforms::new(self.key, Counter::new(Stream::Resample, self.resamplings));
    let mut ancestors = vec![0usize; n];
    resample(scheme, &p, &uniforms, &mut ancestors);
    if self.gather.len() != n * d {
      self.gather = vec![0f32; n * d];
    }
    let pool = &self.pool;
    let gather = &mut self.gather;
    let anc = &ancestors;
    let gather_rows = |buf: &mut [f32], gather: &mut Vec<f32>| {
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
    };
    gather_rows(self.positions.as_mut_slice(), gather);
    gather_rows(self.gradients.as_mut_slice(), gather);
    if self.cfg.weighted && self.phase == Phase::Moved {
      gather_rows(&mut self.prev_positions, gather);
    }
    let e_old: Vec<f32> = self.energies.as_slice().to_vec();
    for (e, &i) in self.energies.as_mut_slice().iter_mut().zip(anc) {
      *e = e_old[i];
    }
    if self.cfg.weighted {
      let f_old = self.forward.clone();
      for (f, &i) in self.forward.iter_mut().zip(anc) {
        *f = f_old[i];
      }
    }
    self.log_weights.as_mut_slice().fill(0.0);
    self.log_norm_absorbed += s.log_mean();
    self.resamplings += 1;
    self.generation += 1;
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
    let s = self.summary();
    if s.ess() < ess_fraction * self.cfg.walkers as f64 {
      self.resample(scheme)?;
      Ok(true)
    } else {
      Ok(false)
    }
  }
}

/// Constants of one move.
struct MoveRows {
  d: usize,
  padded: usize,
  hf: f32,
  sf: f32,
  quarter_h: f64,
  weighted: bool,
}

/// ULA-move the walkers of one chunk; for weighted samplers also keep the old positions and
/// alpha_k(X_k, X_{k+1}). Dead walkers (A = -inf) stay put.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn move_rows_inner<const AVX2: bool>(
  r: &MoveRows,
  noise: &[f32],
  xs: &mut [f32],
  xps: &mut [f32],
  gs: &[f32],
  a: &[f64],
  e: &[f32],
  fs: &mut [f64],
) {
  // Zipped row iterators rather than index ranges: for short rows (small d) the bounds checks of
  // four slices per walker cost more than the arithmetic.
  let d = r.d;
  let z_rows = noise.chunks_exact(r.padded);
  if !r.weighted {
    for (((x, g), z), &aw) in xs.chunks_exact_mut(d).zip(gs.chunks_exact(d)).zip(z_rows).zip(a) {
      if aw == f64::NEG_INFINITY {
        continue;
      }
      for ((xv, &gv), &zv) in x.iter_mut().zip(g).zip(&z[..d]) {
        *xv = *xv - r.hf * gv + r.sf * zv;
      }
    }
    return;
  }
  let rows = xs
    .chunks_exact_mut(d)
    .zip(xps.chunks_exact_mut(d))
    .zip(gs.chunks_exact(d))
    .zip(z_rows);
  for ((((x, xp), g), z), ((&aw, &ew), f)) in rows.zip(a.iter().zip(e).zip(fs.iter_mut())) {
    if aw == f64::NEG_INFINITY {
      xp.copy_from_slice(x);
      *f = 0.0;
      continue;
    }
    let (dot, g2) = ula_row::<AVX2>(x, xp, g, &z[..d], r.hf, r.sf);
    *f = ew as f64 + 0.5 * dot + r.quarter_h * g2;
  }
}

avx2_dispatch!(fn move_rows = move_rows_inner::<AVX2>(r: &MoveRows, noise: &[f32], xs: &mut [f32], xps: &mut [f32], gs: &[f32], a: &[f64], e: &[f32], fs: &mut [f64]));

/// Constants of one observation.
struct ObserveRows {
  d: usize,
  quarter_h: f64,
  weighted: bool,
  phase: Phase,
}

/// Weight update of one chunk of walkers. `xs`/`xps` are empty unless a weighted move is pending,
/// `fw` unless weighted; `fw` enters as each walker's forward term (or U_old) and leaves as U_new.
/// Returns (newly invalid, invalid).
#[inline(always)]
fn observe_rows_inner<const AVX2: bool>(
  r: &ObserveRows,
  xs: &[f32],
  xps: &[f32],
  fw: &mut [f64],
  a_s: &mut [f64],
  e_s: &[f32],
  g_s: &[f32],
) -> (usize, usize) {
  let d = r.d;
  let mut newly = 0usize;
  let mut invalid = 0usize;
  // The new log-weight from U_new, the sums of this walker, and its forward term (or U_old);
  // true when the walker just became invalid.
  let update = |aw: &mut f64, u_new: f64, dot: f64, g2: f64, fwv: f64| -> bool {
    let mut next = *aw;
    if r.weighted {
      match r.phase {
        Phase::Fresh => {}
        Phase::Moved => next += fwv - (u_new - 0.5 * dot + r.quarter_h * g2),
        // AIS increment U_old - U_new; `forward` holds U_old between observations.
        Phase::Observed => next += fwv - u_new,
      }
    }
    if !u_new.is_finite() || !g2.is_finite() || !next.is_finite() {
      *aw = f64::NEG_INFINITY;
      true
    } else {
      *aw = next;
      false
    }
  };
  if !xs.is_empty() {
    let rows = g_s.chunks_exact(d).zip(xs.chunks_exact(d)).zip(xps.chunks_exact(d));
    for ((aw, (&e, fwv)), ((g, x), xp)) in a_s.iter_mut().zip(e_s.iter().zip(fw.iter_mut())).zip(rows) {
      // Whatever happens, the forward slot then holds U(X) for a possible AIS re-observation.
      let f_old = std::mem::replace(fwv, e as f64);
      if *aw == f64::NEG_INFINITY {
        invalid += 1;
        continue;
      }
      let (dot, g2) = diff_dot_and_sum_sq::<AVX2>(x, xp, g);
      if update(aw, e as f64, dot, g2, f_old) {
        newly += 1;
        invalid += 1;
      }
    }
  } else {
    // Unweighted samplers have no forward terms: a dummy slot stands in (never read).
    let mut dummy = 0.0;
    let mut fws = fw.iter_mut();
    for ((aw, &e), g) in a_s.iter_mut().zip(e_s).zip(g_s.chunks_exact(d)) {
      let fwv = fws.next().unwrap_or(&mut dummy);
      let f_old = std::mem::replace(fwv, e as f64);
      if *aw == f64::NEG_INFINITY {
        invalid += 1;
        continue;
      }
      if update(aw, e as f64, 0.0, sum_sq::<AVX2>(g), f_old) {
        newly += 1;
        invalid += 1;
      }
    }
  }
  (newly, invalid)
}

avx2_dispatch!(fn observe_rows = observe_rows_inner::<AVX2>(r: &ObserveRows, xs: &[f32], xps: &[f32], fw: &mut [f64], a_s: &mut [f64], e_s: &[f32], g_s: &[f32]) -> (usize, usize));
