//! Counter-based normals and the bandwidth probe.

use jarzyn_core::normal::fill_normals;
use jarzyn_core::philox::{key_from_seed, Counter, Stream};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::errors::{seed, throw, Class};

/// Fill `out` with the standard normals that walkers `walker0 ..` draw at `step` of `stream`
/// (0 noise, 1 resample, 2 init, 3 user) under `seed`: out.length / dim walkers.
#[napi]
pub fn fill_normals_native(
  env: Env,
  mut out: Float32ArraySlice,
  dim: u32,
  seed_value: BigInt,
  stream: u32,
  step: f64,
  walker0: u32,
) -> Result<()> {
  let bad = |name: &str, reason: &str| {
    throw(
      &env,
      Class::RangeError,
      "ERR_JARZYN_INVALID_OPTION",
      &format!("invalid option `{name}`: {reason}"),
    )
  };
  let stream = match stream {
    0 => Stream::Noise,
    1 => Stream::Resample,
    2 => Stream::Init,
    3 => Stream::User,
    _ => return Err(bad("stream", "must be 0..3")),
  };
  let key = key_from_seed(seed(&env, seed_value)?);
  // SAFETY: only this function holds a reference to `out` while it runs.
  let out = unsafe { out.as_mut() };
  if dim == 0 || out.len() % dim as usize != 0 {
    return Err(bad("dim", "must be positive and divide the length of `out`"));
  }
  fill_normals(key, Counter::new(stream, step as u64), walker0, dim as usize, out);
  Ok(())
}

/// Memory bandwidth in bytes per second of a large copy on `threads` threads: the bench's
/// yardstick for "fraction of bandwidth reached".
#[napi]
pub fn measure_copy_bandwidth(bytes: f64, repeats: u32, threads: u32) -> f64 {
  jarzyn_core::bandwidth::copy_bytes_per_second(bytes as usize, repeats as usize, threads as usize)
}
