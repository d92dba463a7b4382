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

#[inline(always)]
fn arr(s: &[f32]) -> [f32; LANES] {
  s.try_into().expect("chunk of LANES")
}

/// sum_i g_i^2, in f64.
#[inline(always)]
pub fn sum_sq(g: &[f32]) -> f64 {
  let mut acc = [0f64; LANES];
  let mut it = g.chunks_exact(LANES);
  for c in &mut it {
    let ga = arr(c);
    for l in 0..LANES {
      let v = ga[l] as f64;
      acc[l] += v * v;
    }
  }
  for (l, &v) in it.remainder().iter().enumerate() {
    let v = v as f64;
    acc[l] += v * v;
  }
  combine(acc)
}

/// (sum_i (x_i - xp_i) g_i, sum_i g_i^2), in f64.
#[inline(always)]
pub fn diff_dot_and_sum_sq(x: &[f32], xp: &[f32], g: &[f32]) -> (f64, f64) {
  let mut dot = [0f64; LANES];
  let mut sq = [0f64; LANES];
  let n = g.len();
  let (x, xp) = (&x[..n], &xp[..n]);
  let full = n - n % LANES;
  for ((xc, pc), gc) in x[..full].chunks_exact(LANES).zip(xp[..full].chunks_exact(LANES)).zip(g[..full].chunks_exact(LANES)) {
    let (xa, pa, ga) = (arr(xc), arr(pc), arr(gc));
    for l in 0..LANES {
      let gv = ga[l] as f64;
      dot[l] += (xa[l] as f64 - pa[l] as f64) * gv;
      sq[l] += gv * gv;
    }
  }
  for l in 0..n - full {
    let gv = g[full + l] as f64;
    dot[l] += (x[full + l] as f64 - xp[full + l] as f64) * gv;
    sq[l] += gv * gv;
  }
  (combine(dot), combine(sq))
}

/// The ULA move of one walker: x <- x - hf g + sf z, storing the old x in xp, and returning
/// (sum_i (x_new - x_old)_i g_i, sum_i g_i^2) in f64.
#[inline(always)]
pub fn ula_row(x: &mut [f32], xp: &mut [f32], g: &[f32], z: &[f32], hf: f32, sf: f32) -> (f64, f64) {
  let n = x.len();
  let (xp, g, z) = (&mut xp[..n], &g[..n], &z[..n]);
  let mut dot = [0f64; LANES];
  let mut sq = [0f64; LANES];
  let full = n - n % LANES;
  for (((xc, pc), gc), zc) in x[..full]
    .chunks_exact_mut(LANES)
    .zip(xp[..full].chunks_exact_mut(LANES))
    .zip(g[..full].chunks_exact(LANES))
    .zip(z[..full].chunks_exact(LANES))
  {
    let (old, ga, za) = (arr(xc), arr(gc), arr(zc));
    let mut new = [0f32; LANES];
    for l in 0..LANES {
      new[l] = old[l] - hf * ga[l] + sf * za[l];
    }
    pc.copy_from_slice(&old);
    xc.copy_from_slice(&new);
    for l in 0..LANES {
      let gd = ga[l] as f64;
      dot[l] += (new[l] as f64 - old[l] as f64) * gd;
      sq[l] += gd * gd;
    }
  }
  for l in 0..n - full {
    let j = full + l;
    let old = x[j];
    let gv = g[j];
    let new = old - hf * gv + sf * z[j];
    xp[j] = old;
    x[j] = new;
    let gd = gv as f64;
    dot[l] += (new as f64 - old as f64) * gd;
    sq[l] += gd * gd;
  }
  (combine(dot), combine(sq))
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
      assert!((sum_sq(&g) - naive_sq).abs() < 1e-12);
      let (d, s) = diff_dot_and_sum_sq(&x, &xp, &g);
      assert!((d - naive_dot).abs() < 1e-12 && (s - naive_sq).abs() < 1e-12);
      let mut xm = x.clone();
      let mut xpm = vec![0f32; n];
      let z: Vec<f32> = (0..n).map(|i| (i as f32 * 0.73).sin()).collect();
      let (d2, s2) = ula_row(&mut xm, &mut xpm, &g, &z, 0.1, 0.5);
      assert_eq!(xpm, x);
      for i in 0..n {
        assert_eq!(xm[i], x[i] - 0.1 * g[i] + 0.5 * z[i]);
      }
      let nd: f64 = (0..n).map(|i| (xm[i] as f64 - x[i] as f64) * g[i] as f64).sum();
      assert!((d2 - nd).abs() < 1e-12 && (s2 - naive_sq).abs() < 1e-12);
    }
  }
}
