//! Statistical tests of the normal generator (`normal::fill_normals`), with fixed seeds.
//!
//! About 7.4 million normals drawn over several dims (1, 2, 3, 5, 10, 100: most not multiples of
//! 4, so padded and partly used blocks are covered), walker offsets, steps, streams and seeds:
//! - moments: mean, variance, skewness, kurtosis within 5 standard errors of 0, 1, 0, 3 (pooled,
//!   per configuration, and per slot c % 4 of the Philox block: cos/sin side of word pairs 0/1);
//! - tails: P(|z| > 2), P(|z| > 3), P(|z| > 4) within 5 binomial standard errors, and the largest
//!   |z| within the documented 6.76;
//! - Kolmogorov-Smirnov against the normal CDF at alpha = 1e-3 (pooled and per slot);
//! - independence: lag-1 correlation of z and of z^2 along a walker's coordinates, correlation
//!   across neighbouring walkers, and between different steps, streams and seeds, all within 5/sqrt(n).
//!
//! Every check is a function that returns `Err` when the statistic is out of bounds, and each one
//! is also run on a deliberately broken sample (negative controls) that it must reject: the draws
//! shifted by 0.01 or scaled by 1.01, a sample with lag-1 correlation 0.05 injected, the same
//! counter compared with itself.
//!
//! The normal CDF: Phi(x) = erfc(-x / sqrt 2) / 2 with erf from its everywhere-positive series
//! (Abramowitz & Stegun 7.1.6) for |x| < 1.5 and erfc from its continued fraction (A&S 7.1.14)
//! beyond. Both are a dozen lines, accurate to ~1e-15 (checked below against published values),
//! and keep the crate free of a dev-dependency (no Cargo.lock change for a test helper).

use std::sync::OnceLock;

use jarzyn_core::normal::fill_normals;
use jarzyn_core::philox::{key_from_seed, Counter, Stream};

// ---------------------------------------------------------------------------------------------
// erf / erfc / Phi in f64
// ---------------------------------------------------------------------------------------------

const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

/// erfc(x) for all x, absolute error ~1e-16 (relative ~1e-15 in the tails).
fn erfc(x: f64) -> f64 {
  if x < 0.0 {
    return 2.0 - erfc(-x);
  }
  if x < 1.5 {
    // erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1 3 5 ... (2n+1)): positive terms.
    let x2 = 2.0 * x * x;
    let mut term = x;
    let mut sum = x;
    for inv in INV_ODD.iter().skip(1) {
      term *= x2 * inv;
      sum += term;
      if term < sum * 1e-17 {
        break;
      }
    }
    1.0 - FRAC_2_SQRT_PI * (-x * x).exp() * sum
  } else {
    // erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))),
    // evaluated backwards from a depth converged to f64 precision (checked against values
    // computed at depth 400): slower convergence near 1.5, fast in the tail.
    let depth = if x < 2.0 {
      100
    } else if x < 2.5 {
      60
    } else if x < 3.0 {
      40
    } else {
      30
    };
    let mut k = x;
    for j in (1..=depth).rev() {
      k = x + (j as f64 / 2.0) / k;
    }
    (-x * x).exp() * FRAC_2_SQRT_PI / 2.0 / k
  }
}

/// 1 / (2n + 1), n = 0..80: enough series terms for x < 1.5 (terms fall below 1e-17 of the sum
/// by n ~ 45).
const INV_ODD: [f64; 80] = {
  let mut t = [0.0; 80];
  let mut n = 0;
  while n < 80 {
    t[n] = 1.0 / (2 * n + 1) as f64;
    n += 1;
  }
  t
};

fn erf(x: f64) -> f64 {
  1.0 - erfc(x)
}

/// Standard normal CDF.
fn phi(x: f64) -> f64 {
  0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

#[test]
fn erf_erfc_phi_match_published_values() {
  let rel = |a: f64, b: f64| ((a - b) / b).abs();
  // Reference values as printed by CPython's math.erf / math.erfc (accurate to ~1 ulp).
  assert!(rel(erf(0.5), 0.520_499_877_813_046_5) < 1e-14);
  assert!(rel(erf(1.0), 0.842_700_792_949_714_9) < 1e-14);
  assert!(rel(erf(2.0), 0.995_322_265_018_952_7) < 1e-14);
  assert!(rel(erfc(1.0), 0.157_299_207_050_285_1) < 1e-13);
  assert!(rel(erfc(2.0), 4.677_734_981_047_266e-3) < 1e-12);
  assert!(rel(erfc(2.9), 4.109_787_809_945_886e-5) < 1e-12);
  assert!(rel(erfc(3.0), 2.209_049_699_858_544e-5) < 1e-12);
  assert!(rel(erfc(4.0), 1.541_725_790_028_002e-8) < 1e-12);
  assert!(rel(erfc(5.0), 1.537_459_794_428_035e-12) < 1e-12);
  assert!(rel(phi(1.959_963_984_540_054), 0.975) < 1e-14);
  assert!(rel(phi(-3.0), 1.349_898_031_630_094_6e-3) < 1e-12);
  assert_eq!(phi(0.0), 0.5);
  // Both sides of where the two methods meet.
  assert!(rel(erfc(1.49), 3.510_213_515_679_579e-2) < 1e-14);
  assert!(rel(erfc(1.5), 3.389_485_352_468_927e-2) < 1e-14);
  assert!(rel(erfc(1.51), 3.272_325_187_128_836e-2) < 1e-14);
}

// ---------------------------------------------------------------------------------------------
// The draws
// ---------------------------------------------------------------------------------------------

struct Draw {
  label: String,
  dim: usize,
  z: Vec<f32>,
}

/// One fill: `walkers` walkers of dimension `dim` from (seed, stream, step), starting at walker0.
fn draw(seed: u64, stream: Stream, step: u64, walker0: u32, walkers: usize, dim: usize) -> Vec<f32> {
  let mut z = vec![0f32; walkers * dim];
  fill_normals(key_from_seed(seed), Counter::new(stream, step), walker0, dim, &mut z);
  z
}

/// The pooled sample: ~7.4 million normals over several configurations.
fn draws() -> &'static [Draw] {
  static DRAWS: OnceLock<Vec<Draw>> = OnceLock::new();
  DRAWS.get_or_init(|| {
    let configs: [(u64, Stream, u64, u32, usize, usize); 7] = [
      (1, Stream::Noise, 0, 0, 20_000, 100),
      (2, Stream::Noise, 7, 12_345, 500_000, 2),
      (3, Stream::Init, (1 << 33) + 5, 999, 300_000, 3),
      (4, Stream::User, 1, 0, 150_000, 10),
      (5, Stream::Noise, 3, 77, 1_000_000, 1),
      (
        0xdead_beef_cafe_f00d,
        Stream::Noise,
        123_456_789,
        4_000_000_000,
        200_000,
        5,
      ),
      (u64::MAX, Stream::Resample, u32::MAX as u64, 1, 4_000, 100),
    ];
    configs
      .iter()
      .map(|&(seed, stream, step, walker0, walkers, dim)| Draw {
        label: format!("seed {seed:#x} {stream:?} step {step} walker0 {walker0} N {walkers} d {dim}"),
        dim,
        z: draw(seed, stream, step, walker0, walkers, dim),
      })
      .collect()
  })
}

fn pooled() -> Vec<f64> {
  draws().iter().flat_map(|d| d.z.iter().map(|&v| v as f64)).collect()
}

/// The pooled sample sorted (for KS; shifting or scaling keeps it sorted).
fn pooled_sorted() -> &'static [f64] {
  static SORTED: OnceLock<Vec<f64>> = OnceLock::new();
  SORTED.get_or_init(|| {
    let mut s = pooled();
    s.sort_unstable_by(|a, b| a.partial_cmp(b).unwrap());
    s
  })
}

/// The pooled values of slot `c % 4 == slot` (which word pair, cos or sin side).
fn pooled_slot(slot: usize) -> Vec<f64> {
  draws()
    .iter()
    .flat_map(|d| {
      d.z
        .chunks_exact(d.dim)
        .flat_map(move |row| row.iter().skip(slot).step_by(4).map(|&v| v as f64))
    })
    .collect()
}

// ---------------------------------------------------------------------------------------------
// The checks: each returns Err with the offending statistic
// ---------------------------------------------------------------------------------------------

const K_SE: f64 = 5.0;

fn within(name: &str, value: f64, expect: f64, se: f64) -> Result<(), String> {
  let z = (value - expect) / se;
  if z.abs() <= K_SE {
    Ok(())
  } else {
    Err(format!(
      "{name} = {value:.6} vs {expect} ({z:+.1} standard errors of {se:.2e})"
    ))
  }
}

/// Mean, variance, skewness and kurtosis against 0, 1, 0, 3. Standard errors of a normal sample:
/// sqrt(1/n), sqrt(2/n), sqrt(6/n), sqrt(24/n).
fn check_moments(x: &[f64]) -> Result<(), String> {
  let n = x.len() as f64;
  let mean = x.iter().sum::<f64>() / n;
  let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
  for &v in x {
    let d = v - mean;
    let d2 = d * d;
    m2 += d2;
    m3 += d2 * d;
    m4 += d2 * d2;
  }
  let (m2, m3, m4) = (m2 / n, m3 / n, m4 / n);
  let skew = m3 / m2.powf(1.5);
  let kurt = m4 / (m2 * m2);
  within("mean", mean, 0.0, (1.0 / n).sqrt())?;
  within("variance", m2, 1.0, (2.0 / n).sqrt())?;
  within("skewness", skew, 0.0, (6.0 / n).sqrt())?;
  within("kurtosis", kurt, 3.0, (24.0 / n).sqrt())?;
  Ok(())
}

/// Frequencies of |z| > 2, 3, 4 against 2 (1 - Phi(t)), binomial standard errors.
fn check_tails(x: &[f64]) -> Result<(), String> {
  let n = x.len() as f64;
  for t in [2.0, 3.0, 4.0] {
    let p = erfc(t / std::f64::consts::SQRT_2);
    let freq = x.iter().filter(|v| v.abs() > t).count() as f64 / n;
    within(&format!("P(|z| > {t})"), freq, p, (p * (1.0 - p) / n).sqrt())?;
  }
  Ok(())
}

/// Kolmogorov-Smirnov statistic D = sup |F_n - Phi| of the sample.
fn ks_statistic(x: &[f64]) -> f64 {
  let mut s = x.to_vec();
  s.sort_unstable_by(|a, b| a.partial_cmp(b).unwrap());
  ks_statistic_sorted(&s)
}

/// [`ks_statistic`] of an already sorted sample.
fn ks_statistic_sorted(s: &[f64]) -> f64 {
  assert!(s.windows(2).all(|w| w[0] <= w[1]));
  let n = s.len() as f64;
  let mut d = 0.0f64;
  for (i, &v) in s.iter().enumerate() {
    let f = phi(v);
    d = d.max((i + 1) as f64 / n - f).max(f - i as f64 / n);
  }
  d
}

/// Asymptotic critical value of D at level alpha: sqrt(-ln(alpha / 2) / 2) / sqrt(n).
fn ks_critical(n: usize, alpha: f64) -> f64 {
  (-(alpha / 2.0).ln() / 2.0).sqrt() / (n as f64).sqrt()
}

fn check_ks(x: &[f64]) -> Result<(), String> {
  check_ks_statistic(ks_statistic(x), x.len())
}

fn check_ks_statistic(d: f64, n: usize) -> Result<(), String> {
  let crit = ks_critical(n, 1e-3);
  if d <= crit {
    Ok(())
  } else {
    Err(format!("KS D = {d:.3e} > critical {crit:.3e} (n = {n}, alpha = 1e-3)"))
  }
}

/// Pearson correlation of paired samples.
fn correlation(pairs: impl Iterator<Item = (f64, f64)>) -> (f64, usize) {
  let (mut n, mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0usize, 0.0, 0.0, 0.0, 0.0, 0.0);
  for (a, b) in pairs {
    n += 1;
    sx += a;
    sy += b;
    sxx += a * a;
    syy += b * b;
    sxy += a * b;
  }
  let nf = n as f64;
  let cov = sxy / nf - (sx / nf) * (sy / nf);
  let vx = sxx / nf - (sx / nf).powi(2);
  let vy = syy / nf - (sy / nf).powi(2);
  (cov / (vx * vy).sqrt(), n)
}

/// Correlation ~ 0 within 5 standard errors (1/sqrt(n) for independent pairs).
fn check_uncorrelated(name: &str, pairs: impl Iterator<Item = (f64, f64)>) -> Result<(), String> {
  let (r, n) = correlation(pairs);
  if n < 1000 {
    return Err(format!("{name}: only {n} pairs"));
  }
  within(
    &format!("{name} correlation (n = {n})"),
    r,
    0.0,
    1.0 / (n as f64).sqrt(),
  )
}

/// Lag-1 along each walker's coordinates, of z and of z^2 (the latter catches a radius shared
/// wrongly between pairs, which leaves z uncorrelated), in walker rows of `dim`.
fn check_lag1(z: &[f64], dim: usize) -> Result<(), String> {
  let rows = || z.chunks_exact(dim);
  check_uncorrelated("lag-1 z", rows().flat_map(|r| r.windows(2).map(|w| (w[0], w[1]))))?;
  check_uncorrelated(
    "lag-1 z^2",
    rows().flat_map(|r| r.windows(2).map(|w| (w[0] * w[0], w[1] * w[1]))),
  )?;
  // Lag 2 and 3 too: partners in the same Philox block (slots 0-2, 1-3, 0-3).
  if dim >= 3 {
    check_uncorrelated("lag-2 z", rows().flat_map(|r| r.windows(3).map(|w| (w[0], w[2]))))?;
  }
  if dim >= 4 {
    check_uncorrelated("lag-3 z", rows().flat_map(|r| r.windows(4).map(|w| (w[0], w[3]))))?;
  }
  Ok(())
}

/// Neighbouring walkers: coordinate c of walker w against coordinate c of walker w + 1.
fn check_across_walkers(z: &[f64], dim: usize) -> Result<(), String> {
  let rows: Vec<&[f64]> = z.chunks_exact(dim).collect();
  check_uncorrelated(
    "across walkers z",
    rows
      .windows(2)
      .flat_map(|w| w[0].iter().copied().zip(w[1].iter().copied())),
  )?;
  check_uncorrelated(
    "across walkers z^2",
    rows
      .windows(2)
      .flat_map(|w| w[0].iter().map(|v| v * v).zip(w[1].iter().map(|v| v * v))),
  )
}

fn f64s(z: &[f32]) -> Vec<f64> {
  z.iter().map(|&v| v as f64).collect()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn pooled_sample_is_big_enough() {
  let n: usize = draws().iter().map(|d| d.z.len()).sum();
  assert!((4_000_000..=10_000_000).contains(&n), "{n} normals");
}

#[test]
fn moments_match_standard_normal() {
  let all = pooled();
  check_moments(&all).unwrap_or_else(|e| panic!("pooled: {e}"));
  for d in draws() {
    check_moments(&f64s(&d.z)).unwrap_or_else(|e| panic!("{}: {e}", d.label));
  }
  for slot in 0..4 {
    check_moments(&pooled_slot(slot)).unwrap_or_else(|e| panic!("slot {slot}: {e}"));
  }
}

#[test]
fn tail_frequencies_match_standard_normal() {
  let all = pooled();
  check_tails(&all).unwrap_or_else(|e| panic!("pooled: {e}"));
  for slot in 0..4 {
    check_tails(&pooled_slot(slot)).unwrap_or_else(|e| panic!("slot {slot}: {e}"));
  }
  let max = all.iter().fold(0.0f64, |m, v| m.max(v.abs()));
  assert!(max.is_finite() && max <= 6.77, "largest |z| = {max}");
  assert!(max > 4.5, "largest |z| of {} normals is only {max}", all.len());
}

#[test]
fn kolmogorov_smirnov_accepts_the_draws() {
  let all = pooled_sorted();
  check_ks_statistic(ks_statistic_sorted(all), all.len()).unwrap_or_else(|e| panic!("pooled: {e}"));
  for slot in 0..4 {
    check_ks(&pooled_slot(slot)).unwrap_or_else(|e| panic!("slot {slot}: {e}"));
  }
  for d in draws() {
    check_ks(&f64s(&d.z)).unwrap_or_else(|e| panic!("{}: {e}", d.label));
  }
}

#[test]
fn consecutive_normals_and_neighbouring_walkers_are_uncorrelated() {
  for d in draws() {
    let z = f64s(&d.z);
    if d.dim >= 2 {
      check_lag1(&z, d.dim).unwrap_or_else(|e| panic!("{}: {e}", d.label));
    }
    check_across_walkers(&z, d.dim).unwrap_or_else(|e| panic!("{}: {e}", d.label));
  }
}

#[test]
fn steps_streams_and_seeds_are_uncorrelated() {
  let (n, dim) = (40_000usize, 25usize);
  let base = f64s(&draw(11, Stream::Noise, 5, 0, n, dim));
  let others = [
    ("next step", draw(11, Stream::Noise, 6, 0, n, dim)),
    ("step + 2^32", draw(11, Stream::Noise, 5 + (1 << 32), 0, n, dim)),
    ("stream Init", draw(11, Stream::Init, 5, 0, n, dim)),
    ("stream User", draw(11, Stream::User, 5, 0, n, dim)),
    ("seed + 1", draw(12, Stream::Noise, 5, 0, n, dim)),
    ("seed + 2^32", draw(11 + (1 << 32), Stream::Noise, 5, 0, n, dim)),
    ("walker offset 1", draw(11, Stream::Noise, 5, 1, n, dim)),
  ];
  for (name, other) in &others {
    let o = f64s(other);
    check_uncorrelated(name, base.iter().copied().zip(o.iter().copied())).unwrap_or_else(|e| panic!("{e}"));
    check_uncorrelated(name, base.iter().map(|v| v * v).zip(o.iter().map(|v| v * v))).unwrap_or_else(|e| panic!("{e}"));
  }
}

// ---------------------------------------------------------------------------------------------
// Negative controls: each check must reject a broken sample of the same size
// ---------------------------------------------------------------------------------------------

#[test]
fn negative_control_ks_rejects_shifted_and_scaled_draws() {
  let all = pooled_sorted();
  let crit = ks_critical(all.len(), 1e-3);
  let d0 = ks_statistic_sorted(all);
  assert!(d0 < crit, "D = {d0:.3e}");
  let shifted: Vec<f64> = all.iter().map(|v| v + 0.01).collect();
  let d = ks_statistic_sorted(&shifted);
  assert!(d > crit, "shift by 0.01: D = {d:.3e} not above critical {crit:.3e}");
  assert!(check_ks_statistic(d, all.len()).is_err());
  let scaled: Vec<f64> = all.iter().map(|v| v * 1.01).collect();
  let d = ks_statistic_sorted(&scaled);
  assert!(d > crit, "scale by 1.01: D = {d:.3e} not above critical {crit:.3e}");
  // And the unsorted path on a smaller shifted sample (one draw, ~1-2 million normals).
  let one: Vec<f64> = draws()[0].z.iter().map(|&v| v as f64 + 0.01).collect();
  assert!(check_ks(&one).is_err());
}

#[test]
fn negative_control_moments_and_tails_reject_broken_draws() {
  let all = pooled();
  let shifted: Vec<f64> = all.iter().map(|v| v + 0.01).collect();
  let err = check_moments(&shifted).unwrap_err();
  assert!(err.starts_with("mean"), "{err}");
  let scaled: Vec<f64> = all.iter().map(|v| v * 1.01).collect();
  let err = check_moments(&scaled).unwrap_err();
  assert!(err.starts_with("variance"), "{err}");
  // A symmetric heavy-tail distortion that keeps mean and (nearly) variance: z + 0.02 z^3 / 3
  // shows up in the kurtosis.
  let heavy: Vec<f64> = all.iter().map(|v| (v + 0.02 * v * v * v / 3.0) / 1.02).collect();
  let err = check_moments(&heavy).unwrap_err();
  assert!(err.starts_with("variance") || err.starts_with("kurtosis"), "{err}");
  // A skewed one: z + 0.01 (z^2 - 1).
  let skewed: Vec<f64> = all.iter().map(|v| v + 0.01 * (v * v - 1.0)).collect();
  let err = check_moments(&skewed).unwrap_err();
  assert!(err.starts_with("skewness"), "{err}");
  // Tails of draws scaled by 1.02.
  let wide: Vec<f64> = all.iter().map(|v| v * 1.02).collect();
  assert!(check_tails(&wide).is_err());
}

#[test]
fn negative_control_correlation_checks_reject_dependent_draws() {
  let d = &draws()[0];
  let z = f64s(&d.z);
  // Inject lag-1 correlation ~0.05 along each walker.
  let mut y = z.clone();
  for row in y.chunks_exact_mut(d.dim) {
    for c in (1..row.len()).rev() {
      row[c] = (row[c] + 0.05 * row[c - 1]) / (1.0f64 + 0.0025).sqrt();
    }
  }
  assert!(check_lag1(&y, d.dim).is_err());
  // Share the radius across the two pairs of a block (z uncorrelated, z^2 correlated).
  let mut shared = z.clone();
  for blk in shared.chunks_exact_mut(4) {
    let r01 = (blk[0] * blk[0] + blk[1] * blk[1]).sqrt();
    let r23 = (blk[2] * blk[2] + blk[3] * blk[3]).sqrt();
    if r23 > 0.0 {
      blk[2] *= r01 / r23;
      blk[3] *= r01 / r23;
    }
  }
  let err = check_lag1(&shared, d.dim).unwrap_err();
  assert!(err.starts_with("lag-1 z^2"), "{err}");
  // Neighbouring walkers that repeat each other half the time.
  let mut rep = z.clone();
  for w in (1..rep.len() / d.dim).step_by(2) {
    let (a, b) = rep.split_at_mut(w * d.dim);
    b[..d.dim].copy_from_slice(&a[(w - 1) * d.dim..]);
  }
  assert!(check_across_walkers(&rep, d.dim).is_err());
  // The same counter compared with itself: perfectly correlated.
  let a = f64s(&draw(11, Stream::Noise, 5, 0, 1000, 25));
  let b = f64s(&draw(11, Stream::Noise, 5, 0, 1000, 25));
  assert!(check_uncorrelated(
    "different steps",
    a.iter().copied().zip(f64s(&draw(11, Stream::Noise, 6, 0, 1000, 25)))
  )
  .is_ok());
  assert!(check_uncorrelated("same counter", a.iter().copied().zip(b.iter().copied())).is_err());
}
