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

/// exp(x). Below -708 the result is 0 (subnormals are not produced); above 709 it is +inf; NaN
/// stays NaN.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
  if x.is_nan() {
    return x;
  }
  if x < -708.0 {
    return 0.0;
  }
  if x > 709.0 {
    return f64::INFINITY;
  }
  let k = (x * LOG2E + ROUND) - ROUND;
  let r = (x - k * LN2_HI) - k * LN2_LO;
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
  let bits = ((k as i64 + 1023) as u64) << 52;
  p * f64::from_bits(bits)
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
  let bits = x.to_bits();
  let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
  let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
  if m > std::f64::consts::SQRT_2 {
    m *= 0.5;
    e += 1;
  }
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
  if x.is_nan() {
    return x;
  }
  if x < -708.0 {
    return 0.0;
  }
  if x > 709.0 {
    return f64::INFINITY;
  }
  let k = (x * LOG2E + ROUND) - ROUND;
  let r = (x - k * LN2_HI) - k * LN2_LO;
  // Degree 8 on |r| <= ln2/2: error below 2e-10; evaluated in two halves to shorten the chain.
  let r2 = r * r;
  let lo = 1.0 + r * (1.0 + r * (1.0 / 2.0 + r * (1.0 / 6.0)));
  let hi = 1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0 + r * (1.0 / 40_320.0))));
  let p = lo + (r2 * r2) * hi;
  p * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

/// ln(x) to about 1e-10 absolute for x in [1, 2^60] (a softmax normaliser): shorter series than [`ln`].
#[inline(always)]
pub fn ln_f32(x: f64) -> f64 {
  if !(x > 0.0) || x == f64::INFINITY {
    return ln(x);
  }
  let bits = x.to_bits();
  let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
  let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
  if m > std::f64::consts::SQRT_2 {
    m *= 0.5;
    e += 1;
  }
  let t = (m - 1.0) / (m + 1.0);
  let t2 = t * t;
  let s = 1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0))));
  let ef = e as f64;
  (ef * LN2_HI + 2.0 * t * s) + ef * LN2_LO
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn exp_matches_libm() {
    let mut x = -708.0;
    while x < 709.0 {
      let (a, b) = (exp(x), x.exp());
      assert!(((a - b) / b).abs() < 1e-13, "exp({x}) = {a} vs {b}");
      x += 0.0137;
    }
    assert_eq!(exp(0.0), 1.0);
    assert_eq!(exp(-1e4), 0.0);
    assert_eq!(exp(f64::NEG_INFINITY), 0.0);
    assert_eq!(exp(1e4), f64::INFINITY);
    assert!(exp(f64::NAN).is_nan());
  }

  #[test]
  fn ln_matches_libm() {
    let mut x = 1e-300;
    while x < 1e300 {
      let (a, b) = (ln(x), x.ln());
      assert!((a - b).abs() < 1e-13 * b.abs().max(1e-3), "ln({x}) = {a} vs {b}");
      x *= 1.013;
    }
    assert_eq!(ln(1.0), 0.0);
    assert_eq!(ln(0.0), f64::NEG_INFINITY);
    assert!(ln(-1.0).is_nan() && ln(f64::NAN).is_nan());
    assert_eq!(ln(f64::INFINITY), f64::INFINITY);
  }

  #[test]
  fn short_versions_are_f32_accurate() {
    let mut x = -700.0;
    while x < 700.0 {
      let (a, b) = (exp_f32(x), x.exp());
      assert!(((a - b) / b).abs() < 1e-9, "exp_f32({x}) = {a} vs {b}");
      x += 0.0173;
    }
    let mut x = 1.0;
    while x < 1e18 {
      assert!((ln_f32(x) - x.ln()).abs() < 1e-9, "ln_f32({x})");
      x *= 1.0071;
    }
    assert_eq!(exp_f32(0.0), 1.0);
    assert_eq!(ln_f32(1.0), 0.0);
  }
}
