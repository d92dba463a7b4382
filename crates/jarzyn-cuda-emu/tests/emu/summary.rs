//! jz_summary (256 threads per block, one block per REDUCE_CHUNK walkers, partials combined by
//! weights::combine_chunks as cuda/walkers.rs does) against weights::summarize: to 1e-12
//! relative (the kernel's tree order and libm exp differ from the CPU's sequential sum and
//! polynomial exp), max and zero counts exact; each chunk's partials against the CPU's summary of
//! that chunk alone; thread order never changes the partials' bits.

use std::time::Instant;

use crate::common::Rng;
use jarzyn_core::weights::{summarize, WeightSummary, REDUCE_CHUNK};
use jarzyn_cuda_emu::backend::{self, combine_partials, Partials};
use jarzyn_cuda_emu::{with_schedule, Schedule};

fn pool() -> rayon::ThreadPool {
  rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
  if a == b {
    0.0
  } else {
    (a - b).abs() / a.abs().max(b.abs())
  }
}

/// Err with the first disagreement beyond tolerance.
fn compare(emu: &WeightSummary, cpu: &WeightSummary) -> Result<(), String> {
  if emu.n != cpu.n || emu.zero != cpu.zero {
    return Err(format!("n/zero {}/{} vs {}/{}", emu.n, emu.zero, cpu.n, cpu.zero));
  }
  if emu.max.to_bits() != cpu.max.to_bits() {
    return Err(format!("max {} vs {}", emu.max, cpu.max));
  }
  for (name, a, b) in [
    ("sum_shifted", emu.sum_shifted, cpu.sum_shifted),
    ("sum_sq_shifted", emu.sum_sq_shifted, cpu.sum_sq_shifted),
  ] {
    if rel(a, b) > 1e-12 {
      return Err(format!("{name} {a} vs {b} (rel {:e})", rel(a, b)));
    }
  }
  let ok_log = if cpu.log_sum.is_finite() {
    (emu.log_sum - cpu.log_sum).abs() <= 1e-12 * cpu.log_sum.abs().max(1.0)
  } else {
    emu.log_sum.to_bits() == cpu.log_sum.to_bits()
  };
  if !ok_log {
    return Err(format!("log_sum {} vs {}", emu.log_sum, cpu.log_sum));
  }
  if cpu.max != f64::NEG_INFINITY && rel(emu.ess(), cpu.ess()) > 1e-12 {
    return Err(format!("ess {} vs {}", emu.ess(), cpu.ess()));
  }
  Ok(())
}

fn emulated(a: &[f64]) -> (WeightSummary, Partials) {
  let parts = backend::summary_partials(a, REDUCE_CHUNK);
  (parts.combine(a.len()), parts)
}

fn check(a: &[f64], what: &str) {
  let pool = pool();
  let (emu, parts) = emulated(a);
  let cpu = summarize(&pool, a);
  if let Err(e) = compare(&emu, &cpu) {
    panic!("{what} (n {}): {e}", a.len());
  }
  // Chunk by chunk: each block's partials are the CPU's summary of that chunk alone.
  for (c, chunk) in a.chunks(REDUCE_CHUNK).enumerate() {
    let one = summarize(&pool, chunk);
    let mine = combine_partials(
      chunk.len(),
      &parts.max[c..c + 1],
      &parts.s[c..c + 1],
      &parts.s2[c..c + 1],
      &parts.zero[c..c + 1],
    );
    if let Err(e) = compare(&mine, &one) {
      panic!("{what} (n {}): chunk {c}: {e}", a.len());
    }
  }
}

fn weights(n: usize, seed: u64, lo: f64, hi: f64, dead_every: usize) -> Vec<f64> {
  let mut r = Rng(seed);
  (0..n)
    .map(|i| {
      if dead_every > 0 && i % dead_every == 3 {
        f64::NEG_INFINITY
      } else {
        r.uniform(lo, hi)
      }
    })
    .collect()
}

#[test]
fn summary_matches_cpu() {
  for n in [1usize, 2, 255, 256, 257, 1000, 4095, 4096, 4097, 3 * 4096 + 5, 40_000] {
    check(&weights(n, n as u64, -3.0, 3.0, 0), "uniform");
    check(&weights(n, n as u64 + 1, -3.0, 3.0, 7), "with -inf");
    check(&weights(n, n as u64 + 2, 990.0, 1010.0, 5), "large offsets");
    check(&weights(n, n as u64 + 3, -700.0, 0.0, 0), "wide spread");
  }
}

#[test]
fn summary_with_dead_chunks() {
  // Chunk 1 of 4 entirely -inf; then everything -inf; then a single live walker.
  let mut a = weights(3 * 4096 + 5, 9, -2.0, 2.0, 0);
  a[4096..8192].iter_mut().for_each(|v| *v = f64::NEG_INFINITY);
  check(&a, "one dead chunk");
  let (emu, parts) = emulated(&a);
  assert_eq!(parts.max[1], f64::NEG_INFINITY);
  assert_eq!((parts.s[1], parts.s2[1], parts.zero[1]), (0.0, 0.0, 4096));
  assert_eq!(emu.zero, 4096);
  let dead = vec![f64::NEG_INFINITY; 5000];
  check(&dead, "all dead");
  let (emu, _) = emulated(&dead);
  assert_eq!(emu.ess(), 0.0);
  assert_eq!(emu.log_sum, f64::NEG_INFINITY);
  let mut one = dead.clone();
  one[4500] = -12.5;
  check(&one, "one live walker");
  let (emu, _) = emulated(&one);
  assert_eq!(emu.log_sum, -12.5);
  assert_eq!(emu.ess(), 1.0);
}

#[test]
fn thread_order_does_not_change_the_partials() {
  let a = weights(3 * 4096 + 777, 4, -5.0, 5.0, 11);
  let (_, fwd) = emulated(&a);
  for s in [Schedule::Reverse, Schedule::Shuffled(1), Schedule::Shuffled(2)] {
    let (_, other) = with_schedule(s, || emulated(&a));
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&other.max), bits(&fwd.max), "{s:?}");
    assert_eq!(bits(&other.s), bits(&fwd.s), "{s:?}");
    assert_eq!(bits(&other.s2), bits(&fwd.s2), "{s:?}");
    assert_eq!(other.zero, fwd.zero, "{s:?}");
  }
}

#[test]
fn negative_control_a_perturbed_weight_is_seen() {
  let pool = pool();
  let a = weights(1000, 77, -3.0, 3.0, 0);
  let mut b = a.clone();
  b[500] += 1e-6;
  let (emu, _) = emulated(&b);
  assert!(compare(&emu, &summarize(&pool, &a)).is_err());
  assert!(compare(&emu, &summarize(&pool, &b)).is_ok());
}

#[test]
fn summary_of_a_million_walkers() {
  let a = weights(1_000_000, 123, -4.0, 4.0, 13);
  let t = Instant::now();
  let (emu, _) = emulated(&a);
  let secs = t.elapsed().as_secs_f64();
  println!("jz_summary, 10^6 walkers, 245 blocks of 256 threads (fibers): {secs:.3} s");
  compare(&emu, &summarize(&pool(), &a)).unwrap();
  assert!(secs < 20.0, "{secs} s");
}
