//! jz_philox, jz_box_muller and jz_normals against philox.rs and normal/, bit for bit.

use crate::common::{first_diff_f32, Rng};
use jarzyn_core::normal::{box_muller, fill_normals};
use jarzyn_core::philox::{key_from_seed, philox4x32_10, Counter, Stream};
use jarzyn_cuda_emu::{backend, with_schedule, Schedule};

#[test]
fn philox_known_answers() {
  // Random123's published known-answer vectors for philox4x32_10 (as philox.rs's test).
  let cases = [
    (
      [0u32; 4],
      [0u32; 2],
      [0x6627e8d5u32, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
    ),
    (
      [u32::MAX; 4],
      [u32::MAX; 2],
      [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    ),
    (
      [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
      [0xa4093822, 0x299f31d0],
      [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ),
  ];
  for (ctr, key, want) in cases {
    assert_eq!(backend::philox(&[ctr], key), vec![want]);
    assert_eq!(philox4x32_10(ctr, key), want);
  }
}

#[test]
fn philox_matches_cpu_on_random_counters() {
  let mut r = Rng(1);
  for trial in 0..4 {
    let key = [r.next_u32(), r.next_u32()];
    let n = 1000 + trial * 333;
    let ctrs: Vec<[u32; 4]> = (0..n)
      .map(|_| [r.next_u32(), r.next_u32(), r.next_u32(), r.next_u32()])
      .collect();
    let gpu = backend::philox(&ctrs, key);
    for (i, c) in ctrs.iter().enumerate() {
      assert_eq!(gpu[i], philox4x32_10(*c, key), "trial {trial} counter {i}");
    }
    // Negative control: another key gives other blocks, so the comparison can fail.
    let other = backend::philox(&ctrs[..16], [key[0] ^ 1, key[1]]);
    assert!((0..16).all(|i| other[i] != gpu[i]));
  }
}

fn edge_pairs() -> Vec<(u32, u32)> {
  let a_edges = [
    0u32,
    1,
    2,
    3,
    255,
    256,
    0x00FF_FFFF,
    0x0100_0000,
    0x3FFF_FFFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FF00,
    0xFFFF_FF7F,
    0xFFFF_FF80,
    u32::MAX - 1,
    u32::MAX,
  ];
  // Quadrant edges and middles: q = b >> 30, angle from the low 30 bits.
  let mut b_edges = vec![];
  for q in 0..4u32 {
    for low in [0u32, 1, 0x1FFF_FFFF, 0x2000_0000, 0x3FFF_FFFE, 0x3FFF_FFFF] {
      b_edges.push((q << 30) | low);
    }
  }
  let mut v = vec![];
  for &a in &a_edges {
    for &b in &b_edges {
      v.push((a, b));
    }
  }
  v
}

#[test]
fn box_muller_matches_cpu_on_edge_and_random_words() {
  let mut pairs = edge_pairs();
  let mut r = Rng(2);
  for _ in 0..200_000 {
    pairs.push((r.next_u32(), r.next_u32()));
  }
  let gpu = backend::box_muller(&pairs);
  let mut max_abs = 0f32;
  for (i, &(a, b)) in pairs.iter().enumerate() {
    let (z0, z1) = box_muller(a, b);
    assert_eq!(
      (gpu[i].0.to_bits(), gpu[i].1.to_bits()),
      (z0.to_bits(), z1.to_bits()),
      "pair {i}: a {a:#010x} b {b:#010x}: emulated {:?}, cpu {:?}",
      gpu[i],
      (z0, z1)
    );
    assert!(z0.is_finite() && z1.is_finite());
    max_abs = max_abs.max(z0.abs()).max(z1.abs());
  }
  // a = 0 is the largest radius: sqrt(2 * 33 ln 2) ~ 6.76.
  assert!(max_abs > 6.7 && max_abs < 6.8, "{max_abs}");
  // Negative control: the kernel's bits for (a, b) are not the CPU's for a neighbouring pair.
  // (a ^ 1 is not enough: u = a 2^-32 + 2^-33 rounds to 24 bits.)
  let (z0, _) = box_muller(pairs[500].0 ^ 0x0001_0000, pairs[500].1);
  let (_, z1) = box_muller(pairs[500].0, pairs[500].1 ^ 0x0000_1000);
  assert_ne!(gpu[500].0.to_bits(), z0.to_bits());
  assert_ne!(gpu[500].1.to_bits(), z1.to_bits());
}

#[test]
fn normals_match_fill_normals() {
  let key = key_from_seed(0x1234_5678_9ABC_DEF0);
  for dim in [1usize, 2, 3, 4, 5, 7, 8, 9, 17, 100] {
    for (walker0, walkers, step) in [(0u32, 37usize, 0u64), (5, 300, 3), (u32::MAX - 3, 10, (1u64 << 32) + 7)] {
      let ctr = Counter::new(Stream::Noise, step);
      let gpu = backend::normals(key, ctr, walker0, walkers, dim);
      let mut cpu = vec![0f32; walkers * dim];
      fill_normals(key, ctr, walker0, dim, &mut cpu);
      if let Some((i, g, c)) = first_diff_f32(&gpu, &cpu) {
        panic!(
          "dim {dim} walker0 {walker0} step {step}: normal {i} (walker {}, coordinate {}): emulated {g}, cpu {c}",
          i / dim,
          i % dim
        );
      }
      // Thread order does not matter (no races).
      let rev = with_schedule(Schedule::Reverse, || backend::normals(key, ctr, walker0, walkers, dim));
      assert_eq!(first_diff_f32(&rev, &cpu), None);
      // Negative control: the next step's normals differ.
      let next = backend::normals(key, Counter::new(Stream::Noise, step + 1), walker0, walkers, dim);
      assert!(first_diff_f32(&next, &cpu).is_some());
    }
  }
}
