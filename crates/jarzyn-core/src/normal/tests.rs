//! The normals against libm, the AVX2 path against the scalar definition, and the padded and
//! compact layouts against the counter layout they promise.

use super::*;
use crate::philox::{key_from_seed, philox4x32_10, Stream};

#[test]
fn ln_is_accurate() {
  let mut worst = 0f64;
  let mut u = 1e-10f32;
  while u <= 1.0 {
    let err = (fast_ln(u) as f64 - (u as f64).ln()).abs() / (u as f64).ln().abs().max(1e-3);
    worst = worst.max(err);
    u *= 1.0007;
  }
  assert!(worst < 2e-6, "worst relative error {worst}");
  assert_eq!(fast_ln(1.0), 0.0);
}

#[test]
fn sin_cos_are_accurate() {
  for i in 0..=10_000 {
    let x = i as f32 / 10_000.0 * HALF_PI;
    let (s, c) = sin_cos_quadrant(x);
    assert!((s as f64 - (x as f64).sin()).abs() < 2.5e-7);
    assert!((c as f64 - (x as f64).cos()).abs() < 2.5e-7);
  }
}

#[test]
fn box_muller_matches_libm() {
  let key = key_from_seed(7);
  for i in 0..20_000u32 {
    let r = philox4x32_10([i, 0, 0, 0], key);
    let (z0, z1) = box_muller(r[0], r[1]);
    let u = r[0] as f64 / 4_294_967_296.0 + 1.0 / 8_589_934_592.0;
    let rad = (-2.0 * u.ln()).sqrt();
    let q = (r[1] >> 30) as f64;
    let f = ((r[1] & 0x3FFF_FFFF) as f64 + 0.5) / 1_073_741_824.0;
    let th = (q + f) * std::f64::consts::FRAC_PI_2;
    assert!(
      (z0 as f64 - rad * th.cos()).abs() < 1e-5,
      "{i}: {z0} vs {}",
      rad * th.cos()
    );
    assert!((z1 as f64 - rad * th.sin()).abs() < 1e-5);
  }
}

/// The SIMD u32 -> f32 conversion rounds exactly like `as f32`: a strided sweep of all u32 plus
/// every value around the rounding boundaries near the top of each binade.
#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_u32_to_f32_matches_as() {
  crate::dispatch::require_avx2!();
  let mut vals: Vec<u32> = (0..u32::MAX / 251).map(|i| i * 251 + (i % 7)).collect();
  for e in 0..32 {
    let p = 1u64 << e;
    for d in 0..300u64 {
      for v in [
        p + d,
        p.saturating_sub(d + 1),
        p + (p >> 1) + d,
        (p << 1).saturating_sub(d + 1),
      ] {
        if v <= u32::MAX as u64 {
          vals.push(v as u32);
        }
      }
    }
  }
  vals.extend([
    0,
    1,
    u32::MAX,
    u32::MAX - 127,
    u32::MAX - 128,
    u32::MAX - 129,
    0x8000_0000,
    0x7FFF_FFFF,
  ]);
  while !vals.len().is_multiple_of(8) {
    vals.push(0);
  }
  for chunk in vals.chunks_exact(8) {
    let a: [u32; 8] = chunk.try_into().unwrap();
    // SAFETY: AVX2 checked above.
    let got = unsafe { avx2::u32_to_f32_lanes(a) };
    for l in 0..8 {
      assert_eq!(got[l].to_bits(), (a[l] as f32).to_bits(), "{:#x}", a[l]);
    }
  }
}

/// The SIMD Box-Muller gives the scalar bits: random words plus the edges of the radius word
/// (0, 2^32 - 1, powers of two) and of the quadrants of the angle word.
#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_box_muller_matches_scalar() {
  crate::dispatch::require_avx2!();
  let mut next = crate::test_words(0x2545_F491_4F6C_DD1D);
  let mut a_edge: Vec<u32> = vec![
    0,
    1,
    2,
    3,
    u32::MAX,
    u32::MAX - 1,
    u32::MAX - 127,
    u32::MAX - 128,
    0x8000_0000,
    0x7FFF_FFFF,
  ];
  for e in 0..32 {
    a_edge.extend([1u32 << e, (1u32 << e).wrapping_sub(1), (1u32 << e) | 1]);
  }
  let b_edge: Vec<u32> = [0u32, 0x4000_0000, 0x8000_0000, 0xC000_0000]
    .iter()
    .flat_map(|&q| {
      [
        q,
        q + 1,
        q + 0x1FFF_FFFF,
        q + 0x2000_0000,
        q + 0x3FFF_FFFE,
        q + 0x3FFF_FFFF,
      ]
    })
    .collect();
  let mut pairs: Vec<(u32, u32)> = Vec::new();
  for &a in &a_edge {
    for &b in &b_edge {
      pairs.push((a, b));
    }
  }
  for _ in 0..400_000 {
    pairs.push((next(), next()));
  }
  while !pairs.len().is_multiple_of(8) {
    pairs.push((next(), next()));
  }
  for chunk in pairs.chunks_exact(8) {
    let a: [u32; 8] = core::array::from_fn(|l| chunk[l].0);
    let b: [u32; 8] = core::array::from_fn(|l| chunk[l].1);
    // SAFETY: AVX2 checked above.
    let (z0, z1) = unsafe { avx2::box_muller8_lanes(a, b) };
    for l in 0..8 {
      let (e0, e1) = box_muller(a[l], b[l]);
      assert_eq!(
        (z0[l].to_bits(), z1[l].to_bits()),
        (e0.to_bits(), e1.to_bits()),
        "a {:#x} b {:#x}",
        a[l],
        b[l]
      );
    }
  }
}

/// The dispatched (AVX2) padded fill equals the portable path on every used slot, for all
/// tails of the 8- and 16-block groups and dims around the special cases.
#[test]
fn dispatched_fill_matches_portable_path() {
  let key = key_from_seed(0x1234_5678_9abc_def0);
  for (step, walker0) in [(0u64, 0u32), (5, 1_000_000), (1 << 35, u32::MAX - 70)] {
    let ctr = Counter::new(Stream::Noise, step);
    for dim in (1..=20).chain([31, 63, 64, 65, 100]) {
      for walkers in [1usize, 2, 3, 4, 7, 8, 9, 15, 16, 17, 33, 64] {
        let padded = blocks_per_walker(dim) * 4;
        let mut fast = vec![f32::NAN; walkers * padded];
        let mut slow = vec![f32::NAN; walkers * padded];
        fill_padded(key, ctr, walker0, walkers, dim, &mut fast);
        fill_padded_generic(&BlockRun::new(key, ctr, walker0, walkers, dim), &mut slow);
        let mut compact = vec![0f32; walkers * dim];
        fill_normals(key, ctr, walker0, dim, &mut compact);
        for w in 0..walkers {
          for c in 0..dim {
            let (f, s) = (fast[w * padded + c], slow[w * padded + c]);
            assert_eq!(f.to_bits(), s.to_bits(), "dim {dim} walkers {walkers} w {w} c {c}");
            assert_eq!(
              compact[w * dim + c].to_bits(),
              s.to_bits(),
              "compact dim {dim} w {w} c {c}"
            );
          }
        }
      }
    }
  }
}

#[test]
fn padded_layout_matches_scalar_definition() {
  let key = key_from_seed(99);
  let ctr = Counter::new(Stream::Noise, 3);
  for dim in [1usize, 2, 3, 4, 5, 7, 8, 13] {
    let walkers = 11;
    let mut out = vec![0f32; walkers * dim];
    fill_normals(key, ctr, 40, dim, &mut out);
    for w in 0..walkers {
      for c in 0..dim {
        let r = philox4x32_10([(c / 4) as u32, 40 + w as u32, ctr.c2, ctr.c3], key);
        let (a, b) = if c % 4 < 2 {
          box_muller(r[0], r[1])
        } else {
          box_muller(r[2], r[3])
        };
        let expect = if c % 2 == 0 { a } else { b };
        assert_eq!(
          out[w * dim + c].to_bits(),
          expect.to_bits(),
          "dim {dim} walker {w} coord {c}"
        );
      }
    }
  }
}
