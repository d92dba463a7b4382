//! The per-chunk arithmetic of the CPU walkers: the ULA move and the Jarzynski weight update of
//! a chunk of rows (AVX2 copies chosen at run time; the same operations, so the same bits).

use super::Phase;
use crate::dispatch::avx2_dispatch;
use crate::lanes::{diff_dot_and_sum_sq, sum_sq, ula_row};

/// Constants of one move.
pub(super) struct MoveRows {
  pub d: usize,
  pub padded: usize,
  pub hf: f32,
  pub sf: f32,
  pub quarter_h: f64,
  pub weighted: bool,
}

/// ULA-move the walkers of one chunk; for weighted samplers also keep the old positions and
/// alpha_k(X_k, X_{k+1}). Dead walkers (A = -inf) stay put.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn move_rows_inner<const AVX2: bool>(
  r: &MoveRows,
  noise: &[f32],
  xs: &mut [f32],
  xps: &mut [f32],
  gs: &[f32],
  a: &[f64],
  e: &[f32],
  fs: &mut [f64],
) {
  // Zipped row iterators rather than index ranges: for short rows (small d) the bounds checks of
  // four slices per walker cost more than the arithmetic.
  let d = r.d;
  let z_rows = noise.chunks_exact(r.padded);
  if !r.weighted {
    for (((x, g), z), &aw) in xs.chunks_exact_mut(d).zip(gs.chunks_exact(d)).zip(z_rows).zip(a) {
      if aw == f64::NEG_INFINITY {
        continue;
      }
      for ((xv, &gv), &zv) in x.iter_mut().zip(g).zip(&z[..d]) {
        *xv = *xv - r.hf * gv + r.sf * zv;
      }
    }
    return;
  }
  let rows = xs
    .chunks_exact_mut(d)
    .zip(xps.chunks_exact_mut(d))
    .zip(gs.chunks_exact(d))
    .zip(z_rows);
  for ((((x, xp), g), z), ((&aw, &ew), f)) in rows.zip(a.iter().zip(e).zip(fs.iter_mut())) {
    if aw == f64::NEG_INFINITY {
      xp.copy_from_slice(x);
      *f = 0.0;
      continue;
    }
    let (dot, g2) = ula_row::<AVX2>(x, xp, g, &z[..d], r.hf, r.sf);
    *f = ew as f64 + 0.5 * dot + r.quarter_h * g2;
  }
}

avx2_dispatch!(pub(super) fn move_rows = move_rows_inner::<AVX2>(r: &MoveRows, noise: &[f32], xs: &mut [f32], xps: &mut [f32], gs: &[f32], a: &[f64], e: &[f32], fs: &mut [f64]));

/// Constants of one observation.
pub(super) struct ObserveRows {
  pub d: usize,
  pub quarter_h: f64,
  pub weighted: bool,
  pub phase: Phase,
}

/// Weight update of one chunk of walkers. `xs`/`xps` are empty unless a weighted move is pending,
/// `fw` unless weighted; `fw` enters as each walker's forward term (or U_old) and leaves as U_new.
/// Returns (newly invalid, invalid).
#[inline(always)]
fn observe_rows_inner<const AVX2: bool>(
  r: &ObserveRows,
  xs: &[f32],
  xps: &[f32],
  fw: &mut [f64],
  a_s: &mut [f64],
  e_s: &[f32],
  g_s: &[f32],
) -> (usize, usize) {
  let d = r.d;
  let mut newly = 0usize;
  let mut invalid = 0usize;
  // The new log-weight from U_new, the sums of this walker, and its forward term (or U_old);
  // true when the walker just became invalid.
  let update = |aw: &mut f64, u_new: f64, dot: f64, g2: f64, fwv: f64| -> bool {
    let mut next = *aw;
    if r.weighted {
      match r.phase {
        Phase::Fresh => {}
        Phase::Moved => next += fwv - (u_new - 0.5 * dot + r.quarter_h * g2),
        // AIS increment U_old - U_new; `forward` holds U_old between observations.
        Phase::Observed => next += fwv - u_new,
      }
    }
    if !u_new.is_finite() || !g2.is_finite() || !next.is_finite() {
      *aw = f64::NEG_INFINITY;
      true
    } else {
      *aw = next;
      false
    }
  };
  if !xs.is_empty() {
    let rows = g_s.chunks_exact(d).zip(xs.chunks_exact(d)).zip(xps.chunks_exact(d));
    for ((aw, (&e, fwv)), ((g, x), xp)) in a_s.iter_mut().zip(e_s.iter().zip(fw.iter_mut())).zip(rows) {
      // Whatever happens, the forward slot then holds U(X) for a possible AIS re-observation.
      let f_old = std::mem::replace(fwv, e as f64);
      if *aw == f64::NEG_INFINITY {
        invalid += 1;
        continue;
      }
      let (dot, g2) = diff_dot_and_sum_sq::<AVX2>(x, xp, g);
      if update(aw, e as f64, dot, g2, f_old) {
        newly += 1;
        invalid += 1;
      }
    }
  } else {
    // Unweighted samplers have no forward terms: a dummy slot stands in (never read).
    let mut dummy = 0.0;
    let mut fws = fw.iter_mut();
    for ((aw, &e), g) in a_s.iter_mut().zip(e_s).zip(g_s.chunks_exact(d)) {
      let fwv = fws.next().unwrap_or(&mut dummy);
      let f_old = std::mem::replace(fwv, e as f64);
      if *aw == f64::NEG_INFINITY {
        invalid += 1;
        continue;
      }
      if update(aw, e as f64, 0.0, sum_sq::<AVX2>(g), f_old) {
        newly += 1;
        invalid += 1;
      }
    }
  }
  (newly, invalid)
}

avx2_dispatch!(pub(super) fn observe_rows = observe_rows_inner::<AVX2>(r: &ObserveRows, xs: &[f32], xps: &[f32], fw: &mut [f64], a_s: &mut [f64], e_s: &[f32], g_s: &[f32]) -> (usize, usize));
