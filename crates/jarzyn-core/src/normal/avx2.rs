//! The AVX2 path: Philox blocks one per 32-bit lane, 2 groups of 8 per iteration, and Box-Muller
//! on 8 word pairs per vector, with exactly the operations of the scalar [`box_muller`] (IEEE f32 add, mul,
//! div, sqrt in the same order, exact integer and sign-bit manipulations), so exactly its bits.

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
    let mut cursor = BlockCursor::new(walker0, bpw);
    for l in 0..8 {
      (c0[l], c1[l]) = cursor.next_block();
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
pub(super) unsafe fn fill_blocks(run: &BlockRun, out: &mut [f32]) {
  let &BlockRun {
    key,
    ctr,
    walker0,
    bpw,
    total,
    first_pair_only,
  } = run;
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
