//! The scalar definition of a normal: Box-Muller on two Philox words with polynomial `ln`, `sin`
//! and `cos` in f32, and the constants they use. The AVX2 code (`avx2.rs`) and the CUDA kernels
//! (whose constant prelude `cuda::kernel_source` generates from these) reproduce it bit for bit.

pub(crate) const LN2: f32 = core::f32::consts::LN_2;
pub(crate) const HALF_PI: f32 = core::f32::consts::FRAC_PI_2;
pub(crate) const SQRT_HALF_BITS: u32 = 0x3F35_04F3; // f32 nearest sqrt(1/2)

// Polynomial and scaling constants, named once so that the scalar and the SIMD code use the very
// same f32 values (each is the correctly rounded f32 of the expression).
pub(crate) const L3: f32 = 1.0 / 3.0;
pub(crate) const L5: f32 = 1.0 / 5.0;
pub(crate) const L7: f32 = 1.0 / 7.0;
pub(crate) const L9: f32 = 1.0 / 9.0;
pub(crate) const S3: f32 = -1.0 / 6.0;
pub(crate) const S5: f32 = 1.0 / 120.0;
pub(crate) const S7: f32 = -1.0 / 5040.0;
pub(crate) const S9: f32 = 1.0 / 362_880.0;
pub(crate) const S11: f32 = -1.0 / 39_916_800.0;
pub(crate) const C2: f32 = -0.5;
pub(crate) const C4: f32 = 1.0 / 24.0;
pub(crate) const C6: f32 = -1.0 / 720.0;
pub(crate) const C8: f32 = 1.0 / 40_320.0;
pub(crate) const C10: f32 = -1.0 / 3_628_800.0;
pub(crate) const C12: f32 = 1.0 / 479_001_600.0;
pub(crate) const INV_2_32: f32 = 1.0 / 4_294_967_296.0;
pub(crate) const INV_2_33: f32 = 1.0 / 8_589_934_592.0;
pub(crate) const INV_2_30: f32 = 1.0 / 1_073_741_824.0;

/// ln(u) for u in (0, 1]: exponent split plus an atanh series on [sqrt(1/2), sqrt(2)).
#[inline(always)]
pub fn fast_ln(u: f32) -> f32 {
  let bits = u.to_bits();
  // Normalise the mantissa into [sqrt(1/2), sqrt(2)) so the series argument stays below 0.172.
  let adj = bits.wrapping_sub(SQRT_HALF_BITS);
  let e = ((adj as i32) >> 23) as f32;
  let m = f32::from_bits((adj & 0x007F_FFFF).wrapping_add(SQRT_HALF_BITS));
  let s = (m - 1.0) / (m + 1.0);
  let s2 = s * s;
  let p = 1.0 + s2 * (L3 + s2 * (L5 + s2 * (L7 + s2 * L9)));
  e * LN2 + 2.0 * s * p
}

/// (sin x, cos x) for x in [0, pi/2]: Taylor polynomials, error below 6e-8 on that interval.
#[inline(always)]
pub fn sin_cos_quadrant(x: f32) -> (f32, f32) {
  let x2 = x * x;
  let s = x * (1.0 + x2 * (S3 + x2 * (S5 + x2 * (S7 + x2 * (S9 + x2 * S11)))));
  let c = 1.0 + x2 * (C2 + x2 * (C4 + x2 * (C6 + x2 * (C8 + x2 * (C10 + x2 * C12)))));
  (s, c)
}

/// Two standard normals from two 32-bit words (one Box-Muller pair).
#[inline(always)]
pub fn box_muller(a: u32, b: u32) -> (f32, f32) {
  // u in (0, 1]: the half-ulp offset keeps ln finite; small integers convert exactly, so the
  // tail reaches 6.76 sigma instead of the 5.9 of a 24-bit uniform.
  let u = (a as f32) * INV_2_32 + INV_2_33;
  let r = (-2.0 * fast_ln(u)).sqrt();
  // Top two bits pick the quadrant, the other 30 the angle inside it: no range reduction needed.
  let q = b >> 30;
  let f = ((b & 0x3FFF_FFFF) as f32 + 0.5) * INV_2_30;
  let (s, c) = sin_cos_quadrant(f * HALF_PI);
  // Rotate (cos, sin) by q quarter turns.
  let swap = q & 1 == 1;
  let (cq, sq) = if swap { (s, c) } else { (c, s) };
  let neg_c = q == 1 || q == 2;
  let neg_s = q >= 2;
  let cq = if neg_c { -cq } else { cq };
  let sq = if neg_s { -sq } else { sq };
  (r * cq, r * sq)
}
