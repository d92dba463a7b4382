//! The emulator itself, on its own test kernels (cuda/selftest.cu): launch coordinates, barriers,
//! schedules, error reports, intrinsics, atomics, buffer guards; and the kernel list of kernel_source().

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::common::Rng;
use jarzyn_cuda_emu::{kernels, selftest as st, set_strict_barriers, with_schedule, DeviceBuf, Grid, Schedule};

const SCHEDULES: [Schedule; 3] = [Schedule::Forward, Schedule::Reverse, Schedule::Shuffled(7)];

fn panic_message(r: std::thread::Result<()>) -> String {
  match r {
    Ok(()) => panic!("expected a panic"),
    Err(p) => p
      .downcast_ref::<String>()
      .cloned()
      .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
      .unwrap_or_default(),
  }
}

#[test]
fn launch_coordinates() {
  for s in SCHEDULES {
    let g = Grid {
      gx: 3,
      gy: 2,
      block: 64,
    };
    let threads = (g.gx * g.gy * g.block) as usize;
    let mut out = DeviceBuf::<u32>::zeros(6 * threads);
    with_schedule(s, || unsafe { st::jzt_coords(g, out.mut_ptr()) });
    for by in 0..g.gy {
      for bx in 0..g.gx {
        for t in 0..g.block {
          let id = ((by * g.gx + bx) * g.block + t) as usize;
          assert_eq!(
            &out[6 * id..6 * id + 6],
            &[t, bx, by, g.block, g.gx, g.gy],
            "{s:?} thread {id}"
          );
        }
      }
    }
  }
}

#[test]
fn barriers_order_every_store_before_every_load() {
  for block in [1u32, 2, 32, 256, 1024] {
    for s in SCHEDULES {
      let blocks = 3u32;
      let n = (blocks * block) as usize;
      let input: Vec<u32> = (0..n as u32).map(|i| i * 7 + 1).collect();
      let d_in = DeviceBuf::from_slice(&input);
      let mut d_out = DeviceBuf::<u32>::zeros(n);
      with_schedule(s, || unsafe {
        st::jzt_rotate(Grid::blocks(blocks, block), d_in.ptr(), d_out.mut_ptr())
      });
      for b in 0..blocks as usize {
        for t in 0..block as usize {
          let src = b * block as usize + (t + 1) % block as usize;
          assert_eq!(d_out[b * block as usize + t], input[src], "block {block} {s:?}");
        }
      }
    }
  }
}

#[test]
fn barriers_inside_device_functions() {
  let info = |n: &str| st::KERNELS.iter().find(|k| k.name == n).copied().expect(n);
  assert!(
    info("jzt_block_sum").uses_syncthreads,
    "found through two __device__ calls"
  );
  assert!(info("jzt_rotate").uses_syncthreads);
  assert!(!info("jzt_racy_shift").uses_syncthreads);
  assert!(!info("jzt_coords").uses_syncthreads);
  let mut r = Rng(5);
  for n in [1usize, 255, 256, 257, 5000] {
    let v: Vec<u64> = (0..n).map(|_| r.next_u64() >> 20).collect();
    let blocks = n.div_ceil(256);
    for s in SCHEDULES {
      let d_in = DeviceBuf::from_slice(&v);
      let mut out = DeviceBuf::<u64>::zeros(blocks);
      with_schedule(s, || unsafe {
        st::jzt_block_sum(Grid::blocks(blocks as u32, 256), d_in.ptr(), n as u32, out.mut_ptr())
      });
      for b in 0..blocks {
        let want: u64 = v[b * 256..((b + 1) * 256).min(n)].iter().sum();
        assert_eq!(out[b], want, "n {n} block {b} {s:?}");
      }
    }
  }
}

#[test]
fn a_barrier_some_threads_never_reach_is_an_error() {
  let mut out = DeviceBuf::<u32>::zeros(64);
  let msg = panic_message(catch_unwind(AssertUnwindSafe(|| unsafe {
    st::jzt_divergent(Grid::blocks(1, 64), out.mut_ptr())
  })));
  assert!(
    msg.contains("jzt_divergent") && msg.contains("returned while 63 threads wait"),
    "{msg}"
  );
  // Allowed when asked (what recent GPUs do in practice): the other threads go on.
  set_strict_barriers(false);
  unsafe { st::jzt_divergent(Grid::blocks(1, 64), out.mut_ptr()) };
  set_strict_barriers(true);
  assert_eq!(out[0], 0);
  assert!(out[1..].iter().all(|&v| v == 1));
}

#[test]
fn thread_order_exposes_races() {
  // jzt_racy_shift reads a neighbour's element that the neighbour writes: its result depends on
  // the order of the threads, which is what running kernels under several schedules catches.
  let run = |s: Schedule| {
    let mut b = DeviceBuf::from_slice(&[10u32; 64]);
    with_schedule(s, || unsafe {
      st::jzt_racy_shift(Grid::blocks(1, 64), b.mut_ptr(), 64)
    });
    b.to_vec()
  };
  let f = run(Schedule::Forward);
  let r = run(Schedule::Reverse);
  assert_eq!(f[0], 11);
  assert_eq!(r[0], 10 + 63);
  assert_ne!(f, r);
  // Deterministic per schedule.
  assert_eq!(run(Schedule::Shuffled(3)), run(Schedule::Shuffled(3)));
}

#[test]
fn intrinsics_match_rust() {
  let mut r = Rng(11);
  let mut a: Vec<u32> = vec![
    0,
    1,
    u32::MAX,
    0x7F80_0000,
    0xFF80_0000,
    0x7FC0_0000,
    0x0000_0001,
    0x8000_0000,
    0x3F80_0000,
  ];
  let mut b: Vec<u32> = vec![
    u32::MAX,
    0,
    1,
    0x3F80_0000,
    0x4000_0000,
    0x0080_0000,
    0x807F_FFFF,
    0x4F00_0000,
    0xCF00_0001,
  ];
  for _ in 0..5000 {
    a.push(r.next_u32());
    b.push(r.next_u32());
  }
  let n = a.len();
  let (da, db) = (DeviceBuf::from_slice(&a), DeviceBuf::from_slice(&b));
  let mut o32 = DeviceBuf::<u32>::zeros(8 * n);
  let mut o64 = DeviceBuf::<u64>::zeros(2 * n);
  let mut of = DeviceBuf::<f32>::zeros(4 * n);
  let mut od = DeviceBuf::<f64>::zeros(4 * n);
  unsafe {
    st::jzt_intrinsics(
      Grid::linear(n as u64, 128),
      da.ptr(),
      db.ptr(),
      n as u32,
      o32.mut_ptr(),
      o64.mut_ptr(),
      of.mut_ptr(),
      od.mut_ptr(),
    )
  };
  let same32 = |x: f32, y: f32| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
  let same64 = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
  for i in 0..n {
    let (x, y) = (a[i], b[i]);
    let sat = |v: f32| -> u32 {
      // CUDA's __float2int_rz: truncation, saturating, NaN -> 0 (Rust's `as` does the same).
      (v as i32) as u32
    };
    let want32 = [
      ((x as u64 * y as u64) >> 32) as u32,
      x.min(y),
      (x as i32).max(y as i32) as u32,
      (x as f32).to_bits(),
      ((y as i32) as f32).to_bits(),
      x.count_ones(),
      x.reverse_bits(),
      sat(f32::from_bits(y)),
    ];
    assert_eq!(&o32[8 * i..8 * i + 8], &want32, "i {i}: a {x:#x} b {y:#x}");
    let (xx, yy) = (((x as u64) << 32) | y as u64, ((y as u64) << 32) | x as u64);
    assert_eq!(o64[2 * i], ((xx as u128 * yy as u128) >> 64) as u64);
    assert_eq!(o64[2 * i + 1], (xx as f64).to_bits());
    let (fx, fy) = (f32::from_bits(x), f32::from_bits(y));
    for (k, w) in [fx + fy, fx * fy, fx / fy, fx.sqrt()].into_iter().enumerate() {
      assert!(same32(of[4 * i + k], w), "f32 op {k} i {i}: {} vs {w}", of[4 * i + k]);
    }
    let (dx, dy) = (f64::from_bits(xx), f64::from_bits(yy));
    for (k, w) in [dx + dy, dx * dy, dx / dy, dx.sqrt()].into_iter().enumerate() {
      assert!(same64(od[4 * i + k], w), "f64 op {k} i {i}: {} vs {w}", od[4 * i + k]);
    }
  }
}

#[test]
fn atomics() {
  let v: Vec<u32> = (0..3000u32).map(|i| (i * 2654435761u32) >> 8).collect();
  let d = DeviceBuf::from_slice(&v);
  let mut c = DeviceBuf::from_slice(&[0u32, 0, u32::MAX]);
  let mut s64 = DeviceBuf::<u64>::zeros(1);
  let mut sd = DeviceBuf::<f64>::zeros(1);
  unsafe {
    st::jzt_atomics(
      Grid::linear(v.len() as u64, 256),
      d.ptr(),
      v.len() as u32,
      c.mut_ptr(),
      s64.mut_ptr(),
      sd.mut_ptr(),
    )
  };
  assert_eq!(&c[..], &[3000, *v.iter().max().unwrap(), *v.iter().min().unwrap()]);
  assert_eq!(s64[0], v.iter().map(|&x| x as u64).sum::<u64>());
  assert_eq!(sd[0], v.iter().map(|&x| x as f64).sum::<f64>());
}

#[test]
fn writes_past_a_buffer_are_caught() {
  let mut buf = DeviceBuf::<f32>::zeros(10);
  assert!(buf.check().is_ok());
  unsafe { st::jzt_oob_write(Grid::blocks(1, 32), buf.mut_ptr(), 10) };
  assert!(buf.check().is_err());
  let msg = panic_message(catch_unwind(AssertUnwindSafe(move || drop(buf))));
  assert!(msg.contains("wrote outside a device buffer of 10 elements"), "{msg}");
}

#[test]
fn aliased_restrict_pointers_are_an_error() {
  let mut b = DeviceBuf::from_slice(&[1f32, 2.0, 3.0]);
  let p = b.mut_ptr();
  let msg = panic_message(catch_unwind(AssertUnwindSafe(|| unsafe {
    st::jzt_twice(Grid::blocks(1, 32), p, p, 3)
  })));
  assert!(
    msg.contains("jzt_twice") && msg.contains("src and dst are the same buffer"),
    "{msg}"
  );
  // Distinct buffers are fine (b was doubled in place by the launch above: it still ran).
  let mut o = DeviceBuf::<f32>::zeros(3);
  unsafe { st::jzt_twice(Grid::blocks(1, 32), b.ptr(), o.mut_ptr(), 3) };
  assert_eq!(&o[..], &[4.0, 8.0, 12.0]);
}

#[test]
fn invalid_launches_are_errors() {
  let mut b = DeviceBuf::<f32>::zeros(4);
  for g in [
    Grid {
      gx: 0,
      gy: 1,
      block: 32,
    },
    Grid {
      gx: 1,
      gy: 0,
      block: 32,
    },
    Grid { gx: 1, gy: 1, block: 0 },
    Grid {
      gx: 1,
      gy: 1,
      block: 1025,
    },
    Grid {
      gx: 1,
      gy: 65536,
      block: 1,
    },
  ] {
    let msg = panic_message(catch_unwind(AssertUnwindSafe(|| unsafe {
      st::jzt_fill_f32(g, b.mut_ptr(), 4, 1.0)
    })));
    assert!(msg.contains("invalid launch configuration"), "{msg}");
  }
  assert!(b.iter().all(|&v| v == 0.0));
}

#[test]
fn macro_made_kernels_and_vector_types() {
  let mut f = DeviceBuf::<f32>::zeros(1000);
  let mut d = DeviceBuf::<f64>::zeros(1000);
  unsafe {
    st::jzt_fill_f32(Grid::linear(1000, 256), f.mut_ptr(), 999, 2.5);
    st::jzt_fill_f64(Grid::linear(1000, 256), d.mut_ptr(), 1000, -1.25);
  }
  assert!(f[..999].iter().all(|&v| v == 2.5) && f[999] == 0.0);
  assert!(d.iter().all(|&v| v == -1.25));
  let v: Vec<[f32; 4]> = (0..100)
    .map(|i| [i as f32, i as f32 + 0.25, i as f32 + 0.5, i as f32 + 0.75])
    .collect();
  let din = DeviceBuf::from_slice(&v);
  let mut dout = DeviceBuf::<[f32; 4]>::zeros(100);
  assert_eq!(din.ptr() as usize % 256, 0, "device buffers start 256-byte aligned");
  unsafe { st::jzt_swizzle4(Grid::linear(100, 64), din.ptr(), dout.mut_ptr(), 100) };
  for i in 0..100 {
    let [x, y, z, w] = v[i];
    assert_eq!(dout[i], [w, z, y, x]);
  }
}

/// Every kernel that the CUDA backend loads by name (`f("jz_...")` in crates/jarzyn-core/src/cuda)
/// is one that the emulator found and wraps.
#[test]
fn kernels_loaded_by_the_backend_are_emulated() {
  let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../jarzyn-core/src/cuda");
  let mut loaded = Vec::new();
  for entry in std::fs::read_dir(&dir).expect("crates/jarzyn-core/src/cuda") {
    let path = entry.unwrap().path();
    if path.extension().is_some_and(|e| e == "rs") {
      let src = std::fs::read_to_string(&path).unwrap();
      let mut rest = src.as_str();
      while let Some(at) = rest.find("f(\"jz_") {
        let tail = &rest[at + 3..];
        let end = tail.find('"').expect("closing quote");
        loaded.push(tail[..end].to_string());
        rest = &tail[end..];
      }
    }
  }
  assert!(loaded.len() >= 9, "{loaded:?}");
  for name in &loaded {
    assert!(
      kernels::KERNELS.iter().any(|k| k.name == name),
      "the backend loads {name}, which is not an extern \"C\" __global__ kernel of kernel_source()"
    );
  }
  let sync: Vec<&str> = kernels::KERNELS
    .iter()
    .filter(|k| k.uses_syncthreads)
    .map(|k| k.name)
    .collect();
  assert!(sync.contains(&"jz_summary"), "{sync:?}");
}

#[test]
fn block_scan_through_a_member_function() {
  let info = |n: &str| st::KERNELS.iter().find(|k| k.name == n).copied().expect(n);
  assert!(
    info("jzt_scan").uses_syncthreads,
    "found through BlockScan<u32>::inclusive"
  );
  let mut r = Rng(17);
  for block in [1u32, 2, 3, 64, 256, 1000, 1024] {
    let blocks = 3u32;
    let n = (blocks * block) as usize;
    let v: Vec<u32> = (0..n).map(|_| r.next_u32() >> 12).collect();
    let d_in = DeviceBuf::from_slice(&v);
    let want: Vec<u32> = v
      .chunks(block as usize)
      .flat_map(|c| {
        c.iter().scan(0u32, |acc, &x| {
          *acc = acc.wrapping_add(x);
          Some(*acc)
        })
      })
      .collect();
    for s in SCHEDULES {
      let mut out = DeviceBuf::<u32>::zeros(n);
      with_schedule(s, || unsafe {
        st::jzt_scan(Grid::blocks(blocks, block), d_in.ptr(), out.mut_ptr())
      });
      assert_eq!(&out[..], &want[..], "block {block} {s:?}");
    }
    // The racy variant happens to be right in reverse order (each thread reads its left
    // neighbours before they write) and wrong in forward order once a block has 3 threads.
    if block >= 3 {
      let run = |s: Schedule| {
        let mut out = DeviceBuf::<u32>::zeros(n);
        with_schedule(s, || unsafe {
          st::jzt_scan_racy(Grid::blocks(blocks, block), d_in.ptr(), out.mut_ptr())
        });
        out.to_vec()
      };
      assert_eq!(run(Schedule::Reverse), want, "block {block}");
      assert_ne!(run(Schedule::Forward), want, "block {block}");
    }
  }
}
