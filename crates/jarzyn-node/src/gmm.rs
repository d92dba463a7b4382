//! `NativeGmm`: the native Gaussian-mixture energy, wrapped for JavaScript.

use jarzyn_core::{CoreError, GaussianMixture};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::sampler::{Engine, NativeObserveReport, NativeSampler};
use crate::{addr_range, js_err, overlaps};

/// Parameter gradient and mean energy of a weighted set of points.
#[napi(object)]
pub struct NativeParamGrad {
  /// [means (K x d) | logWeights (K) | logScales (K)]
  pub grad: Float64Array,
  pub mean_energy: f64,
}

/// Identifies the sampler state a cached walker gradient belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
struct CacheTag {
  positions: usize,
  generation: u64,
  params_version: u64,
}

#[napi]
pub struct NativeGmm {
  model: GaussianMixture,
  pool: rayon::ThreadPool,
  params_version: u64,
  /// The walker-weighted gradient folded into the last observation, valid while the sampler's
  /// state and the parameters are unchanged.
  walker_cache: Option<(CacheTag, Vec<f64>, f64)>,
}

fn tag_of(s: &jarzyn_core::Sampler, params_version: u64) -> CacheTag {
  CacheTag {
    positions: s.positions.addr_range().start,
    generation: s.generation(),
    params_version,
  }
}

fn bad(name: &'static str, reason: &str) -> Error {
  js_err(CoreError::InvalidOption {
    name,
    reason: reason.to_string(),
  })
}

impl NativeGmm {
  /// The mixture reads and writes the sampler's rows as points of its own dimension.
  fn check_dim(&self, sampler: &NativeSampler) -> Result<()> {
    let (got, expected) = (sampler.dim()?, self.model.dim);
    if got != expected {
      return Err(js_err(CoreError::BadLength {
        name: "sampler dim",
        got,
        expected,
      }));
    }
    Ok(())
  }
}

#[napi]
impl NativeGmm {
  #[napi(constructor)]
  pub fn new(dim: u32, components: u32, threads: u32) -> Result<Self> {
    let model = GaussianMixture::new(dim as usize, components as usize).map_err(js_err)?;
    if threads == 0 || threads > 1024 {
      return Err(bad("threads", "must be an integer in 1..1024"));
    }
    let pool = rayon::ThreadPoolBuilder::new()
      .num_threads(threads as usize)
      .build()
      .map_err(|e| bad("threads", &e.to_string()))?;
    Ok(NativeGmm {
      model,
      pool,
      params_version: 0,
      walker_cache: None,
    })
  }

  pub(crate) fn model(&self) -> Result<&GaussianMixture> {
    Ok(&self.model)
  }

  pub(crate) fn pool(&self) -> &rayon::ThreadPool {
    &self.pool
  }

  /// All parameters, [means | logWeights | logScales].
  #[napi]
  pub fn get_params(&self) -> Float64Array {
    let m = &self.model;
    let mut v = m.means.clone();
    v.extend_from_slice(&m.log_weights);
    v.extend_from_slice(&m.log_scales);
    Float64Array::new(v)
  }

  /// Set all parameters; refuses non-finite values.
  #[napi]
  pub fn set_params(&mut self, p: Float64ArraySlice) -> Result<()> {
    let m = &mut self.model;
    let (k, d) = (m.components, m.dim);
    let p: &[f64] = p.as_ref();
    if p.len() != m.param_count() {
      return Err(js_err(CoreError::BadLength {
        name: "params",
        got: p.len(),
        expected: m.param_count(),
      }));
    }
    if let Some(i) = p.iter().position(|v| !v.is_finite()) {
      return Err(js_err(CoreError::InvalidOption {
        name: "params",
        reason: format!("parameter {i} is not finite"),
      }));
    }
    m.means.copy_from_slice(&p[..k * d]);
    m.log_weights.copy_from_slice(&p[k * d..k * d + k]);
    m.log_scales.copy_from_slice(&p[k * d + k..]);
    self.params_version += 1;
    self.walker_cache = None;
    Ok(())
  }

  #[napi]
  pub fn log_z(&self) -> f64 {
    self.model.log_z()
  }

  #[napi]
  pub fn mixture_weights(&self) -> Float64Array {
    Float64Array::new(self.model.mixture_weights())
  }

  /// U (and grad U when `grad` is given) at the points `x` (n x d).
  #[napi]
  pub fn evaluate(
    &self,
    x: Float32ArraySlice,
    mut energy: Float32ArraySlice,
    grad: Option<Float32ArraySlice>,
  ) -> Result<()> {
    let xr = addr_range(x.as_ref());
    if overlaps(&xr, &addr_range(energy.as_ref()))
      || grad.as_ref().is_some_and(|g| overlaps(&xr, &addr_range(g.as_ref())))
    {
      return Err(Error::new(
        Status::InvalidArg,
        "ERR_JARZYN_ALIASED|TypeError|outputs must not alias `x`".to_string(),
      ));
    }
    let x: &[f32] = x.as_ref();
    // SAFETY: outputs checked not to alias x; energy and grad are distinct JS arrays by type of use.
    let e = unsafe { energy.as_mut() };
    match grad {
      Some(mut g) => {
        let g = unsafe { g.as_mut() };
        self.model.evaluate(&self.pool, x, e, Some(g)).map_err(js_err)
      }
      None => self.model.evaluate(&self.pool, x, e, None).map_err(js_err),
    }
  }

  /// log rho(x) = -U(x) - log Z per point.
  #[napi]
  pub fn log_density(&self, x: Float32ArraySlice, mut out: Float64ArraySlice) -> Result<()> {
    // SAFETY: out is a Float64Array, x a Float32Array: a JS caller can still alias them via one
    // ArrayBuffer, so check.
    if overlaps(&addr_range(x.as_ref()), &addr_range(out.as_ref())) {
      return Err(Error::new(
        Status::InvalidArg,
        "ERR_JARZYN_ALIASED|TypeError|`out` must not alias `x`".to_string(),
      ));
    }
    let o = unsafe { out.as_mut() };
    self.model.log_density(&self.pool, x.as_ref(), o).map_err(js_err)
  }

  /// sum_j w_j dU/dtheta(x_j) and sum_j w_j U(x_j); w = 1/n when `weights` is null.
  #[napi]
  pub fn param_grad(&self, x: Float32ArraySlice, weights: Option<Float64ArraySlice>) -> Result<NativeParamGrad> {
    let w = weights.as_ref().map(|w| -> &[f64] { w.as_ref() });
    let (g, u) = self
      .model
      .weighted_param_grad(&self.pool, x.as_ref(), w)
      .map_err(js_err)?;
    Ok(NativeParamGrad {
      grad: Float64Array::new(g),
      mean_energy: u,
    })
  }

  /// sum_i p_i dU/dtheta(X_i) over the sampler's walkers with its normalised weights, natively:
  /// from the last observation's pass when the sampler has not changed since, else computed anew
  /// (the same arithmetic either way, so the same bits).
  #[napi]
  pub fn walker_param_grad(&self, sampler: &mut NativeSampler) -> Result<NativeParamGrad> {
    self.check_dim(sampler)?;
    let (g, u) = match sampler.engine_mut()? {
      Engine::Cpu(s) => {
        if let Some((tag, g, u)) = &self.walker_cache {
          if *tag == tag_of(s, self.params_version) {
            return Ok(NativeParamGrad {
              grad: Float64Array::new(g.clone()),
              mean_energy: *u,
            });
          }
        }
        let kern = self.model.walker_grad_kernel();
        let parts = s.map_walker_chunks(|x, a| kern.standalone(x, a));
        kern.combine(&parts).map_err(js_err)?
      }
      Engine::Device(c) => c.gmm_walker_grad(&self.model, &self.pool).map_err(js_err)?,
    };
    Ok(NativeParamGrad {
      grad: Float64Array::new(g),
      mean_energy: u,
    })
  }

  /// Evaluate U and grad U at the sampler's walkers straight into its buffers and observe, folding
  /// the next iteration's walker-weighted parameter gradient into the same pass (CPU samplers).
  #[napi]
  pub fn observe_sampler(&mut self, sampler: &mut NativeSampler) -> Result<NativeObserveReport> {
    self.check_dim(sampler)?;
    let version = self.params_version;
    let report = match sampler.engine_mut()? {
      Engine::Cpu(s) => {
        let kern = self.model.walker_grad_kernel();
        let (report, parts) = s
          .observe_with_state(
            || kern.scratch(),
            |sc, x, e, g| kern.eval(sc, x, e, g),
            |sc, x, a| kern.after(sc, x, a),
          )
          .map_err(js_err)?;
        self.walker_cache = kern.combine(&parts).ok().map(|(g, u)| (tag_of(s, version), g, u));
        report
      }
      Engine::Device(c) => {
        self.walker_cache = None;
        c.observe_gmm(&self.model, &self.pool).map_err(js_err)?
      }
    };
    Ok(NativeObserveReport {
      newly_invalid: report.newly_invalid as u32,
      invalid: report.invalid as u32,
    })
  }

  /// Exact samples into `out` (n x d); returns each sample's component.
  #[napi]
  pub fn sample(
    &self,
    mut out: Float32ArraySlice,
    seed_lo: u32,
    seed_hi: u32,
    step: f64,
    stratified: bool,
  ) -> Result<Uint32Array> {
    // SAFETY: only this call references `out`.
    let o = unsafe { out.as_mut() };
    let comp = self
      .model
      .sample(o, ((seed_hi as u64) << 32) | seed_lo as u64, step as u64, stratified)
      .map_err(js_err)?;
    Ok(Uint32Array::new(comp.into_iter().map(|c| c as u32).collect()))
  }

  /// Exact samples into the sampler's positions, then observe them (fresh start of a weighted run).
  #[napi]
  pub fn sample_into(
    &self,
    sampler: &mut NativeSampler,
    seed_lo: u32,
    seed_hi: u32,
    step: f64,
    stratified: bool,
  ) -> Result<()> {
    self.check_dim(sampler)?;
    let seed = ((seed_hi as u64) << 32) | seed_lo as u64;
    match sampler.engine_mut()? {
      Engine::Cpu(s) => {
        self
          .model
          .sample(s.positions.as_mut_slice(), seed, step as u64, stratified)
          .map_err(js_err)?;
      }
      Engine::Device(c) => {
        // Into the host mirror; copied to the device before the next operation that reads it.
        self
          .model
          .sample(c.positions.as_mut_slice(), seed, step as u64, stratified)
          .map_err(js_err)?;
        c.positions_written();
      }
    }
    Ok(())
  }
}
