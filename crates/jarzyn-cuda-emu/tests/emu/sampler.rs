//! jz_move / jz_observe (tiled) and jz_move_rows / jz_observe_rows (one thread per walker),
//! jz_summary, device resampling and jz_fill_f64, driven as cuda/sampler.rs drives them
//! (EmuSampler), against jarzyn_core::Sampler with the same seed and energies: positions,
//! log-weights, energies and invalid counts bit-identical after every step; summaries to 1e-12;
//! resampling ancestors identical.

use crate::common::{first_diff_f32, first_diff_f64, schedule, Rng};
use jarzyn_core::{Observation, ObserveReport, Sampler, SamplerConfig, Scheme, WeightSummary};
use jarzyn_cuda_emu::sampler::EmuSampler;
use jarzyn_cuda_emu::{with_schedule, Schedule};

const ROUNDS: usize = 7;

fn config(walkers: usize, dim: usize, weighted: bool, seed: u64) -> SamplerConfig {
  SamplerConfig {
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
  cpu: Sampler,
  emu: EmuSampler,
  d: usize,
  tag: String,
}

impl Pair {
  fn new(n: usize, d: usize, weighted: bool, seed: u64) -> Pair {
    Pair::with_rows(n, d, weighted, seed, false)
  }

  fn with_rows(n: usize, d: usize, weighted: bool, seed: u64, rows: bool) -> Pair {
    let mut cpu = Sampler::new(config(n, d, weighted, seed)).unwrap();
    let mut emu = EmuSampler::new(config(n, d, weighted, seed)).unwrap();
    emu.force_rows = rows;
    let mut r = Rng(seed ^ 0xABCD);
    let x0: Vec<f32> = (0..n * d).map(|_| r.uniform(-2.0, 2.0) as f32).collect();
    cpu.positions.as_mut_slice().copy_from_slice(&x0);
    emu.set_positions(&x0).unwrap();
    Pair {
      cpu,
      emu,
      d,
      tag: format!(
        "n {n} d {d} weighted {weighted}{}",
        if rows { " (row kernels)" } else { "" }
      ),
    }
  }

  fn compare_state(&mut self, when: &str) {
    let tag = format!("{} {when}", self.tag);
    if let Some((i, e, c)) = first_diff_f32(&self.emu.positions(), self.cpu.positions.as_slice()) {
      panic!(
        "{tag}: position {i} (walker {}, coordinate {}): emulated {e}, cpu {c}",
        i / self.d,
        i % self.d
      );
    }
    if let Some((i, e, c)) = first_diff_f64(&self.emu.log_weights(), self.cpu.log_weights.as_slice()) {
      panic!("{tag}: log-weight of walker {i}: emulated {e}, cpu {c}");
    }
    assert_eq!(
      first_diff_f32(&self.emu.energies(), self.cpu.energies.as_slice()),
      None,
      "{tag}: energies"
    );
    assert_eq!(
      first_diff_f32(&self.emu.gradients(), self.cpu.gradients.as_slice()),
      None,
      "{tag}: gradients"
    );
    let (se, sc) = (self.emu.summary(), self.cpu.summary());
    assert_summary_close(&se, &sc, &tag);
    assert_eq!(
      self.emu.invalid_total(),
      self.cpu.invalid_total(),
      "{tag}: invalid_total"
    );
    assert_eq!(self.emu.steps(), self.cpu.steps(), "{tag}: steps");
  }

  /// Observe the energy `k` of the schedule at the current positions, after `spoil` edits it
  /// (non-finite values), on both; the reports must agree.
  fn observe(&mut self, k: usize, spoil: impl Fn(&mut [f32], &mut [f32])) -> ObserveReport {
    let (mut e, mut g) = schedule(k, ROUNDS, self.d).eval(self.cpu.positions.as_slice(), self.d);
    spoil(&mut e, &mut g);
    let rc = self.cpu.observe(Observation::External { energy: &e, grad: &g });
    let re = self.emu.observe(&e, &g);
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
  run_with(n, d, weighted, false)
}

fn run_with(n: usize, d: usize, weighted: bool, rows: bool) {
  let mut p = Pair::with_rows(n, d, weighted, 0x5EED_0000 + d as u64, rows);
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
    (p.emu.log_normalizer_ratio() - p.cpu.log_normalizer_ratio()).abs()
      <= 1e-12 * p.cpu.log_normalizer_ratio().abs().max(1.0)
  );

  // Re-initialisation: A = 0 (jz_fill_f64), the next observation only records.
  p.cpu.reinitialize();
  p.emu.reinitialize();
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
  // jz_move_rows / jz_observe_rows: what runs when a row is longer than a tile (d > 2048), forced
  // here for ordinary dims too.
  for d in [1usize, 3, 8, 9, 100] {
    run_with(if d <= 3 { 2000 } else { 300 }, d, true, true);
    run_with(300, d, false, true);
  }
  run(12, 2100, true);
  run(12, 2100, false);
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

#[test]
fn thread_order_does_not_change_the_bits() {
  for s in [Schedule::Reverse, Schedule::Shuffled(99)] {
    with_schedule(s, || {
      run(777, 9, true);
      run(777, 3, false);
    });
  }
}

#[test]
fn negative_controls_other_seed_or_step_differs() {
  // Another seed: the first move already differs from the CPU's.
  let mut p = Pair::new(300, 9, true, 42);
  let mut other = EmuSampler::new(config(300, 9, true, 43)).unwrap();
  other.set_positions(p.cpu.positions.as_slice()).unwrap();
  let (e, g) = schedule(0, ROUNDS, 9).eval(p.cpu.positions.as_slice(), 9);
  other.observe(&e, &g).unwrap();
  p.observe(0, |_, _| {});
  p.step();
  other.move_walkers().unwrap();
  assert_eq!(first_diff_f32(&p.emu.positions(), p.cpu.positions.as_slice()), None);
  assert!(first_diff_f32(&other.positions(), p.cpu.positions.as_slice()).is_some());
  // Another step counter (the noise of step 1 instead of step 0): differs too.
  let mut late = EmuSampler::new(config(300, 9, true, 42)).unwrap();
  let mut p2 = Pair::new(300, 9, true, 42);
  late.set_positions(p2.cpu.positions.as_slice()).unwrap();
  late.observe(&e, &g).unwrap();
  late
    .restore_counters(jarzyn_core::SamplerCounters {
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
  assert!(first_diff_f32(&late.positions(), p2.cpu.positions.as_slice()).is_some());
  // And the log-weight comparison can fail: another step size changes the forward term.
  let mut h = EmuSampler::new(SamplerConfig {
    step_size: 0.050000001,
    ..config(300, 9, true, 42)
  })
  .unwrap();
  let mut p3 = Pair::new(300, 9, true, 42);
  h.set_positions(p3.cpu.positions.as_slice()).unwrap();
  h.observe(&e, &g).unwrap();
  p3.observe(0, |_, _| {});
  p3.step();
  h.move_walkers().unwrap();
  let (e1, g1) = schedule(1, ROUNDS, 9).eval(&h.positions(), 9);
  h.observe(&e1, &g1).unwrap();
  p3.observe(1, |_, _| {});
  assert!(first_diff_f64(&h.log_weights(), p3.cpu.log_weights.as_slice()).is_some());
}

#[test]
fn all_walkers_invalid_is_reported_by_both() {
  let mut p = Pair::new(40, 3, true, 7);
  p.observe(0, |_, _| {});
  p.step();
  let (mut e, g) = schedule(1, ROUNDS, 3).eval(p.cpu.positions.as_slice(), 3);
  e.iter_mut().for_each(|v| *v = f32::NAN);
  let rc = p.cpu.observe(Observation::External { energy: &e, grad: &g });
  let re = p.emu.observe(&e, &g);
  assert_eq!(rc.unwrap_err().code(), "ERR_JARZYN_ALL_WALKERS_INVALID");
  assert_eq!(re.unwrap_err().code(), "ERR_JARZYN_ALL_WALKERS_INVALID");
  assert_eq!(first_diff_f64(&p.emu.log_weights(), p.cpu.log_weights.as_slice()), None);
  let (se, sc) = (p.emu.summary(), p.cpu.summary());
  assert_summary_close(&se, &sc, "all invalid");
  assert_eq!(se.zero, 40);
}
