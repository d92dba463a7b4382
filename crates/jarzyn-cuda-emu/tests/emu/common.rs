//! Shared by the emulator's tests, with jarzyn-core's test helpers (tests/common) re-exported.
#![allow(dead_code)]

/// A small deterministic generator for test inputs (splitmix64).
pub struct Rng(pub u64);

impl Rng {
  pub fn next_u64(&mut self) -> u64 {
    self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = self.0;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
  }
  pub fn next_u32(&mut self) -> u32 {
    (self.next_u64() >> 32) as u32
  }
  /// Uniform in [lo, hi).
  pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
  }
}

// The energies, mixtures and walker setup of jarzyn-core's integration tests, for the tests that
// run the walkers (feature `cuda`): one definition for both crates. (fake_driver.rs's copy of
// tests/cuda.rs loads its own copy, private to it.)
#[cfg(feature = "cuda")]
#[path = "../../../jarzyn-core/tests/common/mod.rs"]
#[allow(clippy::duplicate_mod)]
mod core_common;
#[cfg(feature = "cuda")]
pub use core_common::*;

/// Index of the first element whose bits differ, with both values.
pub fn first_diff_f32(a: &[f32], b: &[f32]) -> Option<(usize, f32, f32)> {
  assert_eq!(a.len(), b.len(), "lengths");
  (0..a.len())
    .find(|&i| a[i].to_bits() != b[i].to_bits())
    .map(|i| (i, a[i], b[i]))
}

pub fn first_diff_f64(a: &[f64], b: &[f64]) -> Option<(usize, f64, f64)> {
  assert_eq!(a.len(), b.len(), "lengths");
  (0..a.len())
    .find(|&i| a[i].to_bits() != b[i].to_bits())
    .map(|i| (i, a[i], b[i]))
}
