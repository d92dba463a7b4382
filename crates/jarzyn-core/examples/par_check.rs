//! Time of move + observe on 1 and 2 threads: `cargo run --release -p jarzyn-core --example par_check`.
use jarzyn_core::{CpuWalkers, Observation, WalkerConfig, Walkers};
use std::time::Instant;
fn main() {
  for threads in [1usize, 2] {
    let (n, d) = (100_000usize, 50usize);
    let mut s = CpuWalkers::new(WalkerConfig {
      walkers: n,
      dim: d,
      step_size: 0.1,
      seed: 1,
      threads,
      weighted: true,
    })
    .unwrap();
    let e = vec![0f32; n];
    let g = vec![0.1f32; n * d];
    s.observe(Observation::External { energy: &e, grad: &g }).unwrap();
    let t0 = Instant::now();
    for _ in 0..20 {
      s.move_walkers().unwrap();
      s.observe(Observation::InPlace).unwrap();
    }
    println!(
      "threads {threads}: {:.2} ms per move+observe",
      t0.elapsed().as_secs_f64() * 1e3 / 20.0
    );
  }
}
