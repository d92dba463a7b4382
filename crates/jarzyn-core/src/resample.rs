//! Resampling schemes with one signature: normalised weights in, ancestor indices out.
//!
//! All four draw their uniforms from the counter-based RNG (stream `Resample`), so a resampling is
//! reproducible and independent of thread count. Every scheme ends in [`inverse_cdf`], which is
//! round-off safe: the uniforms are scaled by the cumulative sum's own end rather than by 1, the
//! search selects the first index whose cumulative sum is strictly above the uniform (so a
//! zero-weight walker, whose cumulative sum equals its predecessor's, can never be chosen), and a
//! uniform that still falls past the end maps to the last walker with positive weight.

use crate::math;
use crate::philox::{philox4x32_10, Counter};

/// The resampling schemes. Multinomial is the plain one; the other three keep the offspring
/// counts closer to N p_i (lower variance), systematic the closest in practice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
  Multinomial,
  Systematic,
  Stratified,
  Residual,
}

impl Scheme {
  pub fn parse(name: &str) -> Option<Scheme> {
    match name {
      "multinomial" => Some(Scheme::Multinomial),
      "systematic" => Some(Scheme::Systematic),
      "stratified" => Some(Scheme::Stratified),
      "residual" => Some(Scheme::Residual),
      _ => None,
    }
  }

  pub fn name(self) -> &'static str {
    match self {
      Scheme::Multinomial => "multinomial",
      Scheme::Systematic => "systematic",
      Scheme::Stratified => "stratified",
      Scheme::Residual => "residual",
    }
  }
}

/// Uniforms in [0, 1) with 53 random bits, item `i` from counter (i / 2, 0, c2, c3).
pub struct Uniforms {
  key: [u32; 2],
  ctr: Counter,
}

impl Uniforms {
  pub fn new(key: [u32; 2], ctr: Counter) -> Self {
    Uniforms { key, ctr }
  }

  /// Fill `out` with uniforms 0, 1, 2, ... of this stream.
  pub fn fill(&self, out: &mut [f64]) {
    for (b, pair) in out.chunks_mut(2).enumerate() {
      let r = philox4x32_10([b as u32, (b >> 32) as u32, self.ctr.c2, self.ctr.c3], self.key);
      pair[0] = to_unit(r[0], r[1]);
      if pair.len() > 1 {
        pair[1] = to_unit(r[2], r[3]);
      }
    }
  }

  pub fn get(&self, i: usize) -> f64 {
    let b = i / 2;
    let r = philox4x32_10([b as u32, (b >> 32) as u32, self.ctr.c2, self.ctr.c3], self.key);
    if i % 2 == 0 {
      to_unit(r[0], r[1])
    } else {
      to_unit(r[2], r[3])
    }
  }
}

#[inline]
fn to_unit(hi: u32, lo: u32) -> f64 {
  let bits = ((hi as u64) << 21) ^ ((lo as u64) >> 11);
  bits as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// Ancestors for `out.len()` offspring from normalised weights `p` (which need not sum to exactly 1).
/// `out` is sorted ascending for every scheme except after the residual copies, which are also
/// written in ascending order.
pub fn resample(scheme: Scheme, p: &[f64], uniforms: &Uniforms, out: &mut [usize]) {
  let m = out.len();
  if m == 0 {
    return;
  }
  assert!(!p.is_empty(), "no weights to resample from");
  let mut u = vec![0.0f64; m];
  match scheme {
    Scheme::Multinomial => {
      sorted_uniforms(uniforms, 0, &mut u);
      inverse_cdf(p, &u, out);
    }
    Scheme::Systematic => {
      let u0 = uniforms.get(0);
      for (i, v) in u.iter_mut().enumerate() {
        *v = (i as f64 + u0) / m as f64;
      }
      inverse_cdf(p, &u, out);
    }
    Scheme::Stratified => {
      uniforms.fill(&mut u);
      for (i, v) in u.iter_mut().enumerate() {
        *v = (i as f64 + *v) / m as f64;
      }
      inverse_cdf(p, &u, out);
    }
    Scheme::Residual => residual(p, uniforms, out),
  }
}

/// m sorted uniforms in O(m) by normalised exponential spacings (no sort): if E_0..E_m are iid
/// Exp(1), the partial sums over the total are distributed as the order statistics of m uniforms.
fn sorted_uniforms(uniforms: &Uniforms, offset: usize, out: &mut [f64]) {
  let m = out.len();
  let mut e = vec![0.0f64; m + 1];
  for (i, v) in e.iter_mut().enumerate() {
    *v = -math::ln(1.0 - uniforms.get(offset + i));
  }
  let mut acc = 0.0;
  for i in 0..m {
    acc += e[i];
    out[i] = acc;
  }
  let total = acc + e[m];
  for v in out.iter_mut() {
    *v /= total;
  }
}

/// For each sorted u in [0, 1), the first index whose cumulative weight exceeds u * total.
pub fn inverse_cdf(p: &[f64], sorted_u: &[f64], out: &mut [usize]) {
  let total: f64 = p.iter().sum();
  assert!(
    total > 0.0 && total.is_finite(),
    "weights must have a positive finite sum"
  );
  let last_positive = p.iter().rposition(|&w| w > 0.0).expect("positive weight exists");
  let mut i = 0usize;
  let mut cum = p[0];
  for (o, &u) in out.iter_mut().zip(sorted_u) {
    let target = u * total;
    while cum <= target && i < last_positive {
      i += 1;
      cum += p[i];
    }
    // Past the end by round-off: i stopped at last_positive, which has positive weight.
    // A zero-weight i is impossible: cum did not grow from i-1, so the loop would have moved on
    // unless i == last_positive.
    *o = i;
  }
}

/// Residual resampling: floor(m p_i) deterministic copies, the rest multinomial on the residuals.
fn residual(p: &[f64], uniforms: &Uniforms, out: &mut [usize]) {
  let m = out.len();
  let total: f64 = p.iter().sum();
  let mut residuals = vec![0.0f64; p.len()];
  let mut k = 0usize;
  let mut copies: Vec<usize> = Vec::with_capacity(p.len());
  for (i, &w) in p.iter().enumerate() {
    let expected = m as f64 * w / total;
    let c = (expected.floor() as usize).min(m - k);
    copies.push(c);
    k += c;
    residuals[i] = (expected - c as f64).max(0.0);
  }
  let rest = m - k;
  let mut extra = vec![0usize; rest];
  if rest > 0 {
    let mut u = vec![0.0f64; rest];
    sorted_uniforms(uniforms, 0, &mut u);
    if residuals.iter().any(|&r| r > 0.0) {
      inverse_cdf(&residuals, &u, &mut extra);
    } else {
      inverse_cdf(p, &u, &mut extra);
    }
  }
  // Merge the deterministic copies and the extra draws in ascending ancestor order.
  let mut j = 0usize;
  let mut o = 0usize;
  for (i, &c) in copies.iter().enumerate() {
    for _ in 0..c {
      out[o] = i;
      o += 1;
    }
    while j < rest && extra[j] == i {
      out[o] = i;
      o += 1;
      j += 1;
    }
  }
  debug_assert_eq!(o, m);
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::philox::{key_from_seed, Stream};
  use proptest::prelude::*;

  const ALL: [Scheme; 4] = [
    Scheme::Multinomial,
    Scheme::Systematic,
    Scheme::Stratified,
    Scheme::Residual,
  ];

  fn counts(scheme: Scheme, p: &[f64], seed: u64, rep: u64) -> Vec<usize> {
    let u = Uniforms::new(key_from_seed(seed), Counter::new(Stream::Resample, rep));
    let mut a = vec![0usize; p.len()];
    resample(scheme, p, &u, &mut a);
    let mut c = vec![0usize; p.len()];
    for &i in &a {
      c[i] += 1;
    }
    c
  }

  /// Offspring counts have mean N p_i: for each walker, the mean over R replications is within
  /// 5 standard errors of N p_i, with the standard error taken from the multinomial variance
  /// N p (1 - p), an upper bound for the other three schemes.
  #[test]
  fn unbiased_offspring_counts() {
    let p_raw = [0.01, 0.2, 0.0, 0.05, 0.3, 0.09, 0.15, 0.0, 0.2];
    let n = p_raw.len();
    let reps = 20_000u64;
    for scheme in ALL {
      let mut sum = vec![0.0f64; n];
      for r in 0..reps {
        let c = counts(scheme, &p_raw, 11, r);
        for i in 0..n {
          sum[i] += c[i] as f64;
        }
      }
      for i in 0..n {
        let mean = sum[i] / reps as f64;
        let expect = n as f64 * p_raw[i];
        let se = (n as f64 * p_raw[i] * (1.0 - p_raw[i]) / reps as f64).sqrt();
        if p_raw[i] == 0.0 {
          assert_eq!(mean, 0.0, "{scheme:?} selected a zero-weight walker");
        } else {
          assert!(
            (mean - expect).abs() < 5.0 * se,
            "{scheme:?} walker {i}: mean {mean} vs {expect} (se {se})"
          );
        }
      }
    }
  }

  /// Systematic, stratified and residual have a lower total offspring variance than multinomial.
  #[test]
  fn lower_variance_than_multinomial() {
    let p: Vec<f64> = (0..50).map(|i| ((i * 37 % 11) as f64 + 0.5) / 1.0).collect();
    let s: f64 = p.iter().sum();
    let p: Vec<f64> = p.iter().map(|x| x / s).collect();
    let n = p.len();
    let total_var = |scheme: Scheme| {
      let reps = 4000u64;
      let mut v = 0.0;
      for r in 0..reps {
        let c = counts(scheme, &p, 5, r);
        for i in 0..n {
          let d = c[i] as f64 - n as f64 * p[i];
          v += d * d;
        }
      }
      v / reps as f64
    };
    let multi = total_var(Scheme::Multinomial);
    // Multinomial's expected total variance is N (1 - sum p^2).
    let expect = n as f64 * (1.0 - p.iter().map(|x| x * x).sum::<f64>());
    assert!(
      (multi - expect).abs() < 0.1 * expect,
      "multinomial variance {multi} vs {expect}"
    );
    for scheme in [Scheme::Systematic, Scheme::Stratified, Scheme::Residual] {
      let v = total_var(scheme);
      assert!(v < 0.7 * multi, "{scheme:?} variance {v} not below multinomial {multi}");
    }
  }

  /// float32-style round-off: weights whose sum is visibly below 1, a zero-weight tail, and a
  /// uniform right at the top must never select index >= N or a zero-weight walker.
  #[test]
  fn round_off_cases() {
    let p = [0.3f32 as f64, 0.3f32 as f64, 0.3999999f32 as f64 - 1e-7, 0.0, 0.0];
    let u = [0.0, 0.5, 0.999_999_999_999_999_9, 1.0 - f64::EPSILON];
    let mut out = [0usize; 4];
    inverse_cdf(&p, &u, &mut out);
    assert_eq!(out[3], 2);
    assert!(out.iter().all(|&i| i < 3));
    let p = [0.0, 0.0, 1e-300, 0.0];
    inverse_cdf(&p, &[0.0, 0.999_999_999_999], &mut out[..2]);
    assert_eq!(&out[..2], &[2, 2]);
  }

  proptest! {
    #[test]
    fn never_out_of_range_or_zero_weight(
      w in prop::collection::vec(prop_oneof![Just(0.0f64), 1e-30f64..1.0], 1..60),
      seed in 0u64..1000,
      scheme_i in 0usize..4,
    ) {
      prop_assume!(w.iter().any(|&x| x > 0.0));
      let s: f64 = w.iter().sum();
      // Normalise in f32 to mimic single-precision weights.
      let p: Vec<f64> = w.iter().map(|x| ((x / s) as f32) as f64).collect();
      prop_assume!(p.iter().any(|&x| x > 0.0));
      let c = counts(ALL[scheme_i], &p, seed, 0);
      prop_assert_eq!(c.iter().sum::<usize>(), p.len());
      for (i, &k) in c.iter().enumerate() {
        if p[i] == 0.0 { prop_assert_eq!(k, 0); }
      }
    }
  }
}
