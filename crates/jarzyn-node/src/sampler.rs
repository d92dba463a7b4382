//! `NativeSampler`: one walker population (`Box<dyn Walkers>`, on the CPU or a GPU), wrapped for
//! JavaScript. The TypeScript `Sampler` validates arguments and documents the API; this layer
//! checks what needs the JavaScript values themselves (aliasing) and maps errors.

use jarzyn_core::{
  Counters, CpuWalkers, Observation, ObserveReport, Scheme, View, WalkerConfig, Walkers, WeightSummary,
};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::errors::{check_no_alias, disposed, seed, throw, Class, OrThrow};
use crate::gmm::NativeGmm;

/// Summary of the log-weights, computed in one pass.
#[napi(object)]
pub struct NativeWeightSummary {
  pub ess: f64,
  pub cv2: f64,
  pub log_mean_weight: f64,
  pub max_log_weight: f64,
  pub zero_weight: u32,
  /// log(Z_now / Z_0): absorbed resampling increments plus log mean exp(A).
  pub log_normalizer_ratio: f64,
}

/// Counts of an observation.
#[napi(object)]
pub struct NativeObserveReport {
  pub newly_invalid: u32,
  pub invalid: u32,
}

pub(crate) fn summary_to_js(s: &WeightSummary, log_norm_absorbed: f64) -> NativeWeightSummary {
  NativeWeightSummary {
    ess: s.ess(),
    cv2: s.cv2(),
    log_mean_weight: s.log_mean(),
    max_log_weight: s.max,
    zero_weight: s.zero as u32,
    log_normalizer_ratio: log_norm_absorbed + s.log_mean(),
  }
}

pub(crate) fn report_to_js(r: ObserveReport) -> NativeObserveReport {
  NativeObserveReport {
    newly_invalid: r.newly_invalid as u32,
    invalid: r.invalid as u32,
  }
}

pub(crate) fn scheme(env: &Env, s: &str) -> Result<Scheme> {
  Scheme::parse(s).ok_or_else(|| {
    throw(
      env,
      Class::RangeError,
      "ERR_JARZYN_INVALID_OPTION",
      "invalid option `scheme`: must be 'multinomial', 'systematic', 'stratified' or 'residual'",
    )
  })
}

/// The GPU a sampler runs on.
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

pub(crate) fn device_info_to_js(i: &jarzyn_core::DeviceInfo) -> NativeDeviceInfo {
  NativeDeviceInfo {
    ordinal: i.ordinal as u32,
    name: i.name.clone(),
    cc_major: i.compute_capability.0,
    cc_minor: i.compute_capability.1,
    total_memory: i.total_memory as f64,
    driver_version: i.driver_version,
    device_count: i.device_count,
  }
}

#[napi]
pub struct NativeSampler {
  walkers: Option<Box<dyn Walkers>>,
  views_made: [bool; 4],
  fallback_reason: Option<String>,
}

impl NativeSampler {
  pub(crate) fn walkers(&mut self, env: &Env) -> Result<&mut dyn Walkers> {
    match self.walkers.as_deref_mut() {
      Some(w) => Ok(w),
      None => Err(disposed(env, "sampler")),
    }
  }

  fn view_made(&mut self, env: &Env, view: View) -> Result<()> {
    if std::mem::replace(&mut self.views_made[view as usize], true) {
      return Err(throw(env, Class::Error, "ERR_JARZYN_BAD_STATE", "view already made"));
    }
    Ok(())
  }

  /// The summary and log(Z_now / Z_0) of the walkers' weights.
  pub(crate) fn summary_of(env: &Env, w: &mut dyn Walkers) -> Result<NativeWeightSummary> {
    let s = w.summary().or_throw(env)?;
    Ok(summary_to_js(&s, w.counters().log_norm_absorbed))
  }
}

#[napi]
impl NativeSampler {
  /// `cuda`: try a GPU first; when it cannot run, the CPU walkers run and `fallbackReason` says why.
  #[napi(constructor)]
  #[allow(clippy::too_many_arguments)]
  pub fn new(
    env: Env,
    walkers: u32,
    dim: u32,
    step_size: f64,
    seed_value: BigInt,
    threads: u32,
    weighted: bool,
    cuda: bool,
  ) -> Result<Self> {
    let cfg = WalkerConfig {
      walkers: walkers as usize,
      dim: dim as usize,
      step_size,
      seed: seed(&env, seed_value)?,
      threads: threads as usize,
      weighted,
    };
    cfg.validate().or_throw(&env)?;
    let mut fallback_reason = None;
    if cuda {
      match crate::cuda::new_walkers(cfg.clone()) {
        Ok(w) => {
          return Ok(NativeSampler {
            walkers: Some(w),
            views_made: [false; 4],
            fallback_reason: None,
          })
        }
        Err(reason) => fallback_reason = Some(reason),
      }
    }
    Ok(NativeSampler {
      walkers: Some(Box::new(CpuWalkers::new(cfg).or_throw(&env)?)),
      views_made: [false; 4],
      fallback_reason,
    })
  }

  /// 'cpu' or 'cuda': what runs the walkers.
  #[napi(getter)]
  pub fn device(&mut self, env: Env) -> Result<&'static str> {
    Ok(if self.walkers(&env)?.device().is_some() {
      "cuda"
    } else {
      "cpu"
    })
  }

  /// Why a GPU was asked for and the CPU runs; null otherwise.
  #[napi(getter)]
  pub fn fallback_reason(&self) -> Option<String> {
    self.fallback_reason.clone()
  }

  /// The GPU; null on the CPU.
  #[napi(getter)]
  pub fn device_info(&mut self, env: Env) -> Result<Option<NativeDeviceInfo>> {
    Ok(self.walkers(&env)?.device().map(device_info_to_js))
  }

  /// Make view `which` (0 positions, 1 gradients, 2 energies, 3 log-weights) current; with
  /// `write`, the caller may write it (GPU: copied to the device before the next operation that
  /// reads it). A no-op on the CPU.
  #[napi]
  pub fn sync_view(&mut self, env: Env, which: u32, write: bool) -> Result<()> {
    let view = View::from_index(which).or_throw(&env)?;
    self.walkers(&env)?.sync_view(view, write).or_throw(&env)
  }

  /// Bytes copied between the device and the views so far, [down, up] ([0, 0] on the CPU).
  #[napi]
  pub fn view_traffic(&mut self, env: Env) -> Result<Vec<f64>> {
    let [down, up] = self.walkers(&env)?.view_traffic();
    Ok(vec![down as f64, up as f64])
  }

  /// A Float32Array over buffer `which` (0 positions, 1 gradients, 2 energies), made once; the
  /// memory lives as long as the view does, even after dispose().
  #[napi]
  pub fn f32_view<'env>(&mut self, env: &'env Env, which: u32) -> Result<Float32ArraySlice<'env>> {
    let view = View::from_index(which).or_throw(env)?;
    let buf = self.walkers(env)?.f32_buffer(view).or_throw(env)?;
    let (ptr, len, keep) = (buf.as_mut_ptr(), buf.len(), buf.keep_alive());
    self.view_made(env, view)?;
    // SAFETY: the memory is kept alive by `keep` until the finalizer runs; its address is fixed.
    unsafe { Float32ArraySlice::from_external(env, ptr, len, keep, |_, k| drop(k)) }
  }

  /// A Float64Array over the log-weights, made once.
  #[napi]
  pub fn log_weight_view<'env>(&mut self, env: &'env Env) -> Result<Float64ArraySlice<'env>> {
    let buf = self.walkers(env)?.log_weight_buffer();
    let (ptr, len, keep) = (buf.as_mut_ptr(), buf.len(), buf.keep_alive());
    self.view_made(env, View::LogWeights)?;
    // SAFETY: as in f32_view.
    unsafe { Float64ArraySlice::from_external(env, ptr, len, keep, |_, k| drop(k)) }
  }

  /// Observe energies and gradients at the current positions. The walkers' own `energies` and
  /// `gradients` views are the zero-copy path (GPU: one copy of each to the device); any other
  /// array is copied in (arrays that alias the walkers' memory are copied out first).
  #[napi]
  pub fn observe(
    &mut self,
    env: Env,
    energy: Float32ArraySlice,
    grad: Float32ArraySlice,
  ) -> Result<NativeObserveReport> {
    let w = self.walkers(&env)?;
    let (e, g): (&[f32], &[f32]) = (energy.as_ref(), grad.as_ref());
    let own = |w: &mut dyn Walkers, v| w.f32_buffer(v).map(|b| b.addr_range());
    let in_place = own(w, View::Energies).or_throw(&env)? == jarzyn_core::addr_range(e)
      && own(w, View::Gradients).or_throw(&env)? == jarzyn_core::addr_range(g);
    let obs = if in_place {
      Observation::InPlace
    } else {
      Observation::External { energy: e, grad: g }
    };
    w.observe(obs).map(report_to_js).or_throw(&env)
  }

  /// Evaluate a native energy at the walkers and observe it, in one pass (no copy through
  /// JavaScript), folding the next iteration's walker-weighted gradient in.
  #[napi]
  pub fn observe_energy(&mut self, env: Env, energy: &mut NativeGmm) -> Result<NativeObserveReport> {
    let w = self.walkers(&env)?;
    energy.fused_mut().observe(w).map(report_to_js).or_throw(&env)
  }

  #[napi(js_name = "move")]
  pub fn move_walkers(&mut self, env: Env) -> Result<()> {
    self.walkers(&env)?.move_walkers().or_throw(&env)
  }

  /// ESS, CV^2, log-mean weight, zero weights and log(Z_now / Z_0), from one pass.
  #[napi]
  pub fn summary(&mut self, env: Env) -> Result<NativeWeightSummary> {
    Self::summary_of(&env, self.walkers(&env)?)
  }

  /// Normalised weights into `out`, and the summary of the weights they came from.
  #[napi]
  pub fn weights_and_summary(&mut self, env: Env, mut out: Float64ArraySlice) -> Result<NativeWeightSummary> {
    let w = self.walkers(&env)?;
    let own = w.log_weight_buffer().as_slice();
    check_no_alias(
      &env,
      own,
      out.as_ref(),
      "`out` must not be the sampler's own logWeights",
    )?;
    // SAFETY: `out` does not alias the walkers' buffers (checked above).
    let s = w.normalized_weights(unsafe { out.as_mut() }).or_throw(&env)?;
    Ok(summary_to_js(&s, w.counters().log_norm_absorbed))
  }

  /// Resample; returns the ancestor of each new walker.
  #[napi]
  pub fn resample(&mut self, env: Env, scheme_name: String) -> Result<Uint32Array> {
    let s = scheme(&env, &scheme_name)?;
    let anc = self.walkers(&env)?.resample(s).or_throw(&env)?;
    Ok(Uint32Array::new(anc.into_iter().map(|i| i as u32).collect()))
  }

  #[napi]
  pub fn maybe_resample(&mut self, env: Env, ess_fraction: f64, scheme_name: String) -> Result<bool> {
    let s = scheme(&env, &scheme_name)?;
    self.walkers(&env)?.maybe_resample(ess_fraction, s).or_throw(&env)
  }

  #[napi]
  pub fn set_step_size(&mut self, env: Env, h: f64) -> Result<()> {
    self.walkers(&env)?.set_step_size(h).or_throw(&env)
  }

  /// The moves' noise standard deviation, or null for sqrt(2h) (the exact weights' assumption).
  #[napi]
  pub fn set_noise_std(&mut self, env: Env, std: Option<f64>) -> Result<()> {
    self.walkers(&env)?.set_noise_std(std).or_throw(&env)
  }

  /// Forget the weights and the last observation (walkers now count as exact samples).
  #[napi]
  pub fn reinitialize(&mut self, env: Env) -> Result<()> {
    self.walkers(&env)?.reinitialize().or_throw(&env)
  }

  /// [steps, resamplings, invalidTotal, logNormAbsorbed, observed (0/1)].
  #[napi]
  pub fn get_counters(&mut self, env: Env) -> Result<Vec<f64>> {
    let c = self.walkers(&env)?.counters();
    Ok(vec![
      c.steps as f64,
      c.resamplings as f64,
      c.invalid_total as f64,
      c.log_norm_absorbed,
      if c.observed { 1.0 } else { 0.0 },
    ])
  }

  /// Restore counters after the four views were written back.
  #[napi]
  pub fn set_counters(&mut self, env: Env, c: Vec<f64>) -> Result<()> {
    if c.len() != 5 || c[..3].iter().any(|v| !(v.is_finite() && *v >= 0.0 && v.fract() == 0.0)) {
      return Err(throw(
        &env,
        Class::RangeError,
        "ERR_JARZYN_INVALID_OPTION",
        "invalid option `counters`: malformed sampler counters",
      ));
    }
    let counters = Counters {
      steps: c[0] as u64,
      resamplings: c[1] as u64,
      invalid_total: c[2] as u64,
      log_norm_absorbed: c[3],
      observed: c[4] != 0.0,
    };
    self.walkers(&env)?.restore_counters(counters).or_throw(&env)
  }

  /// Frees the threads and scratch memory (GPU: the device memory). Views stay readable until
  /// collected.
  #[napi]
  pub fn dispose(&mut self) {
    self.walkers = None;
  }
}
