//! jz_gather_f32, jz_gather_f64 and jz_fill_f64 against plain indexing, launched directly as
//! cuda/resample.rs and cuda/walkers.rs launch them; and the emulator's speed on walker-sized launches (through
//! jarzyn-core's real `DeviceWalkers` on the fake CUDA driver).

#[cfg(feature = "cuda")]
use std::time::Instant;

use crate::common::Rng;
#[cfg(feature = "cuda")]
use jarzyn_core::cuda::DeviceWalkers;
#[cfg(feature = "cuda")]
use jarzyn_core::philox::{key_from_seed, Counter, Stream};
#[cfg(feature = "cuda")]
use jarzyn_core::Observation;
use jarzyn_cuda_emu::backend::grid;
use jarzyn_cuda_emu::{kernels, DeviceBuf};

fn gather32(src: &[f32], anc: &[u32], width: usize) -> Vec<f32> {
  let n = anc.len();
  let d_src = DeviceBuf::from_slice(src);
  let d_anc = DeviceBuf::from_slice(anc);
  let mut dst = DeviceBuf::<f32>::zeros(n * width);
  // SAFETY: argument list of jz_gather_f32; src holds max(anc) + 1 rows, dst n rows.
  unsafe {
    kernels::jz_gather_f32(
      grid(n as u64 * width as u64),
      d_src.ptr(),
      d_anc.ptr(),
      n as u32,
      width as u32,
      dst.mut_ptr(),
    )
  };
  dst.to_vec()
}

#[test]
fn gathers_copy_the_ancestors_rows() {
  let mut r = Rng(3);
  for (n, width) in [(1usize, 1usize), (300, 1), (300, 3), (1000, 17), (257, 100)] {
    let src: Vec<f32> = (0..n * width).map(|_| r.uniform(-1.0, 1.0) as f32).collect();
    let mut anc: Vec<u32> = (0..n).map(|_| r.next_u32() % n as u32).collect();
    anc[0] = n as u32 - 1;
    let got = gather32(&src, &anc, width);
    for i in 0..n {
      let a = anc[i] as usize;
      assert_eq!(
        &got[i * width..(i + 1) * width],
        &src[a * width..(a + 1) * width],
        "n {n} width {width} row {i}"
      );
    }
    // Negative control: other ancestors, other rows.
    let shifted: Vec<u32> = anc.iter().map(|&a| (a + 1) % n as u32).collect();
    if n > 1 {
      assert_ne!(gather32(&src, &shifted, width), got);
    }

    let s64: Vec<f64> = (0..n).map(|_| r.uniform(-5.0, 5.0)).collect();
    let d_src = DeviceBuf::from_slice(&s64);
    let d_anc = DeviceBuf::from_slice(&anc);
    let mut dst = DeviceBuf::<f64>::zeros(n);
    // SAFETY: argument list of jz_gather_f64.
    unsafe { kernels::jz_gather_f64(grid(n as u64), d_src.ptr(), d_anc.ptr(), n as u32, dst.mut_ptr()) };
    for i in 0..n {
      assert_eq!(dst[i].to_bits(), s64[anc[i] as usize].to_bits());
    }
    // SAFETY: argument list of jz_fill_f64.
    unsafe { kernels::jz_fill_f64(grid(n as u64), dst.mut_ptr(), n as u32, -0.0) };
    assert!(dst.iter().all(|v| v.to_bits() == (-0.0f64).to_bits()));
  }
}

/// 10^5 walkers: the tiled jz_move / jz_observe (fibers) and jz_normals (one thread per (walker,
/// block)); and the one-thread-per-walker jz_move_rows / jz_observe_rows on rows longer than a
/// tile (10^3 walkers of d = 2100): what an emulated launch costs, driver included.
#[cfg(feature = "cuda")]
#[test]
fn timings_of_walker_launches() {
  let sampler = |n: usize, d: usize| {
    DeviceWalkers::new(jarzyn_core::WalkerConfig {
      walkers: n,
      dim: d,
      step_size: 0.01,
      seed: 1,
      threads: 1,
      weighted: true,
    })
    .unwrap()
  };
  // Seconds of one move and of the observation that follows.
  let step = |s: &mut DeviceWalkers, e: &[f32], g: &[f32]| {
    s.observe(Observation::External { energy: e, grad: g }).unwrap();
    let t = Instant::now();
    s.move_walkers().unwrap();
    let mv = t.elapsed().as_secs_f64();
    let t = Instant::now();
    s.observe(Observation::External { energy: e, grad: g }).unwrap();
    (mv, t.elapsed().as_secs_f64())
  };
  let n = 100_000;
  for d in [2usize, 16] {
    let mut s = sampler(n, d);
    let (mv, ob) = step(&mut s, &vec![0.5f32; n], &vec![0.25f32; n * d]);
    let t = Instant::now();
    let z = jarzyn_cuda_emu::backend::normals(key_from_seed(1), Counter::new(Stream::Noise, 0), 0, n, d);
    let nm = t.elapsed().as_secs_f64();
    assert_eq!(z.len(), n * d);
    println!("10^5 walkers, d = {d}: jz_move (tiles, fibers) {mv:.3} s, jz_observe {ob:.3} s, jz_normals {nm:.3} s");
    assert!(mv < 10.0 && ob < 10.0 && nm < 10.0);
  }
  let (n, d) = (1000, 2100);
  let mut s = sampler(n, d);
  let (mvr, obr) = step(&mut s, &vec![0.5f32; n], &vec![0.25f32; n * d]);
  println!("10^3 walkers, d = {d}: jz_move_rows {mvr:.3} s, jz_observe_rows {obr:.3} s");
  assert!(mvr < 10.0 && obr < 10.0);
}
