//! Resampling on the device: the four schemes of [`crate::resample`], with the same uniforms
//! (Philox stream `Resample`, counter = resamplings so far) and the same inverse-CDF rule (first
//! index whose cumulative weight is strictly above the target, never a zero-weight walker, never
//! past the last positive one). The cumulative weights come from a deterministic parallel scan
//! whose round-off differs from the CPU's running sum, so an ancestor can differ from the CPU's
//! where a target falls within round-off of a boundary; offspring counts are unbiased either way.
//! Only one 8-byte read-back (the residual scheme's copy count) crosses PCIe.

use cudarc::driver::{CudaSlice, PushKernelArg};

use super::backend::{be, blocks, grid, CudaBackend, BLOCK_THREADS, SCAN_SUM_THREADS, SCAN_TILE};
use super::walkers::DeviceWalkers;
use crate::error::Result;
use crate::philox::{Counter, Stream};
use crate::resample::{Scheme, Uniforms};
use crate::walkers::check_resamplable;

/// Device buffers of a resampling, allocated at the first one and reused.
pub(crate) struct ResampleScratch {
  /// exp(A - max), then reused.
  w: CudaSlice<f64>,
  /// Inclusive prefix sums of w.
  cum: CudaSlice<f64>,
  /// Exponential spacings (N + 1) and their prefix sums, in place.
  ecum: CudaSlice<f64>,
  /// Residual scheme: copies (then offspring counts), residuals, and prefix sums of either.
  copies: CudaSlice<f64>,
  resid: CudaSlice<f64>,
  cum2: CudaSlice<f64>,
  /// Tile totals of the scan.
  sums: CudaSlice<f64>,
  /// Largest index with positive weight, plus one.
  last: CudaSlice<u32>,
  /// The ancestors (N), and the residual scheme's extra draws.
  pub anc: CudaSlice<u32>,
  extra: CudaSlice<u32>,
  gather32: CudaSlice<f32>,
  gather64: CudaSlice<f64>,
}

impl ResampleScratch {
  fn new(bk: &CudaBackend, n: usize, d: usize) -> Result<Self> {
    Ok(ResampleScratch {
      w: bk.zeros(n)?,
      cum: bk.zeros(n)?,
      ecum: bk.zeros(n + 1)?,
      copies: bk.zeros(n)?,
      resid: bk.zeros(n)?,
      cum2: bk.zeros(n)?,
      sums: bk.zeros((n + 1).div_ceil(SCAN_TILE))?,
      last: bk.zeros(1)?,
      anc: bk.zeros(n)?,
      extra: bk.zeros(n)?,
      gather32: bk.zeros(n * d)?,
      gather64: bk.zeros(n)?,
    })
  }
}

/// Inclusive prefix sums of `input[..n]` into `out`, or of `out` in place when `input` is None.
fn scan(
  bk: &CudaBackend,
  input: Option<&CudaSlice<f64>>,
  n: usize,
  out: &mut CudaSlice<f64>,
  sums: &mut CudaSlice<f64>,
) -> Result<()> {
  let st = &bk.stream;
  let tiles = n.div_ceil(SCAN_TILE);
  let n32 = n as u32;
  let null = 0u64;
  let mut b = st.launch_builder(&bk.f_scan_tile);
  match input {
    Some(i) => b.arg(i),
    None => b.arg(&null),
  };
  b.arg(&n32).arg(&mut *out).arg(&mut *sums);
  // SAFETY: argument list matches jz_scan_tile (a null input is 0u64, which the kernel tests);
  // one block of SCAN_THREADS per tile; out holds n, sums holds `tiles` doubles.
  unsafe { b.launch(blocks(tiles as u64, BLOCK_THREADS)?) }.map_err(be("launch"))?;
  if tiles > 1 {
    let t32 = tiles as u32;
    let mut b = st.launch_builder(&bk.f_scan_sums);
    b.arg(&mut *sums).arg(&t32);
    // SAFETY: argument list matches jz_scan_sums; exactly one block of SCAN_SUM_THREADS.
    unsafe { b.launch(blocks(1, SCAN_SUM_THREADS)?) }.map_err(be("launch"))?;
    let mut b = st.launch_builder(&bk.f_scan_add);
    b.arg(&mut *out).arg(&n32).arg(&*sums);
    // SAFETY: argument list matches jz_scan_add.
    unsafe { b.launch(grid(n as u64)?) }.map_err(be("launch"))?;
  }
  Ok(())
}

/// Largest index + 1 with positive weight into `last` (0 when none).
fn last_positive(bk: &CudaBackend, w: &CudaSlice<f64>, n: usize, last: &mut CudaSlice<u32>) -> Result<()> {
  let st = &bk.stream;
  st.memset_zeros(last).map_err(be("memset"))?;
  let n32 = n as u32;
  let mut b = st.launch_builder(&bk.f_last_positive);
  b.arg(w).arg(&n32).arg(&mut *last);
  // SAFETY: argument list matches jz_last_positive.
  unsafe { b.launch(grid(n as u64)?) }.map_err(be("launch"))?;
  Ok(())
}

/// m sorted uniforms as prefix sums of m + 1 exponentials (in ecum; the kernel divides by the last).
fn exponential_spacings(
  bk: &CudaBackend,
  key: [u32; 2],
  ctr: Counter,
  m: usize,
  ecum: &mut CudaSlice<f64>,
  sums: &mut CudaSlice<f64>,
) -> Result<()> {
  let m1 = (m + 1) as u32;
  let mut b = bk.stream.launch_builder(&bk.f_exponentials);
  b.arg(&m1)
    .arg(&ctr.c2)
    .arg(&ctr.c3)
    .arg(&key[0])
    .arg(&key[1])
    .arg(&mut *ecum);
  // SAFETY: argument list matches jz_exponentials; ecum holds N + 1 >= m + 1 doubles.
  unsafe { b.launch(grid(m as u64 + 1)?) }.map_err(be("launch"))?;
  scan(bk, None, m + 1, ecum, sums)
}

#[allow(clippy::too_many_arguments)]
fn search(
  bk: &CudaBackend,
  cum: &CudaSlice<f64>,
  w: Option<&CudaSlice<f64>>,
  n: usize,
  last: Option<&CudaSlice<u32>>,
  mode: u32,
  m: usize,
  u0: f64,
  ecum: &CudaSlice<f64>,
  key: [u32; 2],
  ctr: Counter,
  out: &mut CudaSlice<u32>,
) -> Result<()> {
  let (n32, m32) = (n as u32, m as u32);
  let null = 0u64;
  let mut b = bk.stream.launch_builder(&bk.f_search);
  b.arg(cum);
  match w {
    Some(w) => b.arg(w),
    None => b.arg(&null),
  };
  b.arg(&n32);
  match last {
    Some(l) => b.arg(l),
    None => b.arg(&null),
  };
  b.arg(&mode)
    .arg(&m32)
    .arg(&u0)
    .arg(ecum)
    .arg(&ctr.c2)
    .arg(&ctr.c3)
    .arg(&key[0])
    .arg(&key[1])
    .arg(&mut *out);
  // SAFETY: argument list matches jz_search (null device pointers as 0u64, which the kernel
  // tests); out holds >= m entries.
  unsafe { b.launch(grid(m as u64)?) }.map_err(be("launch"))?;
  Ok(())
}

/// Residual resampling into `sc.anc`, given `sc.w` and its prefix sums `sc.cum`: floor(n p_i)
/// copies, the rest multinomial on the residuals, merged as offspring counts.
fn residual(be_: &CudaBackend, sc: &mut ResampleScratch, key: [u32; 2], ctr: Counter, n: usize) -> Result<()> {
  let st = &be_.stream;
  let n32 = n as u32;
  let m32 = n as u32;
  let mut b = st.launch_builder(&be_.f_residual_split);
  b.arg(&sc.w)
    .arg(&sc.cum)
    .arg(&n32)
    .arg(&m32)
    .arg(&mut sc.copies)
    .arg(&mut sc.resid);
  // SAFETY: argument list matches jz_residual_split.
  unsafe { b.launch(grid(n as u64)?) }.map_err(be("launch"))?;
  scan(be_, Some(&sc.copies), n, &mut sc.cum2, &mut sc.sums)?;
  let total_copies = st.clone_dtoh(&sc.cum2.slice(n - 1..n)).map_err(be("copy"))?[0];
  let rest = n - (total_copies as usize).min(n);
  if rest > 0 {
    // The extra draws: multinomial on the residuals (on the weights when every residual is
    // zero by round-off), with the sorted uniforms of offset 0, as the CPU.
    last_positive(be_, &sc.resid, n, &mut sc.last)?;
    let any_resid = st.clone_dtoh(&sc.last).map_err(be("copy"))?[0] > 0;
    exponential_spacings(be_, key, ctr, rest, &mut sc.ecum, &mut sc.sums)?;
    let (cum, w) = if any_resid {
      scan(be_, Some(&sc.resid), n, &mut sc.cum2, &mut sc.sums)?;
      (&sc.cum2, &sc.resid)
    } else {
      last_positive(be_, &sc.w, n, &mut sc.last)?;
      (&sc.cum, &sc.w)
    };
    search(
      be_,
      cum,
      Some(w),
      n,
      Some(&sc.last),
      0,
      rest,
      0.0,
      &sc.ecum,
      key,
      ctr,
      &mut sc.extra,
    )?;
    let r32 = rest as u32;
    let mut b = st.launch_builder(&be_.f_add_draws);
    b.arg(&sc.extra).arg(&r32).arg(&mut sc.copies);
    // SAFETY: argument list matches jz_add_draws; extra holds `rest` valid indices < n.
    unsafe { b.launch(grid(rest as u64)?) }.map_err(be("launch"))?;
  }
  // Offspring counts -> prefix sums -> slot s descends from the first i with cum > s
  // (exact integers; copies past m, possible only by round-off, fall off the end as the
  // CPU's cap drops them).
  scan(be_, Some(&sc.copies), n, &mut sc.cum2, &mut sc.sums)?;
  search(be_, &sc.cum2, None, n, None, 3, n, 0.0, &sc.ecum, key, ctr, &mut sc.anc)?;
  Ok(())
}

impl DeviceWalkers {
  /// Ancestors into the scratch's `anc` by `scheme`, then the rows gathered and A = 0.
  pub(crate) fn resample_on_device(&mut self, scheme: Scheme) -> Result<()> {
    let (n, d) = (self.book.cfg.walkers, self.book.cfg.dim);
    let sum = self.summary()?;
    check_resamplable(&sum)?;
    if self.resample_scratch.is_none() {
      self.resample_scratch = Some(ResampleScratch::new(&self.be, n, d)?);
    }
    let sc = self.resample_scratch.as_mut().expect("allocated");
    let be_ = &self.be;
    let st = &be_.stream;
    let key = self.book.key;
    let ctr = Counter::new(Stream::Resample, self.book.resamplings);
    let n32 = n as u32;
    // w = exp(A - max), cum = prefix sums, last = last positive + 1.
    let mut b = st.launch_builder(&be_.f_exp_shift);
    b.arg(&self.a).arg(&n32).arg(&sum.max).arg(&mut sc.w);
    // SAFETY: argument list matches jz_exp_shift.
    unsafe { b.launch(grid(n as u64)?) }.map_err(be("launch"))?;
    scan(be_, Some(&sc.w), n, &mut sc.cum, &mut sc.sums)?;
    last_positive(be_, &sc.w, n, &mut sc.last)?;
    // The three inverse-CDF schemes differ only in their targets (jz_search's mode).
    let inverse_cdf = match scheme {
      Scheme::Multinomial => {
        exponential_spacings(be_, key, ctr, n, &mut sc.ecum, &mut sc.sums)?;
        Some((0, 0.0))
      }
      Scheme::Systematic => Some((1, Uniforms::new(key, ctr).get(0))),
      Scheme::Stratified => Some((2, 0.0)),
      Scheme::Residual => None,
    };
    match inverse_cdf {
      Some((mode, u0)) => search(
        be_,
        &sc.cum,
        Some(&sc.w),
        n,
        Some(&sc.last),
        mode,
        n,
        u0,
        &sc.ecum,
        key,
        ctr,
        &mut sc.anc,
      )?,
      None => residual(be_, sc, key, ctr, n)?,
    }
    self.gather_rows()?;
    self.book.resampled(sum.log_mean());
    self.summary_cache = None;
    Ok(())
  }

  /// Rows of every per-walker buffer copied from their ancestors; A = 0.
  fn gather_rows(&mut self) -> Result<()> {
    let (n, d) = (self.book.cfg.walkers, self.book.cfg.dim);
    let weighted = self.book.cfg.weighted;
    let moved = self.book.phase == crate::walkers::Phase::Moved;
    let sc = self.resample_scratch.as_mut().expect("allocated");
    let be_ = &self.be;
    let st = &be_.stream;
    let n32 = n as u32;
    let anc = &sc.anc;
    let tmp = &mut sc.gather32;
    let gather32 = |buf: &mut CudaSlice<f32>, tmp: &mut CudaSlice<f32>, width: usize| -> Result<()> {
      let w32 = width as u32;
      let mut b = st.launch_builder(&be_.f_gather_f32);
      b.arg(&*buf).arg(anc).arg(&n32).arg(&w32).arg(&mut *tmp);
      // SAFETY: argument list matches jz_gather_f32; both buffers hold n * width floats.
      unsafe { b.launch(grid((n * width) as u64)?) }.map_err(be("launch"))?;
      let len = n * width;
      st.memcpy_dtod(&tmp.slice(..len), &mut buf.slice_mut(..len))
        .map_err(be("copy"))?;
      Ok(())
    };
    gather32(&mut self.x, tmp, d)?;
    gather32(&mut self.g, tmp, d)?;
    if weighted && moved {
      gather32(&mut self.xp, tmp, d)?;
    }
    gather32(&mut self.e, tmp, 1)?;
    if weighted {
      let t64 = &mut sc.gather64;
      let mut b = st.launch_builder(&be_.f_gather_f64);
      b.arg(&self.fwd).arg(anc).arg(&n32).arg(&mut *t64);
      // SAFETY: argument list matches jz_gather_f64.
      unsafe { b.launch(grid(n as u64)?) }.map_err(be("launch"))?;
      st.memcpy_dtod(&t64.slice(..n), &mut self.fwd.slice_mut(..n))
        .map_err(be("copy"))?;
    }
    self.fill_log_weights(0.0)
  }
}
