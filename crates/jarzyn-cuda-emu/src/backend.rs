//! Launch helpers for the tests that call the kernels directly (through [`crate::kernels`], not
//! the fake driver): the launch configurations and constants of crates/jarzyn-core/src/cuda/
//! (backend.rs, resample.rs), and the test hooks of `CudaBackend` (philox, Box-Muller, normals,
//! summary partials) with the same buffers and argument order. The walkers themselves are
//! jarzyn-core's real `DeviceWalkers` (and `CudaWalkers` over them), run on the fake driver.

use jarzyn_core::philox::Counter;

use crate::{kernels, DeviceBuf, Grid};

/// Threads per block of the one-thread-per-item kernels (`THREADS` in cuda/backend.rs).
pub const THREADS: u32 = 256;
/// `BLOCK_THREADS` of cuda/backend.rs: SUMMARY_THREADS, TILE_THREADS, SCAN_THREADS and
/// PART_THREADS of the kernels (cuda/kernels/).
pub const BLOCK_THREADS: u32 = 256;
/// Alias kept for the summary's launches.
pub const SUMMARY_THREADS: u32 = BLOCK_THREADS;
/// `TILE_ELEMS` (kernels/move_observe.cu, cuda/backend.rs): elements of one move/observe tile.
pub const TILE_ELEMS: usize = 2048;
/// `SCAN_TILE` (kernels/resample.cu, cuda/backend.rs).
pub const SCAN_TILE: usize = 2048;
/// `SCAN_SUM_THREADS` (kernels/resample.cu, cuda/backend.rs).
pub const SCAN_SUM_THREADS: u32 = 1024;

/// `grid()` of cuda/backend.rs.
pub fn grid(n: u64) -> Grid {
  Grid::linear(n, THREADS)
}

/// `blocks()` of cuda/backend.rs: `blocks` blocks (at least one) of `threads` threads.
pub fn blocks(blocks: u64, threads: u32) -> Grid {
  assert!(blocks <= i32::MAX as u64, "too many blocks");
  Grid::blocks(blocks.max(1) as u32, threads)
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
  /// Combined in chunk order as cuda/walkers.rs does (`weights::combine_chunks`).
  pub fn combine(&self, n: usize) -> jarzyn_core::WeightSummary {
    combine_partials(n, &self.max, &self.s, &self.s2, &self.zero)
  }
}

/// `combine_partials` of cuda/walkers.rs: the per-chunk partials combined in chunk order by
/// `weights::combine_chunks`.
pub fn combine_partials(n: usize, pm: &[f64], ps: &[f64], ps2: &[f64], pz: &[u32]) -> jarzyn_core::WeightSummary {
  jarzyn_core::weights::combine_chunks(n, (0..pm.len()).map(|i| (pm[i], ps[i], ps2[i], pz[i] as usize)))
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
      self::blocks(blocks as u64, SUMMARY_THREADS),
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

/// Inclusive prefix sums of `input[..n]` into `out`, or of `out` in place when `input` is None:
/// `scan()` of cuda/resample.rs (jz_scan_tile, then jz_scan_sums and jz_scan_add over tiles).
/// `sums` must hold at least ceil(n / SCAN_TILE) doubles.
pub fn scan(input: Option<&DeviceBuf<f64>>, n: usize, out: &mut DeviceBuf<f64>, sums: &mut DeviceBuf<f64>) {
  let tiles = n.div_ceil(SCAN_TILE);
  let n32 = n as u32;
  let inp = input.map_or(std::ptr::null(), |i| i.ptr());
  // SAFETY: argument list of jz_scan_tile (null input: in place); one block of SCAN_THREADS per
  // tile; out holds n, sums `tiles` doubles.
  unsafe {
    kernels::jz_scan_tile(
      blocks(tiles as u64, BLOCK_THREADS),
      inp,
      n32,
      out.mut_ptr(),
      sums.mut_ptr(),
    )
  };
  if tiles > 1 {
    // SAFETY: argument list of jz_scan_sums; exactly one block of SCAN_SUM_THREADS.
    unsafe { kernels::jz_scan_sums(blocks(1, SCAN_SUM_THREADS), sums.mut_ptr(), tiles as u32) };
    // SAFETY: argument list of jz_scan_add.
    unsafe { kernels::jz_scan_add(grid(n as u64), out.mut_ptr(), n32, sums.ptr()) };
  }
}
