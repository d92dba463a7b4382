//! Pins the normal stream bit for bit: a hash of `fill_normals` / `fill_padded` outputs over many
//! dims, walker offsets, steps, streams and seeds, recorded with the original (pre-SIMD) code.
//! Any change of a single output bit changes the hash. The CUDA port reproduces this stream.

use jarzyn_core::normal::{blocks_per_walker, box_muller, fill_normals, fill_padded};
use jarzyn_core::philox::{key_from_seed, philox4x32_10, Counter, Stream};

/// FNV-1a over the f32 bit patterns.
fn fnv(h: &mut u64, xs: &[f32]) {
  for x in xs {
    for b in x.to_bits().to_le_bytes() {
      *h ^= b as u64;
      *h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
  }
}

fn stream_hash() -> u64 {
  let mut h = 0xcbf2_9ce4_8422_2325u64;
  let dims: Vec<usize> = (1..=17).chain([31, 32, 33, 50, 100, 101]).collect();
  let configs = [
    (0u64, Stream::Noise, 0u64, 0u32),
    (42, Stream::Noise, 7, 3),
    (0xdead_beef_0123_4567, Stream::Init, (1u64 << 33) + 5, 1000),
    (u64::MAX, Stream::User, u32::MAX as u64, u32::MAX - 40),
    (9, Stream::Resample, 123_456, 17),
  ];
  for &d in &dims {
    for &(seed, stream, step, walker0) in &configs {
      let key = key_from_seed(seed);
      let ctr = Counter::new(stream, step);
      // Walker counts that leave every possible tail of the 8- and 16-block groups.
      for walkers in [1usize, 2, 3, 5, 8, 13, 37] {
        let mut out = vec![0f32; walkers * d];
        fill_normals(key, ctr, walker0, d, &mut out);
        fnv(&mut h, &out);
        // The padded layout: only the first d of each walker's slots are defined.
        let padded = blocks_per_walker(d) * 4;
        let mut p = vec![0f32; walkers * padded];
        fill_padded(key, ctr, walker0, walkers, d, &mut p);
        for w in 0..walkers {
          assert_eq!(
            p[w * padded..w * padded + d]
              .iter()
              .map(|z| z.to_bits())
              .collect::<Vec<_>>(),
            out[w * d..(w + 1) * d].iter().map(|z| z.to_bits()).collect::<Vec<_>>(),
            "padded and compact disagree: d {d} walker {w}"
          );
        }
      }
    }
  }
  // A long run: 2^20 normals, d = 100 (the SIMD main loop, not only tails).
  let mut big = vec![0f32; 10_486 * 100];
  fill_normals(key_from_seed(2024), Counter::new(Stream::Noise, 99), 5, 100, &mut big);
  fnv(&mut h, &big);
  let mut big2 = vec![0f32; 1 << 19];
  fill_normals(key_from_seed(2025), Counter::new(Stream::Noise, 1), 0, 2, &mut big2);
  fnv(&mut h, &big2);
  h
}

#[test]
fn normal_stream_is_pinned() {
  let h = stream_hash();
  assert_eq!(h, PINNED, "normal stream changed: hash {h:#018x}");
}

const PINNED: u64 = 0x7bdc_1036_d197_3ad1;

/// Every normal of a long d = 100 draw and a d = 6 draw against the scalar definition
/// (scalar Philox block + scalar Box-Muller), bit for bit.
#[test]
fn long_draws_match_scalar_definition() {
  for (d, walkers, seed, step, walker0) in [
    (100usize, 4000usize, 77u64, 12u64, 9u32),
    (6, 30_000, 78, 1 << 40, 0),
    (2, 50_000, 79, 3, 1),
  ] {
    let key = key_from_seed(seed);
    let ctr = Counter::new(Stream::Noise, step);
    let mut out = vec![0f32; walkers * d];
    fill_normals(key, ctr, walker0, d, &mut out);
    for w in 0..walkers {
      for b in 0..d.div_ceil(4) {
        let r = philox4x32_10([b as u32, walker0 + w as u32, ctr.c2, ctr.c3], key);
        let (z0, z1) = box_muller(r[0], r[1]);
        let (z2, z3) = box_muller(r[2], r[3]);
        for (k, z) in [z0, z1, z2, z3].into_iter().enumerate() {
          let c = 4 * b + k;
          if c < d {
            assert_eq!(out[w * d + c].to_bits(), z.to_bits(), "d {d} walker {w} coord {c}");
          }
        }
      }
    }
  }
}
