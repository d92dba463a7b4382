//! Device resampling (jz_exp_shift, the jz_scan_* kernels, jz_last_positive, jz_exponentials,
//! jz_search, jz_residual_split, jz_add_draws, the gathers): jarzyn-core's real `DeviceWalkers`
//! (cuda/resample.rs) on the fake CUDA driver, against the CPU's resampling of the same
//! log-weights: ancestors, and the rows they bring. The scan kernels are also launched directly
//! under several thread orders.

use crate::common::Rng;
#[cfg(feature = "cuda")]
use crate::common::{config, cpu_and_device, first_diff_f32, write_log_weights, write_view};
#[cfg(feature = "cuda")]
use jarzyn_core::cuda::DeviceWalkers;
#[cfg(feature = "cuda")]
use jarzyn_core::weights::REDUCE_CHUNK;
#[cfg(feature = "cuda")]
use jarzyn_core::{CpuWalkers, Scheme, View, Walkers};
use jarzyn_cuda_emu::backend::{scan, SCAN_SUM_THREADS, SCAN_TILE};
use jarzyn_cuda_emu::{kernels, with_schedule, DeviceBuf, Grid, Schedule};

#[cfg(feature = "cuda")]
const SCHEMES: [Scheme; 4] = [
  Scheme::Multinomial,
  Scheme::Systematic,
  Scheme::Stratified,
  Scheme::Residual,
];

fn sequential_prefix(v: &[f64]) -> Vec<f64> {
  let mut s = 0.0;
  v.iter()
    .map(|&x| {
      s += x;
      s
    })
    .collect()
}

fn emulated_scan(v: &[f64], in_place: bool) -> Vec<f64> {
  let n = v.len();
  let input = DeviceBuf::from_slice(v);
  let mut out = if in_place {
    DeviceBuf::from_slice(v)
  } else {
    DeviceBuf::zeros(n)
  };
  let mut sums = DeviceBuf::<f64>::zeros(n.div_ceil(SCAN_TILE));
  scan(if in_place { None } else { Some(&input) }, n, &mut out, &mut sums);
  out.to_vec()
}

#[test]
fn scan_matches_prefix_sums() {
  let mut r = Rng(21);
  for n in [1usize, 2, 7, 255, 2047, 2048, 2049, 5000, 3 * 2048 + 1, 40_000] {
    // Small integers: every partial sum is exact, so the scan must give the exact prefix sums.
    let ints: Vec<f64> = (0..n).map(|_| (r.next_u32() % 1000) as f64).collect();
    assert_eq!(emulated_scan(&ints, false), sequential_prefix(&ints), "integers, n {n}");
    assert_eq!(
      emulated_scan(&ints, true),
      sequential_prefix(&ints),
      "integers in place, n {n}"
    );
    // Weights: the association differs from the running sum; round-off only.
    let w: Vec<f64> = (0..n)
      .map(|i| if i % 5 == 2 { 0.0 } else { r.uniform(0.0, 1.0) })
      .collect();
    let (got, want) = (emulated_scan(&w, false), sequential_prefix(&w));
    for i in 0..n {
      assert!(
        (got[i] - want[i]).abs() <= 1e-13 * want[n - 1],
        "n {n} i {i}: {} vs {}",
        got[i],
        want[i]
      );
    }
    // Thread order does not change the bits.
    let rev = with_schedule(Schedule::Reverse, || emulated_scan(&w, false));
    assert_eq!(rev, got, "n {n}");
  }
}

#[test]
fn scan_of_tile_totals_with_more_tiles_than_threads() {
  // jz_scan_sums alone: m > SCAN_SUM_THREADS tile totals, several per thread.
  for m in [1usize, 5, 1023, 1024, 1025, 3000, 5000] {
    let v: Vec<f64> = (0..m).map(|i| ((i * 7919) % 1000) as f64).collect();
    let mut d = DeviceBuf::from_slice(&v);
    for s in [Schedule::Forward, Schedule::Reverse] {
      d.copy_from_slice(&v);
      with_schedule(s, || unsafe {
        kernels::jz_scan_sums(Grid::blocks(1, SCAN_SUM_THREADS), d.mut_ptr(), m as u32)
      });
      assert_eq!(d.to_vec(), sequential_prefix(&v), "m {m} {s:?}");
    }
  }
}

#[cfg(feature = "cuda")]
fn pair(n: usize, d: usize, weighted: bool, a: &[f64]) -> (CpuWalkers, DeviceWalkers) {
  let x: Vec<f32> = (0..n * d).map(|i| (i as f32 * 0.37).sin()).collect();
  let e: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
  let g: Vec<f32> = (0..n * d).map(|i| (i as f32 * 0.11).cos()).collect();
  let (mut cpu, mut emu) = cpu_and_device(config(n, d, 0.1, 0xC0FFEE + n as u64, 2, weighted), &x);
  write_view(&mut cpu, View::Energies, &e);
  write_view(&mut cpu, View::Gradients, &g);
  write_log_weights(&mut cpu, a);
  emu.set_energies(&e).unwrap();
  emu.set_gradients(&g).unwrap();
  emu.set_log_weights(a).unwrap();
  (cpu, emu)
}

#[cfg(feature = "cuda")]
fn log_weights(n: usize, seed: u64, spread: f64, dead_every: usize) -> Vec<f64> {
  let mut r = Rng(seed);
  (0..n)
    .map(|i| {
      if dead_every > 0 && i % dead_every == 1 {
        f64::NEG_INFINITY
      } else {
        r.uniform(-spread, spread)
      }
    })
    .collect()
}

/// Ancestors of CPU and emulated device resampling for the same weights, scheme by scheme,
/// three rounds in a row (the Resample counter advances), then the rows they gathered.
#[cfg(feature = "cuda")]
fn check(n: usize, d: usize, a: &[f64], what: &str) {
  let (mut cpu, mut emu) = pair(n, d, true, a);
  for scheme in SCHEMES {
    for round in 0..3 {
      // Fresh weights each round (resampling sets A = 0).
      let aw: Vec<f64> = a
        .iter()
        .map(|&v| {
          if v == f64::NEG_INFINITY {
            v
          } else {
            v * (1.0 + round as f64 * 0.1)
          }
        })
        .collect();
      write_log_weights(&mut cpu, &aw);
      emu.set_log_weights(&aw).unwrap();
      let ac = cpu.resample(scheme).unwrap();
      let ae = emu.resample(scheme).unwrap();
      let diff: Vec<usize> = (0..n).filter(|&i| ac[i] != ae[i]).collect();
      assert!(
        diff.is_empty(),
        "{what} n {n} {scheme:?} round {round}: {} of {n} ancestors differ, first at slot {}: emulated {}, cpu {}",
        diff.len(),
        diff[0],
        ae[diff[0]],
        ac[diff[0]]
      );
      for &i in &ae {
        assert!(aw[i] != f64::NEG_INFINITY, "{what}: a zero-weight ancestor");
      }
      assert_eq!(
        first_diff_f32(&emu.positions().unwrap(), cpu.positions()),
        None,
        "{what} {scheme:?}: rows"
      );
      assert_eq!(first_diff_f32(&emu.energies().unwrap(), cpu.energies()), None);
      assert!(emu.log_weights().unwrap().iter().all(|&v| v == 0.0));
      let (le, lc) = (emu.counters().log_norm_absorbed, cpu.counters().log_norm_absorbed);
      assert!((le - lc).abs() <= 1e-12 * lc.abs().max(1.0));
    }
  }
}

#[cfg(feature = "cuda")]
#[test]
fn ancestors_match_cpu() {
  for n in [1usize, 2, 3, 100, 1000, 2049, 5000] {
    check(n, 3, &log_weights(n, n as u64, 2.0, 0), "spread 2");
    check(n, 3, &log_weights(n, n as u64 + 1, 8.0, 6), "spread 8, dead walkers");
  }
}

#[cfg(feature = "cuda")]
#[test]
fn ancestors_match_cpu_over_several_scan_tiles() {
  let n = 3 * REDUCE_CHUNK + 17;
  check(n, 2, &log_weights(n, 5, 3.0, 9), "three summary chunks");
}

#[cfg(feature = "cuda")]
#[test]
fn degenerate_weights() {
  // One live walker; two live walkers far apart in weight; the last walker the only live one.
  let n = 300;
  let mut a = vec![f64::NEG_INFINITY; n];
  a[137] = 0.5;
  check(n, 2, &a, "one live walker");
  a[5] = -40.0;
  check(n, 2, &a, "two live walkers");
  let mut b = vec![f64::NEG_INFINITY; n];
  b[n - 1] = 3.0;
  check(n, 2, &b, "only the last walker");
  // All equal: residual resampling keeps everyone.
  let (_, mut emu) = pair(64, 1, false, &[0.25; 64]);
  assert_eq!(emu.resample(Scheme::Residual).unwrap(), (0..64).collect::<Vec<_>>());
}

#[cfg(feature = "cuda")]
#[test]
fn negative_control_other_weights_other_ancestors() {
  let n = 1000;
  let a = log_weights(n, 77, 2.0, 0);
  let (_, mut emu) = pair(n, 1, true, &a);
  let mut b = a.clone();
  b.reverse();
  let (mut cpu, _) = pair(n, 1, true, &b);
  assert_ne!(
    emu.resample(Scheme::Systematic).unwrap(),
    cpu.resample(Scheme::Systematic).unwrap()
  );
}
