//! The walker-weighted parameter gradient sum_j p_j dU/dtheta(X_j), computed inside the walkers'
//! observation pass (the responsibilities of the evaluation are reused) or on its own from the
//! same arithmetic, so both give the same bits.

use super::kernels::{GradSums, KernelParams};
use crate::dispatch::avx2_dispatch;
use crate::energy::{ObservedChunk, UpdateChunk, WalkerPart};
use crate::math;
use crate::weights::{max_log_weight, zero_weight};

/// What the evaluation of one chunk records for its weighted sums: responsibilities and squared
/// distances (N x K) and f64 energies (N).
struct Recorded {
  gamma: Vec<f64>,
  sq: Vec<f64>,
  u: Vec<f64>,
}

/// U and grad U of one chunk, recording what the weighted sums reuse.
#[inline(always)]
fn eval_record_inner<const AVX2: bool>(kp: &KernelParams, xc: &[f32], ec: &mut [f32], gc: &mut [f32]) -> Recorded {
  let (n, k) = (ec.len(), kp.components());
  let mut r = Recorded {
    gamma: vec![0f64; n * k],
    sq: vec![0f64; n * k],
    u: vec![0f64; n],
  };
  kp.evaluate_rows::<AVX2>(xc, &mut r.gamma, &mut r.sq, &mut r.u, ec, Some(gc));
  r
}

avx2_dispatch!(fn eval_record = eval_record_inner::<AVX2>(kp: &KernelParams, xc: &[f32], ec: &mut [f32], gc: &mut [f32]) -> Recorded);

/// Weighted sums of one chunk from recorded responsibilities: weights exp(A_j - max_chunk).
#[inline(always)]
fn walker_sums_inner<const AVX2: bool>(kp: &KernelParams, xc: &[f32], a: &[f64], r: &Recorded) -> WalkerPart {
  let (k, d) = (kp.components(), kp.dim);
  let max = max_log_weight(a);
  let mut acc = GradSums::new(kp);
  let (mut weight_sum, mut energy_sum) = (0.0, 0.0);
  if max != f64::NEG_INFINITY {
    let n = a.len();
    for j in 0..n {
      if !zero_weight(a[j]) {
        let w = math::exp_f32(a[j] - max);
        weight_sum += w;
        energy_sum += w * r.u[j];
        let row = &xc[j * d..(j + 1) * d];
        acc.add(kp, w, row, &r.gamma[j * k..(j + 1) * k], &r.sq[j * k..(j + 1) * k]);
      }
      acc.point_done(j, n);
    }
  }
  WalkerPart {
    max,
    sums: acc.sums,
    energy_sum,
    weight_sum,
  }
}

avx2_dispatch!(fn walker_sums = walker_sums_inner::<AVX2>(kp: &KernelParams, xc: &[f32], a: &[f64], r: &Recorded) -> WalkerPart);

/// One chunk of an observation: U and grad U recording the responsibilities, the weight update,
/// then (with `fold`) the chunk's weighted sums from what the evaluation recorded.
pub(super) fn observe_chunk(
  kp: &KernelParams,
  chunk: ObservedChunk<'_>,
  update: &mut UpdateChunk<'_>,
  fold: bool,
) -> Option<WalkerPart> {
  let ObservedChunk {
    x,
    energy,
    grad,
    log_weights,
  } = chunk;
  let recorded = eval_record(kp, x, energy, grad);
  update(energy, grad, log_weights);
  fold.then(|| walker_sums(kp, x, log_weights, &recorded))
}

/// The same sums for one chunk without an observation (recomputing the responsibilities).
pub(super) fn walker_part(kp: &KernelParams, x: &[f32], a: &[f64]) -> WalkerPart {
  let n = a.len();
  let (mut e, mut g) = (vec![0f32; n], vec![0f32; n * kp.dim]);
  let recorded = eval_record(kp, x, &mut e, &mut g);
  walker_sums(kp, x, a, &recorded)
}
