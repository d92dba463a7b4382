//! Time of one move_walkers() + observe(InPlace) of the core sampler, without Node.
//! `cargo run --release -p jarzyn-core --example step_speed -- N d threads weighted(0|1) [reps]`
use std::time::Instant;

use jarzyn_core::normal::fill_normals;
use jarzyn_core::philox::{key_from_seed, Counter, Stream};
use jarzyn_core::{CpuWalkers, Observation, View, WalkerConfig, Walkers};

fn main() {
  let a: Vec<String> = std::env::args().skip(1).collect();
  let arg = |i: usize, def: usize| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(def);
  let (n, d, threads, weighted, reps) = (arg(0, 100_000), arg(1, 100), arg(2, 1), arg(3, 1) == 1, arg(4, 20));
  let mut s = CpuWalkers::new(WalkerConfig {
    walkers: n,
    dim: d,
    step_size: 0.01,
    seed: 1,
    threads,
    weighted,
  })
  .unwrap();
  fill_normals(
    key_from_seed(2),
    Counter::new(Stream::Init, 0),
    0,
    d,
    s.f32_buffer(View::Positions).unwrap().as_mut_slice(),
  );
  fill_normals(
    key_from_seed(3),
    Counter::new(Stream::Init, 0),
    0,
    d,
    s.f32_buffer(View::Gradients).unwrap().as_mut_slice(),
  );
  s.f32_buffer(View::Energies)
    .unwrap()
    .as_mut_slice()
    .fill(0.5 * d as f32);
  s.observe(Observation::InPlace).unwrap();
  let mut times = Vec::new();
  let (mut tm, mut to) = (Vec::new(), Vec::new());
  for _ in 0..reps + 2 {
    let t = Instant::now();
    s.move_walkers().unwrap();
    let t1 = Instant::now();
    s.observe(Observation::InPlace).unwrap();
    let t2 = Instant::now();
    times.push((t2 - t).as_secs_f64());
    tm.push((t1 - t).as_secs_f64());
    to.push((t2 - t1).as_secs_f64());
  }
  // Best of the timed iterations (after 2 warm-up ones): the least disturbed by other processes.
  let med = |v: &mut Vec<f64>| {
    v.drain(..2);
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[0]
  };
  let (t, m, o) = (med(&mut times), med(&mut tm), med(&mut to));
  // Fingerprints of the state, to check that a change of the core leaves the results alone.
  let hx = s.positions().iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
    (h ^ v.to_bits() as u64).wrapping_mul(0x100_0000_01b3)
  });
  let ha = s.log_weights().iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
    (h ^ v.to_bits()).wrapping_mul(0x100_0000_01b3)
  });
  println!(
    "N {n} d {d} threads {threads} {}: best {:.3} ms/iter (move {:.3}, observe {:.3}), {:.2} ns per walker-step, A[0] = {:.17e}, hash(x) {hx:016x}, hash(A) {ha:016x}",
    if weighted { "jarzynski" } else { "pcd" },
    t * 1e3,
    m * 1e3,
    o * 1e3,
    t * 1e9 / n as f64,
    s.log_weights()[0]
  );
}
