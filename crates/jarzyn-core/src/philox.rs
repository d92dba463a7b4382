//! Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
//!
//! A counter-based generator: the output is a pure function of (counter, key), so walker `i` at step
//! `k` draws the same numbers whatever thread (or GPU thread) computes it. That is what makes results
//! bit-identical for any thread count, and what lets a CUDA kernel reproduce the CPU stream.
//!
//! Counter layout used by jarzyn (see [`Counter`]):
//! - key   = (seed bits 0..32, seed bits 32..64)
//! - c0    = block index inside the draw (4 outputs per block)
//! - c1    = walker (or item) index
//! - c2    = step bits 0..32
//! - c3    = stream tag (bits 24..32) | step bits 32..56

pub(crate) const M0: u32 = 0xD251_1F53;
pub(crate) const M1: u32 = 0xCD9E_8D57;
pub(crate) const W0: u32 = 0x9E37_79B9;
pub(crate) const W1: u32 = 0xBB67_AE85;

/// Independent purposes draw from disjoint counter ranges, so adding a consumer never shifts
/// the numbers another one sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Stream {
  /// Langevin noise of the ULA move.
  Noise = 0,
  /// Uniforms of the resampling schemes.
  Resample = 1,
  /// Initial samples drawn by energies that can sample themselves.
  Init = 2,
  /// Free for users of the core (data shuffling, CD resets).
  User = 3,
}

/// The (c2, c3) half of a counter: step and stream. c0 and c1 vary per block and walker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
  pub c2: u32,
  pub c3: u32,
}

impl Counter {
  pub fn new(stream: Stream, step: u64) -> Self {
    Counter {
      c2: step as u32,
      c3: ((stream as u32) << 24) | ((step >> 32) as u32 & 0x00FF_FFFF),
    }
  }
}

/// The key derived from a 64-bit seed.
#[inline]
pub fn key_from_seed(seed: u64) -> [u32; 2] {
  [seed as u32, (seed >> 32) as u32]
}

/// The key of the next round: Philox's key schedule adds (W0, W1) before every round but the first.
#[inline(always)]
pub(crate) fn next_round_key(k: [u32; 2]) -> [u32; 2] {
  [k[0].wrapping_add(W0), k[1].wrapping_add(W1)]
}

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
  let p = (a as u64) * (b as u64);
  ((p >> 32) as u32, p as u32)
}

/// One Philox4x32-10 block, scalar. The reference the lane version is tested against.
#[inline]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
  let mut x = ctr;
  let mut k = key;
  for round in 0..10 {
    if round > 0 {
      k = next_round_key(k);
    }
    let (hi0, lo0) = mulhilo(M0, x[0]);
    let (hi1, lo1) = mulhilo(M1, x[2]);
    x = [hi1 ^ x[1] ^ k[0], lo1, hi0 ^ x[3] ^ k[1], lo0];
  }
  x
}

/// Lanes processed together; wide enough for AVX2's 4 64-bit products twice over.
pub const LANES: usize = 8;

/// Philox4x32-10 on `LANES` blocks that differ in (c0, c1) and share (c2, c3) and the key.
/// Written as loops over fixed-size arrays so that LLVM vectorises the 32x32->64 products.
#[inline(always)]
pub fn philox_lanes(c0: &[u32; LANES], c1: &[u32; LANES], ctr: Counter, key: [u32; 2]) -> [[u32; LANES]; 4] {
  let mut x0 = *c0;
  let mut x1 = *c1;
  let mut x2 = [ctr.c2; LANES];
  let mut x3 = [ctr.c3; LANES];
  let mut k = key;
  for round in 0..10 {
    if round > 0 {
      k = next_round_key(k);
    }
    let [k0, k1] = k;
    let mut y0 = [0u32; LANES];
    let mut y1 = [0u32; LANES];
    let mut y2 = [0u32; LANES];
    let mut y3 = [0u32; LANES];
    for l in 0..LANES {
      let p0 = (M0 as u64) * (x0[l] as u64);
      let p1 = (M1 as u64) * (x2[l] as u64);
      y0[l] = ((p1 >> 32) as u32) ^ x1[l] ^ k0;
      y1[l] = p1 as u32;
      y2[l] = ((p0 >> 32) as u32) ^ x3[l] ^ k1;
      y3[l] = p0 as u32;
    }
    x0 = y0;
    x1 = y1;
    x2 = y2;
    x3 = y3;
  }
  [x0, x1, x2, x3]
}

/// Philox4x32-10 on 8 blocks held in AVX2 registers, one block per 32-bit lane: the same integer
/// operations as [`philox4x32_10`], so the same bits. The 32x32->64 products are formed by
/// `vpmuludq` on the even lanes and on the odd lanes shifted down, then recombined by blends
/// (no lane-crossing shuffles, no transposes).
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
  use std::arch::x86_64::*;

  use super::{next_round_key, M0, M1};

  /// (hi, lo) of the eight 32x32->64 products x[l] * m.
  #[inline]
  #[target_feature(enable = "avx2")]
  unsafe fn mulhilo8(x: __m256i, m: __m256i) -> (__m256i, __m256i) {
    let even = _mm256_mul_epu32(x, m);
    let odd = _mm256_mul_epu32(_mm256_srli_epi64::<32>(x), m);
    let hi = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(even), odd);
    let lo = _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd));
    (hi, lo)
  }

  /// Eight blocks with counters (c0[l], c1[l], c2, c3) under `key`: the four output words of
  /// each block, word j of block l in lane l of `out[j]`.
  #[inline]
  #[target_feature(enable = "avx2")]
  pub(crate) unsafe fn philox8(c0: __m256i, c1: __m256i, c2: u32, c3: u32, key: [u32; 2]) -> [__m256i; 4] {
    let [r] = philox8xg::<1>([c0], [c1], c2, c3, key);
    r
  }

  /// `G` independent [`philox8`] groups with their rounds interleaved: one group's 10 rounds are
  /// a serial chain of multiply latencies; several chains keep the vector units busy.
  #[inline]
  #[target_feature(enable = "avx2")]
  pub(crate) unsafe fn philox8xg<const G: usize>(
    c0: [__m256i; G],
    c1: [__m256i; G],
    c2: u32,
    c3: u32,
    key: [u32; 2],
  ) -> [[__m256i; 4]; G] {
    let m0 = _mm256_set1_epi32(M0 as i32);
    let m1 = _mm256_set1_epi32(M1 as i32);
    let mut x0 = c0;
    let mut x1 = c1;
    let mut x2 = [_mm256_set1_epi32(c2 as i32); G];
    let mut x3 = [_mm256_set1_epi32(c3 as i32); G];
    let mut k = key;
    for round in 0..10 {
      if round > 0 {
        k = next_round_key(k);
      }
      let [k0, k1] = k;
      let vk0 = _mm256_set1_epi32(k0 as i32);
      let vk1 = _mm256_set1_epi32(k1 as i32);
      for g in 0..G {
        let (hi0, lo0) = mulhilo8(x0[g], m0);
        let (hi1, lo1) = mulhilo8(x2[g], m1);
        x0[g] = _mm256_xor_si256(_mm256_xor_si256(hi1, x1[g]), vk0);
        x1[g] = lo1;
        x2[g] = _mm256_xor_si256(_mm256_xor_si256(hi0, x3[g]), vk1);
        x3[g] = lo0;
      }
    }
    core::array::from_fn(|g| [x0[g], x1[g], x2[g], x3[g]])
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  // Random123's published known-answer vectors for philox4x32_10.
  #[test]
  fn known_answers() {
    assert_eq!(
      philox4x32_10([0, 0, 0, 0], [0, 0]),
      [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
    assert_eq!(
      philox4x32_10([0xffffffff; 4], [0xffffffff; 2]),
      [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
    assert_eq!(
      philox4x32_10(
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [0xa4093822, 0x299f31d0]
      ),
      [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
  }

  #[test]
  fn lanes_match_scalar() {
    let key = [0xdead_beef, 0x1234_5678];
    let ctr = Counter::new(Stream::Noise, 0x0000_0012_3456_789a);
    let c0: [u32; LANES] = core::array::from_fn(|l| l as u32 * 7);
    let c1: [u32; LANES] = core::array::from_fn(|l| 1000 + l as u32);
    let out = philox_lanes(&c0, &c1, ctr, key);
    for l in 0..LANES {
      let s = philox4x32_10([c0[l], c1[l], ctr.c2, ctr.c3], key);
      assert_eq!([out[0][l], out[1][l], out[2][l], out[3][l]], s);
    }
  }

  #[cfg(target_arch = "x86_64")]
  #[test]
  fn avx2_lanes_match_scalar() {
    crate::dispatch::require_avx2!();
    use std::arch::x86_64::*;
    let mut next = crate::test_words(0x9E37_79B9_7F4A_7C15);
    for trial in 0..20_000 {
      let mut c0 = [0u32; 8];
      let mut c1 = [0u32; 8];
      for l in 0..8 {
        c0[l] = next();
        c1[l] = next();
      }
      let (c2, c3, key) = if trial == 0 {
        (u32::MAX, u32::MAX, [u32::MAX; 2])
      } else {
        (next(), next(), [next(), next()])
      };
      if trial == 0 {
        c0 = [u32::MAX; 8];
        c1 = [u32::MAX, 0, 1, u32::MAX - 1, 0x8000_0000, 0x7FFF_FFFF, 2, 3];
      }
      let mut out = [[0u32; 8]; 4];
      // SAFETY: AVX2 checked above; loads and stores are unaligned and in bounds.
      unsafe {
        let r = avx2::philox8(
          _mm256_loadu_si256(c0.as_ptr().cast()),
          _mm256_loadu_si256(c1.as_ptr().cast()),
          c2,
          c3,
          key,
        );
        for j in 0..4 {
          _mm256_storeu_si256(out[j].as_mut_ptr().cast(), r[j]);
        }
      }
      for l in 0..8 {
        let s = philox4x32_10([c0[l], c1[l], c2, c3], key);
        assert_eq!(
          [out[0][l], out[1][l], out[2][l], out[3][l]],
          s,
          "trial {trial} lane {l}"
        );
      }
      // The two-group version: group 1 gets the lanes reversed.
      let mut out2 = [[[0u32; 8]; 4]; 2];
      // SAFETY: as above.
      unsafe {
        let a0 = _mm256_loadu_si256(c0.as_ptr().cast());
        let a1 = _mm256_loadu_si256(c1.as_ptr().cast());
        let rev = _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0);
        let b0 = _mm256_permutevar8x32_epi32(a0, rev);
        let b1 = _mm256_permutevar8x32_epi32(a1, rev);
        let r = avx2::philox8xg::<2>([a0, b0], [a1, b1], c2, c3, key);
        for g in 0..2 {
          for j in 0..4 {
            _mm256_storeu_si256(out2[g][j].as_mut_ptr().cast(), r[g][j]);
          }
        }
      }
      for l in 0..8 {
        for j in 0..4 {
          assert_eq!(out2[0][j][l], out[j][l]);
          assert_eq!(out2[1][j][7 - l], out[j][l]);
        }
      }
    }
  }

  #[test]
  fn streams_do_not_overlap() {
    let a = Counter::new(Stream::Noise, 5);
    let b = Counter::new(Stream::Resample, 5);
    assert_ne!(a, b);
    assert_eq!(Counter::new(Stream::Noise, (1u64 << 32) + 3).c3 & 0xFF_FFFF, 1);
  }
}
