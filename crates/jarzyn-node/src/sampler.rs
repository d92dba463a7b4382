//! `NativeSampler`: the walker population, wrapped for JavaScript.

use jarzyn_core::{CoreError, Observation, Sampler, SamplerConfig, SamplerCounters, Scheme, WeightSummary};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::gmm::NativeGmm;
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

#[napi]
pub struct NativeSampler {
  inner: Option<Sampler>,
  views_made: [bool; 4],
}

#[napi]
impl NativeSampler {
  #[napi(constructor)]
  pub fn new(
    walkers: u32,
    dim: u32,
    step_size: f64,
    seed_lo: u32,
    seed_hi: u32,
    threads: u32,
    weighted: bool,
  ) -> Result<Self> {
    let cfg = SamplerConfig {
      walkers: walkers as usize,
      dim: dim as usize,
      step_size,
      seed: ((seed_hi as u64) << 32) | seed_lo as u64,
      threads: threads as usize,
      weighted,
    };
    Ok(NativeSampler {
      inner: Some(Sampler::new(cfg).map_err(js_err)?),
      views_made: [false; 4],
    })
  }

  pub(crate) fn sampler(&self) -> Result<&Sampler> {
    self.inner.as_ref().ok_or_else(disposed)
  }

  pub(crate) fn sampler_mut(&mut self) -> Result<&mut Sampler> {
    self.inner.as_mut().ok_or_else(disposed)
  }

  /// `which`: 0 positions, 1 gradients (Float32Array); made once, the memory lives as long as
  /// the view does, even after dispose().
  #[napi]
  pub fn f32_view<'env>(&mut self, env: &'env Env, which: u32) -> Result<Float32ArraySlice<'env>> {
    let idx = which as usize;
    if idx > 1 || self.views_made[idx] {
      return Err(Error::new(
        Status::InvalidArg,
        "ERR_JARZYN_BAD_STATE|Error|view already made".to_string(),
      ));
    }
    let s = self.sampler_mut()?;
    let buf = if idx == 0 { &mut s.positions } else { &mut s.gradients };
    let (ptr, len, keep) = (buf.as_mut_ptr(), buf.len(), buf.keep_alive());
    // SAFETY: the memory is kept alive by `keep` until the finalizer runs; its address is fixed.
    let view = unsafe { Float32ArraySlice::from_external(env, ptr, len, keep, |_, k| drop(k))? };
    self.views_made[idx] = true;
    Ok(view)
  }

  /// `which`: 2 energies (Float32Array).
  #[napi]
  pub fn energy_view<'env>(&mut self, env: &'env Env) -> Result<Float32ArraySlice<'env>> {
    if self.views_made[2] {
      return Err(Error::new(
        Status::InvalidArg,
        "ERR_JARZYN_BAD_STATE|Error|view already made".to_string(),
      ));
    }
    let s = self.sampler_mut()?;
    let (ptr, len, keep) = (s.energies.as_mut_ptr(), s.energies.len(), s.energies.keep_alive());
    // SAFETY: as in f32_view.
    let view = unsafe { Float32ArraySlice::from_external(env, ptr, len, keep, |_, k| drop(k))? };
    self.views_made[2] = true;
    Ok(view)
  }

  /// Log-weights (Float64Array), made once.
  #[napi]
  pub fn log_weight_view<'env>(&mut self, env: &'env Env) -> Result<Float64ArraySlice<'env>> {
    if self.views_made[3] {
      return Err(Error::new(
        Status::InvalidArg,
        "ERR_JARZYN_BAD_STATE|Error|view already made".to_string(),
      ));
    }
    let s = self.sampler_mut()?;
    let (ptr, len, keep) = (
      s.log_weights.as_mut_ptr(),
      s.log_weights.len(),
      s.log_weights.keep_alive(),
    );
    // SAFETY: as in f32_view.
    let view = unsafe { Float64ArraySlice::from_external(env, ptr, len, keep, |_, k| drop(k))? };
    self.views_made[3] = true;
    Ok(view)
  }

  /// Observe energies and gradients at the current positions. Passing the sampler's own
  /// `energies`/`gradients` views is the zero-copy path; any other array is copied in.
  #[napi]
  pub fn observe(&mut self, energy: Float32ArraySlice, grad: Float32ArraySlice) -> Result<NativeObserveReport> {
    let s = self.sampler_mut()?;
    let e_in: &[f32] = energy.as_ref();
    let g_in: &[f32] = grad.as_ref();
    let (er, gr) = (addr_range(e_in), addr_range(g_in));
    let own_e = s.energies.addr_range();
    let own_g = s.gradients.addr_range();
    let own = [
      own_e.clone(),
      own_g.clone(),
      s.positions.addr_range(),
      s.log_weights.addr_range(),
    ];
    let report = if er == own_e && gr == own_g {
      s.observe(Observation::InPlace)
    } else if own.iter().any(|o| overlaps(o, &er) || overlaps(o, &gr)) {
      // Inputs alias the sampler's own memory in some other way: copy them out first, so that no
      // Rust reference to them is alive while the core writes its buffers.
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
    .map_err(js_err)?;
    Ok(NativeObserveReport {
      newly_invalid: report.newly_invalid as u32,
      invalid: report.invalid as u32,
    })
  }

  #[napi(js_name = "move")]
  pub fn move_walkers(&mut self) -> Result<()> {
    self.sampler_mut()?.move_walkers().map_err(js_err)
  }

  #[napi]
  pub fn summary(&self) -> Result<NativeWeightSummary> {
    Ok(summary_to_js(&self.sampler()?.summary()))
  }

  #[napi]
  pub fn ess(&self) -> Result<f64> {
    Ok(self.sampler()?.summary().ess())
  }

  #[napi]
  pub fn log_normalizer_ratio(&self) -> Result<f64> {
    Ok(self.sampler()?.log_normalizer_ratio())
  }

  #[napi]
  pub fn log_norm_absorbed(&self) -> Result<f64> {
    Ok(self.sampler()?.log_norm_absorbed())
  }

  #[napi]
  pub fn normalized_weights(&self, out: Float64ArraySlice) -> Result<()> {
    self.weights_and_summary(out).map(|_| ())
  }

  /// Normalised weights into `out`, and the summary of the weights they came from.
  #[napi]
  pub fn weights_and_summary(&self, mut out: Float64ArraySlice) -> Result<NativeWeightSummary> {
    let s = self.sampler()?;
    let o = addr_range(out.as_ref());
    if overlaps(&o, &s.log_weights.addr_range()) {
      return Err(Error::new(
        Status::InvalidArg,
        "ERR_JARZYN_ALIASED|TypeError|`out` must not be the sampler's own logWeights".to_string(),
      ));
    }
    // SAFETY: `out` does not alias the sampler's buffers (checked above).
    let out = unsafe { out.as_mut() };
    let w = s.normalized_weights_with_summary(out).map_err(js_err)?;
    Ok(summary_to_js(&w))
  }

  /// Resample; returns the ancestor of each new walker.
  #[napi]
  pub fn resample(&mut self, scheme: String) -> Result<Uint32Array> {
    let scheme = Scheme::parse(&scheme).ok_or_else(|| {
      js_err(CoreError::InvalidOption {
        name: "scheme",
        reason: "must be 'multinomial', 'systematic', 'stratified' or 'residual'".into(),
      })
    })?;
    let anc = self.sampler_mut()?.resample(scheme).map_err(js_err)?;
    Ok(Uint32Array::new(anc.into_iter().map(|i| i as u32).collect()))
  }

  #[napi]
  pub fn maybe_resample(&mut self, ess_fraction: f64, scheme: String) -> Result<bool> {
    let scheme = Scheme::parse(&scheme).ok_or_else(|| {
      js_err(CoreError::InvalidOption {
        name: "scheme",
        reason: "must be 'multinomial', 'systematic', 'stratified' or 'residual'".into(),
      })
    })?;
    self.sampler_mut()?.maybe_resample(ess_fraction, scheme).map_err(js_err)
  }

  #[napi]
  pub fn set_step_size(&mut self, h: f64) -> Result<()> {
    self.sampler_mut()?.set_step_size(h).map_err(js_err)
  }

  #[napi(getter)]
  pub fn steps(&self) -> Result<f64> {
    Ok(self.sampler()?.steps() as f64)
  }

  #[napi(getter)]
  pub fn resamplings(&self) -> Result<f64> {
    Ok(self.sampler()?.resamplings() as f64)
  }

  #[napi(getter)]
  pub fn invalid_total(&self) -> Result<f64> {
    Ok(self.sampler()?.invalid_total() as f64)
  }

  #[napi(getter)]
  pub fn move_pending(&self) -> Result<bool> {
    Ok(self.sampler()?.move_pending())
  }

  /// Evaluate the native Gaussian mixture at the walkers straight into the sampler's buffers and
  /// observe: no copy through JavaScript.
  #[napi]
  pub fn observe_gmm(&mut self, gmm: &NativeGmm) -> Result<NativeObserveReport> {
    let model = gmm.model()?;
    let report = self
      .sampler_mut()?
      .observe_with(model.chunk_evaluator())
      .map_err(js_err)?;
    Ok(NativeObserveReport {
      newly_invalid: report.newly_invalid as u32,
      invalid: report.invalid as u32,
    })
  }

  /// Forget the weights and the last observation (walkers now count as exact samples).
  #[napi]
  pub fn reinitialize(&mut self) -> Result<()> {
    self.sampler_mut()?.reinitialize();
    Ok(())
  }

  /// [steps, resamplings, invalidTotal, logNormAbsorbed, observed (0/1)].
  #[napi]
  pub fn get_counters(&self) -> Result<Vec<f64>> {
    let c = self.sampler()?.counters();
    Ok(vec![
      c.steps as f64,
      c.resamplings as f64,
      c.invalid_total as f64,
      c.log_norm_absorbed,
      if c.observed { 1.0 } else { 0.0 },
    ])
  }

  #[napi]
  pub fn set_counters(&mut self, c: Vec<f64>) -> Result<()> {
    if c.len() != 5 || c[..3].iter().any(|v| !(v.is_finite() && *v >= 0.0 && v.fract() == 0.0)) {
      return Err(js_err(CoreError::InvalidOption {
        name: "counters",
        reason: "malformed sampler counters".into(),
      }));
    }
    self
      .sampler_mut()?
      .restore_counters(SamplerCounters {
        steps: c[0] as u64,
        resamplings: c[1] as u64,
        invalid_total: c[2] as u64,
        log_norm_absorbed: c[3],
        observed: c[4] != 0.0,
      })
      .map_err(js_err)
  }

  /// Frees the thread pool and scratch memory. Views stay readable until collected.
  #[napi]
  pub fn dispose(&mut self) {
    self.inner = None;
  }

  #[napi(getter)]
  pub fn disposed(&self) -> bool {
    self.inner.is_none()
  }
}
