//! Reductions over f32 rows accumulated in f64 across a fixed set of lanes.
//!
//! A plain `for` loop summing into one f64 is a serial dependency chain that LLVM may not reorder
//! (that would change the result), so it runs scalar at one add per 4 cycles. Splitting the sum into
//! LANES independent partial sums, combined in a fixed tree, vectorises and stays deterministic: the
//! order is part of the definition, identical on every CPU and thread count.

pub const LANES: usize = 8;

#[inline(always)]
pub fn combine(a: [f64; LANES]) -> f64 {
  ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
}

/// Per-lane sums of (new - old) g and of g^2, in f64: what a move's and an observation's weight
/// terms add up. Short rows use lane 0 alone, which is the plain sum in element order.
#[derive(Default)]
struct DotSq {
  dot: [f64; LANES],
  sq: [f64; LANES],
}

impl DotSq {
  /// Add one element to lane `l`.
  #[inline(always)]
  fn add(&mut self, l: usize, new: f32, old: f32, g: f32) {
    let gd = g as f64;
    self.dot[l] += (new as f64 - old as f64) * gd;
    self.sq[l] += gd * gd;
  }

  /// The lanes' totals, combined in the fixed tree.
  #[inline(always)]
  fn combine(&self) -> (f64, f64) {
    (combine(self.dot), combine(self.sq))
  }
}

/// One element's ULA step: writes the new x and the old one into xp, and adds its terms to lane `l`.
#[inline(always)]
fn ula_elem(acc: &mut DotSq, l: usize, x: &mut f32, xp: &mut f32, g: f32, z: f32, hf: f32, sf: f32) {
  let old = *x;
  let new = old - hf * g + sf * z;
  *xp = old;
  *x = new;
  acc.add(l, new, old, g);
}

#[inline(always)]
fn arr(s: &[f32]) -> [f32; LANES] {
  s.try_into().expect("chunk of LANES")
}

/// Portable lane sums over the full chunks of 8. Each function below returns the lanes before the
/// remainder and the final `combine`, which are shared by the portable and the AVX2 code: both
/// compute lane l as the same f64 operations on elements l, l + 8, l + 16, ... in the same order.
mod portable {
  use super::{arr, DotSq, LANES};

  #[inline(always)]
  pub fn sum_sq(g: &[f32]) -> [f64; LANES] {
    let mut acc = [0f64; LANES];
    for c in g.chunks_exact(LANES) {
      let ga = arr(c);
      for l in 0..LANES {
        let v = ga[l] as f64;
        acc[l] += v * v;
      }
    }
    acc
  }

  #[inline(always)]
  pub fn diff_dot_and_sum_sq(x: &[f32], xp: &[f32], g: &[f32]) -> DotSq {
    let mut acc = DotSq::default();
    for ((xc, pc), gc) in x
      .chunks_exact(LANES)
      .zip(xp.chunks_exact(LANES))
      .zip(g.chunks_exact(LANES))
    {
      let (xa, pa, ga) = (arr(xc), arr(pc), arr(gc));
      for l in 0..LANES {
        acc.add(l, xa[l], pa[l], ga[l]);
      }
    }
    acc
  }

  #[inline(always)]
  pub fn ula_row(x: &mut [f32], xp: &mut [f32], g: &[f32], z: &[f32], hf: f32, sf: f32) -> DotSq {
    let mut acc = DotSq::default();
    for (((xc, pc), gc), zc) in x
      .chunks_exact_mut(LANES)
      .zip(xp.chunks_exact_mut(LANES))
      .zip(g.chunks_exact(LANES))
      .zip(z.chunks_exact(LANES))
    {
      let (old, ga, za) = (arr(xc), arr(gc), arr(zc));
      let mut new = [0f32; LANES];
      for l in 0..LANES {
        new[l] = old[l] - hf * ga[l] + sf * za[l];
      }
      pc.copy_from_slice(&old);
      xc.copy_from_slice(&new);
      for l in 0..LANES {
        acc.add(l, new[l], old[l], ga[l]);
      }
    }
    acc
  }
}

/// The same lane sums with AVX2 intrinsics: lanes 0-3 in one register, 4-7 in another. Plain
/// add/sub/mul only (no FMA), in the portable code's order, so the bits are the same.
#[cfg(target_arch = "x86_64")]
mod avx2 {
  use std::arch::x86_64::*;

  use super::{DotSq, LANES};

  #[inline(always)]
  unsafe fn widen(v: __m256) -> (__m256d, __m256d) {
    (
      _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
      _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)),
    )
  }

  #[inline(always)]
  unsafe fn lanes(lo: __m256d, hi: __m256d) -> [f64; LANES] {
    let mut out = [0f64; LANES];
    _mm256_storeu_pd(out.as_mut_ptr(), lo);
    _mm256_storeu_pd(out.as_mut_ptr().add(4), hi);
    out
  }

  /// [`DotSq`] in registers: (new - old) g and g^2, lanes 0-3 low and 4-7 high.
  struct DotSqX {
    dlo: __m256d,
    dhi: __m256d,
    slo: __m256d,
    shi: __m256d,
  }

  impl DotSqX {
    #[inline(always)]
    unsafe fn new() -> Self {
      let z = _mm256_setzero_pd();
      DotSqX {
        dlo: z,
        dhi: z,
        slo: z,
        shi: z,
      }
    }

    /// Add eight elements, one per lane.
    #[inline(always)]
    unsafe fn add(&mut self, new: __m256, old: __m256, g: __m256) {
      let (nlo, nhi) = widen(new);
      let (olo, ohi) = widen(old);
      let (glo, ghi) = widen(g);
      self.dlo = _mm256_add_pd(self.dlo, _mm256_mul_pd(_mm256_sub_pd(nlo, olo), glo));
      self.dhi = _mm256_add_pd(self.dhi, _mm256_mul_pd(_mm256_sub_pd(nhi, ohi), ghi));
      self.slo = _mm256_add_pd(self.slo, _mm256_mul_pd(glo, glo));
      self.shi = _mm256_add_pd(self.shi, _mm256_mul_pd(ghi, ghi));
    }

    #[inline(always)]
    unsafe fn lanes(&self) -> DotSq {
      DotSq {
        dot: lanes(self.dlo, self.dhi),
        sq: lanes(self.slo, self.shi),
      }
    }
  }

  /// SAFETY: the CPU must support AVX2.
  #[inline(always)]
  pub unsafe fn sum_sq(g: &[f32]) -> [f64; LANES] {
    let (mut lo, mut hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let full = g.len() - g.len() % LANES;
    let mut i = 0;
    while i < full {
      let (glo, ghi) = widen(_mm256_loadu_ps(g.as_ptr().add(i)));
      lo = _mm256_add_pd(lo, _mm256_mul_pd(glo, glo));
      hi = _mm256_add_pd(hi, _mm256_mul_pd(ghi, ghi));
      i += LANES;
    }
    lanes(lo, hi)
  }

  /// SAFETY: the CPU must support AVX2; x, xp and g have the same length.
  #[inline(always)]
  pub unsafe fn diff_dot_and_sum_sq(x: &[f32], xp: &[f32], g: &[f32]) -> DotSq {
    let n = g.len();
    assert!(x.len() >= n && xp.len() >= n);
    let mut acc = DotSqX::new();
    let full = n - n % LANES;
    let mut i = 0;
    while i < full {
      acc.add(
        _mm256_loadu_ps(x.as_ptr().add(i)),
        _mm256_loadu_ps(xp.as_ptr().add(i)),
        _mm256_loadu_ps(g.as_ptr().add(i)),
      );
      i += LANES;
    }
    acc.lanes()
  }

  /// SAFETY: the CPU must support AVX2; all slices have the length of x.
  #[inline(always)]
  pub unsafe fn ula_row(x: &mut [f32], xp: &mut [f32], g: &[f32], z: &[f32], hf: f32, sf: f32) -> DotSq {
    let n = x.len();
    assert!(xp.len() >= n && g.len() >= n && z.len() >= n);
    let (hv, sv) = (_mm256_set1_ps(hf), _mm256_set1_ps(sf));
    let mut acc = DotSqX::new();
    let full = n - n % LANES;
    let mut i = 0;
    while i < full {
      let old = _mm256_loadu_ps(x.as_ptr().add(i));
      let gv = _mm256_loadu_ps(g.as_ptr().add(i));
      let zv = _mm256_loadu_ps(z.as_ptr().add(i));
      // (old - hf g) + sf z, as the portable code.
      let new = _mm256_add_ps(_mm256_sub_ps(old, _mm256_mul_ps(hv, gv)), _mm256_mul_ps(sv, zv));
      _mm256_storeu_ps(xp.as_mut_ptr().add(i), old);
      _mm256_storeu_ps(x.as_mut_ptr().add(i), new);
      acc.add(new, old, gv);
      i += LANES;
    }
    acc.lanes()
  }
}

/// sum_i g_i^2, in f64. `AVX2` says the caller runs in code compiled for AVX2.
#[inline(always)]
pub fn sum_sq<const AVX2: bool>(g: &[f32]) -> f64 {
  if g.len() < LANES {
    // Short rows (small d): the lane machinery costs more than the sum; plain order, same on
    // every CPU (the choice depends on the length alone).
    return g.iter().map(|&v| (v as f64) * (v as f64)).fold(0.0, |a, b| a + b);
  }
  #[cfg(target_arch = "x86_64")]
  // SAFETY: AVX2 is only true inside the AVX2 copy made by `avx2_dispatch!`, after detection.
  let mut acc = if AVX2 {
    unsafe { avx2::sum_sq(g) }
  } else {
    portable::sum_sq(g)
  };
  #[cfg(not(target_arch = "x86_64"))]
  let mut acc = portable::sum_sq(g);
  let full = g.len() - g.len() % LANES;
  for (l, &v) in g[full..].iter().enumerate() {
    let v = v as f64;
    acc[l] += v * v;
  }
  combine(acc)
}

/// (sum_i (x_i - xp_i) g_i, sum_i g_i^2), in f64.
#[inline(always)]
pub fn diff_dot_and_sum_sq<const AVX2: bool>(x: &[f32], xp: &[f32], g: &[f32]) -> (f64, f64) {
  let n = g.len();
  let (x, xp) = (&x[..n], &xp[..n]);
  if n < LANES {
    let mut acc = DotSq::default();
    for i in 0..n {
      acc.add(0, x[i], xp[i], g[i]);
    }
    return (acc.dot[0], acc.sq[0]);
  }
  #[cfg(target_arch = "x86_64")]
  // SAFETY: as in `sum_sq`.
  let mut acc = if AVX2 {
    unsafe { avx2::diff_dot_and_sum_sq(x, xp, g) }
  } else {
    portable::diff_dot_and_sum_sq(x, xp, g)
  };
  #[cfg(not(target_arch = "x86_64"))]
  let mut acc = portable::diff_dot_and_sum_sq(x, xp, g);
  let full = n - n % LANES;
  for l in 0..n - full {
    acc.add(l, x[full + l], xp[full + l], g[full + l]);
  }
  acc.combine()
}

/// The ULA move of one walker: x <- x - hf g + sf z, storing the old x in xp, and returning
/// (sum_i (x_new - x_old)_i g_i, sum_i g_i^2) in f64.
#[inline(always)]
pub fn ula_row<const AVX2: bool>(x: &mut [f32], xp: &mut [f32], g: &[f32], z: &[f32], hf: f32, sf: f32) -> (f64, f64) {
  let n = x.len();
  let (xp, g, z) = (&mut xp[..n], &g[..n], &z[..n]);
  if n < LANES {
    let mut acc = DotSq::default();
    for j in 0..n {
      ula_elem(&mut acc, 0, &mut x[j], &mut xp[j], g[j], z[j], hf, sf);
    }
    return (acc.dot[0], acc.sq[0]);
  }
  #[cfg(target_arch = "x86_64")]
  // SAFETY: as in `sum_sq`.
  let mut acc = if AVX2 {
    unsafe { avx2::ula_row(x, xp, g, z, hf, sf) }
  } else {
    portable::ula_row(x, xp, g, z, hf, sf)
  };
  #[cfg(not(target_arch = "x86_64"))]
  let mut acc = portable::ula_row(x, xp, g, z, hf, sf);
  let full = n - n % LANES;
  for l in 0..n - full {
    let j = full + l;
    ula_elem(&mut acc, l, &mut x[j], &mut xp[j], g[j], z[j], hf, sf);
  }
  acc.combine()
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn matches_naive_sums() {
    for n in [0usize, 1, 7, 8, 9, 50, 101] {
      let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
      let xp: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
      let g: Vec<f32> = (0..n).map(|i| i as f32 * 0.01 - 0.2).collect();
      let naive_sq: f64 = g.iter().map(|&v| (v as f64).powi(2)).sum();
      let naive_dot: f64 = (0..n).map(|i| (x[i] as f64 - xp[i] as f64) * g[i] as f64).sum();
      assert!((sum_sq::<false>(&g) - naive_sq).abs() < 1e-12);
      let (d, s) = diff_dot_and_sum_sq::<false>(&x, &xp, &g);
      assert!((d - naive_dot).abs() < 1e-12 && (s - naive_sq).abs() < 1e-12);
      let mut xm = x.clone();
      let mut xpm = vec![0f32; n];
      let z: Vec<f32> = (0..n).map(|i| (i as f32 * 0.73).sin()).collect();
      let (d2, s2) = ula_row::<false>(&mut xm, &mut xpm, &g, &z, 0.1, 0.5);
      assert_eq!(xpm, x);
      for i in 0..n {
        assert_eq!(xm[i], x[i] - 0.1 * g[i] + 0.5 * z[i]);
      }
      let nd: f64 = (0..n).map(|i| (xm[i] as f64 - x[i] as f64) * g[i] as f64).sum();
      assert!((d2 - nd).abs() < 1e-12 && (s2 - naive_sq).abs() < 1e-12);
    }
  }

  /// The AVX2 kernels give the portable kernels' bits exactly.
  #[cfg(target_arch = "x86_64")]
  #[test]
  fn avx2_is_bit_identical() {
    crate::dispatch::require_avx2!();
    #[target_feature(enable = "avx2")]
    unsafe fn all(x: &mut [f32], xp: &mut [f32], g: &[f32], z: &[f32]) -> (f64, (f64, f64), (f64, f64)) {
      (
        sum_sq::<true>(g),
        diff_dot_and_sum_sq::<true>(x, xp, g),
        ula_row::<true>(x, xp, g, z, 0.013, 0.77),
      )
    }
    for n in [0usize, 3, 8, 13, 64, 100, 257] {
      let x: Vec<f32> = (0..n).map(|i| (i as f32 * 1.37).sin() * 3.0).collect();
      let xp: Vec<f32> = (0..n).map(|i| (i as f32 * 0.71).cos()).collect();
      let g: Vec<f32> = (0..n).map(|i| (i as f32 * 0.29).sin() * 7.0 - 0.3).collect();
      let z: Vec<f32> = (0..n).map(|i| (i as f32 * 2.3).cos() * 1.9).collect();
      let (mut xa, mut pa, mut xb, mut pb) = (x.clone(), xp.clone(), x.clone(), xp.clone());
      let fast = unsafe { all(&mut xa, &mut pa, &g, &z) };
      let slow = (
        sum_sq::<false>(&g),
        diff_dot_and_sum_sq::<false>(&xb, &pb, &g),
        ula_row::<false>(&mut xb, &mut pb, &g, &z, 0.013, 0.77),
      );
      assert_eq!(fast.0.to_bits(), slow.0.to_bits());
      assert_eq!(
        (fast.1 .0.to_bits(), fast.1 .1.to_bits()),
        (slow.1 .0.to_bits(), slow.1 .1.to_bits())
      );
      assert_eq!(
        (fast.2 .0.to_bits(), fast.2 .1.to_bits()),
        (slow.2 .0.to_bits(), slow.2 .1.to_bits())
      );
      assert_eq!(xa, xb);
      assert_eq!(pa, pb);
    }
  }
}
