//! The mixture kernels (jz_gmm_eval, jz_gmm_partials) through jarzyn-core's real `DeviceWalkers`
//! (cuda/gmm.rs) on the fake CUDA driver, against the CPU's native mixture: energies and gradients
//! to f32 round-off, weighted parameter gradients to 1e-4 of their scale (kernels/gmm.cu: exp and log
//! are CUDA's there, and the CPU sums the mean gradients in f32 blocks). The checks of
//! crates/jarzyn-core/tests/cuda.rs's gpu_gmm_matches_cpu (which also runs here, on the fake
//! driver), with the energies and gradients compared at the same points and more shapes.

use crate::common::{config, cpu_and_device, device_param_grad, gmm_move_observe, gmm_pair, gmm_param_grads, mixture};
use jarzyn_core::{Energy, Walkers};

#[test]
fn mixture_matches_cpu() {
  for (n, d, k) in [(20_000usize, 2usize, 3usize), (5000, 50, 2), (3000, 9, 5), (300, 1, 1)] {
    let (m, mut cpu, mut emu) = gmm_pair(n, d, k);
    let (mut worst_x, mut worst_e, mut worst_g) = (0f32, 0f32, 0f32);
    for step in 0..4 {
      // Energies and gradients are compared with the CPU's mixture evaluated at the device's own
      // positions.
      let (xe, worst) = gmm_move_observe(&mut cpu, &mut emu, &m, &format!("n {n} d {d} step {step}"));
      worst_x = worst_x.max(worst);
      let (mut ec, mut gc) = (vec![0f32; n], vec![0f32; n * d]);
      Energy::evaluate(&m, &xe, &mut ec, &mut gc);
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
    let pg = gmm_param_grads(&mut cpu, &mut emu, &m);
    println!(
      "n {n} d {d} k {k}: worst |dx| {worst_x:e}, energy rel {worst_e:e}, gradient rel {worst_g:e}, \
       parameter gradient rel {:e}, mean U {:e}",
      pg.worst, pg.mean_u_err
    );
    // Negative control: a slightly different mixture's parameter gradient is outside the tolerance.
    let mut m2 = m.clone();
    let mut p = m2.params();
    p[k * d + k..].iter_mut().for_each(|l| *l += 0.01);
    m2.set_params(&p).unwrap();
    let (p2, _) = device_param_grad(&mut emu, &m2);
    assert!((0..pg.cpu.len()).any(|i| (pg.cpu[i] - p2[i]).abs() > 1e-4 * pg.scale));
  }
}

#[test]
fn invalid_points_give_non_finite_energies_and_invalid_walkers() {
  let (n, d, k) = (50usize, 3usize, 2usize);
  let m = mixture(d, k);
  let mut x0 = vec![0.1f32; n * d];
  x0[7 * d + 1] = f32::NAN;
  x0[9 * d] = f32::INFINITY;
  let (mut cpu, mut emu) = cpu_and_device(config(n, d, 0.02, 3, 1, true), &x0);
  let (rc, _) = cpu.observe_energy(&m, false).unwrap();
  let re = emu.observe_gmm(&m).unwrap();
  assert_eq!(re, rc);
  assert_eq!(re.invalid, 2);
  let (ac, ae) = (cpu.log_weights(), emu.log_weights().unwrap());
  for i in 0..n {
    assert_eq!(ae[i] == f64::NEG_INFINITY, ac[i] == f64::NEG_INFINITY, "walker {i}");
  }
}
