//! Chunked parallel maps that stay on the caller's thread when there is only one chunk: waking
//! pool threads costs microseconds on an idle machine and can cost milliseconds on a loaded one,
//! far more than a small chunk's work. Chunking is the same either way, so results are too.

use rayon::prelude::*;
use rayon::ThreadPool;

/// `f(0), f(1), ..., f(n-1)` in order.
pub fn map_chunks<R, F>(pool: &ThreadPool, n: usize, f: F) -> Vec<R>
where
  R: Send,
  F: Fn(usize) -> R + Sync + Send,
{
  if n <= 1 {
    (0..n).map(f).collect()
  } else {
    pool.install(|| (0..n).into_par_iter().map(f).collect())
  }
}

/// As [`map_chunks`], with a scratch value made by `init` once per worker (or once in total).
pub fn map_chunks_init<R, S, I, F>(pool: &ThreadPool, n: usize, init: I, f: F) -> Vec<R>
where
  R: Send,
  I: Fn() -> S + Sync + Send,
  F: Fn(&mut S, usize) -> R + Sync + Send,
{
  if n <= 1 {
    let mut s = init();
    (0..n).map(|i| f(&mut s, i)).collect()
  } else {
    pool.install(|| (0..n).into_par_iter().map_init(&init, |s, i| f(s, i)).collect())
  }
}
