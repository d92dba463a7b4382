//! The Gaussian-mixture energy on the device as crates/jarzyn-core/src/cuda/gmm.rs runs it:
//! jz_gmm_eval (energies, gradients, responsibilities) and jz_gmm_partials (walker-weighted
//! parameter-gradient partials per summary chunk), combined by `WalkerGradKernel::combine`.

use jarzyn_core::gmm::{GaussianMixture, ParamVector, WalkerPart};
use jarzyn_core::weights::REDUCE_CHUNK;
use jarzyn_core::{CoreError, ObserveReport, Result};

use crate::backend::{grid, BLOCK_THREADS};
use crate::sampler::EmuSampler;
use crate::{kernels, DeviceBuf, Grid};

/// A mixture's parameters on the device and the per-walker numbers of its last evaluation.
pub(crate) struct DeviceGmm {
  model: GaussianMixture,
  means: DeviceBuf<f32>,
  z: DeviceBuf<f64>,
  half_inv_var: DeviceBuf<f64>,
  inv_var: DeviceBuf<f32>,
  gamma: DeviceBuf<f64>,
  sq: DeviceBuf<f64>,
  u: DeviceBuf<f64>,
  evaluated_at: Option<u64>,
}

impl EmuSampler {
  fn gmm_upload(&mut self, gmm: &GaussianMixture) -> Result<()> {
    if gmm.dim != self.cfg.dim {
      return Err(CoreError::InvalidOption {
        name: "dim",
        reason: format!("the mixture has dim {}, the sampler {}", gmm.dim, self.cfg.dim),
      });
    }
    gmm.validate()?;
    if matches!(&self.gmm, Some(d) if d.model == *gmm) {
      return Ok(());
    }
    let (means, z, hiv, iv) = gmm.kernel_arrays();
    let nk = self.cfg.walkers * gmm.components;
    let same_k = matches!(&self.gmm, Some(d) if d.model.components == gmm.components);
    let (gamma, sq, u) = match self.gmm.take() {
      Some(d) if same_k => (d.gamma, d.sq, d.u),
      _ => (
        DeviceBuf::zeros(nk.max(1)),
        DeviceBuf::zeros(nk.max(1)),
        DeviceBuf::zeros(self.cfg.walkers.max(1)),
      ),
    };
    self.gmm = Some(DeviceGmm {
      model: gmm.clone(),
      means: DeviceBuf::from_slice(&means),
      z: DeviceBuf::from_slice(&z),
      half_inv_var: DeviceBuf::from_slice(&hiv),
      inv_var: DeviceBuf::from_slice(&iv),
      gamma,
      sq,
      u,
      evaluated_at: None,
    });
    Ok(())
  }

  fn gmm_eval(&mut self, into_sampler: bool) {
    let dg = self.gmm.as_mut().expect("uploaded");
    let (n32, d32, k32) = (self.cfg.walkers as u32, self.cfg.dim as u32, dg.model.components as u32);
    let (e, g) = if into_sampler {
      (self.e.mut_ptr(), self.g.mut_ptr())
    } else {
      (std::ptr::null_mut(), std::ptr::null_mut())
    };
    // SAFETY: argument list of jz_gmm_eval (null outputs where the backend passes 0u64); gamma
    // and sq hold N x K, u N doubles.
    unsafe {
      kernels::jz_gmm_eval(
        grid(self.cfg.walkers as u64),
        n32,
        d32,
        k32,
        dg.means.ptr(),
        dg.half_inv_var.ptr(),
        dg.z.ptr(),
        dg.inv_var.ptr(),
        self.x.ptr(),
        e,
        g,
        dg.gamma.mut_ptr(),
        dg.sq.mut_ptr(),
        dg.u.mut_ptr(),
      )
    };
  }

  /// As `CudaSampler::observe_gmm`.
  pub fn observe_gmm(&mut self, gmm: &GaussianMixture) -> Result<ObserveReport> {
    self.gmm_upload(gmm)?;
    self.gmm_eval(true);
    let report = self.update_weights();
    let generation = self.generation;
    if let Some(dg) = self.gmm.as_mut() {
      dg.evaluated_at = Some(generation);
    }
    report
  }

  /// As `CudaSampler::gmm_weighted_param_grad` (the device path; the CPU fallback for more than
  /// 65 535 terms is not mirrored).
  pub fn gmm_weighted_param_grad(&mut self, gmm: &GaussianMixture) -> Result<(ParamVector, f64)> {
    self.gmm_upload(gmm)?;
    let k = gmm.components;
    let terms = k * (self.cfg.dim + 2) + 2;
    assert!(terms <= 65_535, "the CPU fallback is not mirrored");
    let current = self.generation;
    if self.gmm.as_ref().and_then(|d| d.evaluated_at) != Some(current) {
      self.gmm_eval(false);
      if let Some(dg) = self.gmm.as_mut() {
        dg.evaluated_at = Some(current);
      }
    }
    self.summary_parts();
    let chunks = self.parts.chunks;
    let mut out = DeviceBuf::<f64>::zeros(chunks * terms);
    let dg = self.gmm.as_ref().expect("uploaded");
    let (n32, d32, k32, c32) = (
      self.cfg.walkers as u32,
      self.cfg.dim as u32,
      k as u32,
      REDUCE_CHUNK as u32,
    );
    // SAFETY: argument list of jz_gmm_partials; grid (chunks, terms) of PART_THREADS; out holds
    // terms x chunks doubles; parts.max holds this generation's chunk maxima.
    unsafe {
      kernels::jz_gmm_partials(
        Grid {
          gx: chunks as u32,
          gy: terms as u32,
          block: BLOCK_THREADS,
        },
        n32,
        d32,
        k32,
        c32,
        dg.means.ptr(),
        dg.half_inv_var.ptr(),
        self.x.ptr(),
        self.a.ptr(),
        self.parts.max.ptr(),
        dg.gamma.ptr(),
        dg.sq.ptr(),
        dg.u.ptr(),
        out.mut_ptr(),
      )
    };
    let pm = &self.parts.max;
    let np = terms - 2;
    let parts: Vec<WalkerPart> = (0..chunks)
      .map(|c| WalkerPart {
        max: pm[c],
        sums: (0..np).map(|p| out[p * chunks + c]).collect(),
        weight_sum: out[np * chunks + c],
        energy_sum: out[(np + 1) * chunks + c],
      })
      .collect();
    gmm.walker_grad_kernel().combine(&parts)
  }
}
