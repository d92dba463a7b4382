//! A copy-bandwidth probe: the yardstick against which the benchmark reports how close a step
//! comes to streaming its bytes at the machine's speed.

use std::time::Instant;

use rayon::prelude::*;

/// Bytes moved per second (read + write, so 2 x the buffer size per copy) by the best of `repeats`
/// parallel copies of a `bytes`-sized buffer on `threads` threads.
pub fn copy_bytes_per_second(bytes: usize, repeats: usize, threads: usize) -> f64 {
  let n = (bytes / 4).max(1024);
  let src = vec![1.0f32; n];
  let mut dst = vec![0.0f32; n];
  let pool = rayon::ThreadPoolBuilder::new()
    .num_threads(threads.max(1))
    .build()
    .expect("thread pool");
  let mut best = f64::INFINITY;
  pool.install(|| {
    for _ in 0..repeats.max(1) {
      let t = Instant::now();
      dst
        .par_chunks_mut(1 << 16)
        .zip(src.par_chunks(1 << 16))
        .for_each(|(d, s)| d.copy_from_slice(s));
      best = best.min(t.elapsed().as_secs_f64());
    }
  });
  std::hint::black_box(&dst);
  (2 * n * 4) as f64 / best
}
