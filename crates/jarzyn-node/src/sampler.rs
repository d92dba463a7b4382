//! `NativeSampler`: the walker population, wrapped for JavaScript.

use jarzyn_core::sampler::FixedBuf;
use jarzyn_core::{
  CoreError, Observation, ObserveReport, Sampler, SamplerConfig, SamplerCounters, Scheme, WeightSummary,
};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::gmm::NativeGmm;
use crate::mirror::{bit, DeviceDesc, Emulated, MirrorEngine, A, ALL, X};
use crate::{addr_range, disposed, js_err, overlaps};

/// Summary of the log-weights, computed in one pass.
#[napi(object)]
pub struct NativeWeightSummary {
  pub ess: f64,
  pub cv2: f64,
  pub log_mean_weight: f64,
  pub max_log_weight: f64,
  pub zero_weight: u32,
}

/// Counts of an observation.
#[napi(object)]
pub struct NativeObserveReport {
  pub newly_invalid: u32,
  pub invalid: u32,
}

fn summary_to_js(s: &WeightSummary) -> NativeWeightSummary {
  NativeWeightSummary {
    ess: s.ess(),
    cv2: s.cv2(),
    log_mean_weight: s.log_mean(),
    max_log_weight: s.max,
    zero_weight: s.zero as u32,
  }
}

fn report_to_js(r: ObserveReport) -> NativeObserveReport {
  NativeObserveReport {
    newly_invalid: r.newly_invalid as u32,
    invalid: r.invalid as u32,
  }
}

fn bad_scheme() -> Error {
  js_err(CoreError::InvalidOption {
    name: "scheme",
    reason: "must be 'multinomial', 'systematic', 'stratified' or 'residual'".into(),
  })
}

/// The device a CUDA sampler runs on.
#[napi(object)]
pub struct NativeDeviceInfo {
  pub ordinal: u32,
  pub name: String,
  pub cc_major: i32,
  pub cc_minor: i32,
  pub total_memory: f64,
  pub driver_version: i32,
  pub device_count: i32,
}

pub(crate) fn device_info_to_js(i: &DeviceDesc) -> NativeDeviceInfo {
  NativeDeviceInfo {
    ordinal: i.ordinal,
    name: i.name.clone(),
    cc_major: i.compute_capability.0,
    cc_minor: i.compute_capability.1,
    total_memory: i.total_memory,
    driver_version: i.driver_version,
    device_count: i.device_count,
  }
}

/// What runs the walkers: the CPU core, or a device sampler (CUDA) seen through host mirrors of
/// its buffers. (One per sampler, made once: the size difference of the variants does not matter.)
#[allow(clippy::large_enum_variant)]
pub(crate) enum Engine {
  Cpu(Sampler),
  Device(Box<MirrorEngine>),
}

#[napi]
pub struct NativeSampler {
  inner: Option<Engine>,
  views_made: [bool; 4],
  cuda: bool,
  fallback_reason: Option<String>,
}

/// Mirror bookkeeping of one operation on a device engine: `dev_op!(engine, reads, writes, |s| ...)`.
macro_rules! dev_op {
  ($c:expr, $reads:expr, $writes:expr, |$s:ident| $body:expr) => {
    $c.op($reads, $writes, |$s| $body).map_err(js_err)
  };
}

fn view_made_err() -> Error {
  Error::new(
    Status::InvalidArg,
    "ERR_JARZYN_BAD_STATE|Error|view already made".to_string(),
  )
}

#[napi]
impl NativeSampler {
  /// `cuda`: try the CUDA sampler first; if it cannot be made, the CPU sampler runs and
  /// `fallbackReason` says why. `emulate` (tests): the CPU sampler behind the CUDA sampler's
  /// interface and host mirrors, to test the mirror logic without a GPU.
  #[napi(constructor)]
  #[allow(clippy::too_many_arguments)]
  pub fn new(
    walkers: u32,
    dim: u32,
    step_size: f64,
    seed_lo: u32,
    seed_hi: u32,
    threads: u32,
    weighted: bool,
    cuda: Option<bool>,
    emulate: Option<bool>,
  ) -> Result<Self> {
    let cfg = SamplerConfig {
      walkers: walkers as usize,
      dim: dim as usize,
      step_size,
      seed: ((seed_hi as u64) << 32) | seed_lo as u64,
      threads: threads as usize,
      weighted,
    };
    let mut fallback_reason = None;
    if emulate == Some(true) {
      let dev = Emulated::new(cfg).map_err(js_err)?;
      return Ok(NativeSampler {
        inner: Some(Engine::Device(Box::new(
          MirrorEngine::new(Box::new(dev)).map_err(js_err)?,
        ))),
        views_made: [false; 4],
        cuda: true,
        fallback_reason: None,
      });
    }
    if cuda == Some(true) {
      #[cfg(jarzyn_cuda)]
      match crate::cuda::new_sampler(cfg.clone()) {
        Ok(dev) => {
          return Ok(NativeSampler {
            inner: Some(Engine::Device(Box::new(
              MirrorEngine::new(Box::new(dev)).map_err(js_err)?,
            ))),
            views_made: [false; 4],
            cuda: true,
            fallback_reason: None,
          })
        }
        Err(e @ CoreError::InvalidOption { .. }) => return Err(js_err(e)),
        Err(e) => fallback_reason = Some(crate::cuda::reason(&e)),
      }
      #[cfg(not(jarzyn_cuda))]
      {
        fallback_reason = Some(crate::NO_CUDA_BUILD.to_string());
      }
    }
    Ok(NativeSampler {
      inner: Some(Engine::Cpu(Sampler::new(cfg).map_err(js_err)?)),
      views_made: [false; 4],
      cuda: false,
      fallback_reason,
    })
  }

  pub(crate) fn engine(&self) -> Result<&Engine> {
    self.inner.as_ref().ok_or_else(disposed)
  }

  pub(crate) fn dim(&self) -> Result<usize> {
    Ok(match self.engine()? {
      Engine::Cpu(s) => s.dim(),
      Engine::Device(c) => c.s.config().dim,
    })
  }

  pub(crate) fn engine_mut(&mut self) -> Result<&mut Engine> {
    self.inner.as_mut().ok_or_else(disposed)
  }

  /// 'cpu' or 'cuda': what runs the walkers.
  #[napi(getter)]
  pub fn device(&self) -> &'static str {
    if self.cuda {
      "cuda"
    } else {
      "cpu"
    }
  }

  /// Why a CUDA sampler was asked for and the CPU one runs; null otherwise.
  #[napi(getter)]
  pub fn fallback_reason(&self) -> Option<String> {
    self.fallback_reason.clone()
  }

  /// The GPU of a CUDA sampler; null on the CPU.
  #[napi(getter)]
  pub fn device_info(&self) -> Result<Option<NativeDeviceInfo>> {
    match self.engine()? {
      Engine::Cpu(_) => Ok(None),
      Engine::Device(c) => Ok(Some(device_info_to_js(&c.s.desc()))),
    }
  }

  /// CUDA: make the view `which` (0 positions, 1 gradients, 2 energies, 3 log-weights) current
  /// (one copy from the device if it is stale); with `write`, JS may write it, so it is copied to
  /// the device before the next operation that reads it. A no-op on the CPU.
  #[napi]
  pub fn sync_view(&mut self, which: u32, write: bool) -> Result<()> {
    if which > 3 {
      return Err(js_err(CoreError::InvalidOption {
        name: "which",
        reason: "must be 0..3".into(),
      }));
    }
    match self.engine_mut()? {
      Engine::Cpu(_) => Ok(()),
      Engine::Device(c) => c.access(which as usize, write).map_err(js_err),
    }
  }

  /// Bytes copied between the device and the views' host mirrors so far, [down, up] (CPU: [0, 0]).
  #[napi]
  pub fn mirror_traffic(&self) -> Result<Vec<f64>> {
    Ok(match self.engine()? {
      Engine::Cpu(_) => vec![0.0, 0.0],
      Engine::Device(c) => vec![c.bytes_down as f64, c.bytes_up as f64],
    })
  }

  fn f32_buf(&mut self, idx: usize) -> Result<&mut FixedBuf<f32>> {
    Ok(match self.engine_mut()? {
      Engine::Cpu(s) => match idx {
        0 => &mut s.positions,
        1 => &mut s.gradients,
        _ => &mut s.energies,
      },
      Engine::Device(c) => match idx {
        0 => &mut c.positions,
        1 => &mut c.gradients,
        _ => &mut c.energies,
      },
    })
  }

  fn make_f32_view<'env>(&mut self, env: &'env Env, idx: usize) -> Result<Float32ArraySlice<'env>> {
    if self.views_made[idx] {
      return Err(view_made_err());
    }
    let buf = self.f32_buf(idx)?;
    let (ptr, len, keep) = (buf.as_mut_ptr(), buf.len(), buf.keep_alive());
    // SAFETY: the memory is kept alive by `keep` until the finalizer runs; its address is fixed.
    let view = unsafe { Float32ArraySlice::from_external(env, ptr, len, keep, |_, k| drop(k))? };
    self.views_made[idx] = true;
    Ok(view)
  }

  /// `which`: 0 positions, 1 gradients (Float32Array); made once, the memory lives as long as
  /// the view does, even after dispose(). On CUDA these are the host mirrors.
  #[napi]
  pub fn f32_view<'env>(&mut self, env: &'env Env, which: u32) -> Result<Float32ArraySlice<'env>> {
    if which > 1 {
      return Err(view_made_err());
    }
    self.make_f32_view(env, which as usize)
  }

  /// `which`: 2 energies (Float32Array).
  #[napi]
  pub fn energy_view<'env>(&mut self, env: &'env Env) -> Result<Float32ArraySlice<'env>> {
    self.make_f32_view(env, 2)
  }

  /// Log-weights (Float64Array), made once.
  #[napi]
  pub fn log_weight_view<'env>(&mut self, env: &'env Env) -> Result<Float64ArraySlice<'env>> {
    if self.views_made[3] {
      return Err(view_made_err());
    }
    let buf = match self.engine_mut()? {
      Engine::Cpu(s) => &mut s.log_weights,
      Engine::Device(c) => &mut c.log_weights,
    };
    let (ptr, len, keep) = (buf.as_mut_ptr(), buf.len(), buf.keep_alive());
    // SAFETY: as in make_f32_view.
    let view = unsafe { Float64ArraySlice::from_external(env, ptr, len, keep, |_, k| drop(k))? };
    self.views_made[3] = true;
    Ok(view)
  }

  /// Observe energies and gradients at the current positions. Passing the sampler's own
  /// `energies`/`gradients` views is the zero-copy path (CUDA: one copy of each to the device);
  /// any other array is copied in.
  #[napi]
  pub fn observe(&mut self, energy: Float32ArraySlice, grad: Float32ArraySlice) -> Result<NativeObserveReport> {
    let e_in: &[f32] = energy.as_ref();
    let g_in: &[f32] = grad.as_ref();
    let (er, gr) = (addr_range(e_in), addr_range(g_in));
    let report = match self.engine_mut()? {
      Engine::Cpu(s) => {
        let own_e = s.energies.addr_range();
        let own_g = s.gradients.addr_range();
        let own = [
          own_e.clone(),
          own_g.clone(),
          s.positions.addr_range(),
          s.log_weights.addr_range(),
        ];
        if er == own_e && gr == own_g {
          s.observe(Observation::InPlace)
        } else if own.iter().any(|o| overlaps(o, &er) || overlaps(o, &gr)) {
          // Inputs alias the sampler's own memory in some other way: copy them out first, so that
          // no Rust reference to them is alive while the core writes its buffers.
          let (e_copy, g_copy) = (e_in.to_vec(), g_in.to_vec());
          s.observe(Observation::External {
            energy: &e_copy,
            grad: &g_copy,
          })
        } else {
          s.observe(Observation::External {
            energy: e_in,
            grad: g_in,
          })
        }
      }
      Engine::Device(c) => {
        if er == c.energies.addr_range() && gr == c.gradients.addr_range() {
          c.observe_mirrors()
        } else {
          // The device observation only reads the inputs (the mirrors are not written), so
          // inputs that alias the mirrors need no copy.
          c.observe_external(e_in, g_in)
        }
      }
    }
    .map_err(js_err)?;
    Ok(report_to_js(report))
  }

  #[napi(js_name = "move")]
  pub fn move_walkers(&mut self) -> Result<()> {
    match self.engine_mut()? {
      Engine::Cpu(s) => s.move_walkers().map_err(js_err),
      Engine::Device(c) => dev_op!(c, ALL, bit(X), |s| s.move_walkers()),
    }
  }

  fn weight_summary(&mut self) -> Result<WeightSummary> {
    match self.engine_mut()? {
      Engine::Cpu(s) => Ok(s.summary()),
      Engine::Device(c) => dev_op!(c, bit(A), 0, |s| s.summary()),
    }
  }

  #[napi]
  pub fn summary(&mut self) -> Result<NativeWeightSummary> {
    Ok(summary_to_js(&self.weight_summary()?))
  }

  #[napi]
  pub fn ess(&mut self) -> Result<f64> {
    Ok(self.weight_summary()?.ess())
  }

  #[napi]
  pub fn log_normalizer_ratio(&mut self) -> Result<f64> {
    match self.engine_mut()? {
      Engine::Cpu(s) => Ok(s.log_normalizer_ratio()),
      Engine::Device(c) => dev_op!(c, bit(A), 0, |s| s.log_normalizer_ratio()),
    }
  }

  #[napi]
  pub fn log_norm_absorbed(&self) -> Result<f64> {
    Ok(match self.engine()? {
      Engine::Cpu(s) => s.log_norm_absorbed(),
      Engine::Device(c) => c.s.log_norm_absorbed(),
    })
  }

  #[napi]
  pub fn normalized_weights(&mut self, out: Float64ArraySlice) -> Result<()> {
    self.weights_and_summary(out).map(|_| ())
  }

  /// Normalised weights into `out`, and the summary of the weights they came from.
  #[napi]
  pub fn weights_and_summary(&mut self, mut out: Float64ArraySlice) -> Result<NativeWeightSummary> {
    let o = addr_range(out.as_ref());
    let own = match self.engine()? {
      Engine::Cpu(s) => s.log_weights.addr_range(),
      Engine::Device(c) => c.log_weights.addr_range(),
    };
    if overlaps(&o, &own) {
      return Err(Error::new(
        Status::InvalidArg,
        "ERR_JARZYN_ALIASED|TypeError|`out` must not be the sampler's own logWeights".to_string(),
      ));
    }
    // SAFETY: `out` does not alias the sampler's buffers (checked above).
    let out = unsafe { out.as_mut() };
    let w = match self.engine_mut()? {
      Engine::Cpu(s) => s.normalized_weights_with_summary(out).map_err(js_err)?,
      Engine::Device(c) => dev_op!(c, bit(A), 0, |s| {
        let w = s.summary()?;
        let p = s.normalized_weights()?;
        if p.len() != out.len() {
          return Err(CoreError::BadLength {
            name: "out",
            got: out.len(),
            expected: p.len(),
          });
        }
        out.copy_from_slice(&p);
        Ok(w)
      })?,
    };
    Ok(summary_to_js(&w))
  }

  /// Resample; returns the ancestor of each new walker.
  #[napi]
  pub fn resample(&mut self, scheme: String) -> Result<Uint32Array> {
    let scheme = Scheme::parse(&scheme).ok_or_else(bad_scheme)?;
    let anc = match self.engine_mut()? {
      Engine::Cpu(s) => s.resample(scheme).map_err(js_err)?,
      Engine::Device(c) => dev_op!(c, ALL, ALL, |s| s.resample(scheme))?,
    };
    Ok(Uint32Array::new(anc.into_iter().map(|i| i as u32).collect()))
  }

  #[napi]
  pub fn maybe_resample(&mut self, ess_fraction: f64, scheme: String) -> Result<bool> {
    let scheme = Scheme::parse(&scheme).ok_or_else(bad_scheme)?;
    match self.engine_mut()? {
      Engine::Cpu(s) => s.maybe_resample(ess_fraction, scheme).map_err(js_err),
      Engine::Device(c) => dev_op!(c, ALL, ALL, |s| s.maybe_resample(ess_fraction, scheme)),
    }
  }

  #[napi]
  pub fn set_step_size(&mut self, h: f64) -> Result<()> {
    match self.engine_mut()? {
      Engine::Cpu(s) => s.set_step_size(h).map_err(js_err),
      Engine::Device(c) => c.s.set_step_size(h).map_err(js_err),
    }
  }

  #[napi(getter)]
  pub fn steps(&self) -> Result<f64> {
    Ok(self.counters()?.steps as f64)
  }

  #[napi(getter)]
  pub fn resamplings(&self) -> Result<f64> {
    Ok(self.counters()?.resamplings as f64)
  }

  #[napi(getter)]
  pub fn invalid_total(&self) -> Result<f64> {
    Ok(self.counters()?.invalid_total as f64)
  }

  #[napi(getter)]
  pub fn move_pending(&self) -> Result<bool> {
    Ok(match self.engine()? {
      Engine::Cpu(s) => s.move_pending(),
      Engine::Device(c) => c.s.move_pending(),
    })
  }

  /// Evaluate the native Gaussian mixture at the walkers straight into the sampler's buffers and
  /// observe: no copy through JavaScript.
  #[napi]
  pub fn observe_gmm(&mut self, gmm: &NativeGmm) -> Result<NativeObserveReport> {
    let model = gmm.model()?;
    let report = match self.engine_mut()? {
      Engine::Cpu(s) => s.observe_with(model.chunk_evaluator()).map_err(js_err)?,
      Engine::Device(c) => c.observe_gmm(model, gmm.pool()).map_err(js_err)?,
    };
    Ok(report_to_js(report))
  }

  /// Forget the weights and the last observation (walkers now count as exact samples).
  #[napi]
  pub fn reinitialize(&mut self) -> Result<()> {
    match self.engine_mut()? {
      Engine::Cpu(s) => {
        s.reinitialize();
        Ok(())
      }
      Engine::Device(c) => dev_op!(c, 0, bit(A), |s| s.reinitialize()),
    }
  }

  fn counters(&self) -> Result<SamplerCounters> {
    Ok(match self.engine()? {
      Engine::Cpu(s) => s.counters(),
      Engine::Device(c) => c.s.counters(),
    })
  }

  /// [steps, resamplings, invalidTotal, logNormAbsorbed, observed (0/1)].
  #[napi]
  pub fn get_counters(&self) -> Result<Vec<f64>> {
    let c = self.counters()?;
    Ok(vec![
      c.steps as f64,
      c.resamplings as f64,
      c.invalid_total as f64,
      c.log_norm_absorbed,
      if c.observed { 1.0 } else { 0.0 },
    ])
  }

  /// Restore counters after the four views were written back (CUDA: the written views are copied
  /// to the device first).
  #[napi]
  pub fn set_counters(&mut self, c: Vec<f64>) -> Result<()> {
    if c.len() != 5 || c[..3].iter().any(|v| !(v.is_finite() && *v >= 0.0 && v.fract() == 0.0)) {
      return Err(js_err(CoreError::InvalidOption {
        name: "counters",
        reason: "malformed sampler counters".into(),
      }));
    }
    let counters = SamplerCounters {
      steps: c[0] as u64,
      resamplings: c[1] as u64,
      invalid_total: c[2] as u64,
      log_norm_absorbed: c[3],
      observed: c[4] != 0.0,
    };
    match self.engine_mut()? {
      Engine::Cpu(s) => s.restore_counters(counters).map_err(js_err),
      Engine::Device(e) => dev_op!(e, ALL, 0, |s| s.restore_counters(counters)),
    }
  }

  /// Frees the thread pool and scratch memory (CUDA: the device memory). Views stay readable
  /// until collected.
  #[napi]
  pub fn dispose(&mut self) {
    self.inner = None;
  }

  #[napi(getter)]
  pub fn disposed(&self) -> bool {
    self.inner.is_none()
  }
}
