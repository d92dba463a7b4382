//! Standard normals from Philox blocks by the Box-Muller transform, with polynomial `ln`, `sin`
//! and `cos` in f32.
//!
//! Why not libm: drawing the Langevin noise is the largest single cost of a step, and libm's
//! scalar calls cost ~15 ns per normal where these vectorisable polynomials cost ~2 ns. Every
//! operation here is an IEEE-exact f32 add, mul, div or sqrt (no fused multiply-add, which Rust
//! never forms implicitly), so the numbers are bit-identical on any x86/ARM CPU, with or without
//! AVX2, and on a GPU compiled with `--fmad=false`.
//!
//! Accuracy (tested): |z - z_exact| < 1e-5 for |z| < 6; the radius uses 32 random bits, so the
//! largest |z| a block can produce is sqrt(2 * 33 ln 2) ~ 6.76.
//!
//! Layout of the module: `poly.rs` is the scalar definition of a normal and its constants,
//! `avx2.rs` the AVX2 path, and this file the fills (padded and compact layouts, dispatch).
//!
//! Speed: on x86-64 with AVX2 the fill runs explicit AVX2 code (`avx2.rs`): 16 Philox blocks
//! per iteration in two interleaved groups, Box-Muller on 8 word pairs per vector with the
//! independent groups computed in lockstep, and a register transpose into the block layout. It
//! performs the scalar operations lane by lane, so it gives the scalar bits (tests compare it with
//! the scalar definition and pin a hash of the stream). About 1.4 ns per normal at d = 100 and
//! 1.9 ns at d = 2 on one core of an AMD EPYC (Zen 3) (was 3.1 and 8.2 before the AVX2 code);
//! `cargo run --release -p jarzyn-core --example normal_speed` measures it.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod poly;
#[cfg(test)]
mod tests;

use crate::philox::{philox_lanes, Counter, LANES};
// The constants too, for the CUDA prelude.
pub(crate) use poly::*;
pub use poly::{box_muller, fast_ln, sin_cos_quadrant};

/// Number of Philox blocks (4 normals each) a walker of dimension `dim` draws per step.
#[inline]
pub fn blocks_per_walker(dim: usize) -> usize {
  dim.div_ceil(4)
}

/// Normals of walkers `walker0 .. walker0 + walkers` for one (stream, step), padded: walker `w`'s
/// draw occupies `out[w * 4 * bpw .. (w + 1) * 4 * bpw]`, of which the first `dim` are used.
/// Normal `c` of walker `i` comes from block `c / 4` of counter (c/4, i, step, stream), word pair
/// (c % 4 < 2 ? 0,1 : 2,3), cos for even c and sin for odd c. The padding slots (the last
/// `4 * bpw - dim` of each walker) are unspecified: normals of the unused words, or 0.
pub fn fill_padded(key: [u32; 2], ctr: Counter, walker0: u32, walkers: usize, dim: usize, out: &mut [f32]) {
  let run = BlockRun::new(key, ctr, walker0, walkers, dim);
  assert!(out.len() >= run.total * 4, "normal buffer too short");
  let out = &mut out[..run.total * 4];
  #[cfg(target_arch = "x86_64")]
  if std::arch::is_x86_feature_detected!("avx2") {
    // SAFETY: the CPU supports AVX2, checked just above; out.len() == total * 4.
    return unsafe { avx2::fill_blocks(&run, out) };
  }
  fill_padded_generic(&run, out)
}

/// `total` consecutive blocks of the padded layout: `bpw` per walker, from block 0 of walker
/// `walker0` on, under one key and (step, stream) counter half.
#[derive(Clone, Copy)]
struct BlockRun {
  key: [u32; 2],
  ctr: Counter,
  walker0: u32,
  bpw: u32,
  total: usize,
  /// Walkers use only the first word pair of their (single) block (dim <= 2): a path may skip
  /// the second pair.
  #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
  first_pair_only: bool,
}

impl BlockRun {
  /// The blocks of walkers `walker0 .. walker0 + walkers` of dimension `dim`.
  fn new(key: [u32; 2], ctr: Counter, walker0: u32, walkers: usize, dim: usize) -> Self {
    let bpw = blocks_per_walker(dim);
    BlockRun {
      key,
      ctr,
      walker0,
      bpw: bpw as u32,
      total: walkers * bpw,
      first_pair_only: dim <= 2,
    }
  }
}

/// The (c0, c1) counter words of consecutive blocks: block index inside the walker, and walker.
struct BlockCursor {
  block: u32,
  walker: u32,
  bpw: u32,
}

impl BlockCursor {
  fn new(walker0: u32, bpw: u32) -> Self {
    BlockCursor {
      block: 0,
      walker: walker0,
      bpw,
    }
  }

  /// This block's (c0, c1); moves on to the next block.
  #[inline(always)]
  fn next_block(&mut self) -> (u32, u32) {
    let at = (self.block, self.walker);
    self.block += 1;
    if self.block == self.bpw {
      self.block = 0;
      self.walker = self.walker.wrapping_add(1);
    }
    at
  }
}

/// The portable path (and the reference the AVX2 path is tested against).
fn fill_padded_generic(run: &BlockRun, out: &mut [f32]) {
  let mut cursor = BlockCursor::new(run.walker0, run.bpw);
  let mut f = 0usize;
  while f < run.total {
    let n = LANES.min(run.total - f);
    let mut c0 = [0u32; LANES];
    let mut c1 = [0u32; LANES];
    // Lanes past n (last iteration only) take the blocks after the run; their output is dropped.
    for l in 0..LANES {
      (c0[l], c1[l]) = cursor.next_block();
    }
    let r = philox_lanes(&c0, &c1, run.ctr, run.key);
    let mut z = [[0f32; LANES]; 4];
    for l in 0..LANES {
      let (a, b) = box_muller(r[0][l], r[1][l]);
      let (c, d) = box_muller(r[2][l], r[3][l]);
      z[0][l] = a;
      z[1][l] = b;
      z[2][l] = c;
      z[3][l] = d;
    }
    let dst = &mut out[f * 4..(f + n) * 4];
    for l in 0..n {
      dst[4 * l] = z[0][l];
      dst[4 * l + 1] = z[1][l];
      dst[4 * l + 2] = z[2][l];
      dst[4 * l + 3] = z[3][l];
    }
    f += n;
  }
}

/// Floats in the compaction scratch of [`fill_normals`] (dims not a multiple of 4, above 2).
const COMPACT_SCRATCH_FLOATS: usize = 4096;

/// Normals of walkers `walker0 ..` compacted to `dim` per walker: `out.len() / dim` walkers.
/// Writes straight into `out` when `dim` is 1, 2 or a multiple of 4; other dims go through a
/// small scratch buffer (at most max(16 KiB, one padded walker)), a chunk of walkers at a time.
pub fn fill_normals(key: [u32; 2], ctr: Counter, walker0: u32, dim: usize, out: &mut [f32]) {
  assert!(
    dim > 0 && out.len().is_multiple_of(dim),
    "output length must be a multiple of dim"
  );
  let walkers = out.len() / dim;
  let padded = blocks_per_walker(dim) * 4;
  if padded == dim {
    fill_padded(key, ctr, walker0, walkers, dim, out);
    return;
  }
  #[cfg(target_arch = "x86_64")]
  if dim <= 2 && std::arch::is_x86_feature_detected!("avx2") {
    // SAFETY: AVX2 checked just above; out.len() == walkers * dim.
    unsafe { avx2::fill_first_pair(key, ctr, walker0, walkers, dim, out) };
    return;
  }
  let chunk = (COMPACT_SCRATCH_FLOATS / padded).max(1);
  let mut scratch = vec![0f32; chunk.min(walkers) * padded];
  for (ci, rows) in out.chunks_mut(chunk * dim).enumerate() {
    let nw = rows.len() / dim;
    let w0 = walker0.wrapping_add((ci * chunk) as u32);
    fill_padded(key, ctr, w0, nw, dim, &mut scratch[..nw * padded]);
    for (w, row) in rows.chunks_exact_mut(dim).enumerate() {
      row.copy_from_slice(&scratch[w * padded..w * padded + dim]);
    }
  }
}
