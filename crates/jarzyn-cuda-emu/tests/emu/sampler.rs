//! jarzyn-core's real `DeviceWalkers` on the fake CUDA driver (fake_driver.rs): jz_move /
//! jz_observe (tiled) and jz_move_rows / jz_observe_rows (one thread per walker, rows longer than a
//! tile), jz_summary, device resampling and jz_fill_f64, as cuda/walkers.rs launches them, against
//! jarzyn_core::CpuWalkers with the same seed and energies: positions, log-weights, energies and
//! invalid counts bit-identical after every step; summaries to 1e-12; resampling ancestors
//! identical. The thread-order test launches jz_move / jz_observe directly (the schedule is a
//! setting of the calling thread in this binary's copy of the emulator, which the fake driver's
//! copy does not see), anchored to what `DeviceWalkers` computes under the forward order.

use crate::common::{cpu_and_device, first_diff_f32, first_diff_f64, schedule, Rng};
use jarzyn_core::cuda::DeviceWalkers;
use jarzyn_core::philox::{key_from_seed, Counter, Stream};
use jarzyn_core::{Counters, CpuWalkers, Observation, ObserveReport, Scheme, WalkerConfig, Walkers, WeightSummary};
use jarzyn_cuda_emu::backend::{blocks, grid, BLOCK_THREADS, TILE_ELEMS};
use jarzyn_cuda_emu::{kernels, with_schedule, DeviceBuf, Schedule};

const ROUNDS: usize = 7;

fn config(walkers: usize, dim: usize, weighted: bool, seed: u64) -> WalkerConfig {
  WalkerConfig {
    walkers,
    dim,
    step_size: 0.05,
    seed,
    threads: 2,
    weighted,
  }
}

fn assert_summary_close(emu: &WeightSummary, cpu: &WeightSummary, what: &str) {
  assert_eq!(emu.n, cpu.n, "{what}: n");
  assert_eq!(emu.zero, cpu.zero, "{what}: zero");
  assert_eq!(
    emu.max.to_bits(),
    cpu.max.to_bits(),
    "{what}: max {} vs {}",
    emu.max,
    cpu.max
  );
  let rel = |a: f64, b: f64| {
    if a == b {
      0.0
    } else {
      (a - b).abs() / a.abs().max(b.abs())
    }
  };
  for (name, a, b) in [
    ("sum_shifted", emu.sum_shifted, cpu.sum_shifted),
    ("sum_sq_shifted", emu.sum_sq_shifted, cpu.sum_sq_shifted),
    ("ess", emu.ess(), cpu.ess()),
  ] {
    assert!(rel(a, b) <= 1e-12, "{what}: {name} {a} vs {b} (rel {:e})", rel(a, b));
  }
  if cpu.log_sum.is_finite() {
    assert!(
      (emu.log_sum - cpu.log_sum).abs() <= 1e-12 * cpu.log_sum.abs().max(1.0),
      "{what}: log_sum {} vs {}",
      emu.log_sum,
      cpu.log_sum
    );
  } else {
    assert_eq!(emu.log_sum.to_bits(), cpu.log_sum.to_bits(), "{what}: log_sum");
  }
}

struct Pair {
  cpu: CpuWalkers,
  emu: DeviceWalkers,
  d: usize,
  tag: String,
}

impl Pair {
  fn new(n: usize, d: usize, weighted: bool, seed: u64) -> Pair {
    let mut r = Rng(seed ^ 0xABCD);
    let x0: Vec<f32> = (0..n * d).map(|_| r.uniform(-2.0, 2.0) as f32).collect();
    let (cpu, emu) = cpu_and_device(config(n, d, weighted, seed), &x0);
    Pair {
      cpu,
      emu,
      d,
      tag: format!(
        "n {n} d {d} weighted {weighted}{}",
        if d > TILE_ELEMS { " (row kernels)" } else { "" }
      ),
    }
  }

  fn compare_state(&mut self, when: &str) {
    let tag = format!("{} {when}", self.tag);
    if let Some((i, e, c)) = first_diff_f32(&self.emu.positions().unwrap(), self.cpu.positions()) {
      panic!(
        "{tag}: position {i} (walker {}, coordinate {}): emulated {e}, cpu {c}",
        i / self.d,
        i % self.d
      );
    }
    if let Some((i, e, c)) = first_diff_f64(&self.emu.log_weights().unwrap(), self.cpu.log_weights()) {
      panic!("{tag}: log-weight of walker {i}: emulated {e}, cpu {c}");
    }
    assert_eq!(
      first_diff_f32(&self.emu.energies().unwrap(), self.cpu.energies()),
      None,
      "{tag}: energies"
    );
    assert_eq!(
      first_diff_f32(&self.emu.gradients().unwrap(), self.cpu.gradients()),
      None,
      "{tag}: gradients"
    );
    let (se, sc) = (self.emu.summary().unwrap(), self.cpu.summary().unwrap());
    assert_summary_close(&se, &sc, &tag);
    let (ce, cc) = (self.emu.counters(), self.cpu.counters());
    assert_eq!(ce.invalid_total, cc.invalid_total, "{tag}: invalid_total");
    assert_eq!(ce.steps, cc.steps, "{tag}: steps");
  }

  /// Observe the energy `k` of the schedule at the current positions, after `spoil` edits it
  /// (non-finite values), on both; the reports must agree.
  fn observe(&mut self, k: usize, spoil: impl Fn(&mut [f32], &mut [f32])) -> ObserveReport {
    let (mut e, mut g) = schedule(k, ROUNDS, self.d).eval_vecs(self.cpu.positions(), self.d);
    spoil(&mut e, &mut g);
    let rc = self.cpu.observe(Observation::External { energy: &e, grad: &g });
    let re = self.emu.observe(Observation::External { energy: &e, grad: &g });
    let rc = rc.unwrap_or_else(|err| panic!("{}: cpu observe: {err}", self.tag));
    let re = re.unwrap_or_else(|err| panic!("{}: emulated observe: {err}", self.tag));
    assert_eq!(re, rc, "{}: observe {k} report", self.tag);
    rc
  }

  fn step(&mut self) {
    self.cpu.move_walkers().unwrap();
    self.emu.move_walkers().unwrap();
  }
}

/// Several move/observe rounds with walkers made invalid, an AIS re-observation, a step-size
/// change, resampling (also with a move pending) and a re-initialisation.
fn run(n: usize, d: usize, weighted: bool) {
  let mut p = Pair::new(n, d, weighted, 0x5EED_0000 + d as u64);
  let r0 = p.observe(0, |_, _| {});
  assert_eq!(r0, ObserveReport::default());
  p.compare_state("after the first observation");
  let mut invalid = 0;
  for k in 1..=ROUNDS {
    if k == 3 {
      p.cpu.set_step_size(0.02).unwrap();
      p.emu.set_step_size(0.02).unwrap();
    }
    p.step();
    p.compare_state(&format!("after move {k}"));
    let (w1, w2, w3) = ((7 * k) % n, (13 * k + 1) % n, (29 * k + 2) % n);
    let r = p.observe(k, |e, g| match k {
      2 => e[w1] = f32::NAN,
      4 => g[w2 * d + d / 2] = f32::INFINITY,
      5 => {
        e[w3] = f32::INFINITY;
        e[w1] = f32::NAN; // already invalid at k = 2 when w1 repeats; fine either way
      }
      _ => {}
    });
    assert!(r.invalid >= invalid, "invalid walkers stay invalid");
    invalid = r.invalid;
    p.compare_state(&format!("after observation {k}"));
    if k == 4 {
      // Parameters changed, walkers not moved: the AIS increment (phase 2).
      p.observe(k + 1, |_, _| {});
      p.compare_state("after the AIS re-observation");
    }
  }
  assert!(invalid >= 2, "{}: invalid walkers {invalid}", p.tag);

  // Resampling between iterations, then a move pending.
  let (ac, ae) = (
    p.cpu.resample(Scheme::Systematic).unwrap(),
    p.emu.resample(Scheme::Systematic).unwrap(),
  );
  assert_eq!(ae, ac, "{}: ancestors", p.tag);
  p.compare_state("after resampling");
  p.step();
  let (ac, ae) = (
    p.cpu.resample(Scheme::Multinomial).unwrap(),
    p.emu.resample(Scheme::Multinomial).unwrap(),
  );
  assert_eq!(ae, ac, "{}: ancestors with a move pending", p.tag);
  p.compare_state("after resampling with a move pending");
  p.observe(ROUNDS, |_, _| {});
  p.compare_state("after the observation that follows");
  assert!(
    (p.emu.log_normalizer_ratio().unwrap() - p.cpu.log_normalizer_ratio().unwrap()).abs()
      <= 1e-12 * p.cpu.log_normalizer_ratio().unwrap().abs().max(1.0)
  );

  // Re-initialisation: A = 0 (jz_fill_f64), the next observation only records.
  p.cpu.reinitialize().unwrap();
  p.emu.reinitialize().unwrap();
  p.observe(2, |_, _| {});
  p.compare_state("after re-initialising");
  p.step();
  p.observe(3, |_, _| {});
  p.compare_state("after the move that follows");
}

#[test]
fn weighted_bits_match_cpu() {
  for d in [1usize, 2, 3, 7, 8, 9, 17, 100] {
    run(if d <= 3 { 5000 } else { 300 }, d, true);
  }
}

#[test]
fn unweighted_bits_match_cpu() {
  for d in [1usize, 2, 3, 7, 8, 9, 17, 100] {
    run(if d <= 3 { 5000 } else { 300 }, d, false);
  }
}

#[test]
fn row_kernels_bits_match_cpu() {
  // jz_move_rows / jz_observe_rows: what DeviceWalkers launches when a row is longer than a tile
  // (d > 2048): just past one tile, one tile and a bit, two tiles and a bit.
  run(12, 2100, true);
  run(12, 2100, false);
  run(5, 2049, true);
  run(3, 4100, false);
}

#[test]
fn tiles_holding_one_walker_and_partial_tiles() {
  // d = 2048 (one walker per tile), 1000 (two), 700 (two, 648 elements idle), and walker counts
  // that leave the last tile partly empty.
  run(5, 2048, true);
  run(7, 1000, true);
  run(9, 700, false);
  run(2049, 1, true);
  run(1000, 3, true);
}

/// What one move and one observation write, launched directly (jz_move then jz_observe in phase
/// Moved, or the row kernels), from the state `s` holds after its first observation.
struct Step {
  x: Vec<f32>,
  xp: Vec<f32>,
  fwd: Vec<f64>,
  a: Vec<f64>,
  counts: Vec<u32>,
}

fn direct_step(s: &DeviceWalkers, e1: &[f32], g1: &[f32], rows: bool) -> Step {
  let cfg = s.config().clone();
  let (n, d) = (cfg.walkers, cfg.dim);
  let mut x = DeviceBuf::from_slice(&s.positions().unwrap());
  let mut xp = DeviceBuf::<f32>::zeros(n * d);
  let mut g = DeviceBuf::from_slice(&s.gradients().unwrap());
  let mut e = DeviceBuf::from_slice(&s.energies().unwrap());
  let mut a = DeviceBuf::from_slice(&s.log_weights().unwrap());
  let mut fwd = DeviceBuf::<f64>::zeros(n);
  let mut counts = DeviceBuf::<u32>::zeros(2);
  let h = cfg.step_size;
  let (hf, sf, qh) = (h as f32, (2.0 * h).sqrt() as f32, 0.25 * h);
  let ctr = Counter::new(Stream::Noise, s.counters().steps);
  let key = key_from_seed(cfg.seed);
  let (n32, d32, wt) = (n as u32, d as u32, cfg.weighted as i32);
  let w = (!rows && d <= TILE_ELEMS).then(|| (TILE_ELEMS / d).min(n) as u32);
  let tiles = |w: u32| blocks(n.div_ceil(w as usize) as u64, BLOCK_THREADS);
  // The tiled kernels take the walkers per tile after d; otherwise their arguments are the row
  // kernels'.
  macro_rules! launch_move {
    ($kernel:path, $grid:expr $(, $w:expr)?) => {
      $kernel(
        $grid,
        key[0],
        key[1],
        ctr.c2,
        ctr.c3,
        n32,
        d32,
        $($w,)?
        hf,
        sf,
        qh,
        wt,
        x.mut_ptr(),
        xp.mut_ptr(),
        g.ptr(),
        e.ptr(),
        a.ptr(),
        fwd.mut_ptr(),
      )
    };
  }
  match w {
    // SAFETY: argument list of jz_move; TILE_THREADS threads per tile; buffers N x d / N.
    Some(w) => unsafe { launch_move!(kernels::jz_move, tiles(w), w) },
    // SAFETY: argument list of jz_move_rows.
    None => unsafe { launch_move!(kernels::jz_move_rows, grid(n as u64)) },
  }
  e.copy_from_slice(e1);
  g.copy_from_slice(g1);
  let moved = 1; // Phase::Moved of walkers/book.rs
  macro_rules! launch_observe {
    ($kernel:path, $grid:expr $(, $w:expr)?) => {
      $kernel(
        $grid,
        n32,
        d32,
        $($w,)?
        qh,
        wt,
        moved,
        x.ptr(),
        xp.ptr(),
        fwd.mut_ptr(),
        a.mut_ptr(),
        e.ptr(),
        g.ptr(),
        counts.mut_ptr(),
      )
    };
  }
  match w {
    // SAFETY: argument list of jz_observe.
    Some(w) => unsafe { launch_observe!(kernels::jz_observe, tiles(w), w) },
    // SAFETY: argument list of jz_observe_rows.
    None => unsafe { launch_observe!(kernels::jz_observe_rows, grid(n as u64)) },
  }
  Step {
    x: x.to_vec(),
    xp: xp.to_vec(),
    fwd: fwd.to_vec(),
    a: a.to_vec(),
    counts: counts.to_vec(),
  }
}

#[test]
fn thread_order_does_not_change_the_bits() {
  // The fake driver runs its launches in forward order; the schedule of this thread only reaches
  // kernels launched here. So: one step launched directly under the forward order must give what
  // DeviceWalkers computed, and the reverse and shuffled orders the same bits again.
  for (n, d, weighted) in [
    (777usize, 9usize, true),
    (777, 3, false),
    (300, 100, true),
    (7, 1000, true),
  ] {
    let mut p = Pair::new(n, d, weighted, 0x5EED_0000 + d as u64);
    p.observe(0, |_, _| {});
    // Energies of the next observation: any finite values do.
    let (e1, g1) = schedule(1, ROUNDS, d).eval_vecs(p.cpu.positions(), d);
    for rows in [false, true] {
      let base = with_schedule(Schedule::Forward, || direct_step(&p.emu, &e1, &g1, rows));
      if !rows {
        // Anchor: the direct launches are the real host code's.
        let mut s = DeviceWalkers::new(config(n, d, weighted, 0x5EED_0000 + d as u64)).unwrap();
        s.set_positions(&p.emu.positions().unwrap()).unwrap();
        s.observe(Observation::External {
          energy: &p.emu.energies().unwrap(),
          grad: &p.emu.gradients().unwrap(),
        })
        .unwrap();
        s.move_walkers().unwrap();
        let r = s.observe(Observation::External { energy: &e1, grad: &g1 }).unwrap();
        assert_eq!(
          first_diff_f32(&base.x, &s.positions().unwrap()),
          None,
          "n {n} d {d}: positions"
        );
        assert_eq!(
          first_diff_f64(&base.a, &s.log_weights().unwrap()),
          None,
          "n {n} d {d}: log-weights"
        );
        assert_eq!(
          (base.counts[0] as usize, base.counts[1] as usize),
          (r.newly_invalid, r.invalid)
        );
      }
      for sched in [Schedule::Reverse, Schedule::Shuffled(99)] {
        let got = with_schedule(sched, || direct_step(&p.emu, &e1, &g1, rows));
        let tag = format!("n {n} d {d} weighted {weighted} rows {rows} {sched:?}");
        assert_eq!(first_diff_f32(&got.x, &base.x), None, "{tag}: positions");
        assert_eq!(first_diff_f32(&got.xp, &base.xp), None, "{tag}: previous positions");
        assert_eq!(first_diff_f64(&got.fwd, &base.fwd), None, "{tag}: forward terms");
        assert_eq!(first_diff_f64(&got.a, &base.a), None, "{tag}: log-weights");
        assert_eq!(got.counts, base.counts, "{tag}: counts");
      }
      // The row kernels, forced here for short rows, give the tiled kernels' bits.
      if rows {
        let tiled = direct_step(&p.emu, &e1, &g1, false);
        assert_eq!(
          first_diff_f32(&base.x, &tiled.x),
          None,
          "n {n} d {d}: rows vs tiles, positions"
        );
        assert_eq!(
          first_diff_f64(&base.a, &tiled.a),
          None,
          "n {n} d {d}: rows vs tiles, log-weights"
        );
      }
    }
  }
}

#[test]
fn negative_controls_other_seed_or_step_differs() {
  let obs = |s: &mut DeviceWalkers, e: &[f32], g: &[f32]| {
    s.observe(Observation::External { energy: e, grad: g }).unwrap();
  };
  // Another seed: the first move already differs from the CPU's.
  let mut p = Pair::new(300, 9, true, 42);
  let mut other = DeviceWalkers::new(config(300, 9, true, 43)).unwrap();
  other.set_positions(p.cpu.positions()).unwrap();
  let (e, g) = schedule(0, ROUNDS, 9).eval_vecs(p.cpu.positions(), 9);
  obs(&mut other, &e, &g);
  p.observe(0, |_, _| {});
  p.step();
  other.move_walkers().unwrap();
  assert_eq!(first_diff_f32(&p.emu.positions().unwrap(), p.cpu.positions()), None);
  assert!(first_diff_f32(&other.positions().unwrap(), p.cpu.positions()).is_some());
  // Another step counter (the noise of step 1 instead of step 0): differs too.
  let mut late = DeviceWalkers::new(config(300, 9, true, 42)).unwrap();
  let mut p2 = Pair::new(300, 9, true, 42);
  late.set_positions(p2.cpu.positions()).unwrap();
  obs(&mut late, &e, &g);
  late
    .restore_counters(Counters {
      steps: 1,
      resamplings: 0,
      invalid_total: 0,
      log_norm_absorbed: 0.0,
      observed: true,
    })
    .unwrap();
  p2.observe(0, |_, _| {});
  p2.step();
  late.move_walkers().unwrap();
  assert!(first_diff_f32(&late.positions().unwrap(), p2.cpu.positions()).is_some());
  // And the log-weight comparison can fail: another step size changes the forward term.
  let mut h = DeviceWalkers::new(WalkerConfig {
    step_size: 0.050000001,
    ..config(300, 9, true, 42)
  })
  .unwrap();
  let mut p3 = Pair::new(300, 9, true, 42);
  h.set_positions(p3.cpu.positions()).unwrap();
  obs(&mut h, &e, &g);
  p3.observe(0, |_, _| {});
  p3.step();
  h.move_walkers().unwrap();
  let (e1, g1) = schedule(1, ROUNDS, 9).eval_vecs(&h.positions().unwrap(), 9);
  obs(&mut h, &e1, &g1);
  p3.observe(1, |_, _| {});
  assert!(first_diff_f64(&h.log_weights().unwrap(), p3.cpu.log_weights()).is_some());
}

#[test]
fn all_walkers_invalid_is_reported_by_both() {
  let mut p = Pair::new(40, 3, true, 7);
  p.observe(0, |_, _| {});
  p.step();
  let (mut e, g) = schedule(1, ROUNDS, 3).eval_vecs(p.cpu.positions(), 3);
  e.iter_mut().for_each(|v| *v = f32::NAN);
  let rc = p.cpu.observe(Observation::External { energy: &e, grad: &g });
  let re = p.emu.observe(Observation::External { energy: &e, grad: &g });
  assert_eq!(rc.unwrap_err().code(), "ERR_JARZYN_ALL_WALKERS_INVALID");
  assert_eq!(re.unwrap_err().code(), "ERR_JARZYN_ALL_WALKERS_INVALID");
  assert_eq!(first_diff_f64(&p.emu.log_weights().unwrap(), p.cpu.log_weights()), None);
  let (se, sc) = (p.emu.summary().unwrap(), p.cpu.summary().unwrap());
  assert_summary_close(&se, &sc, "all invalid");
  assert_eq!(se.zero, 40);
}
