//! Single-thread speed of the normal generator, ns per normal (best of several runs).
//! `cargo run --release -p jarzyn-core --example normal_speed`
use std::time::Instant;

use jarzyn_core::normal::{fill_normals, fill_padded};
use jarzyn_core::philox::{key_from_seed, Counter, Stream};

fn best_ns(n: usize, reps: usize, mut f: impl FnMut(u64)) -> f64 {
  let mut best = f64::INFINITY;
  for r in 0..reps {
    let t = Instant::now();
    f(r as u64);
    best = best.min(t.elapsed().as_secs_f64());
  }
  best * 1e9 / n as f64
}

fn main() {
  let key = key_from_seed(1);
  let reps: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(15);
  let mut checksum = 0u64;
  for &d in &[100usize, 2, 4, 10, 1] {
    let walkers = 1_000_000 / d;
    let mut out = vec![0f32; walkers * d];
    let ns = best_ns(out.len(), reps, |r| {
      fill_normals(key, Counter::new(Stream::Noise, r), 0, d, &mut out)
    });
    checksum ^= out
      .iter()
      .fold(0u64, |a, z| a.wrapping_mul(31).wrapping_add(z.to_bits() as u64));
    let padded = d.div_ceil(4) * 4;
    let mut pbuf = vec![0f32; walkers * padded];
    let ns_p = best_ns(walkers * d, reps, |r| {
      fill_padded(key, Counter::new(Stream::Noise, r), 0, walkers, d, &mut pbuf)
    });
    println!("d = {d:4}: fill_normals {ns:.3} ns/normal, fill_padded {ns_p:.3} ns/normal (per used normal)");
  }
  println!("checksum {checksum:016x}");
}
