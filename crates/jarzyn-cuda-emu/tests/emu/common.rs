//! Shared by the emulator's tests.
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

/// U(x) = |x - mean|^2 / (2 sigma^2), evaluated the same way for both samplers (as
/// crates/jarzyn-core/tests/common).
pub struct Gauss {
  pub mean: Vec<f64>,
  pub sigma: f64,
}

impl Gauss {
  pub fn eval(&self, x: &[f32], d: usize) -> (Vec<f32>, Vec<f32>) {
    let n = x.len() / d;
    let (mut e, mut g) = (vec![0f32; n], vec![0f32; n * d]);
    let inv = 1.0 / (self.sigma * self.sigma);
    for (i, row) in x.chunks_exact(d).enumerate() {
      let mut u = 0.0;
      for c in 0..d {
        let dx = row[c] as f64 - self.mean[c];
        u += 0.5 * dx * dx * inv;
        g[i * d + c] = (dx * inv) as f32;
      }
      e[i] = u as f32;
    }
    (e, g)
  }
}

/// Mean 0 -> 1.5 (c + 1) / d and sigma 1 -> 1.6 over `steps`.
pub fn schedule(k: usize, steps: usize, d: usize) -> Gauss {
  let t = k as f64 / steps as f64;
  Gauss {
    mean: (0..d).map(|c| 1.5 * t * (c as f64 + 1.0) / d as f64).collect(),
    sigma: 1.0 + 0.6 * t,
  }
}

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
