//! Standard normals from Philox blocks by the Box-Muller transform, with polynomial `ln`, `sin`
//! and `cos` in f32.
//!
//! Why not libm: drawing the Langevin noise is the largest single cost of a step, and libm's
//! scalar calls cost ~15 ns per normal where these vectorisable polynomials cost ~2 ns. Every
//! operation here is an IEEE-exact f32 add, mul, div or sqrt (no fused multiply-add, which Rust
//! never forms implicitly), so the numbers are bit-identical on any x86/ARM CPU, with or without
//! AVX2, and on a GPU compiled with `--fmad=false`.
//!
//! Accuracy (tested): |z - z_exact| < 1e-5 for |z| < 6; the radius uses 32 random bits, so the
//! largest |z| a block can produce is sqrt(2 * 33 ln 2) ~ 6.76.
//!
//! Speed: on x86-64 with AVX2 the fill runs explicit AVX2 code (module `avx2`): 16 Philox blocks
//! per iteration in two interleaved groups, Box-Muller on 8 word pairs per vector with the
//! independent groups computed in lockstep, and a register transpose into the block layout. It
//! performs the scalar operations lane by lane, so it gives the scalar bits (tests compare it with
//! the scalar definition and pin a hash of the stream). About 1.4 ns per normal at d = 100 and
//! 1.9 ns at d = 2 on one core of an AMD EPYC (Zen 3) (was 3.1 and 8.2 before the AVX2 code);
//! `cargo run --release -p jarzyn-core --example normal_speed` measures it.

use crate::philox::{philox_lanes, Counter, LANES};

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

/// Number of Philox blocks (4 normals each) a walker of dimension `dim` draws per step.
#[inline]
pub fn blocks_per_walker(dim: usize) -> usize {
  dim.div_ceil(4)
}

/// Normals of walkers `walker0 .. walker0 + walkers` for one (stream, step), padded: walker `w`'s
/// draw occupies `out[w * 4 * bpw .. (w + 1) * 4 * bpw]`, of which the first `dim` are used.
/// Normal `c` of walker `i` comes from block `c / 4` of counter (c/4, i, step, stream), word pair
/// (c % 4 < 2 ? 0,1 : 2,3), cos for even c and sin for odd c. The padding slots (the last
/// `4 * bpw - dim` of each walker) are unspecified: normals of the unused words, or 0.
pub fn fill_padded(key: [u32; 2], ctr: Counter, walker0: u32, walkers: usize, dim: usize, out: &mut [f32]) {
  let bpw = blocks_per_walker(dim);
  let total = walkers * bpw;
  assert!(out.len() >= total * 4, "normal buffer too short");
  fill_padded_dispatch(key, ctr, walker0, bpw as u32, total, dim <= 2, &mut out[..total * 4]);
}

/// `first_pair_only`: walkers use only the first word pair of their (single) block, dim <= 2.
#[cfg(target_arch = "x86_64")]
fn fill_padded_dispatch(
  key: [u32; 2],
  ctr: Counter,
  walker0: u32,
  bpw: u32,
  total: usize,
  first_pair_only: bool,
  out: &mut [f32],
) {
  if std::arch::is_x86_feature_detected!("avx2") {
    // SAFETY: the CPU supports AVX2, checked just above; out.len() == total * 4.
    unsafe { avx2::fill_blocks(key, ctr, walker0, bpw, total, first_pair_only, out) }
  } else {
    fill_padded_generic(key, ctr, walker0, bpw, total, out)
  }
}

#[cfg(not(target_arch = "x86_64"))]
fn fill_padded_dispatch(
  key: [u32; 2],
  ctr: Counter,
  walker0: u32,
  bpw: u32,
  total: usize,
  _first_pair_only: bool,
  out: &mut [f32],
) {
  fill_padded_generic(key, ctr, walker0, bpw, total, out)
}

/// The portable path (and the reference the AVX2 path is tested against).
fn fill_padded_generic(key: [u32; 2], ctr: Counter, walker0: u32, bpw: u32, total: usize, out: &mut [f32]) {
  let mut block = 0u32;
  let mut walker = walker0;
  let mut f = 0usize;
  while f < total {
    let n = LANES.min(total - f);
    let mut c0 = [0u32; LANES];
    let mut c1 = [0u32; LANES];
    for l in 0..LANES {
      c0[l] = block;
      c1[l] = walker;
      if l < n {
        block += 1;
        if block == bpw {
          block = 0;
          walker = walker.wrapping_add(1);
        }
      }
    }
    let r = philox_lanes(&c0, &c1, ctr, key);
    let mut z = [[0f32; LANES]; 4];
    for l in 0..LANES {
      let (a, b) = box_muller(r[0][l], r[1][l]);
      let (c, d) = box_muller(r[2][l], r[3][l]);
      z[0][l] = a;
      z[1][l] = b;
      z[2][l] = c;
      z[3][l] = d;
    }
    let dst = &mut out[f * 4..(f + n) * 4];
    for l in 0..n {
      dst[4 * l] = z[0][l];
      dst[4 * l + 1] = z[1][l];
      dst[4 * l + 2] = z[2][l];
      dst[4 * l + 3] = z[3][l];
    }
    f += n;
  }
}

/// Floats in the compaction scratch of [`fill_normals`] (dims not a multiple of 4, above 2).
const COMPACT_SCRATCH_FLOATS: usize = 4096;

/// Normals of walkers `walker0 ..` compacted to `dim` per walker: `out.len() / dim` walkers.
/// Writes straight into `out` when `dim` is 1, 2 or a multiple of 4; other dims go through a
/// small scratch buffer (at most max(16 KiB, one padded walker)), a chunk of walkers at a time.
pub fn fill_normals(key: [u32; 2], ctr: Counter, walker0: u32, dim: usize, out: &mut [f32]) {
  assert!(
    dim > 0 && out.len().is_multiple_of(dim),
    "output length must be a multiple of dim"
  );
  let walkers = out.len() / dim;
  let padded = blocks_per_walker(dim) * 4;
  if padded == dim {
    fill_padded(key, ctr, walker0, walkers, dim, out);
    return;
  }
  #[cfg(target_arch = "x86_64")]
  if dim <= 2 && std::arch::is_x86_feature_detected!("avx2") {
    // SAFETY: AVX2 checked just above; out.len() == walkers * dim.
    unsafe { avx2::fill_first_pair(key, ctr, walker0, walkers, dim, out) };
    return;
  }
  let chunk = (COMPACT_SCRATCH_FLOATS / padded).max(1);
  let mut scratch = vec![0f32; chunk.min(walkers) * padded];
  for (ci, rows) in out.chunks_mut(chunk * dim).enumerate() {
    let nw = rows.len() / dim;
    let w0 = walker0.wrapping_add((ci * chunk) as u32);
    fill_padded(key, ctr, w0, nw, dim, &mut scratch[..nw * padded]);
    for (w, row) in rows.chunks_exact_mut(dim).enumerate() {
      row.copy_from_slice(&scratch[w * padded..w * padded + dim]);
    }
  }
}

/// The AVX2 path: Philox blocks one per 32-bit lane, 2 groups of 8 per iteration, and Box-Muller
/// on 8 word pairs per vector, with exactly the operations of the scalar [`box_muller`] (IEEE f32 add, mul,
/// div, sqrt in the same order, exact integer and sign-bit manipulations), so exactly its bits.
#[cfg(target_arch = "x86_64")]
mod avx2 {
  use std::arch::x86_64::*;

  use super::*;
  use crate::philox::avx2::{philox8, philox8xg};

  /// Philox groups of 8 blocks computed together (interleaved dependency chains).
  const G: usize = 2;
  /// The same for the first-pair-only path (dim <= 2).
  const GP: usize = 2;

  /// `a as f32` for eight u32 (round to nearest even), the way LLVM lowers it: the two 16-bit
  /// halves become exact floats (2^23 + lo, 2^39 + hi 2^16), their difference of offsets is exact,
  /// and the one final add rounds once.
  #[inline]
  #[target_feature(enable = "avx2")]
  unsafe fn u32_to_f32(a: __m256i) -> __m256 {
    let lo = _mm256_blend_epi16::<0b1010_1010>(a, _mm256_set1_epi32(0x4B00_0000));
    let hi = _mm256_blend_epi16::<0b1010_1010>(_mm256_srli_epi32::<16>(a), _mm256_set1_epi32(0x5300_0000));
    // 2^39 + 2^23
    let hi = _mm256_sub_ps(_mm256_castsi256_ps(hi), _mm256_set1_ps(f32::from_bits(0x5300_0080)));
    _mm256_add_ps(hi, _mm256_castsi256_ps(lo))
  }

  /// [`box_muller`] on N groups of eight word pairs (a[i][l], b[i][l]): (cos side, sin side).
  /// Every lane goes through exactly the scalar operations, in the same order: the u32 -> f32
  /// conversion of [`u32_to_f32`], [`fast_ln`] (exponent split, one division, Horner), one sqrt,
  /// the Horner sin/cos of [`sin_cos_quadrant`], and the quadrant rotation done with blends and
  /// sign-bit flips (what the scalar selects and negations compute). The N groups are computed in
  /// lockstep, each step for all groups before the next, so that N independent dependency chains
  /// (the ln and Horner chains are long) sit side by side in the instruction stream.
  #[inline]
  #[target_feature(enable = "avx2")]
  unsafe fn box_muller8n<const N: usize>(a: [__m256i; N], b: [__m256i; N]) -> [(__m256, __m256); N] {
    let zf = _mm256_setzero_ps();
    let k = |v: f32| _mm256_set1_ps(v);
    let one = k(1.0);
    // Radius: u in (0, 1], ln u as in `fast_ln`, r = sqrt(-2 ln u).
    let mut u = [zf; N];
    for i in 0..N {
      u[i] = _mm256_add_ps(_mm256_mul_ps(u32_to_f32(a[i]), k(INV_2_32)), k(INV_2_33));
    }
    let mut e = [zf; N];
    let mut m = [zf; N];
    for i in 0..N {
      let adj = _mm256_sub_epi32(_mm256_castps_si256(u[i]), _mm256_set1_epi32(SQRT_HALF_BITS as i32));
      e[i] = _mm256_cvtepi32_ps(_mm256_srai_epi32::<23>(adj));
      m[i] = _mm256_castsi256_ps(_mm256_add_epi32(
        _mm256_and_si256(adj, _mm256_set1_epi32(0x007F_FFFF)),
        _mm256_set1_epi32(SQRT_HALF_BITS as i32),
      ));
    }
    let mut s = [zf; N];
    for i in 0..N {
      s[i] = _mm256_div_ps(_mm256_sub_ps(m[i], one), _mm256_add_ps(m[i], one));
    }
    // Angle: x in (0, pi/2) and x^2, independent of the radius chain.
    let mut x = [zf; N];
    let mut x2 = [zf; N];
    for i in 0..N {
      let frac = _mm256_cvtepi32_ps(_mm256_and_si256(b[i], _mm256_set1_epi32(0x3FFF_FFFF)));
      let f = _mm256_mul_ps(_mm256_add_ps(frac, k(0.5)), k(INV_2_30));
      x[i] = _mm256_mul_ps(f, k(HALF_PI));
      x2[i] = _mm256_mul_ps(x[i], x[i]);
    }
    let mut s2 = [zf; N];
    let mut p = [zf; N];
    let mut sp = [zf; N];
    let mut cp = [zf; N];
    for i in 0..N {
      s2[i] = _mm256_mul_ps(s[i], s[i]);
      p[i] = _mm256_mul_ps(s2[i], k(L9));
      sp[i] = _mm256_mul_ps(x2[i], k(S11));
      cp[i] = _mm256_mul_ps(x2[i], k(C12));
    }
    for (lc, sc, cc) in [(L7, S9, C10), (L5, S7, C8), (L3, S5, C6)] {
      for i in 0..N {
        p[i] = _mm256_mul_ps(s2[i], _mm256_add_ps(k(lc), p[i]));
        sp[i] = _mm256_mul_ps(x2[i], _mm256_add_ps(k(sc), sp[i]));
        cp[i] = _mm256_mul_ps(x2[i], _mm256_add_ps(k(cc), cp[i]));
      }
    }
    let mut r = [zf; N];
    for i in 0..N {
      p[i] = _mm256_add_ps(one, p[i]);
      let two_s = _mm256_mul_ps(k(2.0), s[i]);
      let ln = _mm256_add_ps(_mm256_mul_ps(e[i], k(LN2)), _mm256_mul_ps(two_s, p[i]));
      r[i] = _mm256_sqrt_ps(_mm256_mul_ps(k(-2.0), ln));
      sp[i] = _mm256_mul_ps(x2[i], _mm256_add_ps(k(S3), sp[i]));
      cp[i] = _mm256_mul_ps(x2[i], _mm256_add_ps(k(C4), cp[i]));
    }
    let mut out = [(zf, zf); N];
    let sign = _mm256_set1_epi32(i32::MIN);
    for i in 0..N {
      cp[i] = _mm256_mul_ps(x2[i], _mm256_add_ps(k(C2), cp[i]));
      let sin = _mm256_mul_ps(x[i], _mm256_add_ps(one, sp[i]));
      let cos = _mm256_add_ps(one, cp[i]);
      // Quadrant q = b >> 30: swap when q is odd (bit 30), negate the cos side when q is 1 or 2
      // (bit 31 xor bit 30), negate the sin side when q >= 2 (bit 31). Negation flips the sign
      // bit, exactly as the scalar `-x`.
      let swap = _mm256_castsi256_ps(_mm256_slli_epi32::<1>(b[i]));
      let cq = _mm256_blendv_ps(cos, sin, swap);
      let sq = _mm256_blendv_ps(sin, cos, swap);
      let neg_c = _mm256_and_si256(_mm256_xor_si256(b[i], _mm256_slli_epi32::<1>(b[i])), sign);
      let neg_s = _mm256_and_si256(b[i], sign);
      let cq = _mm256_xor_ps(cq, _mm256_castsi256_ps(neg_c));
      let sq = _mm256_xor_ps(sq, _mm256_castsi256_ps(neg_s));
      out[i] = (_mm256_mul_ps(r[i], cq), _mm256_mul_ps(r[i], sq));
    }
    out
  }

  /// Block counters of 8 consecutive blocks (block index c0 inside the walker, walker c1).
  struct Lanes {
    c0: __m256i,
    c1: __m256i,
    bpw: __m256i,
    bpw_m1: __m256i,
    /// Wraps of c0 past bpw possible in one advance by 8: ceil(8 / bpw) at most.
    wraps: u32,
  }

  impl Lanes {
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn new(walker0: u32, bpw: u32) -> Self {
      let mut c0 = [0u32; 8];
      let mut c1 = [0u32; 8];
      let (mut block, mut walker) = (0u32, walker0);
      for l in 0..8 {
        c0[l] = block;
        c1[l] = walker;
        block += 1;
        if block == bpw {
          block = 0;
          walker = walker.wrapping_add(1);
        }
      }
      Lanes {
        c0: _mm256_loadu_si256(c0.as_ptr().cast()),
        c1: _mm256_loadu_si256(c1.as_ptr().cast()),
        bpw: _mm256_set1_epi32(bpw as i32),
        bpw_m1: _mm256_set1_epi32(bpw as i32 - 1),
        wraps: 1 + 7 / bpw,
      }
    }

    /// Move on by 8 blocks. bpw <= 2^30, so c0 + 8 never reaches the sign bit.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn advance(&mut self) {
      self.c0 = _mm256_add_epi32(self.c0, _mm256_set1_epi32(8));
      for _ in 0..self.wraps {
        let past = _mm256_cmpgt_epi32(self.c0, self.bpw_m1);
        self.c0 = _mm256_sub_epi32(self.c0, _mm256_and_si256(past, self.bpw));
        self.c1 = _mm256_sub_epi32(self.c1, past);
      }
    }
  }

  /// 32 normals of 8 blocks, stored block after block: [z0 z1 z2 z3] of lane 0, then lane 1, ...
  #[inline]
  #[target_feature(enable = "avx2")]
  unsafe fn blocks8(lanes: &Lanes, ctr: Counter, key: [u32; 2], first_pair_only: bool, dst: *mut f32) {
    let r = philox8(lanes.c0, lanes.c1, ctr.c2, ctr.c3, key);
    let [(a, b), (c, d)] = if first_pair_only {
      let [ab] = box_muller8n::<1>([r[0]], [r[1]]);
      [ab, (_mm256_setzero_ps(), _mm256_setzero_ps())]
    } else {
      box_muller8n::<2>([r[0], r[2]], [r[1], r[3]])
    };
    store_interleaved4(a, b, c, d, dst);
  }

  /// Store a[l], b[l], c[l], d[l] for l = 0..8 (a 4 x 8 transpose).
  #[inline]
  #[target_feature(enable = "avx2")]
  unsafe fn store_interleaved4(a: __m256, b: __m256, c: __m256, d: __m256, dst: *mut f32) {
    let t0 = _mm256_unpacklo_ps(a, b); // a0 b0 a1 b1 | a4 b4 a5 b5
    let t1 = _mm256_unpackhi_ps(a, b); // a2 b2 a3 b3 | a6 b6 a7 b7
    let t2 = _mm256_unpacklo_ps(c, d);
    let t3 = _mm256_unpackhi_ps(c, d);
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2); // a0 b0 c0 d0 | a4 b4 c4 d4
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2); // a1 b1 c1 d1 | a5 ...
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3); // a2 ... | a6 ...
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3); // a3 ... | a7 ...
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps::<0x20>(u0, u1));
    _mm256_storeu_ps(dst.add(8), _mm256_permute2f128_ps::<0x20>(u2, u3));
    _mm256_storeu_ps(dst.add(16), _mm256_permute2f128_ps::<0x31>(u0, u1));
    _mm256_storeu_ps(dst.add(24), _mm256_permute2f128_ps::<0x31>(u2, u3));
  }

  /// The padded layout: `total` blocks (bpw per walker) into `out` (exactly total * 4 floats).
  /// When each walker is a single block of which only the first pair is used (dim <= 2), the
  /// second pair's Box-Muller is skipped and its padding slots are written as 0.
  #[target_feature(enable = "avx2")]
  pub(super) unsafe fn fill_blocks(
    key: [u32; 2],
    ctr: Counter,
    walker0: u32,
    bpw: u32,
    total: usize,
    first_pair_only: bool,
    out: &mut [f32],
  ) {
    assert_eq!(out.len(), total * 4);
    let mut lanes = Lanes::new(walker0, bpw);
    let dst = out.as_mut_ptr();
    let mut f = 0usize;
    while f + 8 * G <= total {
      let mut c0 = [lanes.c0; G];
      let mut c1 = [lanes.c1; G];
      for g in 0..G {
        c0[g] = lanes.c0;
        c1[g] = lanes.c1;
        lanes.advance();
      }
      let r = philox8xg::<G>(c0, c1, ctr.c2, ctr.c3, key);
      if first_pair_only {
        let z = box_muller8n::<G>(core::array::from_fn(|g| r[g][0]), core::array::from_fn(|g| r[g][1]));
        for (g, &(a, b)) in z.iter().enumerate() {
          let zero = _mm256_setzero_ps();
          // SAFETY: blocks f..f+8G own out[4f..4(f+8G)], in bounds since f + 8G <= total.
          store_interleaved4(a, b, zero, zero, dst.add(4 * f + 32 * g));
        }
      } else {
        // Pairs (0, 1) and (2, 3) of every group: 2G chains in lockstep.
        let z = box_muller8n::<{ 2 * G }>(
          core::array::from_fn(|i| r[i / 2][2 * (i % 2)]),
          core::array::from_fn(|i| r[i / 2][2 * (i % 2) + 1]),
        );
        for g in 0..G {
          let ((a, b), (c, d)) = (z[2 * g], z[2 * g + 1]);
          // SAFETY: blocks f..f+8G own out[4f..4(f+8G)], in bounds since f + 8G <= total.
          store_interleaved4(a, b, c, d, dst.add(4 * f + 32 * g));
        }
      }
      f += 8 * G;
    }
    while f + 8 <= total {
      // SAFETY: blocks f..f+8 own out[4f..4f+32], in bounds since f + 8 <= total.
      blocks8(&lanes, ctr, key, first_pair_only, dst.add(4 * f));
      lanes.advance();
      f += 8;
    }
    if f < total {
      let mut tail = [0f32; 32];
      blocks8(&lanes, ctr, key, first_pair_only, tail.as_mut_ptr());
      out[4 * f..].copy_from_slice(&tail[..4 * (total - f)]);
    }
  }

  /// Compact normals for dim 1 or 2: each walker is one block of which only the first word pair
  /// (cos side, then sin side) is used, so the second pair's Box-Muller is skipped.
  #[target_feature(enable = "avx2")]
  pub(super) unsafe fn fill_first_pair(
    key: [u32; 2],
    ctr: Counter,
    walker0: u32,
    walkers: usize,
    dim: usize,
    out: &mut [f32],
  ) {
    debug_assert!(dim == 1 || dim == 2);
    assert_eq!(out.len(), walkers * dim);
    let mut c1 = _mm256_add_epi32(
      _mm256_set1_epi32(walker0 as i32),
      _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    );
    let c0 = _mm256_setzero_si256();
    let step = _mm256_set1_epi32(8);
    let dst = out.as_mut_ptr();
    let mut w = 0usize;
    let mut tail = [0f32; 16];
    while w + 8 * GP <= walkers {
      let mut c1s = [c1; GP];
      for v in c1s.iter_mut() {
        *v = c1;
        c1 = _mm256_add_epi32(c1, step);
      }
      let r = philox8xg::<GP>([c0; GP], c1s, ctr.c2, ctr.c3, key);
      let z = box_muller8n::<GP>(core::array::from_fn(|g| r[g][0]), core::array::from_fn(|g| r[g][1]));
      for (g, &(a, b)) in z.iter().enumerate() {
        // SAFETY: walkers w..w+8GP own out[dim w..dim (w+8GP)], in bounds since w + 8GP <= walkers.
        let p = dst.add(dim * (w + 8 * g));
        if dim == 1 {
          _mm256_storeu_ps(p, a);
        } else {
          let lo = _mm256_unpacklo_ps(a, b);
          let hi = _mm256_unpackhi_ps(a, b);
          _mm256_storeu_ps(p, _mm256_permute2f128_ps::<0x20>(lo, hi));
          _mm256_storeu_ps(p.add(8), _mm256_permute2f128_ps::<0x31>(lo, hi));
        }
      }
      w += 8 * GP;
    }
    while w < walkers {
      let r = philox8(c0, c1, ctr.c2, ctr.c3, key);
      let [(a, b)] = box_muller8n::<1>([r[0]], [r[1]]);
      let n = 8.min(walkers - w);
      // SAFETY: walkers w..w+8 own out[dim w..dim (w+8)] when n == 8; otherwise the tail buffer.
      let p = if n == 8 { dst.add(dim * w) } else { tail.as_mut_ptr() };
      if dim == 1 {
        _mm256_storeu_ps(p, a);
      } else {
        let lo = _mm256_unpacklo_ps(a, b); // a0 b0 a1 b1 | a4 b4 a5 b5
        let hi = _mm256_unpackhi_ps(a, b); // a2 b2 a3 b3 | a6 b6 a7 b7
        _mm256_storeu_ps(p, _mm256_permute2f128_ps::<0x20>(lo, hi));
        _mm256_storeu_ps(p.add(8), _mm256_permute2f128_ps::<0x31>(lo, hi));
      }
      if n < 8 {
        out[dim * w..].copy_from_slice(&tail[..dim * n]);
      }
      c1 = _mm256_add_epi32(c1, step);
      w += 8;
    }
  }

  #[cfg(test)]
  pub(super) unsafe fn box_muller8_lanes(a: [u32; 8], b: [u32; 8]) -> ([f32; 8], [f32; 8]) {
    #[target_feature(enable = "avx2")]
    unsafe fn inner(a: [u32; 8], b: [u32; 8]) -> ([f32; 8], [f32; 8]) {
      let [(z0, z1)] = box_muller8n::<1>(
        [_mm256_loadu_si256(a.as_ptr().cast())],
        [_mm256_loadu_si256(b.as_ptr().cast())],
      );
      let mut o0 = [0f32; 8];
      let mut o1 = [0f32; 8];
      _mm256_storeu_ps(o0.as_mut_ptr(), z0);
      _mm256_storeu_ps(o1.as_mut_ptr(), z1);
      (o0, o1)
    }
    inner(a, b)
  }

  #[cfg(test)]
  pub(super) unsafe fn u32_to_f32_lanes(a: [u32; 8]) -> [f32; 8] {
    #[target_feature(enable = "avx2")]
    unsafe fn inner(a: [u32; 8]) -> [f32; 8] {
      let mut o = [0f32; 8];
      _mm256_storeu_ps(o.as_mut_ptr(), u32_to_f32(_mm256_loadu_si256(a.as_ptr().cast())));
      o
    }
    inner(a)
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::philox::{key_from_seed, philox4x32_10, Stream};

  #[test]
  fn ln_is_accurate() {
    let mut worst = 0f64;
    let mut u = 1e-10f32;
    while u <= 1.0 {
      let err = (fast_ln(u) as f64 - (u as f64).ln()).abs() / (u as f64).ln().abs().max(1e-3);
      worst = worst.max(err);
      u *= 1.0007;
    }
    assert!(worst < 2e-6, "worst relative error {worst}");
    assert_eq!(fast_ln(1.0), 0.0);
  }

  #[test]
  fn sin_cos_are_accurate() {
    for i in 0..=10_000 {
      let x = i as f32 / 10_000.0 * HALF_PI;
      let (s, c) = sin_cos_quadrant(x);
      assert!((s as f64 - (x as f64).sin()).abs() < 2.5e-7);
      assert!((c as f64 - (x as f64).cos()).abs() < 2.5e-7);
    }
  }

  #[test]
  fn box_muller_matches_libm() {
    let key = key_from_seed(7);
    for i in 0..20_000u32 {
      let r = philox4x32_10([i, 0, 0, 0], key);
      let (z0, z1) = box_muller(r[0], r[1]);
      let u = r[0] as f64 / 4_294_967_296.0 + 1.0 / 8_589_934_592.0;
      let rad = (-2.0 * u.ln()).sqrt();
      let q = (r[1] >> 30) as f64;
      let f = ((r[1] & 0x3FFF_FFFF) as f64 + 0.5) / 1_073_741_824.0;
      let th = (q + f) * std::f64::consts::FRAC_PI_2;
      assert!(
        (z0 as f64 - rad * th.cos()).abs() < 1e-5,
        "{i}: {z0} vs {}",
        rad * th.cos()
      );
      assert!((z1 as f64 - rad * th.sin()).abs() < 1e-5);
    }
  }

  #[cfg(target_arch = "x86_64")]
  fn have_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
  }

  /// The SIMD u32 -> f32 conversion rounds exactly like `as f32`: a strided sweep of all u32 plus
  /// every value around the rounding boundaries near the top of each binade.
  #[cfg(target_arch = "x86_64")]
  #[test]
  fn avx2_u32_to_f32_matches_as() {
    if !have_avx2() {
      return;
    }
    let mut vals: Vec<u32> = (0..u32::MAX / 251).map(|i| i * 251 + (i % 7)).collect();
    for e in 0..32 {
      let p = 1u64 << e;
      for d in 0..300u64 {
        for v in [
          p + d,
          p.saturating_sub(d + 1),
          p + (p >> 1) + d,
          (p << 1).saturating_sub(d + 1),
        ] {
          if v <= u32::MAX as u64 {
            vals.push(v as u32);
          }
        }
      }
    }
    vals.extend([
      0,
      1,
      u32::MAX,
      u32::MAX - 127,
      u32::MAX - 128,
      u32::MAX - 129,
      0x8000_0000,
      0x7FFF_FFFF,
    ]);
    while !vals.len().is_multiple_of(8) {
      vals.push(0);
    }
    for chunk in vals.chunks_exact(8) {
      let a: [u32; 8] = chunk.try_into().unwrap();
      // SAFETY: AVX2 checked above.
      let got = unsafe { avx2::u32_to_f32_lanes(a) };
      for l in 0..8 {
        assert_eq!(got[l].to_bits(), (a[l] as f32).to_bits(), "{:#x}", a[l]);
      }
    }
  }

  /// The SIMD Box-Muller gives the scalar bits: random words plus the edges of the radius word
  /// (0, 2^32 - 1, powers of two) and of the quadrants of the angle word.
  #[cfg(target_arch = "x86_64")]
  #[test]
  fn avx2_box_muller_matches_scalar() {
    if !have_avx2() {
      return;
    }
    let mut st = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
      st ^= st << 13;
      st ^= st >> 7;
      st ^= st << 17;
      (st >> 32) as u32
    };
    let mut a_edge: Vec<u32> = vec![
      0,
      1,
      2,
      3,
      u32::MAX,
      u32::MAX - 1,
      u32::MAX - 127,
      u32::MAX - 128,
      0x8000_0000,
      0x7FFF_FFFF,
    ];
    for e in 0..32 {
      a_edge.extend([1u32 << e, (1u32 << e).wrapping_sub(1), (1u32 << e) | 1]);
    }
    let b_edge: Vec<u32> = [0u32, 0x4000_0000, 0x8000_0000, 0xC000_0000]
      .iter()
      .flat_map(|&q| {
        [
          q,
          q + 1,
          q + 0x1FFF_FFFF,
          q + 0x2000_0000,
          q + 0x3FFF_FFFE,
          q + 0x3FFF_FFFF,
        ]
      })
      .collect();
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    for &a in &a_edge {
      for &b in &b_edge {
        pairs.push((a, b));
      }
    }
    for _ in 0..400_000 {
      pairs.push((next(), next()));
    }
    while !pairs.len().is_multiple_of(8) {
      pairs.push((next(), next()));
    }
    for chunk in pairs.chunks_exact(8) {
      let a: [u32; 8] = core::array::from_fn(|l| chunk[l].0);
      let b: [u32; 8] = core::array::from_fn(|l| chunk[l].1);
      // SAFETY: AVX2 checked above.
      let (z0, z1) = unsafe { avx2::box_muller8_lanes(a, b) };
      for l in 0..8 {
        let (e0, e1) = box_muller(a[l], b[l]);
        assert_eq!(
          (z0[l].to_bits(), z1[l].to_bits()),
          (e0.to_bits(), e1.to_bits()),
          "a {:#x} b {:#x}",
          a[l],
          b[l]
        );
      }
    }
  }

  /// The dispatched (AVX2) padded fill equals the portable path on every used slot, for all
  /// tails of the 8- and 16-block groups and dims around the special cases.
  #[test]
  fn dispatched_fill_matches_portable_path() {
    let key = key_from_seed(0x1234_5678_9abc_def0);
    for (step, walker0) in [(0u64, 0u32), (5, 1_000_000), (1 << 35, u32::MAX - 70)] {
      let ctr = Counter::new(Stream::Noise, step);
      for dim in (1..=20).chain([31, 63, 64, 65, 100]) {
        for walkers in [1usize, 2, 3, 4, 7, 8, 9, 15, 16, 17, 33, 64] {
          let bpw = blocks_per_walker(dim);
          let padded = bpw * 4;
          let mut fast = vec![f32::NAN; walkers * padded];
          let mut slow = vec![f32::NAN; walkers * padded];
          fill_padded(key, ctr, walker0, walkers, dim, &mut fast);
          fill_padded_generic(key, ctr, walker0, bpw as u32, walkers * bpw, &mut slow);
          let mut compact = vec![0f32; walkers * dim];
          fill_normals(key, ctr, walker0, dim, &mut compact);
          for w in 0..walkers {
            for c in 0..dim {
              let (f, s) = (fast[w * padded + c], slow[w * padded + c]);
              assert_eq!(f.to_bits(), s.to_bits(), "dim {dim} walkers {walkers} w {w} c {c}");
              assert_eq!(
                compact[w * dim + c].to_bits(),
                s.to_bits(),
                "compact dim {dim} w {w} c {c}"
              );
            }
          }
        }
      }
    }
  }

  #[test]
  fn padded_layout_matches_scalar_definition() {
    let key = key_from_seed(99);
    let ctr = Counter::new(Stream::Noise, 3);
    for dim in [1usize, 2, 3, 4, 5, 7, 8, 13] {
      let walkers = 11;
      let mut out = vec![0f32; walkers * dim];
      fill_normals(key, ctr, 40, dim, &mut out);
      for w in 0..walkers {
        for c in 0..dim {
          let r = philox4x32_10([(c / 4) as u32, 40 + w as u32, ctr.c2, ctr.c3], key);
          let (a, b) = if c % 4 < 2 {
            box_muller(r[0], r[1])
          } else {
            box_muller(r[2], r[3])
          };
          let expect = if c % 2 == 0 { a } else { b };
          assert_eq!(
            out[w * dim + c].to_bits(),
            expect.to_bits(),
            "dim {dim} walker {w} coord {c}"
          );
        }
      }
    }
  }
}
