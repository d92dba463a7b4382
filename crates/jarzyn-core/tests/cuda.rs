//! CUDA backend tests (feature `cuda`).
//!
//! Without a GPU: `available()` gives a clear Err and never panics; the kernel source compiles to
//! PTX with NVRTC when NVRTC can be loaded (skipped otherwise: set JARZYN_NVRTC to a libnvrtc.so,
//! e.g. from `pip install nvidia-cuda-nvrtc-cu12`).
//! With a GPU (skipped cleanly without one): CPU and GPU agree on Philox blocks, Box-Muller,
//! normals (bits), positions after moves (bits), log-weights (round-off), and the Jarzynski
//! identity holds on the GPU.
//! On the fake CUDA driver of crates/jarzyn-cuda-emu (kernels emulated on the CPU) these GPU tests
//! run in `cargo test -p jarzyn-cuda-emu` (its `emu` binary includes this file), or here with
//! `node scripts/fake-cuda.mjs cargo test --release -p jarzyn-core --features cuda --test cuda`.
#![cfg(feature = "cuda")]

mod common;

use common::{
  config, cpu_and_device, gmm_move_observe, gmm_pair, gmm_param_grads, mixture, schedule, write_log_weights,
};
use jarzyn_core::cuda::{self, nvrtc, CudaBackend, CudaWalkers, DeviceWalkers};
use jarzyn_core::normal::{box_muller, fill_normals};
use jarzyn_core::philox::{key_from_seed, philox4x32_10, Counter, Stream};
use jarzyn_core::{combine_parts, CpuWalkers, FusedEnergy, Observation, Scheme, View, Walkers};

fn gpu() -> Option<CudaBackend> {
  match cuda::available() {
    Err(e) => {
      println!("skipped: no CUDA device ({e})");
      None
    }
    Ok(_) => Some(CudaBackend::new().expect("CUDA available but the backend failed to start")),
  }
}

#[test]
fn available_is_an_error_or_a_device_never_a_panic() {
  let r = std::panic::catch_unwind(cuda::available).expect("available() must not panic");
  match r {
    Ok(info) => {
      println!("CUDA device: {info:?}");
      assert!(info.driver_version >= cuda::MIN_DRIVER_VERSION);
      assert!(info.device_count >= 1);
    }
    Err(e) => {
      println!("CUDA unavailable: {e}");
      assert!(!e.is_empty());
      // The reason names what is missing, not a Rust panic location.
      assert!(
        e.contains("libcuda") || e.contains("cuInit") || e.contains("driver") || e.contains("device"),
        "{e}"
      );
      // Second call: same answer (probed once), still no panic.
      assert_eq!(cuda::available().unwrap_err(), e);
      // Starting the backend or a sampler gives ERR_JARZYN_BACKEND with the same reason.
      let err = match DeviceWalkers::new(config(4, 2, 0.1, 1, 1, true)) {
        Err(err) => err,
        Ok(_) => panic!("sampler without a device"),
      };
      assert_eq!(err.code(), "ERR_JARZYN_BACKEND");
      assert!(err.to_string().contains(&e));
    }
  }
}

#[test]
fn kernels_compile_with_nvrtc() {
  let ver = match nvrtc::version() {
    Err(e) => {
      println!("skipped: {e}");
      return;
    }
    Ok(v) => v,
  };
  println!("NVRTC {:?} from {}", ver.0, ver.1);
  // CUDA 13's NVRTC dropped architectures below 7.5; 12.x still has them.
  let archs: &[&str] = if ver.0 .0 >= 13 {
    &["compute_75", "compute_90"]
  } else {
    &["compute_70", "compute_80", "compute_90"]
  };
  for arch in archs {
    let ptx = nvrtc::kernels_ptx(arch).unwrap_or_else(|e| panic!("{arch}: {e}"));
    for k in [
      "jz_philox",
      "jz_box_muller",
      "jz_normals",
      "jz_move",
      "jz_observe",
      "jz_summary",
      "jz_gather_f32",
      "jz_gather_f64",
      "jz_fill_f64",
      "jz_move_rows",
      "jz_observe_rows",
      "jz_exp_shift",
      "jz_last_positive",
      "jz_scan_tile",
      "jz_scan_sums",
      "jz_scan_add",
      "jz_exponentials",
      "jz_search",
      "jz_residual_split",
      "jz_add_draws",
      "jz_gmm_eval",
      "jz_gmm_partials",
    ] {
      assert!(ptx.contains(&format!(".entry {k}(")), "{arch}: no entry {k}");
    }
    // --fmad=false: no fused multiply-add in the kernels that must give the CPU's bits. exp() and
    // log() (libdevice) use fma by design; the kernels that call them only have to agree with the
    // CPU to round-off.
    let libdevice = [
      "jz_summary",
      "jz_exp_shift",
      "jz_exponentials",
      "jz_gmm_eval",
      "jz_gmm_partials",
    ];
    for (entry, body) in ptx.split(".entry ").skip(1).map(|b| (b.split('(').next().unwrap(), b)) {
      if !libdevice.contains(&entry) {
        assert!(!body.contains("fma."), "{arch}: fused multiply-add in {entry}");
        // Every float add/sub/mul carries .rn, which ptxas never contracts into an fma.
        // (Instructions only: `atom.global.add.f64` is an atomic, not arithmetic ptxas could fuse.)
        for op in ["add.f32", "sub.f32", "mul.f32", "add.f64", "sub.f64", "mul.f64"] {
          let found = body.lines().any(|l| l.trim_start().starts_with(op));
          assert!(!found, "{arch}: contractible {op} in {entry}");
        }
      }
      // No approximate division / square root / transcendental outside libdevice's exp/log
      // (whose double log starts from rcp.approx and refines it to full precision).
      if !libdevice.contains(&entry) {
        assert!(!body.contains(".approx"), "{arch}: approximate instruction in {entry}");
      }
    }
  }
  // CUBIN (machine code, what the backend loads first) for real architectures.
  for arch in if ver.0 .0 >= 13 {
    &["sm_75", "sm_90"][..]
  } else {
    &["sm_70", "sm_80", "sm_90"][..]
  } {
    let cubin = nvrtc::compile_image(&cuda::kernel_source(), "k.cu", arch, nvrtc::Image::Cubin)
      .unwrap_or_else(|e| panic!("{arch}: {e}"));
    assert_eq!(&cubin[..4], b"\x7fELF", "{arch}: not an ELF image");
  }
  // The disk cache: a second request is served from the file, which a rename put in place.
  let dir = std::env::temp_dir().join(format!("jarzyn-kcache-{}", std::process::id()));
  let _ = std::fs::remove_dir_all(&dir);
  let first = nvrtc::kernels_image_in(Some(&dir), "compute_80", nvrtc::Image::Ptx).unwrap();
  let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
  assert_eq!(files.len(), 1, "{files:?}");
  assert!(files[0].extension().is_some_and(|e| e == "ptx"));
  // Mark the cached copy: the next request must return the file's bytes, not a fresh compile.
  let mut marked = first.clone();
  marked.extend_from_slice(b"\n// cached\n");
  std::fs::write(&files[0], &marked).unwrap();
  assert_eq!(
    nvrtc::kernels_image_in(Some(&dir), "compute_80", nvrtc::Image::Ptx).unwrap(),
    marked
  );
  // Another architecture is another entry.
  nvrtc::kernels_image_in(Some(&dir), "compute_90", nvrtc::Image::Ptx).unwrap();
  assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
  std::fs::remove_dir_all(&dir).unwrap();
  // A syntax error is reported with NVRTC's log, not a panic.
  let e = nvrtc::compile("extern \"C\" __global__ void k( { }", "bad.cu", archs[0]).unwrap_err();
  assert!(e.contains("compilation"), "{e}");
}

// ----------------------------------------------------------------------------------------------
// GPU tests.

#[test]
fn gpu_philox_matches_cpu() {
  let Some(b) = gpu() else { return };
  let mut st = 0x9E37_79B9_7F4A_7C15u64;
  let mut next = || {
    st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (st >> 32) as u32
  };
  for trial in 0..8 {
    let key = if trial == 0 { [u32::MAX; 2] } else { [next(), next()] };
    let mut ctrs: Vec<[u32; 4]> = (0..100_000).map(|_| [next(), next(), next(), next()]).collect();
    ctrs[0] = [0; 4];
    ctrs[1] = [u32::MAX; 4];
    let got = b.philox(&ctrs, key).unwrap();
    for (c, g) in ctrs.iter().zip(&got) {
      assert_eq!(*g, philox4x32_10(*c, key), "ctr {c:?} key {key:?}");
    }
  }
  // Random123's known answer.
  assert_eq!(
    b.philox(&[[0; 4]], [0, 0]).unwrap()[0],
    [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
  );
}

#[test]
fn gpu_box_muller_matches_cpu_bits() {
  let Some(b) = gpu() else { return };
  let mut pairs = Vec::new();
  let edges = [
    0u32,
    1,
    2,
    u32::MAX,
    u32::MAX - 1,
    0x8000_0000,
    0x7FFF_FFFF,
    0x4000_0000,
    0xC000_0000,
    0x3FFF_FFFF,
  ];
  for &a in &edges {
    for &c in &edges {
      pairs.push((a, c));
    }
  }
  let mut st = 0x2545_F491_4F6C_DD1Du64;
  for _ in 0..1_000_000 {
    st ^= st << 13;
    st ^= st >> 7;
    st ^= st << 17;
    pairs.push(((st >> 32) as u32, st as u32));
  }
  let got = b.box_muller(&pairs).unwrap();
  for (&(a, c), &(z0, z1)) in pairs.iter().zip(&got) {
    let (e0, e1) = box_muller(a, c);
    assert_eq!(
      (z0.to_bits(), z1.to_bits()),
      (e0.to_bits(), e1.to_bits()),
      "a {a:#x} b {c:#x}"
    );
  }
}

#[test]
fn gpu_normals_match_cpu_bits() {
  let Some(b) = gpu() else { return };
  let key = key_from_seed(0x1234_5678_9abc_def0);
  for (step, walker0) in [(0u64, 0u32), (7, 1_000_000), (1 << 35, u32::MAX - 5000)] {
    let ctr = Counter::new(Stream::Noise, step);
    for dim in [1usize, 2, 3, 4, 5, 7, 8, 9, 17, 64, 100] {
      let walkers = 4097;
      let got = b.normals(key, ctr, walker0, walkers, dim).unwrap();
      let mut want = vec![0f32; walkers * dim];
      fill_normals(key, ctr, walker0, dim, &mut want);
      for i in 0..want.len() {
        assert_eq!(got[i].to_bits(), want[i].to_bits(), "dim {dim} index {i}");
      }
    }
  }
}

/// CPU and GPU samplers driven with the same energies: positions identical (bits) after every
/// move, log-weights equal to round-off (bit-equality is expected too, and reported).
#[test]
fn gpu_sampler_matches_cpu_sampler() {
  if gpu().is_none() {
    return;
  }
  for (n, d, weighted) in [
    (5000usize, 3usize, true),
    (3000, 8, true),
    (2000, 37, true),
    (3000, 5, false),
  ] {
    let steps = 20;
    let x0 = schedule(0, steps, d).exact(n, d, 7);
    let (mut cpu, mut gpu) = cpu_and_device(config(n, d, 0.07, 42 + d as u64, 2, weighted), &x0);
    let (mut e, mut g) = (vec![0f32; n], vec![0f32; n * d]);
    schedule(0, steps, d).eval(&x0, d, &mut e, &mut g);
    cpu.observe(Observation::External { energy: &e, grad: &g }).unwrap();
    gpu.observe(Observation::External { energy: &e, grad: &g }).unwrap();
    let mut weight_bits_differ = 0usize;
    for k in 1..=steps {
      cpu.move_walkers().unwrap();
      gpu.move_walkers().unwrap();
      let xg = gpu.positions().unwrap();
      let xc = cpu.positions();
      for i in 0..xc.len() {
        assert_eq!(xg[i].to_bits(), xc[i].to_bits(), "n {n} d {d} step {k} index {i}");
      }
      schedule(k, steps, d).eval(xc, d, &mut e, &mut g);
      let rc = cpu.observe(Observation::External { energy: &e, grad: &g }).unwrap();
      let rg = gpu.observe(Observation::External { energy: &e, grad: &g }).unwrap();
      assert_eq!(rc, rg);
      let (ac, ag) = (cpu.log_weights(), gpu.log_weights().unwrap());
      for i in 0..n {
        assert!(
          (ac[i] - ag[i]).abs() <= 1e-12 * (1.0 + ac[i].abs()),
          "step {k} walker {i}: {} vs {}",
          ac[i],
          ag[i]
        );
        weight_bits_differ += (ac[i].to_bits() != ag[i].to_bits()) as usize;
      }
      let (sc, sg) = (cpu.summary().unwrap(), gpu.summary().unwrap());
      assert!(
        (sc.log_sum - sg.log_sum).abs() < 1e-9 * (1.0 + sc.log_sum.abs()),
        "{sc:?} {sg:?}"
      );
      assert!((sc.ess() - sg.ess()).abs() < 1e-9 * sc.ess().max(1.0), "{sc:?} {sg:?}");
      assert_eq!(sc.zero, sg.zero);
      if k % 7 == 0 {
        // Same weights (to round-off) and the same uniforms: the same ancestors, except where
        // a round-off difference moves a cumulative weight across a uniform (reported).
        let ancc = cpu.resample(Scheme::Systematic).unwrap();
        let ancg = gpu.resample(Scheme::Systematic).unwrap();
        let diff = ancc.iter().zip(&ancg).filter(|(a, b)| a != b).count();
        println!("n {n} d {d} step {k}: {diff} ancestors differ");
        assert!(diff <= n / 1000 + 2);
        if diff == 0 {
          let xg = gpu.positions().unwrap();
          assert_eq!(xg, cpu.positions());
        } else {
          gpu.set_positions(cpu.positions()).unwrap();
        }
      }
    }
    println!("n {n} d {d} weighted {weighted}: {weight_bits_differ} log-weight values not bit-identical");
  }
}

/// The foundation's Jarzynski identity test, on the GPU: log Z ratio within 4 standard errors,
/// weighted means within 4 standard errors without resampling; and the CPU sampler driven alongside
/// with the same energies gives the same positions, log Z ratio and weighted means.
///
/// Found on the fake driver (crates/jarzyn-cuda-emu), where the GPU run gives the CPU's bits: with
/// the initial positions from seed 0xabc, h 0.1 without resampling ends with an ESS under 1% of N
/// and a weighted mean 9 estimated standard errors off, and with resampling the estimate
/// sum p_i^2 (x_i - m)^2 ignores the duplicates resampling makes (5 "standard errors" off). Both are
/// properties of the estimator on those draws, identical on the CPU; the statistical identity
/// itself is tests/identity.rs's (CPU) job, this test's is that the GPU computes what the CPU does.
#[test]
fn gpu_jarzynski_identity() {
  if gpu().is_none() {
    return;
  }
  for (h, ess_fraction) in [(0.1, 0.0), (0.5, 0.0), (0.1, 0.5)] {
    let (n, d, steps, seed) = (100_000usize, 3usize, 25usize, 100u64);
    let g0 = schedule(0, steps, d);
    // Drawn as in tests/identity.rs.
    let x0 = g0.exact(n, d, seed ^ 0xabc);
    let (mut cpu, mut s) = cpu_and_device(config(n, d, h, seed, 2, true), &x0);
    let (mut e, mut gr) = (vec![0f32; n], vec![0f32; n * d]);
    g0.eval(&x0, d, &mut e, &mut gr);
    s.observe(Observation::External { energy: &e, grad: &gr }).unwrap();
    cpu.observe(Observation::External { energy: &e, grad: &gr }).unwrap();
    let mut var_absorbed = 0.0;
    for k in 1..=steps {
      s.move_walkers().unwrap();
      cpu.move_walkers().unwrap();
      let x = s.positions().unwrap();
      assert!(x == cpu.positions(), "h {h} step {k}: positions differ from the CPU's");
      schedule(k, steps, d).eval(&x, d, &mut e, &mut gr);
      s.observe(Observation::External { energy: &e, grad: &gr }).unwrap();
      cpu.observe(Observation::External { energy: &e, grad: &gr }).unwrap();
      if k < steps {
        let sm = s.summary().unwrap();
        if sm.ess() < ess_fraction * n as f64 {
          var_absorbed += sm.cv2() / n as f64;
          s.resample(Scheme::Systematic).unwrap();
          cpu.resample(Scheme::Systematic).unwrap();
          // Ancestors may differ where round-off moves a cumulative weight across a uniform.
          s.set_positions(cpu.positions()).unwrap();
        }
      }
    }
    let sm = s.summary().unwrap();
    let gk = schedule(steps, steps, d);
    let exact = d as f64 * (gk.sigma / g0.sigma).ln();
    let got = s.log_normalizer_ratio().unwrap();
    let tol = 4.0 * (var_absorbed + sm.cv2() / n as f64).sqrt() + 1e-3;
    assert!(
      (got - exact).abs() < tol,
      "h {h}: log Z ratio {got} vs {exact} (tol {tol})"
    );
    let got_cpu = cpu.log_normalizer_ratio().unwrap();
    assert!(
      (got - got_cpu).abs() < 1e-9 * (1.0 + got.abs()),
      "h {h}: log Z ratio {got} vs CPU {got_cpu}"
    );
    let p = s.normalized_weights().unwrap();
    let mut pc = vec![0f64; n];
    cpu.normalized_weights(&mut pc).unwrap();
    let x = s.positions().unwrap();
    for c in 0..d {
      let m: f64 = (0..n).map(|i| p[i] * x[i * d + c] as f64).sum();
      let mc: f64 = (0..n).map(|i| pc[i] * x[i * d + c] as f64).sum();
      assert!((m - mc).abs() < 1e-9, "h {h}: mean coord {c} {m} vs CPU {mc}");
      if ess_fraction == 0.0 {
        let v: f64 = (0..n).map(|i| p[i] * p[i] * (x[i * d + c] as f64 - m).powi(2)).sum();
        let tol = 4.0 * v.sqrt() + 1e-3;
        assert!(
          (m - gk.mean[c]).abs() < tol,
          "h {h}: mean coord {c} {m} vs {} (tol {tol})",
          gk.mean[c]
        );
      }
    }
    if ess_fraction > 0.0 {
      assert!(s.counters().resamplings > 0);
    }
  }
}

/// Device resampling: for each scheme, offspring counts over R replications have mean N p_i
/// (within 5 multinomial standard errors, an upper bound for the other schemes), zero-weight
/// walkers are never picked, and the ancestors mostly equal the CPU's for the same weights.
#[test]
fn gpu_resampling_unbiased_and_close_to_cpu() {
  if gpu().is_none() {
    return;
  }
  let p_raw = [0.01, 0.2, 0.0, 0.05, 0.3, 0.09, 0.15, 0.0, 0.2];
  let a: Vec<f64> = p_raw
    .iter()
    .map(|&p: &f64| if p > 0.0 { p.ln() } else { f64::NEG_INFINITY })
    .collect();
  let n = p_raw.len();
  let reps = 4000usize;
  for scheme in [
    Scheme::Multinomial,
    Scheme::Systematic,
    Scheme::Stratified,
    Scheme::Residual,
  ] {
    let mut s = DeviceWalkers::new(config(n, 1, 0.1, 11, 1, true)).unwrap();
    let mut sum = vec![0f64; n];
    for _ in 0..reps {
      s.set_log_weights(&a).unwrap();
      let anc = s.resample(scheme).unwrap();
      assert!(anc.windows(2).all(|w| w[0] <= w[1]), "{scheme:?}: ancestors not sorted");
      for &i in &anc {
        assert!(p_raw[i] > 0.0, "{scheme:?}: zero-weight walker {i} picked");
        sum[i] += 1.0;
      }
    }
    let total: f64 = p_raw.iter().sum();
    for i in 0..n {
      let p = p_raw[i] / total;
      let mean = sum[i] / reps as f64;
      let se = (n as f64 * p * (1.0 - p) / reps as f64).sqrt();
      assert!(
        (mean - n as f64 * p).abs() <= 5.0 * se + 1e-12,
        "{scheme:?} walker {i}: {mean} vs {}",
        n as f64 * p
      );
    }
  }
  // Large population: same uniforms as the CPU, so nearly all ancestors agree.
  let n = 200_000;
  let a: Vec<f64> = (0..n)
    .map(|i| ((i * 7919) % 1000) as f64 / 300.0 - if i % 97 == 0 { f64::INFINITY } else { 0.0 })
    .collect();
  for scheme in [
    Scheme::Multinomial,
    Scheme::Systematic,
    Scheme::Stratified,
    Scheme::Residual,
  ] {
    let cfg = config(n, 2, 0.1, 5, 2, true);
    let mut cpu = CpuWalkers::new(cfg.clone()).unwrap();
    let mut gs = DeviceWalkers::new(cfg).unwrap();
    write_log_weights(&mut cpu, &a);
    gs.set_log_weights(&a).unwrap();
    let ac = cpu.resample(scheme).unwrap();
    let ag = gs.resample(scheme).unwrap();
    let diff = ac.iter().zip(&ag).filter(|(x, y)| x != y).count();
    println!("{scheme:?}: {diff} of {n} ancestors differ from the CPU's");
    assert!(diff <= n / 1000, "{scheme:?}: {diff} ancestors differ");
    assert!(ag.iter().all(|&i| a[i] != f64::NEG_INFINITY));
  }
}

/// Rows longer than a tile take the one-thread-per-walker kernels: still the CPU's bits.
#[test]
fn gpu_long_rows_match_cpu() {
  if gpu().is_none() {
    return;
  }
  let (n, d) = (300usize, 3000usize);
  let g0 = schedule(0, 5, d);
  let x0 = g0.exact(n, d, 3);
  let (mut cpu, mut gs) = cpu_and_device(config(n, d, 0.05, 9, 2, true), &x0);
  let (mut e, mut g) = (vec![0f32; n], vec![0f32; n * d]);
  g0.eval(&x0, d, &mut e, &mut g);
  cpu.observe(Observation::External { energy: &e, grad: &g }).unwrap();
  gs.observe(Observation::External { energy: &e, grad: &g }).unwrap();
  for k in 1..=5 {
    cpu.move_walkers().unwrap();
    gs.move_walkers().unwrap();
    assert_eq!(gs.positions().unwrap(), cpu.positions(), "step {k}");
    schedule(k, 5, d).eval(cpu.positions(), d, &mut e, &mut g);
    cpu.observe(Observation::External { energy: &e, grad: &g }).unwrap();
    gs.observe(Observation::External { energy: &e, grad: &g }).unwrap();
    let (ac, ag) = (cpu.log_weights(), gs.log_weights().unwrap());
    for i in 0..n {
      assert_eq!(ac[i].to_bits(), ag[i].to_bits(), "step {k} walker {i}");
    }
  }
}

/// The mixture on the device against the CPU's native mixture: energies and gradients to f32
/// round-off, log-weights close, weighted parameter gradients to 1e-4 of their scale.
#[test]
fn gpu_gmm_matches_cpu() {
  if gpu().is_none() {
    return;
  }
  for (n, d, k) in [(20_000usize, 2usize, 3usize), (5000, 50, 2), (3000, 9, 5)] {
    let (m, mut cpu, mut gs) = gmm_pair(n, d, k);
    for step in 0..5 {
      gmm_move_observe(&mut cpu, &mut gs, &m, &format!("n {n} d {d} step {step}"));
      let (ec, eg) = (cpu.energies(), gs.energies().unwrap());
      for i in 0..n {
        assert!(
          (ec[i] - eg[i]).abs() <= 1e-5 * (1.0 + ec[i].abs()),
          "energy {i}: {} vs {}",
          ec[i],
          eg[i]
        );
      }
      let (gc, gg) = (cpu.gradients(), gs.gradients().unwrap());
      for i in 0..n * d {
        assert!(
          (gc[i] - gg[i]).abs() <= 1e-4 * (1.0 + gc[i].abs()),
          "grad {i}: {} vs {}",
          gc[i],
          gg[i]
        );
      }
    }
    gmm_param_grads(&mut cpu, &mut gs, &m);
  }
}

/// A host view of `w`, made current first.
fn read_view(w: &mut dyn Walkers, v: View) -> Vec<f32> {
  w.sync_view(v, false).unwrap();
  w.f32_buffer(v).unwrap().as_slice().to_vec()
}

fn read_log_weights(w: &mut dyn Walkers) -> Vec<f64> {
  w.sync_view(View::LogWeights, false).unwrap();
  w.log_weight_buffer().as_slice().to_vec()
}

/// Write `src` through the host view `v` of `w`.
fn write_view(w: &mut dyn Walkers, v: View, src: &[f32]) {
  w.sync_view(v, true).unwrap();
  w.f32_buffer(v).unwrap().as_mut_slice().copy_from_slice(src);
}

/// CPU and CUDA walkers driven through the `Walkers` interface alike (the CUDA ones through their
/// host mirrors): positions identical (bits) after every move, log-weights, summaries and the
/// walker-weighted gradients of a host-evaluated energy equal to round-off, for observations of
/// caller arrays, of energies written into the views, and of native energies (the mixture's device
/// kernels included); resampling, writes through every view, a refused write between move and
/// observe, re-initialisation and restored counters.
#[test]
fn gpu_walkers_interface_matches_cpu() {
  if gpu().is_none() {
    return;
  }
  let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol * (1.0 + a.abs());
  for weighted in [true, false] {
    let (n, d, steps) = (3000usize, 5usize, 12usize);
    let cfg = config(n, d, 0.07, 17, 2, weighted);
    let mut cpu: Box<dyn Walkers> = Box::new(CpuWalkers::new(cfg.clone()).unwrap());
    let mut gpu: Box<dyn Walkers> = Box::new(CudaWalkers::new(cfg).unwrap());
    assert!(cpu.device().is_none() && gpu.device().is_some());
    let x0 = schedule(0, steps, d).exact(n, d, 5);
    for w in [&mut cpu, &mut gpu] {
      w.fill_positions(&mut |x| {
        x.copy_from_slice(&x0);
        Ok(())
      })
      .unwrap();
      let (e, g) = schedule(0, steps, d).eval_vecs(&x0, d);
      w.observe(Observation::External { energy: &e, grad: &g }).unwrap();
    }
    let tag = |k: usize| format!("weighted {weighted} step {k}");
    for k in 1..=steps {
      let key = gpu.state_key();
      cpu.move_walkers().unwrap();
      gpu.move_walkers().unwrap();
      assert_ne!(gpu.state_key(), key);
      let xc = read_view(cpu.as_mut(), View::Positions);
      let xg = read_view(gpu.as_mut(), View::Positions);
      assert_eq!(first_diff(&xg, &xc), None, "{}: positions", tag(k));
      let energy = schedule(k, steps, d);
      let (rc, rg) = match k % 4 {
        // Caller arrays.
        0 => {
          let (e, g) = energy.eval_vecs(&xc, d);
          let obs = || Observation::External { energy: &e, grad: &g };
          (cpu.observe(obs()).unwrap(), gpu.observe(obs()).unwrap())
        }
        // Energies and gradients written into the views.
        1 => {
          let (e, g) = energy.eval_vecs(&xc, d);
          for w in [&mut cpu, &mut gpu] {
            write_view(w.as_mut(), View::Energies, &e);
            write_view(w.as_mut(), View::Gradients, &g);
          }
          (
            cpu.observe(Observation::InPlace).unwrap(),
            gpu.observe(Observation::InPlace).unwrap(),
          )
        }
        // A native energy (evaluated on the host for the device), its weighted gradient folded in.
        _ => {
          let mut fc = FusedEnergy::new(energy);
          let mut fg = FusedEnergy::new(schedule(k, steps, d));
          let r = (fc.observe(cpu.as_mut()).unwrap(), fg.observe(gpu.as_mut()).unwrap());
          let (gc, uc) = fc.walker_param_grad(cpu.as_mut()).unwrap();
          let (gg, ug) = fg.walker_param_grad(gpu.as_mut()).unwrap();
          assert!(close(uc, ug, 1e-9), "{}: mean U {uc} vs {ug}", tag(k));
          for c in 0..d {
            assert!(
              close(gc[c], gg[c], 1e-9),
              "{}: gradient {c}: {} vs {}",
              tag(k),
              gc[c],
              gg[c]
            );
          }
          // The folded gradient is what a fresh computation gives, bit for bit.
          let fresh = combine_parts(&cpu.walker_sums(fc.energy()).unwrap(), d).unwrap();
          assert_eq!(fresh, (gc, uc), "{}: folded vs fresh", tag(k));
          r
        }
      };
      assert_eq!(rc, rg, "{}: observe report", tag(k));
      if k == 9 {
        // Observed again in place without a move: both re-observe the last observation.
        assert_eq!(
          cpu.observe(Observation::InPlace).unwrap(),
          gpu.observe(Observation::InPlace).unwrap()
        );
      }
      let (ac, ag) = (read_log_weights(cpu.as_mut()), read_log_weights(gpu.as_mut()));
      for i in 0..n {
        assert!(
          close(ac[i], ag[i], 1e-12),
          "{}: walker {i}: {} vs {}",
          tag(k),
          ac[i],
          ag[i]
        );
      }
      let (sc, sg) = (cpu.summary().unwrap(), gpu.summary().unwrap());
      assert!(
        close(sc.log_sum, sg.log_sum, 1e-9) && sc.zero == sg.zero,
        "{sc:?} {sg:?}"
      );
      let (cc, cg) = (cpu.counters(), gpu.counters());
      assert_eq!(
        (cc.steps, cc.resamplings, cc.invalid_total, cc.observed),
        (cg.steps, cg.resamplings, cg.invalid_total, cg.observed)
      );
      assert!(close(cc.log_norm_absorbed, cg.log_norm_absorbed, 1e-12));
      if k == 6 {
        let (anc_c, anc_g) = (
          cpu.resample(Scheme::Systematic).unwrap(),
          gpu.resample(Scheme::Systematic).unwrap(),
        );
        let diff = anc_c.iter().zip(&anc_g).filter(|(a, b)| a != b).count();
        println!("weighted {weighted}: {diff} ancestors differ");
        assert!(diff <= n / 1000 + 2);
        if diff > 0 {
          // Round-off moved a cumulative weight across a uniform: continue from the CPU's state,
          // written through the views.
          for v in [View::Positions, View::Energies, View::Gradients] {
            let src = read_view(cpu.as_mut(), v);
            write_view(gpu.as_mut(), v, &src);
          }
        }
        assert_eq!(
          read_view(gpu.as_mut(), View::Positions),
          read_view(cpu.as_mut(), View::Positions)
        );
      }
    }
    let (lc, lg) = (cpu.log_normalizer_ratio().unwrap(), gpu.log_normalizer_ratio().unwrap());
    assert!(close(lc, lg, 1e-9), "log Z ratio {lc} vs {lg}");
    let (mut pc, mut pg) = (vec![0f64; n], vec![0f64; n]);
    cpu.normalized_weights(&mut pc).unwrap();
    gpu.normalized_weights(&mut pg).unwrap();
    assert!((0..n).all(|i| (pc[i] - pg[i]).abs() <= 1e-12), "normalised weights");
    assert_eq!(cpu.view_traffic(), [0, 0]);
    assert!(gpu.view_traffic().iter().all(|&b| b > 0), "{:?}", gpu.view_traffic());

    // Positions written through the interface change the state key: a gradient folded into the
    // last observation is not used for them.
    let x1 = schedule(0, steps, d).exact(n, d, 6);
    for w in [&mut cpu, &mut gpu] {
      let mut f = FusedEnergy::new(schedule(steps, steps, d));
      f.observe(w.as_mut()).unwrap();
      let key = w.state_key();
      w.fill_positions(&mut |x| {
        x.copy_from_slice(&x1);
        Ok(())
      })
      .unwrap();
      assert_ne!(
        w.state_key(),
        key,
        "weighted {weighted}: state key after fill_positions"
      );
      let fresh = combine_parts(&w.walker_sums(f.energy()).unwrap(), d).unwrap();
      assert_eq!(
        f.walker_param_grad(w.as_mut()).unwrap(),
        fresh,
        "weighted {weighted}: stale gradient"
      );
    }

    // Positions cannot be written between a move and its observation.
    cpu.move_walkers().unwrap();
    gpu.move_walkers().unwrap();
    for w in [&mut cpu, &mut gpu] {
      let err = w.fill_positions(&mut |_| Ok(())).unwrap_err();
      assert_eq!(err.code(), "ERR_JARZYN_BAD_STATE");
      let x = read_view(w.as_mut(), View::Positions);
      let (e, g) = schedule(steps, steps, d).eval_vecs(&x, d);
      w.observe(Observation::External { energy: &e, grad: &g }).unwrap();
    }

    // Re-initialised: A = 0 and the next observation only records; then counters restored with a
    // later step count, which the next move's noise follows.
    for w in [&mut cpu, &mut gpu] {
      w.reinitialize().unwrap();
      assert!(!w.counters().observed);
      assert!(read_log_weights(w.as_mut()).iter().all(|&a| a == 0.0));
    }
    let x = read_view(cpu.as_mut(), View::Positions);
    let (e, g) = schedule(1, steps, d).eval_vecs(&x, d);
    for w in [&mut cpu, &mut gpu] {
      w.observe(Observation::External { energy: &e, grad: &g }).unwrap();
    }
    let mut c = cpu.counters();
    assert!(c.observed);
    c.steps += 5;
    for w in [&mut cpu, &mut gpu] {
      w.restore_counters(c).unwrap();
      w.move_walkers().unwrap();
      assert_eq!(w.counters().steps, c.steps + 1);
    }
    let xc = read_view(cpu.as_mut(), View::Positions);
    assert_eq!(
      first_diff(&read_view(gpu.as_mut(), View::Positions), &xc),
      None,
      "after the restore"
    );

    // The mixture: the device's kernels against the CPU's, to round-off.
    let m = mixture(d, 2);
    let (rc, parts_c) = cpu.observe_energy(&m, true).unwrap();
    let (rg, parts_g) = gpu.observe_energy(&m, true).unwrap();
    assert_eq!(rc, rg);
    let (ec, eg) = (
      read_view(cpu.as_mut(), View::Energies),
      read_view(gpu.as_mut(), View::Energies),
    );
    assert!(
      (0..n).all(|i| (ec[i] - eg[i]).abs() <= 1e-5 * (1.0 + ec[i].abs())),
      "mixture energies"
    );
    let (gc, uc) = combine_parts(&parts_c, m.param_count()).unwrap();
    let (gg, ug) = combine_parts(&parts_g, m.param_count()).unwrap();
    let scale = gc.iter().fold(1e-3f64, |s, v| s.max(v.abs()));
    for i in 0..gc.len() {
      assert!(
        (gc[i] - gg[i]).abs() <= 1e-4 * scale,
        "mixture parameter {i}: {} vs {}",
        gc[i],
        gg[i]
      );
    }
    assert!(
      (uc - ug).abs() <= 1e-5 * (1.0 + uc.abs()),
      "mixture mean U {uc} vs {ug}"
    );
  }
}

/// Index of the first element whose bits differ, with both values.
fn first_diff(a: &[f32], b: &[f32]) -> Option<(usize, f32, f32)> {
  assert_eq!(a.len(), b.len());
  (0..a.len())
    .find(|&i| a[i].to_bits() != b[i].to_bits())
    .map(|i| (i, a[i], b[i]))
}

/// Write the PTX to $JARZYN_DUMP_PTX (a path) when set: for inspection.
#[test]
fn dump_ptx_when_asked() {
  let Ok(path) = std::env::var("JARZYN_DUMP_PTX") else {
    return;
  };
  let arch = std::env::var("JARZYN_PTX_ARCH").unwrap_or_else(|_| "compute_90".into());
  std::fs::write(path, nvrtc::kernels_ptx(&arch).unwrap()).unwrap();
}
