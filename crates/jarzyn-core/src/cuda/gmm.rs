//! The native Gaussian-mixture energy on the device, so that a whole mixture training iteration
//! (energies, gradients, weight update, weighted parameter gradients) stays on the GPU: only the
//! K (d + 2) parameters go in and the per-chunk partial sums of their gradients come back.

use std::sync::Arc;

use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, LaunchArgs, LaunchConfig, PushKernelArg};

use super::backend::{be, grid, BLOCK_THREADS};
use super::walkers::DeviceWalkers;
use crate::energy::WalkerPart;
use crate::error::Result;
use crate::models::gmm::GaussianMixture;
use crate::walkers::{check_len, ObserveReport};
use crate::weights::REDUCE_CHUNK;

/// A mixture's parameters on the device and the per-walker numbers of its last evaluation.
pub(crate) struct DeviceGmm {
  /// The parameters uploaded (compared with the caller's on every use).
  model: GaussianMixture,
  means: CudaSlice<f32>,
  z: CudaSlice<f64>,
  half_inv_var: CudaSlice<f64>,
  inv_var: CudaSlice<f32>,
  /// Responsibilities and squared distances (N x K), f64 energies (N).
  gamma: CudaSlice<f64>,
  sq: CudaSlice<f64>,
  u: CudaSlice<f64>,
  /// The sampler generation at which gamma, sq and u were computed (None: never).
  evaluated_at: Option<u64>,
}

/// A launch of one of the mixture kernels, whose first three arguments are (N, d, K).
fn gmm_launch<'a>(st: &'a Arc<CudaStream>, f: &'a CudaFunction, ndk: &'a [u32; 3]) -> LaunchArgs<'a> {
  let mut b = st.launch_builder(f);
  b.arg(&ndk[0]).arg(&ndk[1]).arg(&ndk[2]);
  b
}

impl DeviceWalkers {
  /// Upload `gmm`'s parameters unless they are the ones on the device.
  fn gmm_upload(&mut self, gmm: &GaussianMixture) -> Result<()> {
    check_len("energy dim", gmm.dim, self.book.cfg.dim)?;
    gmm.validate()?;
    if matches!(&self.gmm, Some(d) if d.model == *gmm) {
      return Ok(());
    }
    let (means, z, hiv, iv) = gmm.kernel_arrays();
    let st = &self.be.stream;
    let nk = self.book.cfg.walkers * gmm.components;
    let same_k = matches!(&self.gmm, Some(d) if d.model.components == gmm.components);
    let (gamma, sq, u) = match self.gmm.take() {
      Some(d) if same_k => (d.gamma, d.sq, d.u),
      _ => (
        self.be.zeros(nk)?,
        self.be.zeros(nk)?,
        self.be.zeros(self.book.cfg.walkers)?,
      ),
    };
    self.gmm = Some(DeviceGmm {
      model: gmm.clone(),
      means: st.clone_htod(&means).map_err(be("copy"))?,
      z: st.clone_htod(&z).map_err(be("copy"))?,
      half_inv_var: st.clone_htod(&hiv).map_err(be("copy"))?,
      inv_var: st.clone_htod(&iv).map_err(be("copy"))?,
      gamma,
      sq,
      u,
      evaluated_at: None,
    });
    Ok(())
  }

  /// Evaluate the uploaded mixture at the walkers: gamma, sq and u always; the sampler's energy and
  /// gradient buffers too when `into_sampler`.
  fn gmm_eval(&mut self, into_sampler: bool) -> Result<()> {
    let dg = self.gmm.as_mut().expect("uploaded");
    let ndk = [
      self.book.cfg.walkers as u32,
      self.book.cfg.dim as u32,
      dg.model.components as u32,
    ];
    let null = 0u64;
    let mut b = gmm_launch(&self.be.stream, &self.be.f_gmm_eval, &ndk);
    b.arg(&dg.means)
      .arg(&dg.half_inv_var)
      .arg(&dg.z)
      .arg(&dg.inv_var)
      .arg(&self.x);
    if into_sampler {
      b.arg(&mut self.e).arg(&mut self.g);
    } else {
      b.arg(&null).arg(&null);
    }
    b.arg(&mut dg.gamma).arg(&mut dg.sq).arg(&mut dg.u);
    // SAFETY: argument list matches jz_gmm_eval (null outputs as 0u64, which the kernel tests);
    // gamma and sq hold N x K, u holds N doubles.
    unsafe { b.launch(grid(self.book.cfg.walkers as u64)?) }.map_err(be("launch"))?;
    Ok(())
  }

  /// Observe the mixture's energies and gradients at the walkers, computed on the device.
  pub fn observe_gmm(&mut self, gmm: &GaussianMixture) -> Result<ObserveReport> {
    self.gmm_upload(gmm)?;
    self.gmm_eval(true)?;
    let report = self.update_weights();
    // The positions did not change: the evaluation stays valid for the parameter gradients.
    let generation = self.book.generation;
    if let Some(dg) = self.gmm.as_mut() {
      dg.evaluated_at = Some(generation);
    }
    report
  }

  /// The walker-weighted parameter-gradient sums per chunk of REDUCE_CHUNK walkers (for
  /// [`crate::energy::combine_parts`]): the model term of the cross-entropy gradient, as the CPU
  /// computes it (to round-off). Reuses the last [`DeviceWalkers::observe_gmm`] evaluation when
  /// nothing changed since.
  pub fn gmm_walker_parts(&mut self, gmm: &GaussianMixture) -> Result<Vec<WalkerPart>> {
    self.gmm_upload(gmm)?;
    let k = gmm.components;
    let terms = k * (self.book.cfg.dim + 2) + 2;
    if terms > 65_535 {
      // More terms than a grid's y extent: the host computes them from copied-back walkers, in
      // the CPU's chunks.
      let (x, a) = (self.positions()?, self.log_weights()?);
      let (d, cw) = (self.book.cfg.dim, crate::walkers::walker_chunk(self.book.cfg.dim));
      return Ok(
        x.chunks(cw * d)
          .zip(a.chunks(cw))
          .map(|(xc, ac)| crate::energy::Energy::walker_part(gmm, xc, ac))
          .collect(),
      );
    }
    let current = self.book.generation;
    if self.gmm.as_ref().and_then(|d| d.evaluated_at) != Some(current) {
      self.gmm_eval(false)?;
      if let Some(dg) = self.gmm.as_mut() {
        dg.evaluated_at = Some(current);
      }
    }
    self.summary_parts()?;
    let chunks = self.parts.chunks;
    let st = self.be.stream.clone();
    let mut out = self.be.zeros::<f64>(chunks * terms)?;
    let dg = self.gmm.as_ref().expect("uploaded");
    let ndk = [self.book.cfg.walkers as u32, self.book.cfg.dim as u32, k as u32];
    let c32 = REDUCE_CHUNK as u32;
    let mut b = gmm_launch(&st, &self.be.f_gmm_partials, &ndk);
    b.arg(&c32)
      .arg(&dg.means)
      .arg(&dg.half_inv_var)
      .arg(&self.x)
      .arg(&self.a)
      .arg(&self.parts.max)
      .arg(&dg.gamma)
      .arg(&dg.sq)
      .arg(&dg.u)
      .arg(&mut out);
    let cfg = LaunchConfig {
      grid_dim: (chunks as u32, terms as u32, 1),
      block_dim: (BLOCK_THREADS, 1, 1),
      shared_mem_bytes: 0,
    };
    // SAFETY: argument list matches jz_gmm_partials; grid (chunks, terms) of PART_THREADS; out
    // holds terms x chunks doubles; parts.max holds this generation's chunk maxima.
    unsafe { b.launch(cfg) }.map_err(be("launch"))?;
    let flat = st.clone_dtoh(&out).map_err(be("copy"))?;
    let pm = st.clone_dtoh(&self.parts.max).map_err(be("copy"))?;
    let np = terms - 2;
    let parts: Vec<WalkerPart> = (0..chunks)
      .map(|c| WalkerPart {
        max: pm[c],
        sums: (0..np).map(|p| flat[p * chunks + c]).collect(),
        weight_sum: flat[np * chunks + c],
        energy_sum: flat[(np + 1) * chunks + c],
      })
      .collect();
    Ok(parts)
  }
}
