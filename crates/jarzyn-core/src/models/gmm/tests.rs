//! Tests of the mixture: exact log Z and weights, gradients against finite differences, thread-count
//! invariance, the law of exact samples, the fused walker gradient.

use super::model::*;

fn pool(t: usize) -> rayon::ThreadPool {
  rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap()
}

fn paper_model(d: usize) -> GaussianMixture {
  let mut g = GaussianMixture::new(d, 2).unwrap();
  let mut p = g.params();
  p[0] = -10.0;
  p[d] = 6.0;
  p[2 * d + 1] = -(3f64).ln(); // weights 1/4, 3/4
  g.set_params(&p).unwrap();
  g
}

#[test]
fn log_z_and_weights() {
  let g = paper_model(50);
  let w = g.mixture_weights();
  assert!((w[0] - 0.25).abs() < 1e-12 && (w[1] - 0.75).abs() < 1e-12);
  let expect = 25.0 * LN_2PI + (1.0f64 + 3.0).ln();
  assert!((g.log_z() - expect).abs() < 1e-10);
}

#[test]
fn gradients_match_finite_differences() {
  let d = 5;
  let mut g = GaussianMixture::new(d, 3).unwrap();
  let mut p: Vec<f64> = (0..3 * d).map(|i| ((i * 7 % 5) as f64 - 2.0) * 0.7).collect();
  p.extend([0.0, 0.3, -0.2, 0.1, -0.2, 0.3]);
  g.set_params(&p).unwrap();
  let x: Vec<f32> = (0..4 * d).map(|i| ((i * 13 % 9) as f32 - 4.0) * 0.5).collect();
  let p = pool(1);
  let mut e = vec![0f32; 4];
  let mut gr = vec![0f32; 4 * d];
  g.evaluate(&p, &x, &mut e, Some(&mut gr)).unwrap();
  // grad_x by central differences in f64 through a perturbed copy.
  for j in 0..4 {
    for c in 0..d {
      let h = 1e-2f32;
      let mut xp = x[j * d..(j + 1) * d].to_vec();
      let mut xm = xp.clone();
      xp[c] += h;
      xm[c] -= h;
      let (mut ep, mut em) = ([0f32], [0f32]);
      g.evaluate(&p, &xp, &mut ep, None).unwrap();
      g.evaluate(&p, &xm, &mut em, None).unwrap();
      let fd = (ep[0] as f64 - em[0] as f64) / (2.0 * h as f64);
      assert!(
        (fd - gr[j * d + c] as f64).abs() < 2e-3 * (1.0 + fd.abs()),
        "x grad {j},{c}: {fd} vs {}",
        gr[j * d + c]
      );
    }
  }
  // Parameter gradient against finite differences of the mean energy.
  let (pg, mean_u) = g.weighted_param_grad(&p, &x, None).unwrap();
  assert!((mean_u - e.iter().map(|&v| v as f64).sum::<f64>() / 4.0).abs() < 1e-4);
  let mean_energy = |g: &GaussianMixture| {
    let mut e = vec![0f32; 4];
    g.evaluate(&p, &x, &mut e, None).unwrap();
    e.iter().map(|&v| v as f64).sum::<f64>() / 4.0
  };
  let k = 3;
  assert_eq!(g.param_count(), k * (d + 2));
  for idx in 0..g.param_count() {
    let h = 1e-3;
    let (mut gp, mut gm) = (g.clone(), g.clone());
    let (mut pp, mut pm) = (g.params(), g.params());
    pp[idx] += h;
    pm[idx] -= h;
    gp.set_params(&pp).unwrap();
    gm.set_params(&pm).unwrap();
    let fd = (mean_energy(&gp) - mean_energy(&gm)) / (2.0 * h);
    assert!(
      (fd - pg[idx]).abs() < 5e-3 * (1.0 + fd.abs()),
      "param {idx}: fd {fd} vs {}",
      pg[idx]
    );
  }
}

#[test]
fn thread_count_invariant() {
  let g = paper_model(7);
  let mut x = vec![0f32; 5000 * 7];
  g.sample(&mut x, 3, 0, false).unwrap();
  let w: Vec<f64> = (0..5000).map(|i| (i % 17) as f64 / 5000.0).collect();
  let a = g.weighted_param_grad(&pool(1), &x, Some(&w)).unwrap();
  let b = g.weighted_param_grad(&pool(3), &x, Some(&w)).unwrap();
  assert_eq!(a, b);
}

#[test]
fn samples_have_the_right_law() {
  let d = 3;
  let g = paper_model(d);
  let n = 40_000;
  let mut x = vec![0f32; n * d];
  let comp = g.sample(&mut x, 1, 0, true).unwrap();
  assert_eq!(comp.iter().filter(|&&c| c == 0).count(), 10_000);
  let mut x = vec![0f32; n * d];
  let comp = g.sample(&mut x, 1, 0, false).unwrap();
  let k0 = comp.iter().filter(|&&c| c == 0).count() as f64;
  let se = (n as f64 * 0.25 * 0.75).sqrt();
  assert!((k0 - 0.25 * n as f64).abs() < 5.0 * se);
  // Points of component 1 have mean (6, 0, 0) and unit variance.
  let pts: Vec<&[f32]> = x
    .chunks_exact(d)
    .zip(&comp)
    .filter(|(_, &c)| c == 1)
    .map(|(r, _)| r)
    .collect();
  let m = pts.iter().map(|r| r[0] as f64).sum::<f64>() / pts.len() as f64;
  let v = pts.iter().map(|r| (r[0] as f64 - m).powi(2)).sum::<f64>() / pts.len() as f64;
  assert!((m - 6.0).abs() < 5.0 / (pts.len() as f64).sqrt());
  assert!((v - 1.0).abs() < 5.0 * (2.0 / pts.len() as f64).sqrt());
}

#[test]
fn largest_remainder_sums() {
  assert_eq!(largest_remainder(&[0.5, 0.5], 10_000), vec![5000, 5000]);
  assert_eq!(largest_remainder(&[1.0, 1.0, 1.0], 10), vec![4, 3, 3]);
  assert_eq!(largest_remainder(&[0.25, 0.75], 3).iter().sum::<usize>(), 3);
}

/// `n` weighted CPU walkers on 2 threads, started at exact samples of `g` (sample seed `sample_seed`).
fn sampled_walkers(g: &GaussianMixture, n: usize, step_size: f64, seed: u64, sample_seed: u64) -> crate::CpuWalkers {
  use crate::{CpuWalkers, WalkerConfig, Walkers};
  let mut s = CpuWalkers::new(WalkerConfig {
    walkers: n,
    dim: crate::Energy::dim(g),
    step_size,
    seed,
    threads: 2,
    weighted: true,
  })
  .unwrap();
  s.fill_positions(&mut |x| g.sample(x, sample_seed, 0, false).map(|_| ()))
    .unwrap();
  s
}

/// The walker-weighted gradient folded into an observation equals the standalone one bit for
/// bit, and the plain weighted formula to f32 round-off.
#[test]
fn fused_walker_grad_matches() {
  use crate::energy::combine_parts;
  use crate::Walkers;
  let d = 7;
  let g = paper_model(d);
  let mut s = sampled_walkers(&g, 3001, 0.2, 4, 9);
  s.observe_energy(&g, false).unwrap();
  s.move_walkers().unwrap();
  let (_, parts) = s.observe_energy(&g, true).unwrap();
  let fused = combine_parts(&parts, g.param_count()).unwrap();
  let alone = combine_parts(&s.walker_sums(&g).unwrap(), g.param_count()).unwrap();
  assert_eq!(
    fused.0.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
    alone.0.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
  );
  assert_eq!(fused.1.to_bits(), alone.1.to_bits());
  let mut p = vec![0f64; 3001];
  s.normalized_weights(&mut p).unwrap();
  let (plain, u) = g.weighted_param_grad(&pool(1), s.positions(), Some(&p)).unwrap();
  for (a, b) in fused.0.iter().zip(&plain) {
    assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
  }
  assert!((fused.1 - u).abs() < 1e-6 * (1.0 + u.abs()));
}

#[test]
fn unfolded_observation_updates_weights_as_the_folded_one() {
  // FusedEnergy::observe_folding with fold false (the backward kernel at theta_k's AIS
  // observation) makes the same weight update as FusedEnergy::observe, bit for bit, and a later
  // walker gradient computed anew equals the one a folded observation would have cached.
  use crate::energy::FusedEnergy;
  use crate::Walkers;
  let d = 5;
  let make = || {
    let g = paper_model(d);
    let s = sampled_walkers(&g, 2001, 0.1, 6, 3);
    (FusedEnergy::new(g), s)
  };
  let (mut fa, mut a) = make();
  let (mut fb, mut b) = make();
  for (f, s) in [(&mut fa, &mut a), (&mut fb, &mut b)] {
    f.observe(s).unwrap();
    s.move_walkers().unwrap();
    f.observe(s).unwrap();
    let mut p = f.energy().params();
    p[0] -= 0.3;
    p[2 * d + 1] += 0.05;
    f.update(|m| m.set_params(&p)).unwrap();
  }
  fa.observe(&mut a).unwrap();
  fb.observe_folding(&mut b, false).unwrap();
  let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
  assert_eq!(bits(a.log_weights()), bits(b.log_weights()));
  assert_eq!(
    a.energies().iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
    b.energies().iter().map(|x| x.to_bits()).collect::<Vec<_>>()
  );
  let (ga, ua) = fa.walker_param_grad(&mut a).unwrap();
  let (gb, ub) = fb.walker_param_grad(&mut b).unwrap();
  assert_eq!(bits(&ga), bits(&gb));
  assert_eq!(ua.to_bits(), ub.to_bits());
}
