//! The mixture's per-point arithmetic: responsibilities (softmax over components), U, grad_x U,
//! and the data side's weighted parameter-gradient sums. f32 per point, fixed lane and block
//! orders, so the AVX2 and scalar copies give the same bits.

use crate::dispatch::avx2_dispatch;
use crate::math;

/// Accumulator lanes for the squared distance, so that the f32 sum vectorises in a fixed order.
const ACC: usize = 8;
/// Points per f32 partial sum of the mean gradient before it is added into f64.
const FLUSH: usize = 32;
/// Points whose responsibilities are computed together before their gradient sums.
const BLOCK: usize = 8;

/// One chunk of points: U and, with `gc`, grad_x U.
#[inline(always)]
fn eval_chunk_inner<const AVX2: bool>(kp: &KernelParams, xc: &[f32], ec: &mut [f32], mut gc: Option<&mut [f32]>) {
  // Two phases per block of points: first every point's responsibilities (independent scalar
  // chains that the CPU overlaps), then the vectorised gradient sums. Same operations per point,
  // so the same bits as one point at a time.
  let (k, d) = (kp.components(), kp.dim);
  let (mut gamma, mut sq, mut u) = (vec![0f64; BLOCK * k], vec![0f64; BLOCK * k], [0f64; BLOCK]);
  for (b, (xb, eb)) in xc.chunks(BLOCK * d).zip(ec.chunks_mut(BLOCK)).enumerate() {
    let nb = eb.len();
    let gb = gc.as_deref_mut().map(|g| &mut g[b * BLOCK * d..(b * BLOCK + nb) * d]);
    kp.evaluate_rows::<AVX2>(xb, &mut gamma[..nb * k], &mut sq[..nb * k], &mut u[..nb], eb, gb);
  }
}

avx2_dispatch!(pub(super) fn eval_chunk = eval_chunk_inner::<AVX2>(kp: &KernelParams, xc: &[f32], ec: &mut [f32], gc: Option<&mut [f32]>));

/// Weighted parameter-gradient sums over points taken in order, laid out as [`super::ParamVector`].
/// The K x d mean part accumulates in f32 over blocks of FLUSH points (so it vectorises 8-wide),
/// then into f64: error ~ FLUSH ulps of f32, far below the noise of the estimator, and a fixed
/// order. The data side and the walker side both sum with it, so they agree bit for bit.
pub(super) struct GradSums {
  pub sums: Vec<f64>,
  acc32: Vec<f32>,
}

impl GradSums {
  pub fn new(kp: &KernelParams) -> Self {
    let (k, d) = (kp.components(), kp.dim);
    GradSums {
      sums: vec![0f64; k * (d + 2)],
      acc32: vec![0f32; k * d],
    }
  }

  /// Add the point `row` with weight `w`, responsibilities `gm` and squared distances `sq`.
  #[inline(always)]
  pub fn add(&mut self, kp: &KernelParams, w: f64, row: &[f32], gm: &[f64], sq: &[f64]) {
    let (k, d) = (kp.components(), kp.dim);
    for i in 0..k {
      // dU/da_i = -gamma_i (x - a_i) / s_i^2
      let c = (-w * gm[i] * 2.0 * kp.half_inv_var[i]) as f32;
      let a = &kp.means[i * d..(i + 1) * d];
      for ((o, &xv), &av) in self.acc32[i * d..(i + 1) * d].iter_mut().zip(row).zip(a) {
        *o += c * (xv - av);
      }
      // dU/dz_i = gamma_i ; dU/dlog s_i = -gamma_i |x - a_i|^2 / s_i^2
      self.sums[k * d + i] += w * gm[i];
      self.sums[k * d + k + i] -= w * gm[i] * sq[i] * 2.0 * kp.half_inv_var[i];
    }
  }

  /// Point `j` of `n` is done (added or skipped): every FLUSH points, and after the last, the f32
  /// mean part goes into the f64 sums.
  #[inline(always)]
  pub fn point_done(&mut self, j: usize, n: usize) {
    if (j + 1) % FLUSH == 0 || j + 1 == n {
      for (o, v) in self.sums.iter_mut().zip(self.acc32.iter_mut()) {
        *o += *v as f64;
        *v = 0.0;
      }
    }
  }
}

/// One chunk of points: sum_j w_j dU/dtheta(x_j) and sum_j w_j U(x_j).
#[inline(always)]
fn grad_chunk_inner<const AVX2: bool>(
  kp: &KernelParams,
  xc: &[f32],
  weights: Option<&[f64]>,
  uniform: f64,
) -> (Vec<f64>, f64) {
  let (k, d) = (kp.components(), kp.dim);
  let mut acc = GradSums::new(kp);
  let mut mean_u = 0f64;
  let mut gamma = vec![0f64; BLOCK * k];
  let mut sq = vec![0f64; BLOCK * k];
  let mut u = [0f64; BLOCK];
  let npts = xc.len() / d;
  for b0 in (0..npts).step_by(BLOCK) {
    let nb = BLOCK.min(npts - b0);
    // Phase 1: responsibilities of the block's points (independent chains).
    // (Zero-weight points are evaluated too and then skipped: simpler than compacting the block.)
    kp.block_with_sq::<AVX2>(
      &xc[b0 * d..(b0 + nb) * d],
      &mut gamma[..nb * k],
      &mut sq[..nb * k],
      &mut u[..nb],
    );
    // Phase 2: the sums, in point order.
    for p in 0..nb {
      let j = b0 + p;
      let w = weights.map_or(uniform, |w| w[j]);
      if w != 0.0 {
        mean_u += w * u[p];
        let row = &xc[j * d..(j + 1) * d];
        acc.add(kp, w, row, &gamma[p * k..(p + 1) * k], &sq[p * k..(p + 1) * k]);
      }
      acc.point_done(j, npts);
    }
  }
  (acc.sums, mean_u)
}

avx2_dispatch!(pub(super) fn grad_chunk = grad_chunk_inner::<AVX2>(kp: &KernelParams, xc: &[f32], weights: Option<&[f64]>, uniform: f64) -> (Vec<f64>, f64));

/// f32 copies of the parameters (and the f64 terms) the per-point kernels use.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct KernelParams {
  /// The dimension d of a point.
  pub dim: usize,
  pub means: Vec<f32>,
  pub z: Vec<f64>,
  pub half_inv_var: Vec<f64>,
  pub inv_var: Vec<f32>,
}

impl KernelParams {
  /// The number of components K.
  pub fn components(&self) -> usize {
    self.z.len()
  }

  /// U of the `u.len()` points of `rows` (in `u`, and as f32 in `energies`), their
  /// responsibilities and squared distances, and with `grads` grad_x U.
  #[inline(always)]
  pub(super) fn evaluate_rows<const AVX2: bool>(
    &self,
    rows: &[f32],
    gamma: &mut [f64],
    sq: &mut [f64],
    u: &mut [f64],
    energies: &mut [f32],
    grads: Option<&mut [f32]>,
  ) {
    self.block_with_sq::<AVX2>(rows, gamma, sq, u);
    for (e, &v) in energies.iter_mut().zip(u.iter()) {
      *e = v as f32;
    }
    if let Some(g) = grads {
      self.grad_rows(rows, gamma, g);
    }
  }

  /// grad_x U = sum_i gamma_i (x - a_i) / s_i^2 of each row, from its responsibilities.
  #[inline(always)]
  fn grad_rows(&self, rows: &[f32], gamma: &[f64], grads: &mut [f32]) {
    let (k, d) = (self.components(), self.dim);
    for ((row, g), gm) in rows
      .chunks_exact(d)
      .zip(grads.chunks_exact_mut(d))
      .zip(gamma.chunks_exact(k))
    {
      g.fill(0.0);
      for i in 0..k {
        let c = gm[i] as f32 * self.inv_var[i];
        let a = &self.means[i * d..(i + 1) * d];
        for ((gv, &xv), &av) in g.iter_mut().zip(row).zip(a) {
          *gv += c * (xv - av);
        }
      }
    }
  }

  /// U, responsibilities and squared distances of the `u.len()` points of `rows` (the softmax four
  /// points at a time under AVX2: the same operations, so the same bits as one at a time).
  #[inline(always)]
  pub(super) fn block_with_sq<const AVX2: bool>(&self, rows: &[f32], gamma: &mut [f64], sq: &mut [f64], u: &mut [f64]) {
    let (k, d) = (self.components(), self.dim);
    let n = u.len();
    let mut m = [f64::NEG_INFINITY; BLOCK];
    let mut p0 = 0;
    while p0 < n {
      let nb = BLOCK.min(n - p0);
      for p in 0..nb {
        let j = p0 + p;
        let row = &rows[j * d..(j + 1) * d];
        m[p] = f64::NEG_INFINITY;
        for i in 0..k {
          let s2 = sq_dist::<AVX2>(row, &self.means[i * d..(i + 1) * d]) as f64;
          sq[j * k + i] = s2;
          let r = -s2 * self.half_inv_var[i] - self.z[i];
          gamma[j * k + i] = r;
          m[p] = m[p].max(r);
        }
      }
      let mut p = 0;
      #[cfg(target_arch = "x86_64")]
      if AVX2 {
        while p + 4 <= nb && m[p..p + 4].iter().all(|v| v.is_finite()) {
          // SAFETY: AVX2 is true only in the AVX2 copy made by `avx2_dispatch!`, after detection.
          unsafe {
            softmax4(
              &mut gamma[(p0 + p) * k..(p0 + p + 4) * k],
              &m[p..p + 4],
              &mut u[p0 + p..p0 + p + 4],
              k,
            )
          };
          p += 4;
        }
      }
      while p < nb {
        let j = p0 + p;
        u[j] = softmax_in_place(&mut gamma[j * k..(j + 1) * k], m[p]);
        p += 1;
      }
      p0 += nb;
    }
  }
}

/// `softmax_in_place` for four points with finite maxima, one point per lane.
/// SAFETY: the CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn softmax4(gamma: &mut [f64], m: &[f64], u: &mut [f64], k: usize) {
  use std::arch::x86_64::*;
  let mv = _mm256_loadu_pd(m.as_ptr());
  let mut s = _mm256_setzero_pd();
  for i in 0..k {
    let g = _mm256_set_pd(gamma[3 * k + i], gamma[2 * k + i], gamma[k + i], gamma[i]);
    // exp(0) is exactly 1 in math::exp_f32 too, so the scalar shortcut for the maximum agrees.
    let e = math::x4::exp_f32(_mm256_sub_pd(g, mv));
    let mut out = [0f64; 4];
    _mm256_storeu_pd(out.as_mut_ptr(), e);
    for (l, v) in out.iter().enumerate() {
      gamma[l * k + i] = *v;
    }
    s = _mm256_add_pd(s, e);
  }
  let inv = _mm256_div_pd(_mm256_set1_pd(1.0), s);
  let mut invs = [0f64; 4];
  _mm256_storeu_pd(invs.as_mut_ptr(), inv);
  for (l, iv) in invs.iter().enumerate() {
    for g in &mut gamma[l * k..(l + 1) * k] {
      *g *= iv;
    }
  }
  let uv = _mm256_sub_pd(_mm256_setzero_pd(), _mm256_add_pd(mv, math::x4::ln_f32_ge1(s)));
  _mm256_storeu_pd(u.as_mut_ptr(), uv);
}

/// Turn log-terms into probabilities in place; return -logsumexp (the energy).
#[inline(always)]
fn softmax_in_place(gamma: &mut [f64], m: f64) -> f64 {
  if !m.is_finite() {
    gamma.fill(f64::NAN);
    return f64::NAN;
  }
  let mut s = 0.0;
  for g in gamma.iter_mut() {
    // The largest term is exactly exp(0) = 1: no need to compute it.
    *g = if *g == m { 1.0 } else { math::exp_f32(*g - m) };
    s += *g;
  }
  let inv = 1.0 / s;
  for g in gamma.iter_mut() {
    *g *= inv;
  }
  -(m + math::ln_f32(s))
}

/// |x - a|^2 in f32 over ACC fixed lanes, combined in a fixed tree: the same bits with or without
/// AVX2 (`AVX2` says the caller is the AVX2 copy of a kernel).
#[inline(always)]
fn sq_dist<const AVX2: bool>(x: &[f32], a: &[f32]) -> f32 {
  let n = x.len();
  let a = &a[..n];
  let full = n - n % ACC;
  #[cfg(target_arch = "x86_64")]
  // SAFETY: AVX2 is true only in the AVX2 copy made by `avx2_dispatch!`, after detection.
  let mut acc = if AVX2 {
    unsafe { sq_dist_avx2(&x[..full], &a[..full]) }
  } else {
    sq_dist_lanes(&x[..full], &a[..full])
  };
  #[cfg(not(target_arch = "x86_64"))]
  let mut acc = sq_dist_lanes(&x[..full], &a[..full]);
  for l in 0..n - full {
    let t = x[full + l] - a[full + l];
    acc[l] += t * t;
  }
  ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

#[inline(always)]
fn sq_dist_lanes(x: &[f32], a: &[f32]) -> [f32; ACC] {
  let mut acc = [0f32; ACC];
  for (xs, as_) in x.chunks_exact(ACC).zip(a.chunks_exact(ACC)) {
    for l in 0..ACC {
      let t = xs[l] - as_[l];
      acc[l] += t * t;
    }
  }
  acc
}

/// SAFETY: the CPU must support AVX2; `x` and `a` have equal lengths, multiples of ACC.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sq_dist_avx2(x: &[f32], a: &[f32]) -> [f32; ACC] {
  use std::arch::x86_64::*;
  let mut acc = _mm256_setzero_ps();
  let mut i = 0;
  while i < x.len() {
    let t = _mm256_sub_ps(_mm256_loadu_ps(x.as_ptr().add(i)), _mm256_loadu_ps(a.as_ptr().add(i)));
    acc = _mm256_add_ps(acc, _mm256_mul_ps(t, t));
    i += ACC;
  }
  let mut out = [0f32; ACC];
  _mm256_storeu_ps(out.as_mut_ptr(), acc);
  out
}
