//! The Jarzynski identity, statistically, on Gaussian energies whose log Z is known exactly.
//!
//! U_k(x) = |x - m_k|^2 / (2 s_k^2), log Z_k = d/2 log(2 pi s_k^2), so log(Z_K / Z_0) = d log(s_K / s_0)
//! and E_k[x] = m_k. Walkers start as exact samples of rho_0. Tolerances are a few standard errors
//! of the self-normalised estimators, computed from the weights themselves, plus the O(1/N_eff)
//! bias of a ratio estimator.

mod common;

use common::{config, schedule, Gauss};
use jarzyn_core::{CpuWalkers, Observation, Scheme, Walkers};

fn exact_init(s: &mut CpuWalkers, g: &Gauss, seed: u64) {
  let d = s.config().dim;
  s.fill_positions(&mut |x| {
    g.fill_exact(x, d, seed);
    Ok(())
  })
  .unwrap();
}

fn walkers(n: usize, d: usize, h: f64, seed: u64, threads: usize, weighted: bool) -> CpuWalkers {
  CpuWalkers::new(config(n, d, h, seed, threads, weighted)).unwrap()
}

struct Outcome {
  log_ratio: f64,
  log_ratio_exact: f64,
  se_log_ratio: f64,
  mean_err: Vec<f64>,
  se_mean: Vec<f64>,
  resamplings: u64,
}

fn run(n: usize, d: usize, h: f64, steps: usize, seed: u64, threads: usize, ess_fraction: f64) -> Outcome {
  let mut s = walkers(n, d, h, seed, threads, true);
  let g0 = schedule(0, steps, d);
  exact_init(&mut s, &g0, seed ^ 0xabc);
  let mut e = vec![0f32; n];
  let mut gr = vec![0f32; n * d];
  g0.eval(s.positions(), d, &mut e, &mut gr);
  s.observe(Observation::External { energy: &e, grad: &gr }).unwrap();
  let mut var_absorbed = 0.0;
  for k in 1..=steps {
    s.move_walkers().unwrap();
    let gk = schedule(k, steps, d);
    gk.eval(s.positions(), d, &mut e, &mut gr);
    s.observe(Observation::External { energy: &e, grad: &gr }).unwrap();
    if k < steps {
      let sm = s.summary().unwrap();
      if sm.ess() < ess_fraction * n as f64 {
        // Variance of log mean w ~ CV^2 / N (delta method), summed over independent epochs.
        var_absorbed += sm.cv2() / n as f64;
        s.resample(Scheme::Systematic).unwrap();
      }
    }
  }
  let sm = s.summary().unwrap();
  let gk = schedule(steps, steps, d);
  let mut p = vec![0f64; n];
  s.normalized_weights(&mut p).unwrap();
  let x = s.positions();
  let mut mean_err = vec![0.0; d];
  let mut se_mean = vec![0.0; d];
  for c in 0..d {
    let m: f64 = (0..n).map(|i| p[i] * x[i * d + c] as f64).sum();
    let v: f64 = (0..n).map(|i| p[i] * p[i] * (x[i * d + c] as f64 - m).powi(2)).sum();
    mean_err[c] = m - gk.mean[c];
    se_mean[c] = v.sqrt();
  }
  Outcome {
    log_ratio: s.log_normalizer_ratio().unwrap(),
    log_ratio_exact: d as f64 * (gk.sigma / g0.sigma).ln(),
    se_log_ratio: (var_absorbed + sm.cv2() / n as f64).sqrt(),
    mean_err,
    se_mean,
    resamplings: s.counters().resamplings,
  }
}

fn check(o: &Outcome, what: &str) {
  // 4 standard errors, plus the ratio estimator's bias of order CV^2 / N, which the SE covers
  // many times over at these sizes; the floor guards against a degenerate zero SE.
  let tol = 4.0 * o.se_log_ratio + 1e-3;
  assert!(
    (o.log_ratio - o.log_ratio_exact).abs() < tol,
    "{what}: log Z ratio {} vs exact {} (tol {tol})",
    o.log_ratio,
    o.log_ratio_exact
  );
  for c in 0..o.mean_err.len() {
    let tol = 4.0 * o.se_mean[c] + 1e-3;
    assert!(
      o.mean_err[c].abs() < tol,
      "{what}: weighted mean coord {c} off by {} (tol {tol})",
      o.mean_err[c]
    );
  }
}

#[test]
fn identity_holds_for_small_and_large_steps() {
  // The identity is exact for any h; large h only makes the weights more spread.
  for (i, &h) in [0.01, 0.1, 0.5, 1.2].iter().enumerate() {
    let o = run(20_000, 3, h, 25, 100 + i as u64, 2, 0.0);
    check(&o, &format!("h = {h}"));
    assert_eq!(o.resamplings, 0);
  }
}

#[test]
fn identity_holds_across_resamplings() {
  let o = run(20_000, 3, 0.5, 40, 7, 2, 0.9);
  assert!(o.resamplings >= 2, "expected resamplings, got {}", o.resamplings);
  check(&o, "with resampling");
}

/// Without weights (PCD), the walkers' plain mean lags the moving target: the test above would fail
/// for the unweighted estimator. This guards against a test that cannot fail.
#[test]
fn unweighted_mean_is_biased_here() {
  let (n, d, steps) = (20_000, 3, 25);
  let mut s = walkers(n, d, 0.01, 3, 2, false);
  let g0 = schedule(0, steps, d);
  exact_init(&mut s, &g0, 3);
  let mut e = vec![0f32; n];
  let mut gr = vec![0f32; n * d];
  g0.eval(s.positions(), d, &mut e, &mut gr);
  s.observe(Observation::External { energy: &e, grad: &gr }).unwrap();
  for k in 1..=steps {
    s.move_walkers().unwrap();
    schedule(k, steps, d).eval(s.positions(), d, &mut e, &mut gr);
    s.observe(Observation::External { energy: &e, grad: &gr }).unwrap();
  }
  let gk = schedule(steps, steps, d);
  let x = s.positions();
  let m: f64 = (0..n).map(|i| x[i * d + d - 1] as f64).sum::<f64>() / n as f64;
  let se = gk.sigma / (n as f64).sqrt();
  assert!(
    (m - gk.mean[d - 1]).abs() > 10.0 * se,
    "unweighted mean {m} unexpectedly close to {}",
    gk.mean[d - 1]
  );
  assert!(s.log_weights().iter().all(|&a| a == 0.0));
}

/// With parameters frozen, the weight increment of one step is the MALA log acceptance ratio
/// log[rho(y) q(x | y) / (rho(x) q(y | x))], q(y | x) = N(y; x - h grad U(x), 2h I).
#[test]
fn frozen_parameters_give_mala_log_ratio() {
  let (n, d, h) = (64, 5, 0.3);
  let mut s = walkers(n, d, h, 9, 1, true);
  let g = Gauss {
    mean: vec![0.3, -0.2, 1.0, 0.0, 2.0],
    sigma: 0.8,
  };
  exact_init(
    &mut s,
    &Gauss {
      mean: vec![0.0; d],
      sigma: 2.0,
    },
    1,
  );
  let mut e0 = vec![0f32; n];
  let mut g0 = vec![0f32; n * d];
  g.eval(s.positions(), d, &mut e0, &mut g0);
  s.observe(Observation::External { energy: &e0, grad: &g0 }).unwrap();
  let x0 = s.positions().to_vec();
  s.move_walkers().unwrap();
  let x1 = s.positions().to_vec();
  let mut e1 = vec![0f32; n];
  let mut g1 = vec![0f32; n * d];
  g.eval(&x1, d, &mut e1, &mut g1);
  s.observe(Observation::External { energy: &e1, grad: &g1 }).unwrap();
  for i in 0..n {
    let r = i * d..(i + 1) * d;
    let log_q = |to: &[f32], from: &[f32], grad: &[f32]| -> f64 {
      -(0..d)
        .map(|c| (to[c] as f64 - from[c] as f64 + h * grad[c] as f64).powi(2))
        .sum::<f64>()
        / (4.0 * h)
    };
    let mala = (-(e1[i] as f64) + log_q(&x0[r.clone()], &x1[r.clone()], &g1[r.clone()]))
      - (-(e0[i] as f64) + log_q(&x1[r.clone()], &x0[r.clone()], &g0[r.clone()]));
    let a = s.log_weights()[i];
    assert!(
      (a - mala).abs() < 1e-9 * (1.0 + mala.abs()),
      "walker {i}: {a} vs MALA {mala}"
    );
  }
}

#[test]
fn ais_reobservation_without_move() {
  // Observing under new parameters without moving adds U_old(X) - U_new(X).
  let (n, d) = (16, 2);
  let mut s = walkers(n, d, 0.1, 2, 1, true);
  exact_init(
    &mut s,
    &Gauss {
      mean: vec![0.0; d],
      sigma: 1.0,
    },
    5,
  );
  let (mut ea, mut ga, mut eb, mut gb) = (vec![0f32; n], vec![0f32; n * d], vec![0f32; n], vec![0f32; n * d]);
  Gauss {
    mean: vec![0.0; d],
    sigma: 1.0,
  }
  .eval(s.positions(), d, &mut ea, &mut ga);
  Gauss {
    mean: vec![0.5; d],
    sigma: 1.3,
  }
  .eval(s.positions(), d, &mut eb, &mut gb);
  s.observe(Observation::External { energy: &ea, grad: &ga }).unwrap();
  s.observe(Observation::External { energy: &eb, grad: &gb }).unwrap();
  for i in 0..n {
    assert_eq!(s.log_weights()[i], ea[i] as f64 - eb[i] as f64);
  }
}

fn trajectory(threads: usize) -> (Vec<u32>, Vec<u64>, u64) {
  let (n, d, steps) = (5_003, 7, 12);
  let mut s = walkers(n, d, 0.2, 42, threads, true);
  exact_init(&mut s, &schedule(0, steps, d), 42);
  let mut e = vec![0f32; n];
  let mut gr = vec![0f32; n * d];
  schedule(0, steps, d).eval(s.positions(), d, &mut e, &mut gr);
  s.observe(Observation::External { energy: &e, grad: &gr }).unwrap();
  for k in 1..=steps {
    s.move_walkers().unwrap();
    schedule(k, steps, d).eval(s.positions(), d, &mut e, &mut gr);
    s.observe(Observation::External { energy: &e, grad: &gr }).unwrap();
    s.maybe_resample(
      0.7,
      if k % 2 == 0 {
        Scheme::Multinomial
      } else {
        Scheme::Residual
      },
    )
    .unwrap();
  }
  (
    s.positions().iter().map(|v| v.to_bits()).collect(),
    s.log_weights().iter().map(|v| v.to_bits()).collect(),
    s.log_normalizer_ratio().unwrap().to_bits(),
  )
}

#[test]
fn bit_identical_for_any_thread_count() {
  let one = trajectory(1);
  assert_eq!(one, trajectory(2));
  assert_eq!(one, trajectory(7));
}

#[test]
fn invalid_walkers_get_zero_weight_and_all_invalid_fails() {
  let (n, d) = (8, 2);
  let mut s = walkers(n, d, 0.1, 1, 2, true);
  let mut e = vec![1f32; n];
  let mut g = vec![0f32; n * d];
  e[3] = f32::NAN;
  g[2 * 5 + 1] = f32::INFINITY;
  let r = s.observe(Observation::External { energy: &e, grad: &g }).unwrap();
  assert_eq!(r.newly_invalid, 2);
  assert_eq!(s.log_weights()[3], f64::NEG_INFINITY);
  assert_eq!(s.log_weights()[5], f64::NEG_INFINITY);
  assert!((s.summary().unwrap().ess() - 6.0).abs() < 1e-12);
  // Resampling never picks them.
  let anc = s.resample(Scheme::Multinomial).unwrap();
  assert!(anc.iter().all(|&i| i != 3 && i != 5));
  let e = vec![f32::NAN; n];
  let err = s.observe(Observation::External { energy: &e, grad: &g }).unwrap_err();
  assert_eq!(err.code(), "ERR_JARZYN_ALL_WALKERS_INVALID");
}

#[test]
fn misuse_is_an_error_not_a_panic() {
  let mut s = walkers(4, 3, 0.1, 1, 1, true);
  assert_eq!(s.move_walkers().unwrap_err().code(), "ERR_JARZYN_BAD_STATE");
  let err = s
    .observe(Observation::External {
      energy: &[0.0; 3],
      grad: &[0.0; 12],
    })
    .unwrap_err();
  assert_eq!(err.code(), "ERR_JARZYN_BAD_LENGTH");
  s.observe(Observation::External {
    energy: &[0.0; 4],
    grad: &[0.0; 12],
  })
  .unwrap();
  s.move_walkers().unwrap();
  assert_eq!(s.move_walkers().unwrap_err().code(), "ERR_JARZYN_BAD_STATE");
  for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
    let r = CpuWalkers::new(config(4, 3, bad, 1, 1, true));
    assert_eq!(r.err().unwrap().code(), "ERR_JARZYN_INVALID_OPTION");
  }
}
