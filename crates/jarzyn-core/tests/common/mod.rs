//! Shared by the integration tests: Gaussian energies whose mean and scale follow a schedule.
#![allow(dead_code)]

/// U(x) = |x - mean|^2 / (2 sigma^2): log Z = d/2 log(2 pi sigma^2), E[x] = mean.
pub struct Gauss {
  pub mean: Vec<f64>,
  pub sigma: f64,
}

impl Gauss {
  pub fn eval(&self, x: &[f32], d: usize, e: &mut [f32], g: &mut [f32]) {
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
