//! The test hooks of `CudaBackend` (crates/jarzyn-core/src/cuda/sampler.rs) on the emulator: the
//! same buffers, argument order and launch configuration.

use jarzyn_core::philox::Counter;

use crate::{kernels, DeviceBuf, Grid};

/// Threads per block of the backend's launches (`THREADS` in cuda/sampler.rs).
pub const THREADS: u32 = 256;
/// Threads per block of jz_summary (`SUMMARY_THREADS` in cuda/sampler.rs and kernels.cu).
pub const SUMMARY_THREADS: u32 = 256;

/// `grid()` of cuda/sampler.rs.
pub fn grid(n: u64) -> Grid {
  Grid::linear(n, THREADS)
}

/// Philox4x32-10 of each counter under `key` (jz_philox).
pub fn philox(ctrs: &[[u32; 4]], key: [u32; 2]) -> Vec<[u32; 4]> {
  let n = ctrs.len();
  let flat: Vec<u32> = ctrs.iter().flatten().copied().collect();
  let d_in = DeviceBuf::from_slice(&flat);
  let mut d_out = DeviceBuf::<u32>::zeros(4 * n.max(1));
  // SAFETY: argument list of jz_philox; buffers hold 4 n words.
  unsafe { kernels::jz_philox(grid(n as u64), d_in.ptr(), key[0], key[1], n as u32, d_out.mut_ptr()) };
  (0..n)
    .map(|i| [d_out[4 * i], d_out[4 * i + 1], d_out[4 * i + 2], d_out[4 * i + 3]])
    .collect()
}

/// Box-Muller of each word pair (jz_box_muller).
pub fn box_muller(pairs: &[(u32, u32)]) -> Vec<(f32, f32)> {
  let n = pairs.len();
  let flat: Vec<u32> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
  let d_in = DeviceBuf::from_slice(&flat);
  let mut d_out = DeviceBuf::<f32>::zeros(2 * n.max(1));
  // SAFETY: argument list of jz_box_muller.
  unsafe { kernels::jz_box_muller(grid(n as u64), d_in.ptr(), n as u32, d_out.mut_ptr()) };
  (0..n).map(|i| (d_out[2 * i], d_out[2 * i + 1])).collect()
}

/// Compact normals as `normal::fill_normals` (jz_normals, one thread per (walker, block)).
pub fn normals(key: [u32; 2], ctr: Counter, walker0: u32, walkers: usize, dim: usize) -> Vec<f32> {
  let mut d_out = DeviceBuf::<f32>::zeros((walkers * dim).max(1));
  // SAFETY: argument list of jz_normals; the output holds walkers * dim floats.
  unsafe {
    kernels::jz_normals(
      grid((walkers * dim.div_ceil(4)) as u64),
      key[0],
      key[1],
      ctr.c2,
      ctr.c3,
      walker0,
      walkers as u32,
      dim as u32,
      d_out.mut_ptr(),
    )
  };
  let mut out = d_out.to_vec();
  out.truncate(walkers * dim);
  out
}

/// What jz_summary writes, one entry per chunk of walkers.
#[derive(Clone, Debug, PartialEq)]
pub struct Partials {
  /// max A over the chunk.
  pub max: Vec<f64>,
  /// sum exp(A - max).
  pub s: Vec<f64>,
  /// sum exp(2 (A - max)).
  pub s2: Vec<f64>,
  /// Walkers with A = -inf.
  pub zero: Vec<u32>,
}

impl Partials {
  /// Combined in chunk order as cuda/sampler.rs does (`weights::combine_chunks`).
  pub fn combine(&self, n: usize) -> jarzyn_core::WeightSummary {
    crate::sampler::combine_partials(n, &self.max, &self.s, &self.s2, &self.zero)
  }
}

/// Per-chunk partials of the weight summary (jz_summary, one block of SUMMARY_THREADS per `chunk`
/// walkers).
pub fn summary_partials(a: &[f64], chunk: usize) -> Partials {
  let n = a.len();
  let blocks = n.div_ceil(chunk);
  let d_a = DeviceBuf::from_slice(a);
  let mut pm = DeviceBuf::<f64>::zeros(blocks);
  let mut ps = DeviceBuf::<f64>::zeros(blocks);
  let mut ps2 = DeviceBuf::<f64>::zeros(blocks);
  let mut pz = DeviceBuf::<u32>::zeros(blocks);
  // SAFETY: argument list of jz_summary; one block per chunk, SUMMARY_THREADS threads.
  unsafe {
    kernels::jz_summary(
      Grid::blocks(blocks as u32, SUMMARY_THREADS),
      d_a.ptr(),
      n as u32,
      chunk as u32,
      pm.mut_ptr(),
      ps.mut_ptr(),
      ps2.mut_ptr(),
      pz.mut_ptr(),
    )
  };
  Partials {
    max: pm.to_vec(),
    s: ps.to_vec(),
    s2: ps2.to_vec(),
    zero: pz.to_vec(),
  }
}
