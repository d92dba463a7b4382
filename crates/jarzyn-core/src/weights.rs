//! Summaries of log-weights, computed once per call in f64 with a max-shifted logsumexp.
//!
//! Reductions are split into fixed chunks of [`REDUCE_CHUNK`] walkers whose partial sums are
//! combined in chunk order, so the result is bit-identical whatever the thread count.

use rayon::prelude::*;

use crate::math;
use crate::par::map_chunks;

/// Walkers per reduction chunk. A constant, never derived from the thread count.
pub const REDUCE_CHUNK: usize = 4096;

/// What one pass over the log-weights tells: the normaliser, ESS, CV^2 and log-mean, as in
/// `particles`' `Weights` object. `-inf` weights (invalid walkers) count as zero weight, and so do
/// NaN and `+inf` ones, which only writes through a JavaScript view can put there (see
/// [`zero_weight`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeightSummary {
  /// Number of walkers.
  pub n: usize,
  /// max_i A_i (or -inf when every weight is zero).
  pub max: f64,
  /// log sum_i exp(A_i).
  pub log_sum: f64,
  /// sum_i exp(A_i - max): kept shifted so ESS avoids cancelling two huge logs.
  pub sum_shifted: f64,
  /// sum_i exp(2 (A_i - max)).
  pub sum_sq_shifted: f64,
  /// Walkers whose weight is zero (A = -inf, or not a number: see [`zero_weight`]).
  pub zero: usize,
}

impl WeightSummary {
  /// Effective sample size (sum w)^2 / sum w^2, in walkers; 0 when every weight is zero.
  pub fn ess(&self) -> f64 {
    if self.max == f64::NEG_INFINITY {
      return 0.0;
    }
    self.sum_shifted * self.sum_shifted / self.sum_sq_shifted
  }

  /// Squared coefficient of variation of the weights: N / ESS - 1.
  pub fn cv2(&self) -> f64 {
    self.n as f64 / self.ess() - 1.0
  }

  /// log of the mean weight, log(1/N sum exp(A_i)): the increment of log(Z_now / Z_0).
  pub fn log_mean(&self) -> f64 {
    self.log_sum - math::ln(self.n as f64)
  }
}

/// Whether log-weight `a` gives its walker zero weight: -inf (an invalid walker), and also NaN and
/// +inf, which the core never writes but a caller can through the views; counting them as invalid
/// walkers keeps every estimate a number (blackjax maps NaN to -inf the same way).
#[inline(always)]
pub fn zero_weight(a: f64) -> bool {
  !a.is_finite()
}

/// max_i A_i over the walkers with nonzero weight (-inf when there is none).
#[inline(always)]
pub fn max_log_weight(a: &[f64]) -> f64 {
  a.iter()
    .copied()
    .filter(|&v| !zero_weight(v))
    .fold(f64::NEG_INFINITY, f64::max)
}

/// Summarise log-weights, parallel over fixed chunks, deterministic.
pub fn summarize(pool: &rayon::ThreadPool, log_w: &[f64]) -> WeightSummary {
  let n = log_w.len();
  let chunks = n.div_ceil(REDUCE_CHUNK);
  let part = |ci: usize| &log_w[ci * REDUCE_CHUNK..(ci * REDUCE_CHUNK + REDUCE_CHUNK).min(n)];
  // One pass: each chunk sums relative to its own maximum; chunks are then rescaled to the global
  // maximum and added in chunk order (deterministic for any thread count).
  let partials = map_chunks(pool, chunks, |ci| {
    let c = part(ci);
    let m = max_log_weight(c);
    let mut s = 0.0;
    let mut s2 = 0.0;
    let mut zero = 0usize;
    for &a in c {
      if zero_weight(a) {
        zero += 1;
      } else {
        let w = math::exp(a - m);
        s += w;
        s2 += w * w;
      }
    }
    (m, s, s2, zero)
  });
  combine_chunks(n, partials)
}

/// Combine per-chunk (max, sum exp(a - max), sum exp(2 (a - max)), zero count), in chunk order:
/// each chunk is rescaled to the global maximum. Shared by the CPU summary and the CUDA one (and
/// by the CUDA emulator's tests, crates/jarzyn-cuda-emu).
pub fn combine_chunks(n: usize, partials: impl IntoIterator<Item = (f64, f64, f64, usize)>) -> WeightSummary {
  let partials: Vec<_> = partials.into_iter().collect();
  let max = partials.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
  if max == f64::NEG_INFINITY || n == 0 {
    return WeightSummary {
      n,
      max,
      log_sum: f64::NEG_INFINITY,
      sum_shifted: 0.0,
      sum_sq_shifted: 0.0,
      zero: n,
    };
  }
  let (mut s, mut s2, mut zero) = (0.0, 0.0, 0usize);
  for (m, a, b, z) in partials {
    zero += z;
    if m == f64::NEG_INFINITY {
      continue;
    }
    let f = math::exp(m - max);
    s += f * a;
    s2 += (f * f) * b;
  }
  WeightSummary {
    n,
    max,
    log_sum: max + math::ln(s),
    sum_shifted: s,
    sum_sq_shifted: s2,
    zero,
  }
}

/// Normalised weights p_i = exp(A_i - max) / sum_j exp(A_j - max) into `out`. Shifting by the
/// maximum and dividing by the shifted sum, rather than subtracting logsumexp(A) = max + ln(sum),
/// keeps the weights summing to 1 however large |max| is (max + ln(sum) rounds to max once |max|
/// is past ~1e16).
pub fn normalized_into(pool: &rayon::ThreadPool, log_w: &[f64], summary: &WeightSummary, out: &mut [f64]) {
  let (max, sum) = (summary.max, summary.sum_shifted);
  let fill = |o: &mut [f64], a: &[f64]| {
    for (o, &a) in o.iter_mut().zip(a) {
      *o = if zero_weight(a) { 0.0 } else { math::exp(a - max) / sum };
    }
  };
  if log_w.len() <= REDUCE_CHUNK {
    fill(out, log_w);
  } else {
    pool.install(|| {
      out
        .par_chunks_mut(REDUCE_CHUNK)
        .zip(log_w.par_chunks(REDUCE_CHUNK))
        .for_each(|(o, a)| fill(o, a))
    });
  }
}

/// Max-shifted log(sum exp(x)) for a small slice, sequential.
pub fn logsumexp(x: &[f64]) -> f64 {
  let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
  if m == f64::NEG_INFINITY {
    return m;
  }
  if m == f64::INFINITY {
    return m;
  }
  m + math::ln(x.iter().map(|&v| math::exp(v - m)).sum::<f64>())
}

#[cfg(test)]
mod tests {
  use super::*;

  fn summarize(a: &[f64]) -> WeightSummary {
    super::summarize(&rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap(), a)
  }

  use proptest::prelude::*;

  #[test]
  fn equal_weights() {
    let s = summarize(&[3.0; 10]);
    assert!((s.ess() - 10.0).abs() < 1e-12);
    assert!(s.cv2().abs() < 1e-12);
    assert!((s.log_mean() - 3.0).abs() < 1e-12);
  }

  #[test]
  fn huge_offsets_do_not_overflow() {
    let s = summarize(&[1000.0, 1000.0 + 2f64.ln(), f64::NEG_INFINITY]);
    assert!((s.log_sum - (1000.0 + 3f64.ln())).abs() < 1e-12);
    assert!((s.ess() - 9.0 / 5.0).abs() < 1e-12);
    assert_eq!(s.zero, 1);
    let s = summarize(&[-1e4, -1e4]);
    assert!((s.ess() - 2.0).abs() < 1e-12);
  }

  #[test]
  fn nan_and_positive_infinity_count_as_zero_weight() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let a = [0.5, f64::NAN, f64::INFINITY, 0.5, f64::NEG_INFINITY];
    let s = summarize(&a);
    assert_eq!(s.zero, 3);
    assert_eq!(s.max, 0.5);
    assert!((s.ess() - 2.0).abs() < 1e-12);
    assert!((s.log_mean() - (0.5 + (2.0f64 / 5.0).ln())).abs() < 1e-12);
    let mut p = [9.0; 5];
    normalized_into(&pool, &a, &s, &mut p);
    assert_eq!(p, [0.5, 0.0, 0.0, 0.5, 0.0]);
    assert_eq!(summarize(&[f64::NAN, f64::INFINITY]).ess(), 0.0);
  }

  #[test]
  fn normalized_weights_sum_to_one_at_huge_log_weights() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    for a in [
      [1e300, 1e300, -1e300, 0.0],
      [3.4e38, 3.4e38, 3.4e38, 3.4e38],
      [-1e20, -1e20, -1e20 - 1e5, -1e21],
    ] {
      let s = summarize(&a);
      let mut p = [0.0; 4];
      normalized_into(&pool, &a, &s, &mut p);
      assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-15, "{a:?} -> {p:?}");
    }
  }

  #[test]
  fn all_zero() {
    let s = summarize(&[f64::NEG_INFINITY; 3]);
    assert_eq!(s.ess(), 0.0);
    assert_eq!(s.zero, 3);
  }

  proptest! {
    #[test]
    fn ess_in_range_and_matches_direct(a in prop::collection::vec(-30.0f64..30.0, 1..300)) {
      let s = summarize(&a);
      let w: Vec<f64> = a.iter().map(|x| x.exp()).collect();
      let sw: f64 = w.iter().sum();
      let sw2: f64 = w.iter().map(|x| x * x).sum();
      let direct = sw * sw / sw2;
      prop_assert!(s.ess() >= 1.0 - 1e-9 && s.ess() <= a.len() as f64 + 1e-9);
      prop_assert!((s.ess() - direct).abs() <= 1e-9 * direct);
      let mut p = vec![0.0; a.len()];
      normalized_into(&rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap(), &a, &s, &mut p);
      prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
  }
}
