//! Time the pieces of one Gaussian-mixture training iteration (paper size) in pure Rust:
//! `cargo run --release -p jarzyn-core --example gmm_iteration [threads]`.
use std::time::Instant;

use jarzyn_core::models::gmm::GaussianMixture;
use jarzyn_core::{CpuWalkers, Observation, WalkerConfig, Walkers};

fn main() {
  let threads: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(1);
  let (n, d) = (10_000usize, 50usize);
  let mut g = GaussianMixture::new(d, 2).unwrap();
  let mut p = g.params();
  p[0] = -0.1;
  p[d] = 0.1;
  g.set_params(&p).unwrap();
  let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
  let mut data = vec![0f32; n * d];
  g.sample(&mut data, 1, 0, true).unwrap();
  let mut s = CpuWalkers::new(WalkerConfig {
    walkers: n,
    dim: d,
    step_size: 0.1,
    seed: 1,
    threads,
    weighted: true,
  })
  .unwrap();
  s.fill_positions(&mut |x| g.sample(x, 2, 0, true).map(drop)).unwrap();
  s.observe_energy(&g, false).unwrap();
  let reps = 200;
  let mut t = [0f64; 5];
  let mut w = vec![0f64; n];
  for _ in 0..reps {
    let t0 = Instant::now();
    s.normalized_weights(&mut w).unwrap();
    let t1 = Instant::now();
    let a = g.weighted_param_grad(&pool, &data, None).unwrap();
    let b = g.weighted_param_grad(&pool, s.positions(), Some(&w)).unwrap();
    std::hint::black_box((a, b));
    let t2 = Instant::now();
    s.move_walkers().unwrap();
    let t3 = Instant::now();
    s.observe_energy(&g, false).unwrap();
    let t4 = Instant::now();
    s.summary().unwrap();
    let t5 = Instant::now();
    for (i, (a, b)) in [(t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5)].iter().enumerate() {
      t[i] += (*b - *a).as_secs_f64() * 1e3 / reps as f64;
    }
  }
  let mut e = vec![0f32; n];
  let mut gr = vec![0f32; n * d];
  let t0 = Instant::now();
  for _ in 0..reps {
    g.evaluate(&pool, &data, &mut e, Some(&mut gr)).unwrap();
  }
  let te = t0.elapsed().as_secs_f64() * 1e3 / reps as f64;
  let t0 = Instant::now();
  for _ in 0..reps {
    s.observe(Observation::External { energy: &e, grad: &gr }).unwrap();
  }
  let to = t0.elapsed().as_secs_f64() * 1e3 / reps as f64;
  let t0 = Instant::now();
  let mut z = vec![0f32; n * d];
  for k in 0..reps {
    jarzyn_core::normal::fill_normals(
      [1, 2],
      jarzyn_core::philox::Counter::new(jarzyn_core::philox::Stream::Noise, k as u64),
      0,
      d,
      &mut z,
    );
  }
  let tn = t0.elapsed().as_secs_f64() * 1e3 / reps as f64;
  println!("evaluate alone {te:.3} ms, observe alone (copying) {to:.3} ms, normals alone (1 thread) {tn:.3} ms = {:.2} ns/normal", tn * 1e6 / (n * d) as f64);
  println!("threads {threads}: weights {:.3} ms, param grads (data+walkers) {:.3} ms, move {:.3} ms, eval+observe {:.3} ms, summary {:.3} ms, total {:.3} ms",
    t[0], t[1], t[2], t[3], t[4], t.iter().sum::<f64>());
}
