use rayon::prelude::*;
use std::time::Instant;
fn main() {
  let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
  for gap_us in [0u64, 100, 1000] {
    let mut total = 0.0;
    let reps = 200;
    for _ in 0..reps {
      if gap_us > 0 {
        std::thread::sleep(std::time::Duration::from_micros(gap_us));
      }
      let t = Instant::now();
      let v: Vec<u64> = pool.install(|| (0..2u64).into_par_iter().map(|i| i * 2).collect());
      std::hint::black_box(v);
      total += t.elapsed().as_secs_f64();
    }
    println!(
      "gap {gap_us} us: {:.1} us per trivial parallel region",
      total / reps as f64 * 1e6
    );
  }
}
