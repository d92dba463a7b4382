//! Device resampling as crates/jarzyn-core/src/cuda/resample.rs runs it: jz_exp_shift, the
//! three-kernel scan, jz_last_positive, jz_exponentials, jz_search, jz_residual_split,
//! jz_add_draws, then the gathers and jz_fill_f64. Same buffers, arguments, launch shapes.

use jarzyn_core::philox::{Counter, Stream};
use jarzyn_core::resample::{Scheme, Uniforms};
use jarzyn_core::{CoreError, Result};

use crate::backend::{grid, scan, SCAN_TILE};
use crate::sampler::{EmuSampler, Phase};
use crate::{kernels, DeviceBuf};

/// Device buffers of a resampling, allocated at the first one and reused (`ResampleScratch`).
pub(crate) struct ResampleScratch {
  w: DeviceBuf<f64>,
  cum: DeviceBuf<f64>,
  ecum: DeviceBuf<f64>,
  copies: DeviceBuf<f64>,
  resid: DeviceBuf<f64>,
  cum2: DeviceBuf<f64>,
  sums: DeviceBuf<f64>,
  last: DeviceBuf<u32>,
  pub anc: DeviceBuf<u32>,
  extra: DeviceBuf<u32>,
  gather32: DeviceBuf<f32>,
  gather64: DeviceBuf<f64>,
}

impl ResampleScratch {
  fn new(n: usize, d: usize) -> Self {
    let f64s = |len: usize| DeviceBuf::<f64>::zeros(len.max(1));
    let u32s = |len: usize| DeviceBuf::<u32>::zeros(len.max(1));
    ResampleScratch {
      w: f64s(n),
      cum: f64s(n),
      ecum: f64s(n + 1),
      copies: f64s(n),
      resid: f64s(n),
      cum2: f64s(n),
      sums: f64s((n + 1).div_ceil(SCAN_TILE)),
      last: u32s(1),
      anc: u32s(n),
      extra: u32s(n),
      gather32: DeviceBuf::zeros((n * d).max(1)),
      gather64: f64s(n),
    }
  }
}

/// Largest index + 1 with positive weight into `last` (0 when none).
fn last_positive(w: &DeviceBuf<f64>, n: usize, last: &mut DeviceBuf<u32>) {
  last.fill(0);
  // SAFETY: argument list of jz_last_positive.
  unsafe { kernels::jz_last_positive(grid(n as u64), w.ptr(), n as u32, last.mut_ptr()) };
}

/// m sorted uniforms as prefix sums of m + 1 exponentials (in ecum).
fn exponential_spacings(key: [u32; 2], ctr: Counter, m: usize, ecum: &mut DeviceBuf<f64>, sums: &mut DeviceBuf<f64>) {
  // SAFETY: argument list of jz_exponentials; ecum holds N + 1 >= m + 1 doubles.
  unsafe {
    kernels::jz_exponentials(
      grid(m as u64 + 1),
      (m + 1) as u32,
      ctr.c2,
      ctr.c3,
      key[0],
      key[1],
      ecum.mut_ptr(),
    )
  };
  scan(None, m + 1, ecum, sums);
}

#[allow(clippy::too_many_arguments)]
fn search(
  cum: &DeviceBuf<f64>,
  w: Option<&DeviceBuf<f64>>,
  n: usize,
  last: Option<&DeviceBuf<u32>>,
  mode: u32,
  m: usize,
  u0: f64,
  ecum: &DeviceBuf<f64>,
  key: [u32; 2],
  ctr: Counter,
  out: &mut DeviceBuf<u32>,
) {
  // SAFETY: argument list of jz_search (null pointers where the backend passes 0u64); out holds
  // >= m entries.
  unsafe {
    kernels::jz_search(
      grid(m as u64),
      cum.ptr(),
      w.map_or(std::ptr::null(), |w| w.ptr()),
      n as u32,
      last.map_or(std::ptr::null(), |l| l.ptr()),
      mode,
      m as u32,
      u0,
      ecum.ptr(),
      ctr.c2,
      ctr.c3,
      key[0],
      key[1],
      out.mut_ptr(),
    )
  };
}

impl EmuSampler {
  /// `CudaSampler::resample_on_device`: ancestors into the scratch's `anc`, rows gathered, A = 0.
  pub(crate) fn resample_on_device(&mut self, scheme: Scheme) -> Result<()> {
    let (n, d) = (self.cfg.walkers, self.cfg.dim);
    let sum = self.summary();
    if sum.max == f64::NEG_INFINITY || !sum.log_sum.is_finite() {
      return Err(CoreError::AllWalkersInvalid {
        invalid: sum.zero,
        walkers: n,
      });
    }
    if self.resample_scratch.is_none() {
      self.resample_scratch = Some(ResampleScratch::new(n, d));
    }
    let sc = self.resample_scratch.as_mut().expect("allocated");
    let key = self.key;
    let ctr = Counter::new(Stream::Resample, self.resamplings);
    let n32 = n as u32;
    // SAFETY: argument list of jz_exp_shift.
    unsafe { kernels::jz_exp_shift(grid(n as u64), self.a.ptr(), n32, sum.max, sc.w.mut_ptr()) };
    scan(Some(&sc.w), n, &mut sc.cum, &mut sc.sums);
    last_positive(&sc.w, n, &mut sc.last);
    match scheme {
      Scheme::Multinomial => {
        exponential_spacings(key, ctr, n, &mut sc.ecum, &mut sc.sums);
        search(
          &sc.cum,
          Some(&sc.w),
          n,
          Some(&sc.last),
          0,
          n,
          0.0,
          &sc.ecum,
          key,
          ctr,
          &mut sc.anc,
        );
      }
      Scheme::Systematic => {
        let u0 = Uniforms::new(key, ctr).get(0);
        search(
          &sc.cum,
          Some(&sc.w),
          n,
          Some(&sc.last),
          1,
          n,
          u0,
          &sc.ecum,
          key,
          ctr,
          &mut sc.anc,
        );
      }
      Scheme::Stratified => {
        search(
          &sc.cum,
          Some(&sc.w),
          n,
          Some(&sc.last),
          2,
          n,
          0.0,
          &sc.ecum,
          key,
          ctr,
          &mut sc.anc,
        );
      }
      Scheme::Residual => {
        // SAFETY: argument list of jz_residual_split.
        unsafe {
          kernels::jz_residual_split(
            grid(n as u64),
            sc.w.ptr(),
            sc.cum.ptr(),
            n32,
            n32,
            sc.copies.mut_ptr(),
            sc.resid.mut_ptr(),
          )
        };
        scan(Some(&sc.copies), n, &mut sc.cum2, &mut sc.sums);
        let total_copies = sc.cum2[n - 1];
        let rest = n - (total_copies as usize).min(n);
        if rest > 0 {
          last_positive(&sc.resid, n, &mut sc.last);
          let any_resid = sc.last[0] > 0;
          exponential_spacings(key, ctr, rest, &mut sc.ecum, &mut sc.sums);
          if any_resid {
            scan(Some(&sc.resid), n, &mut sc.cum2, &mut sc.sums);
            search(
              &sc.cum2,
              Some(&sc.resid),
              n,
              Some(&sc.last),
              0,
              rest,
              0.0,
              &sc.ecum,
              key,
              ctr,
              &mut sc.extra,
            );
          } else {
            last_positive(&sc.w, n, &mut sc.last);
            search(
              &sc.cum,
              Some(&sc.w),
              n,
              Some(&sc.last),
              0,
              rest,
              0.0,
              &sc.ecum,
              key,
              ctr,
              &mut sc.extra,
            );
          }
          // SAFETY: argument list of jz_add_draws; extra holds `rest` indices < n.
          unsafe { kernels::jz_add_draws(grid(rest as u64), sc.extra.ptr(), rest as u32, sc.copies.mut_ptr()) };
        }
        scan(Some(&sc.copies), n, &mut sc.cum2, &mut sc.sums);
        search(&sc.cum2, None, n, None, 3, n, 0.0, &sc.ecum, key, ctr, &mut sc.anc);
      }
    }
    self.gather_rows();
    self.log_norm_absorbed += sum.log_mean();
    self.resamplings += 1;
    self.generation += 1;
    self.summary_cache = None;
    Ok(())
  }

  /// `gather_rows`: every per-walker buffer's rows copied from their ancestors; A = 0.
  fn gather_rows(&mut self) {
    let (n, d) = (self.cfg.walkers, self.cfg.dim);
    let weighted = self.cfg.weighted;
    let moved = self.phase == Phase::Moved;
    let sc = self.resample_scratch.as_mut().expect("allocated");
    let n32 = n as u32;
    let anc = &sc.anc;
    let gather32 = |buf: &mut DeviceBuf<f32>, tmp: &mut DeviceBuf<f32>, width: usize| {
      // SAFETY: argument list of jz_gather_f32; both buffers hold n * width floats.
      unsafe {
        kernels::jz_gather_f32(
          grid((n * width) as u64),
          buf.ptr(),
          anc.ptr(),
          n32,
          width as u32,
          tmp.mut_ptr(),
        )
      };
      let len = n * width;
      buf[..len].copy_from_slice(&tmp[..len]);
    };
    gather32(&mut self.x, &mut sc.gather32, d);
    gather32(&mut self.g, &mut sc.gather32, d);
    if weighted && moved {
      gather32(&mut self.xp, &mut sc.gather32, d);
    }
    gather32(&mut self.e, &mut sc.gather32, 1);
    if weighted {
      // SAFETY: argument list of jz_gather_f64.
      unsafe { kernels::jz_gather_f64(grid(n as u64), self.fwd.ptr(), anc.ptr(), n32, sc.gather64.mut_ptr()) };
      self.fwd[..n].copy_from_slice(&sc.gather64[..n]);
    }
    self.fill_log_weights(0.0);
  }
}
