//! The walker-weighted parameter gradient sum_j p_j dU/dtheta(X_j), computed inside the walkers'
//! observation pass (the responsibilities of the evaluation are reused) or on its own from the
//! same arithmetic, so both give the same bits.

use super::kernels::{KernelParams, FLUSH};
use crate::dispatch::avx2_dispatch;
use crate::energy::{UpdateChunk, WalkerPart};
use crate::math;
use crate::weights::{max_log_weight, zero_weight};

/// U and grad U of one chunk, recording responsibilities, squared distances and energies.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn eval_record_inner<const AVX2: bool>(
  kp: &KernelParams,
  d: usize,
  xc: &[f32],
  ec: &mut [f32],
  gc: &mut [f32],
  gamma: &mut [f64],
  sq: &mut [f64],
  u: &mut [f64],
) {
  let n = ec.len();
  kp.block_with_sq::<AVX2>(xc, gamma, sq, u, d);
  for j in 0..n {
    ec[j] = u[j] as f32;
  }
  kp.grad_rows(xc, gamma, gc, d);
}

avx2_dispatch!(fn eval_record = eval_record_inner::<AVX2>(kp: &KernelParams, d: usize, xc: &[f32], ec: &mut [f32], gc: &mut [f32], gamma: &mut [f64], sq: &mut [f64], u: &mut [f64]));

/// Weighted sums of one chunk from recorded responsibilities: weights exp(A_j - max_chunk).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn walker_sums_inner<const AVX2: bool>(
  kp: &KernelParams,
  k: usize,
  d: usize,
  xc: &[f32],
  a: &[f64],
  gamma: &[f64],
  sq: &[f64],
  u: &[f64],
) -> WalkerPart {
  let max = max_log_weight(a);
  let mut part = WalkerPart {
    max,
    sums: vec![0f64; k * (d + 2)],
    energy_sum: 0.0,
    weight_sum: 0.0,
  };
  if max == f64::NEG_INFINITY {
    return part;
  }
  let mut acc32 = vec![0f32; k * d];
  let n = a.len();
  for j in 0..n {
    if !zero_weight(a[j]) {
      let w = math::exp_f32(a[j] - max);
      let row = &xc[j * d..(j + 1) * d];
      part.weight_sum += w;
      part.energy_sum += w * u[j];
      for i in 0..k {
        let gm = gamma[j * k + i];
        let c = (-w * gm * 2.0 * kp.half_inv_var[i]) as f32;
        let am = &kp.means[i * d..(i + 1) * d];
        for ((o, &xv), &av) in acc32[i * d..(i + 1) * d].iter_mut().zip(row).zip(am) {
          *o += c * (xv - av);
        }
        part.sums[k * d + i] += w * gm;
        part.sums[k * d + k + i] -= w * gm * sq[j * k + i] * 2.0 * kp.half_inv_var[i];
      }
    }
    if (j + 1) % FLUSH == 0 || j + 1 == n {
      for (o, v) in part.sums[..k * d].iter_mut().zip(acc32.iter_mut()) {
        *o += *v as f64;
        *v = 0.0;
      }
    }
  }
  part
}

avx2_dispatch!(fn walker_sums = walker_sums_inner::<AVX2>(kp: &KernelParams, k: usize, d: usize, xc: &[f32], a: &[f64], gamma: &[f64], sq: &[f64], u: &[f64]) -> WalkerPart);

/// One chunk of an observation: U and grad U recording the responsibilities, the weight update,
/// then (with `fold`) the chunk's weighted sums from what the evaluation recorded.
#[allow(clippy::too_many_arguments)]
pub(super) fn observe_chunk(
  kp: &KernelParams,
  k: usize,
  d: usize,
  x: &[f32],
  e: &mut [f32],
  g: &mut [f32],
  a: &mut [f64],
  update: &mut UpdateChunk<'_>,
  fold: bool,
) -> Option<WalkerPart> {
  let n = e.len();
  let (mut gamma, mut sq, mut u) = (vec![0f64; n * k], vec![0f64; n * k], vec![0f64; n]);
  eval_record(kp, d, x, e, g, &mut gamma, &mut sq, &mut u);
  update(e, g, a);
  fold.then(|| walker_sums(kp, k, d, x, a, &gamma, &sq, &u))
}

/// The same sums for one chunk without an observation (recomputing the responsibilities).
pub(super) fn walker_part(kp: &KernelParams, k: usize, d: usize, x: &[f32], a: &[f64]) -> WalkerPart {
  let n = a.len();
  let (mut gamma, mut sq, mut u) = (vec![0f64; n * k], vec![0f64; n * k], vec![0f64; n]);
  let (mut e, mut g) = (vec![0f32; n], vec![0f32; n * d]);
  eval_record(kp, d, x, &mut e, &mut g, &mut gamma, &mut sq, &mut u);
  walker_sums(kp, k, d, x, a, &gamma, &sq, &u)
}
