//! The mixture kernels (jz_gmm_eval, jz_gmm_partials) through jarzyn-core's real `CudaSampler`
//! (cuda/gmm.rs) on the fake CUDA driver, against the CPU's native mixture: energies and gradients
//! to f32 round-off, weighted parameter gradients to 1e-4 of their scale (kernels.cu: exp and log
//! are CUDA's there, and the CPU sums the mean gradients in f32 blocks). The checks of
//! crates/jarzyn-core/tests/cuda.rs's gpu_gmm_matches_cpu (which also runs here, on the fake
//! driver), with the energies and gradients compared at the same points and more shapes.

use jarzyn_core::cuda::CudaSampler;
use jarzyn_core::gmm::GaussianMixture;
use jarzyn_core::{Sampler, SamplerConfig};

fn mixture(d: usize, k: usize) -> GaussianMixture {
  let mut m = GaussianMixture::new(d, k).unwrap();
  for (i, v) in m.means.iter_mut().enumerate() {
    *v = ((i * 37) % 11) as f64 / 5.0 - 1.0;
  }
  for i in 0..k {
    m.log_weights[i] = 0.3 * i as f64;
    m.log_scales[i] = -0.2 + 0.1 * i as f64;
  }
  m
}

#[test]
fn mixture_matches_cpu() {
  for (n, d, k) in [(20_000usize, 2usize, 3usize), (5000, 50, 2), (3000, 9, 5), (300, 1, 1)] {
    let m = mixture(d, k);
    let cfg = SamplerConfig {
      walkers: n,
      dim: d,
      step_size: 0.02,
      seed: 21,
      threads: 2,
      weighted: true,
    };
    let mut cpu = Sampler::new(cfg.clone()).unwrap();
    let mut emu = CudaSampler::new(cfg).unwrap();
    let mut x0 = vec![0f32; n * d];
    m.sample(&mut x0, 4, 0, true).unwrap();
    cpu.positions.as_mut_slice().copy_from_slice(&x0);
    emu.set_positions(&x0).unwrap();
    cpu.observe_with(m.chunk_evaluator()).unwrap();
    emu.observe_gmm(&m).unwrap();
    let (mut worst_x, mut worst_e, mut worst_g) = (0f32, 0f32, 0f32);
    for step in 0..4 {
      cpu.move_walkers().unwrap();
      emu.move_walkers().unwrap();
      // Same gradients to round-off, so positions agree to round-off, not bits, and drift apart
      // by round-off over the steps (CudaSampler refuses set_positions between a move and its
      // observation). Energies and gradients are compared with the CPU's mixture evaluated at the
      // device's own positions.
      let xe = emu.positions().unwrap();
      let worst = xe
        .iter()
        .zip(cpu.positions.as_slice())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
      assert!(worst < 1e-4, "n {n} d {d} step {step}: positions differ by {worst}");
      worst_x = worst_x.max(worst);
      cpu.observe_with(m.chunk_evaluator()).unwrap();
      emu.observe_gmm(&m).unwrap();
      let (mut ec, mut gc) = (vec![0f32; n], vec![0f32; n * d]);
      m.chunk_evaluator()(&xe, &mut ec, &mut gc);
      let ee = emu.energies().unwrap();
      for i in 0..n {
        let err = (ec[i] - ee[i]).abs() / (1.0 + ec[i].abs());
        assert!(err <= 1e-5, "n {n} d {d} energy {i}: {} vs {}", ec[i], ee[i]);
        worst_e = worst_e.max(err);
      }
      let ge = emu.gradients().unwrap();
      for i in 0..n * d {
        let err = (gc[i] - ge[i]).abs() / (1.0 + gc[i].abs());
        assert!(err <= 1e-4, "n {n} d {d} grad {i}: {} vs {}", gc[i], ge[i]);
        worst_g = worst_g.max(err);
      }
    }
    let mut w = vec![0f64; n];
    cpu.normalized_weights(&mut w).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let (pc, uc) = m
      .weighted_param_grad(&pool, cpu.positions.as_slice(), Some(&w))
      .unwrap();
    let (pe, ue) = emu.gmm_weighted_param_grad(&m).unwrap();
    let scale = pc.iter().fold(1e-3f64, |s, v| s.max(v.abs()));
    let mut worst_p = 0f64;
    for i in 0..pc.len() {
      let err = (pc[i] - pe[i]).abs() / scale;
      assert!(err <= 1e-4, "n {n} d {d} k {k} param {i}: {} vs {}", pc[i], pe[i]);
      worst_p = worst_p.max(err);
    }
    assert!((uc - ue).abs() <= 1e-5 * (1.0 + uc.abs()), "mean U {uc} vs {ue}");
    println!(
      "n {n} d {d} k {k}: worst |dx| {worst_x:e}, energy rel {worst_e:e}, gradient rel {worst_g:e}, \
       parameter gradient rel {worst_p:e}, mean U {:e}",
      (uc - ue).abs()
    );
    // Negative control: a slightly different mixture's parameter gradient is outside the tolerance.
    let mut m2 = m.clone();
    m2.log_scales.iter_mut().for_each(|l| *l += 0.01);
    let (p2, _) = emu.gmm_weighted_param_grad(&m2).unwrap();
    assert!((0..pc.len()).any(|i| (pc[i] - p2[i]).abs() > 1e-4 * scale));
  }
}

#[test]
fn invalid_points_give_non_finite_energies_and_invalid_walkers() {
  let (n, d, k) = (50usize, 3usize, 2usize);
  let m = mixture(d, k);
  let cfg = SamplerConfig {
    walkers: n,
    dim: d,
    step_size: 0.02,
    seed: 3,
    threads: 1,
    weighted: true,
  };
  let mut cpu = Sampler::new(cfg.clone()).unwrap();
  let mut emu = CudaSampler::new(cfg).unwrap();
  let mut x0 = vec![0.1f32; n * d];
  x0[7 * d + 1] = f32::NAN;
  x0[9 * d] = f32::INFINITY;
  cpu.positions.as_mut_slice().copy_from_slice(&x0);
  emu.set_positions(&x0).unwrap();
  let rc = cpu.observe_with(m.chunk_evaluator()).unwrap();
  let re = emu.observe_gmm(&m).unwrap();
  assert_eq!(re, rc);
  assert_eq!(re.invalid, 2);
  let (ac, ae) = (cpu.log_weights.as_slice(), emu.log_weights().unwrap());
  for i in 0..n {
    assert_eq!(ae[i] == f64::NEG_INFINITY, ac[i] == f64::NEG_INFINITY, "walker {i}");
  }
}
