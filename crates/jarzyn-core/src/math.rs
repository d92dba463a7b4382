//! exp and ln in f64 from IEEE add, mul and div only.
//!
//! Why not libm: its exp/log were 15 % of a Gaussian-mixture iteration, and their last bits may
//! differ between C libraries, which would break "same seed, same result" across machines (and
//! across CPU and GPU). These polynomials are within a few 1e-13 relative of libm and give the same
//! bits everywhere.

const LN2_HI: f64 = 6.931_471_803_691_238_2e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
const LOG2E: f64 = std::f64::consts::LOG2_E;
/// Adding and subtracting 1.5 * 2^52 rounds to the nearest integer (ties to even) for |x| < 2^51.
const ROUND: f64 = 6_755_399_441_055_744.0;

/// Range handling and reduction x = k ln2 + r, |r| <= ln2/2, shared by [`exp`] and [`exp_f32`]:
/// Err holds the result for NaN, huge and tiny inputs.
#[inline(always)]
fn reduce_exp(x: f64) -> Result<(f64, f64), f64> {
  if x.is_nan() {
    return Err(x);
  }
  if x < -708.0 {
    return Err(0.0);
  }
  if x > 709.0 {
    return Err(f64::INFINITY);
  }
  let k = (x * LOG2E + ROUND) - ROUND;
  Ok((k, (x - k * LN2_HI) - k * LN2_LO))
}

/// 2^k for an integral k in the normal range.
#[inline(always)]
fn pow2(k: f64) -> f64 {
  f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

/// x = 2^e m with m in (sqrt(1/2), sqrt(2)], for finite x > 0 (normal numbers): the reduction of
/// [`ln`] and [`ln_f32`].
#[inline(always)]
fn split_ln(x: f64) -> (i64, f64) {
  let bits = x.to_bits();
  let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
  let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
  if m > std::f64::consts::SQRT_2 {
    m *= 0.5;
    e += 1;
  }
  (e, m)
}

/// exp(x). Below -708 the result is 0 (subnormals are not produced); above 709 it is +inf; NaN
/// stays NaN.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
  let (k, r) = match reduce_exp(x) {
    Ok(kr) => kr,
    Err(special) => return special,
  };
  // Taylor series of exp on |r| <= ln2/2: the degree-11 term bounds the error below 3e-15.
  let p = 1.0
    + r
      * (1.0
        + r
          * (1.0 / 2.0
            + r
              * (1.0 / 6.0
                + r
                  * (1.0 / 24.0
                    + r
                      * (1.0 / 120.0
                        + r
                          * (1.0 / 720.0
                            + r
                              * (1.0 / 5040.0
                                + r
                                  * (1.0 / 40_320.0
                                    + r
                                      * (1.0 / 362_880.0 + r * (1.0 / 3_628_800.0 + r * (1.0 / 39_916_800.0)))))))))));
  p * pow2(k)
}

/// ln(x) for finite x > 0 (normal numbers); ln(0) = -inf, negative or NaN gives NaN, +inf gives +inf.
#[inline(always)]
pub fn ln(x: f64) -> f64 {
  if !(x > 0.0) {
    return if x == 0.0 { f64::NEG_INFINITY } else { f64::NAN };
  }
  if x == f64::INFINITY {
    return x;
  }
  let (e, m) = split_ln(x);
  // ln m = 2 atanh(t), t = (m - 1) / (m + 1), |t| <= 0.1716: terms up to t^15 leave < 1e-13.
  let t = (m - 1.0) / (m + 1.0);
  let t2 = t * t;
  let s = 1.0
    + t2
      * (1.0 / 3.0
        + t2
          * (1.0 / 5.0
            + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0 + t2 * (1.0 / 11.0 + t2 * (1.0 / 13.0 + t2 * (1.0 / 15.0)))))));
  let ef = e as f64;
  (ef * LN2_HI + 2.0 * t * s) + ef * LN2_LO
}

/// exp(x) to about 1e-9 relative: a shorter series for values that end up in f32 (mixture
/// responsibilities and energies), where the full-precision one's long dependency chain was the
/// bottleneck of the Gaussian-mixture kernels.
#[inline(always)]
pub fn exp_f32(x: f64) -> f64 {
  let (k, r) = match reduce_exp(x) {
    Ok(kr) => kr,
    Err(special) => return special,
  };
  // Degree 8 on |r| <= ln2/2: error below 2e-10; evaluated in two halves to shorten the chain.
  let r2 = r * r;
  let lo = 1.0 + r * (1.0 + r * (1.0 / 2.0 + r * (1.0 / 6.0)));
  let hi = 1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0 + r * (1.0 / 40_320.0))));
  let p = lo + (r2 * r2) * hi;
  p * pow2(k)
}

/// ln(x) to about 1e-10 absolute for x in [1, 2^60] (a softmax normaliser): shorter series than [`ln`].
#[inline(always)]
pub fn ln_f32(x: f64) -> f64 {
  if !(x > 0.0) || x == f64::INFINITY {
    return ln(x);
  }
  let (e, m) = split_ln(x);
  let t = (m - 1.0) / (m + 1.0);
  let t2 = t * t;
  let s = 1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0))));
  let ef = e as f64;
  (ef * LN2_HI + 2.0 * t * s) + ef * LN2_LO
}

/// [`exp_f32`] and [`ln_f32`] on four values at once, with the scalar code's operations in the
/// scalar code's order, so that every lane gives the scalar bits.
#[cfg(target_arch = "x86_64")]
pub mod x4 {
  use std::arch::x86_64::*;

  use super::{LN2_HI, LN2_LO, LOG2E, ROUND};

  /// exp_f32 of each lane. NaN lanes give NaN (any payload).
  ///
  /// # Safety
  /// The CPU must support AVX2.
  #[inline(always)]
  pub unsafe fn exp_f32(x: __m256d) -> __m256d {
    let one = _mm256_set1_pd(1.0);
    let kr = _mm256_add_pd(_mm256_mul_pd(x, _mm256_set1_pd(LOG2E)), _mm256_set1_pd(ROUND));
    let k = _mm256_sub_pd(kr, _mm256_set1_pd(ROUND));
    let r = _mm256_sub_pd(
      _mm256_sub_pd(x, _mm256_mul_pd(k, _mm256_set1_pd(LN2_HI))),
      _mm256_mul_pd(k, _mm256_set1_pd(LN2_LO)),
    );
    let r2 = _mm256_mul_pd(r, r);
    let lo = _mm256_add_pd(
      one,
      _mm256_mul_pd(
        r,
        _mm256_add_pd(
          one,
          _mm256_mul_pd(
            r,
            _mm256_add_pd(_mm256_set1_pd(1.0 / 2.0), _mm256_mul_pd(r, _mm256_set1_pd(1.0 / 6.0))),
          ),
        ),
      ),
    );
    let hi = _mm256_add_pd(
      _mm256_set1_pd(1.0 / 24.0),
      _mm256_mul_pd(
        r,
        _mm256_add_pd(
          _mm256_set1_pd(1.0 / 120.0),
          _mm256_mul_pd(
            r,
            _mm256_add_pd(
              _mm256_set1_pd(1.0 / 720.0),
              _mm256_mul_pd(
                r,
                _mm256_add_pd(
                  _mm256_set1_pd(1.0 / 5040.0),
                  _mm256_mul_pd(r, _mm256_set1_pd(1.0 / 40_320.0)),
                ),
              ),
            ),
          ),
        ),
      ),
    );
    let p = _mm256_add_pd(lo, _mm256_mul_pd(_mm256_mul_pd(r2, r2), hi));
    // kr's bits are ROUND's plus k: (k + 1023) << 52 keeps only the low 12 bits of (bits + 1023).
    let scale = _mm256_castsi256_pd(_mm256_slli_epi64(
      _mm256_add_epi64(_mm256_castpd_si256(kr), _mm256_set1_epi64x(1023)),
      52,
    ));
    let y = _mm256_mul_pd(p, scale);
    let y = _mm256_blendv_pd(
      y,
      _mm256_setzero_pd(),
      _mm256_cmp_pd(x, _mm256_set1_pd(-708.0), _CMP_LT_OQ),
    );
    _mm256_blendv_pd(
      y,
      _mm256_set1_pd(f64::INFINITY),
      _mm256_cmp_pd(x, _mm256_set1_pd(709.0), _CMP_GT_OQ),
    )
  }

  /// ln_f32 of each lane, for finite lanes >= 1 (a softmax normaliser).
  ///
  /// # Safety
  /// The CPU must support AVX2.
  #[inline(always)]
  pub unsafe fn ln_f32_ge1(x: __m256d) -> __m256d {
    let bits = _mm256_castpd_si256(x);
    let mut e = _mm256_sub_epi64(
      _mm256_and_si256(_mm256_srli_epi64(bits, 52), _mm256_set1_epi64x(0x7ff)),
      _mm256_set1_epi64x(1023),
    );
    let mut m = _mm256_castsi256_pd(_mm256_or_si256(
      _mm256_and_si256(bits, _mm256_set1_epi64x(0x000f_ffff_ffff_ffff)),
      _mm256_set1_epi64x(0x3ff0_0000_0000_0000),
    ));
    let big = _mm256_cmp_pd(m, _mm256_set1_pd(std::f64::consts::SQRT_2), _CMP_GT_OQ);
    m = _mm256_blendv_pd(m, _mm256_mul_pd(m, _mm256_set1_pd(0.5)), big);
    // The mask is all ones (-1) where m was halved: subtracting it adds 1.
    e = _mm256_sub_epi64(e, _mm256_castpd_si256(big));
    let one = _mm256_set1_pd(1.0);
    let t = _mm256_div_pd(_mm256_sub_pd(m, one), _mm256_add_pd(m, one));
    let t2 = _mm256_mul_pd(t, t);
    let s = _mm256_add_pd(
      one,
      _mm256_mul_pd(
        t2,
        _mm256_add_pd(
          _mm256_set1_pd(1.0 / 3.0),
          _mm256_mul_pd(
            t2,
            _mm256_add_pd(
              _mm256_set1_pd(1.0 / 5.0),
              _mm256_mul_pd(
                t2,
                _mm256_add_pd(_mm256_set1_pd(1.0 / 7.0), _mm256_mul_pd(t2, _mm256_set1_pd(1.0 / 9.0))),
              ),
            ),
          ),
        ),
      ),
    );
    // e is in [0, 1024) here: exact conversion through the 2^52 exponent.
    let two52 = _mm256_set1_pd(4_503_599_627_370_496.0);
    let ef = _mm256_sub_pd(
      _mm256_castsi256_pd(_mm256_add_epi64(e, _mm256_castpd_si256(two52))),
      two52,
    );
    _mm256_add_pd(
      _mm256_add_pd(
        _mm256_mul_pd(ef, _mm256_set1_pd(LN2_HI)),
        _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(2.0), t), s),
      ),
      _mm256_mul_pd(ef, _mm256_set1_pd(LN2_LO)),
    )
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  /// x0, next(x0), next(next(x0)), ... while below `end`.
  fn sweep(x0: f64, end: f64, next: impl Fn(f64) -> f64) -> impl Iterator<Item = f64> {
    std::iter::successors(Some(x0), move |&x| Some(next(x))).take_while(move |&x| x < end)
  }

  #[test]
  fn exp_matches_libm() {
    for x in sweep(-708.0, 709.0, |x| x + 0.0137) {
      let (a, b) = (exp(x), x.exp());
      assert!(((a - b) / b).abs() < 1e-13, "exp({x}) = {a} vs {b}");
    }
    assert_eq!(exp(0.0), 1.0);
    assert_eq!(exp(-1e4), 0.0);
    assert_eq!(exp(f64::NEG_INFINITY), 0.0);
    assert_eq!(exp(1e4), f64::INFINITY);
    assert!(exp(f64::NAN).is_nan());
  }

  #[test]
  fn ln_matches_libm() {
    for x in sweep(1e-300, 1e300, |x| x * 1.013) {
      let (a, b) = (ln(x), x.ln());
      assert!((a - b).abs() < 1e-13 * b.abs().max(1e-3), "ln({x}) = {a} vs {b}");
    }
    assert_eq!(ln(1.0), 0.0);
    assert_eq!(ln(0.0), f64::NEG_INFINITY);
    assert!(ln(-1.0).is_nan() && ln(f64::NAN).is_nan());
    assert_eq!(ln(f64::INFINITY), f64::INFINITY);
  }

  #[test]
  fn short_versions_are_f32_accurate() {
    for x in sweep(-700.0, 700.0, |x| x + 0.0173) {
      let (a, b) = (exp_f32(x), x.exp());
      assert!(((a - b) / b).abs() < 1e-9, "exp_f32({x}) = {a} vs {b}");
    }
    for x in sweep(1.0, 1e18, |x| x * 1.0071) {
      assert!((ln_f32(x) - x.ln()).abs() < 1e-9, "ln_f32({x})");
    }
    assert_eq!(exp_f32(0.0), 1.0);
    assert_eq!(ln_f32(1.0), 0.0);
  }

  #[cfg(target_arch = "x86_64")]
  #[test]
  fn x4_matches_scalar_bits() {
    use std::arch::x86_64::*;
    crate::dispatch::require_avx2!();
    #[target_feature(enable = "avx2")]
    unsafe fn run(v: [f64; 4]) -> ([f64; 4], [f64; 4]) {
      let x = _mm256_loadu_pd(v.as_ptr());
      let (mut e, mut l) = ([0f64; 4], [0f64; 4]);
      _mm256_storeu_pd(e.as_mut_ptr(), x4::exp_f32(x));
      let one = _mm256_set1_pd(1.0);
      _mm256_storeu_pd(l.as_mut_ptr(), x4::ln_f32_ge1(_mm256_add_pd(one, _mm256_mul_pd(x, x))));
      (e, l)
    }
    let mut i = 0u64;
    let mut v = -800.0;
    while v < 720.0 {
      let lanes = [v, -v * 0.013, v * 1e-3, (i as f64).sin() * 30.0];
      let (e, l) = unsafe { run(lanes) };
      for j in 0..4 {
        assert_eq!(e[j].to_bits(), exp_f32(lanes[j]).to_bits(), "exp {}", lanes[j]);
        assert_eq!(
          l[j].to_bits(),
          ln_f32(1.0 + lanes[j] * lanes[j]).to_bits(),
          "ln {}",
          lanes[j]
        );
      }
      v += 0.37;
      i += 1;
    }
  }
}
