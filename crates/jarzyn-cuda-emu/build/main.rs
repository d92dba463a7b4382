//! Builds the CPU emulator of jarzyn's CUDA kernels.
//!
//! 1. `jarzyn_core::cuda::kernel_source()` (the generated `#define` prelude + the kernels) is written
//!    to OUT_DIR/kernels_full.cu. Cargo reruns this script whenever jarzyn-core changes, so new or
//!    edited kernels are picked up with no change here.
//! 2. The source is run through the C++ preprocessor after cuda/cuda_shim.h (with `JZ_EMU_SCAN`,
//!    which marks `__global__`), and the preprocessed text is parsed: every
//!    `extern "C" __global__ void NAME(PARAMS) { ... }`, every function definition and whether it
//!    reaches `__syncthreads` (directly or through the functions it calls), and the typedefs
//!    (`scan.rs` over the tokens of `tokens.rs`; parameter types in `params.rs`).
//! 3. For each kernel (`codegen.rs`): a C++ wrapper `extern "C" void emu_NAME(unsigned gx, unsigned gy,
//!    unsigned bx, PARAMS)` that runs the grid through cuda/emu_runtime.cpp, and a Rust
//!    declaration plus an `unsafe fn NAME(grid: Grid, ...)` that calls it and turns recorded errors
//!    into panics (OUT_DIR/kernels.rs). A parameter type with no Rust equivalent fails the build.
//! 4. cuda/emu_runtime.cpp, the kernels and the emulator's own test kernels (cuda/selftest.cu)
//!    are compiled with `cc` as C++17, -O2 -ffp-contract=off -fno-fast-math, no -march.
//!
//! Linux with glibc only (ucontext fibers, mmap guard pages); elsewhere the crate builds empty and
//! its tests compile to nothing.

// The scanner and generators are only used where the emulator is built.
#![cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code, unused_imports))]

mod codegen;
mod params;
mod scan;
mod tokens;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use codegen::{cpp_unit, drv_unit, rust_unit, stubs_unit};
use scan::scan;

fn main() {
  println!("cargo::rustc-check-cfg=cfg(jz_emu)");
  println!("cargo::rerun-if-changed=build");
  println!("cargo::rerun-if-changed=cuda");
  let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
  let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
  let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
  if os != "linux" || env != "gnu" {
    println!(
      "cargo::warning=jarzyn-cuda-emu: the CUDA kernel emulator needs Linux with glibc (ucontext, mmap); \
       skipped for {os}-{env}, its tests compile to nothing"
    );
    std::fs::write(out.join("kernels.rs"), "").expect("write");
    std::fs::write(out.join("selftest.rs"), "").expect("write");
    return;
  }
  build(&out);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn build(out: &Path) {
  let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
  let cuda_dir = manifest.join("cuda");
  let src = jarzyn_core::cuda::kernel_source();
  std::fs::write(out.join("kernels_full.cu"), &src).expect("write kernels_full.cu");

  let mut build = cc::Build::new();
  build
    .cpp(true)
    .std("c++17")
    .opt_level(2)
    .debug(false)
    .warnings(false)
    .include(&cuda_dir)
    .include(out)
    .flag("-ffp-contract=off")
    .flag("-fno-fast-math")
    .flag("-Wno-unknown-pragmas");

  let units = [
    ("kernels", out.join("kernels_full.cu"), "kernels.rs"),
    ("selftest", cuda_dir.join("selftest.cu"), "selftest.rs"),
  ];
  let mut all = BTreeSet::new();
  let mut emu_files = Vec::new();
  for (unit, path, rs) in &units {
    let kernels = scan(&build, out, unit, path);
    for k in &kernels {
      if !all.insert(k.name.clone()) {
        panic!("jarzyn-cuda-emu: kernel {} is defined twice", k.name);
      }
    }
    let cpp = out.join(format!("{unit}_emu.cpp"));
    std::fs::write(&cpp, cpp_unit(path, &kernels)).expect("write wrappers");
    std::fs::write(out.join(rs), rust_unit(unit, &kernels)).expect("write rust");
    emu_files.push(cpp);
    if *unit == "kernels" {
      std::fs::write(out.join("kernels_drv.cpp"), drv_unit(unit, &kernels)).expect("write unpackers");
    }
  }
  emu_files.push(cuda_dir.join("emu_runtime.cpp"));

  // The fake driver's own sources: the implemented entry points, the kernel table with the
  // kernelParams unpackers, and weak stubs for every other entry point cudarc may resolve.
  let symbols = std::fs::read_to_string(cuda_dir.join("driver_symbols.txt")).expect("read driver_symbols.txt");
  std::fs::write(out.join("driver_stubs.cpp"), stubs_unit(&symbols)).expect("write stubs");
  let drv_files = [
    cuda_dir.join("fake_driver.cpp"),
    out.join("kernels_drv.cpp"),
    out.join("driver_stubs.cpp"),
  ];

  // One compilation (position-independent, as cc does by default on Linux) for both the static
  // library the tests link and the fake driver's shared library.
  let mut all_build = build.clone();
  all_build.files(&emu_files).files(&drv_files);
  let objects = all_build.compile_intermediates();
  let is_drv = |o: &PathBuf| {
    let s = o.file_name().unwrap().to_string_lossy().into_owned();
    ["fake_driver", "kernels_drv", "driver_stubs"]
      .iter()
      .any(|d| s.contains(d))
  };
  let is_selftest = |o: &PathBuf| o.file_name().unwrap().to_string_lossy().contains("selftest");
  let mut archive = cc::Build::new();
  archive.cpp(true);
  for o in objects.iter().filter(|o| !is_drv(o)) {
    archive.object(o);
  }
  archive.compile("jarzyn_cuda_emu");
  link_fake_driver(
    &build,
    out,
    objects.iter().filter(|o| !is_selftest(o)).cloned().collect(),
  );
  println!("cargo::rustc-cfg=jz_emu");
}

/// Links OUT_DIR/fakecuda/libcuda.so (soname libcuda.so) and places libcuda.so.1 and libnvrtc.so
/// next to it (copies: symlinks need no privileges on Linux, but copies survive any packaging).
/// Only `cu*` and `nvrtc*` are exported (version script), so the emulator inside cannot clash with
/// the one linked into a test binary.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn link_fake_driver(build: &cc::Build, out: &Path, objects: Vec<PathBuf>) {
  let dir = out.join("fakecuda");
  std::fs::create_dir_all(&dir).expect("create fakecuda dir");
  let script = out.join("fakecuda.map");
  std::fs::write(&script, "{\n  global: cu*; nvrtc*;\n  local: *;\n};\n").expect("write version script");
  let lib = dir.join("libcuda.so");
  let tmp = dir.join("libcuda.so.tmp");
  let compiler = build.get_compiler();
  let mut cmd = compiler.to_command();
  cmd
    .arg("-shared")
    .arg("-o")
    .arg(&tmp)
    .arg("-Wl,-soname,libcuda.so")
    .arg(format!("-Wl,--version-script={}", script.display()))
    .arg("-Wl,-Bsymbolic")
    .args(&objects)
    .arg("-lpthread");
  let res = cmd
    .output()
    .unwrap_or_else(|e| panic!("jarzyn-cuda-emu: could not run the linker {:?}: {e}", compiler.path()));
  if !res.status.success() {
    panic!(
      "jarzyn-cuda-emu: linking the fake CUDA driver failed:\n{}",
      String::from_utf8_lossy(&res.stderr)
    );
  }
  std::fs::rename(&tmp, &lib).expect("rename libcuda.so");
  for alias in ["libcuda.so.1", "libnvrtc.so"] {
    let a = dir.join(alias);
    let _ = std::fs::remove_file(&a);
    std::fs::copy(&lib, &a).expect("copy the fake driver");
  }
  println!("cargo::rustc-env=JZ_FAKE_CUDA_DIR={}", dir.display());
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn build(_out: &Path) {
  unreachable!("checked in main")
}
