//! [`CudaBackend`]: a context on device 0, its stream, and the jarzyn kernels (NVRTC-compiled,
//! cached per process), plus the launch helpers the CUDA modules share.

use std::sync::Arc;

use cudarc::driver::{
  CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DeviceRepr, LaunchConfig, PushKernelArg,
  ValidAsZeroBits,
};

use super::{available, nvrtc, DeviceInfo};
use crate::error::{CoreError, Result};
use crate::philox::Counter;

/// Threads per block of the one-thread-per-item kernels.
pub(crate) const THREADS: u32 = 256;
/// Must equal SUMMARY_THREADS, TILE_THREADS, SCAN_THREADS and PART_THREADS in kernels/.
pub(crate) const BLOCK_THREADS: u32 = 256;
/// Must equal TILE_ELEMS in kernels/move_observe.cu: elements of one move/observe tile.
pub(crate) const TILE_ELEMS: usize = 2048;
/// Must equal SCAN_TILE in kernels/resample.cu.
pub(crate) const SCAN_TILE: usize = 2048;
/// Must equal SCAN_SUM_THREADS in kernels/resample.cu.
pub(crate) const SCAN_SUM_THREADS: u32 = 1024;

pub(crate) fn be<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> CoreError + '_ {
  move |e| CoreError::Backend(format!("CUDA {what}: {e}"))
}

/// One thread per item for `n` items, in blocks of THREADS.
pub(crate) fn grid(n: u64) -> Result<LaunchConfig> {
  launch_config(n.div_ceil(THREADS as u64), THREADS, "threads")
}

/// `blocks` blocks of `threads` threads.
pub(crate) fn blocks(blocks: u64, threads: u32) -> Result<LaunchConfig> {
  launch_config(blocks, threads, "blocks")
}

/// A one-dimensional launch; more blocks than a grid holds fail with "too many `what`".
fn launch_config(blocks: u64, threads: u32, what: &str) -> Result<LaunchConfig> {
  if blocks > i32::MAX as u64 {
    return Err(CoreError::Backend(format!("CUDA launch: too many {what}")));
  }
  Ok(LaunchConfig {
    grid_dim: (blocks.max(1) as u32, 1, 1),
    block_dim: (threads, 1, 1),
    shared_mem_bytes: 0,
  })
}

/// A CUDA context on device 0 with the jarzyn kernels loaded.
pub struct CudaBackend {
  pub info: DeviceInfo,
  pub ctx: Arc<CudaContext>,
  pub stream: Arc<CudaStream>,
  _module: Arc<CudaModule>,
  f_philox: CudaFunction,
  f_box_muller: CudaFunction,
  f_normals: CudaFunction,
  pub(crate) f_move: CudaFunction,
  pub(crate) f_move_rows: CudaFunction,
  pub(crate) f_observe: CudaFunction,
  pub(crate) f_observe_rows: CudaFunction,
  pub(crate) f_summary: CudaFunction,
  pub(crate) f_gather_f32: CudaFunction,
  pub(crate) f_gather_f64: CudaFunction,
  pub(crate) f_fill_f64: CudaFunction,
  pub(crate) f_exp_shift: CudaFunction,
  pub(crate) f_last_positive: CudaFunction,
  pub(crate) f_scan_tile: CudaFunction,
  pub(crate) f_scan_sums: CudaFunction,
  pub(crate) f_scan_add: CudaFunction,
  pub(crate) f_exponentials: CudaFunction,
  pub(crate) f_search: CudaFunction,
  pub(crate) f_residual_split: CudaFunction,
  pub(crate) f_add_draws: CudaFunction,
  pub(crate) f_gmm_eval: CudaFunction,
  pub(crate) f_gmm_partials: CudaFunction,
}

/// The kernels as a loaded module. First CUBIN for the device's real architecture (machine code:
/// the driver compiles nothing, so a driver older than NVRTC, same CUDA major version, loads it),
/// then PTX for its virtual architecture, then PTX for older virtual architectures (a GPU newer
/// than NVRTC knows runs PTX of an older one). Every failure is kept for the error message.
fn load_kernels(ctx: &Arc<CudaContext>, info: &DeviceInfo) -> Result<Arc<CudaModule>> {
  use nvrtc::Image;
  let (maj, min) = info.compute_capability;
  let mut tries = vec![(format!("sm_{maj}{min}"), Image::Cubin), (info.arch(), Image::Ptx)];
  for older in [90, 80, 75] {
    if older < maj * 10 + min {
      tries.push((format!("compute_{older}"), Image::Ptx));
    }
  }
  let mut why = Vec::new();
  for (arch, kind) in tries {
    let image = match nvrtc::kernels_image(&arch, kind) {
      Ok(i) => i,
      Err(e) => {
        // NVRTC missing altogether: nothing else will work.
        if nvrtc::version().is_err() {
          return Err(CoreError::Backend(e));
        }
        why.push(format!("{arch}: {}", e.lines().next().unwrap_or("")));
        continue;
      }
    };
    let module = match kind {
      Image::Cubin => ctx.load_module(cudarc::nvrtc::Ptx::from_binary(image)),
      Image::Ptx => ctx.load_module(cudarc::nvrtc::Ptx::from_src(
        String::from_utf8(image).map_err(|e| CoreError::Backend(e.to_string()))?,
      )),
    };
    match module {
      Ok(m) => return Ok(m),
      Err(e) => why.push(format!("{arch}: module load: {e}")),
    }
  }
  let nv = nvrtc::version()
    .map(|((a, b), _)| format!("{a}.{b}"))
    .unwrap_or_default();
  Err(CoreError::Backend(format!(
    "the kernels could not be loaded on {} (compute {maj}.{min}, driver CUDA {}.{}) with NVRTC {nv}: {}. \
     PTX newer than the driver fails with CUDA_ERROR_UNSUPPORTED_PTX_VERSION: use an NVRTC no newer than \
     the driver (JARZYN_NVRTC) or update the driver",
    info.name,
    info.driver_version / 1000,
    (info.driver_version % 1000) / 10,
    why.join("; ")
  )))
}

impl CudaBackend {
  /// Device 0, kernels compiled by NVRTC for its architecture (cached per process).
  pub fn new() -> Result<Self> {
    let info = available().map_err(CoreError::Backend)?;
    let ctx = CudaContext::new(info.ordinal).map_err(be("context"))?;
    let stream = ctx.default_stream();
    let module = load_kernels(&ctx, &info)?;
    let f = |n: &str| module.load_function(n).map_err(be("function"));
    Ok(CudaBackend {
      f_philox: f("jz_philox")?,
      f_box_muller: f("jz_box_muller")?,
      f_normals: f("jz_normals")?,
      f_move: f("jz_move")?,
      f_move_rows: f("jz_move_rows")?,
      f_observe: f("jz_observe")?,
      f_observe_rows: f("jz_observe_rows")?,
      f_summary: f("jz_summary")?,
      f_gather_f32: f("jz_gather_f32")?,
      f_gather_f64: f("jz_gather_f64")?,
      f_fill_f64: f("jz_fill_f64")?,
      f_exp_shift: f("jz_exp_shift")?,
      f_last_positive: f("jz_last_positive")?,
      f_scan_tile: f("jz_scan_tile")?,
      f_scan_sums: f("jz_scan_sums")?,
      f_scan_add: f("jz_scan_add")?,
      f_exponentials: f("jz_exponentials")?,
      f_search: f("jz_search")?,
      f_residual_split: f("jz_residual_split")?,
      f_add_draws: f("jz_add_draws")?,
      f_gmm_eval: f("jz_gmm_eval")?,
      f_gmm_partials: f("jz_gmm_partials")?,
      _module: module,
      info,
      ctx,
      stream,
    })
  }

  /// `len` zeroed elements on the device (at least one: a kernel argument must point somewhere);
  /// failing to allocate is [`CoreError::OutOfMemory`].
  pub(crate) fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, len: usize) -> Result<CudaSlice<T>> {
    self
      .stream
      .alloc_zeros::<T>(len.max(1))
      .map_err(|_| CoreError::OutOfMemory(len * std::mem::size_of::<T>()))
  }

  /// Philox4x32-10 of each counter under `key` (test hook).
  pub fn philox(&self, ctrs: &[[u32; 4]], key: [u32; 2]) -> Result<Vec<[u32; 4]>> {
    let n = ctrs.len();
    let flat: Vec<u32> = ctrs.iter().flatten().copied().collect();
    let d_in = self.stream.clone_htod(&flat).map_err(be("copy"))?;
    let mut d_out = self.stream.alloc_zeros::<u32>(4 * n.max(1)).map_err(be("alloc"))?;
    let n32 = n as u32;
    let mut b = self.stream.launch_builder(&self.f_philox);
    b.arg(&d_in).arg(&key[0]).arg(&key[1]).arg(&n32).arg(&mut d_out);
    // SAFETY: argument list matches jz_philox; buffers hold 4 n words.
    unsafe { b.launch(grid(n as u64)?) }.map_err(be("launch"))?;
    let out = self.stream.clone_dtoh(&d_out).map_err(be("copy"))?;
    Ok(
      (0..n)
        .map(|i| [out[4 * i], out[4 * i + 1], out[4 * i + 2], out[4 * i + 3]])
        .collect(),
    )
  }

  /// Box-Muller of each word pair (test hook).
  pub fn box_muller(&self, pairs: &[(u32, u32)]) -> Result<Vec<(f32, f32)>> {
    let n = pairs.len();
    let flat: Vec<u32> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
    let d_in = self.stream.clone_htod(&flat).map_err(be("copy"))?;
    let mut d_out = self.stream.alloc_zeros::<f32>(2 * n.max(1)).map_err(be("alloc"))?;
    let n32 = n as u32;
    let mut b = self.stream.launch_builder(&self.f_box_muller);
    b.arg(&d_in).arg(&n32).arg(&mut d_out);
    // SAFETY: argument list matches jz_box_muller.
    unsafe { b.launch(grid(n as u64)?) }.map_err(be("launch"))?;
    let out = self.stream.clone_dtoh(&d_out).map_err(be("copy"))?;
    Ok((0..n).map(|i| (out[2 * i], out[2 * i + 1])).collect())
  }

  /// Compact normals as `normal::fill_normals` (test hook).
  pub fn normals(&self, key: [u32; 2], ctr: Counter, walker0: u32, walkers: usize, dim: usize) -> Result<Vec<f32>> {
    let mut d_out = self
      .stream
      .alloc_zeros::<f32>((walkers * dim).max(1))
      .map_err(be("alloc"))?;
    let (n32, d32) = (walkers as u32, dim as u32);
    let mut b = self.stream.launch_builder(&self.f_normals);
    b.arg(&key[0])
      .arg(&key[1])
      .arg(&ctr.c2)
      .arg(&ctr.c3)
      .arg(&walker0)
      .arg(&n32)
      .arg(&d32)
      .arg(&mut d_out);
    // SAFETY: argument list matches jz_normals; the output holds walkers * dim floats.
    unsafe { b.launch(grid((walkers * dim.div_ceil(4)) as u64)?) }.map_err(be("launch"))?;
    let mut out = self.stream.clone_dtoh(&d_out).map_err(be("copy"))?;
    out.truncate(walkers * dim);
    Ok(out)
  }
}
