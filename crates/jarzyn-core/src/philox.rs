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

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

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
      k[0] = k[0].wrapping_add(W0);
      k[1] = k[1].wrapping_add(W1);
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
  let mut k0 = key[0];
  let mut k1 = key[1];
  for round in 0..10 {
    if round > 0 {
      k0 = k0.wrapping_add(W0);
      k1 = k1.wrapping_add(W1);
    }
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

  #[test]
  fn streams_do_not_overlap() {
    let a = Counter::new(Stream::Noise, 5);
    let b = Counter::new(Stream::Resample, 5);
    assert_ne!(a, b);
    assert_eq!(Counter::new(Stream::Noise, (1u64 << 32) + 3).c3 & 0xFF_FFFF, 1);
  }
}
