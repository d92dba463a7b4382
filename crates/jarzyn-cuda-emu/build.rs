//! Builds the CPU emulator of jarzyn's CUDA kernels.
//!
//! 1. `jarzyn_core::cuda::kernel_source()` (the generated `#define` prelude + kernels.cu) is written
//!    to OUT_DIR/kernels_full.cu. Cargo reruns this script whenever jarzyn-core changes, so new or
//!    edited kernels are picked up with no change here.
//! 2. The source is run through the C++ preprocessor after cuda/cuda_shim.h (with `JZ_EMU_SCAN`,
//!    which marks `__global__`), and the preprocessed text is parsed: every
//!    `extern "C" __global__ void NAME(PARAMS) { ... }`, every function definition and whether it
//!    reaches `__syncthreads` (directly or through the functions it calls), and the typedefs.
//! 3. For each kernel: a C++ wrapper `extern "C" void emu_NAME(unsigned gx, unsigned gy,
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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
  println!("cargo::rustc-check-cfg=cfg(jz_emu)");
  println!("cargo::rerun-if-changed=build.rs");
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

// ---------------------------------------------------------------------------------------------
// Scanning: preprocess, tokenize, find kernels.

#[derive(Debug)]
struct Param {
  /// Declared as in the source (preprocessed), e.g. `const u32* __restrict ctr`.
  decl: String,
  name: String,
  rust: String,
  pointer: bool,
  is_const: bool,
  restrict: bool,
}

#[derive(Debug)]
struct Kernel {
  name: String,
  params: Vec<Param>,
  uses_sync: bool,
  signature: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
  Ident(String),
  Punct(String),
  Lit(String),
}

impl Tok {
  fn text(&self) -> &str {
    match self {
      Tok::Ident(s) | Tok::Punct(s) | Tok::Lit(s) => s,
    }
  }
  fn is(&self, s: &str) -> bool {
    self.text() == s
  }
}

fn tokenize(s: &str) -> Vec<Tok> {
  let b = s.as_bytes();
  let mut i = 0;
  let mut out = Vec::new();
  while i < b.len() {
    let c = b[i];
    if c.is_ascii_whitespace() {
      i += 1;
    } else if c == b'#' {
      // Leftover directives (#pragma): skip the line.
      while i < b.len() && b[i] != b'\n' {
        i += 1;
      }
    } else if c == b'/' && i + 1 < b.len() && b[i + 1] == b'/' {
      while i < b.len() && b[i] != b'\n' {
        i += 1;
      }
    } else if c == b'/' && i + 1 < b.len() && b[i + 1] == b'*' {
      i += 2;
      while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
        i += 1;
      }
      i += 2;
    } else if c.is_ascii_alphabetic() || c == b'_' {
      let st = i;
      while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        i += 1;
      }
      out.push(Tok::Ident(s[st..i].to_string()));
    } else if c.is_ascii_digit() || (c == b'.' && i + 1 < b.len() && b[i + 1].is_ascii_digit()) {
      let st = i;
      while i < b.len()
        && (b[i].is_ascii_alphanumeric()
          || b[i] == b'.'
          || b[i] == b'_'
          || b[i] == b'\''
          || ((b[i] == b'+' || b[i] == b'-') && matches!(b[i - 1], b'e' | b'E' | b'p' | b'P')))
      {
        i += 1;
      }
      out.push(Tok::Lit(s[st..i].to_string()));
    } else if c == b'"' || c == b'\'' {
      let st = i;
      i += 1;
      while i < b.len() && b[i] != c {
        if b[i] == b'\\' {
          i += 1;
        }
        i += 1;
      }
      i += 1;
      out.push(Tok::Lit(s[st..i.min(b.len())].to_string()));
    } else {
      // Multi-character punctuators that matter here: `::` and `->` (so `:` and `>` stay apart).
      let two = if i + 1 < b.len() { &s[i..i + 2] } else { "" };
      if two == "::" || two == "->" {
        out.push(Tok::Punct(two.to_string()));
        i += 2;
      } else {
        out.push(Tok::Punct((c as char).to_string()));
        i += 1;
      }
    }
  }
  out
}

/// Index of the token closing the bracket opened at `open`.
fn matching(t: &[Tok], open: usize) -> usize {
  let (o, c) = match t[open].text() {
    "(" => ("(", ")"),
    "{" => ("{", "}"),
    "[" => ("[", "]"),
    x => panic!("not a bracket: {x}"),
  };
  let mut depth = 0usize;
  for (j, tok) in t.iter().enumerate().skip(open) {
    if let Tok::Punct(p) = tok {
      if p == o {
        depth += 1;
      } else if p == c {
        depth -= 1;
        if depth == 0 {
          return j;
        }
      }
    }
  }
  panic!("jarzyn-cuda-emu: unbalanced {o} in the kernel source");
}

fn join(t: &[Tok]) -> String {
  let s: Vec<&str> = t.iter().map(|x| x.text()).collect();
  s.join(" ").replace(" *", "*")
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn preprocess(build: &cc::Build, out: &Path, unit: &str, path: &Path) -> String {
  let scan = out.join(format!("{unit}_scan.cpp"));
  std::fs::write(
    &scan,
    format!(
      "#define JZ_EMU_SCAN 1\n#include \"cuda_shim.h\"\nstruct __jz_emu_source_begin__ {{}};\n#include \"{}\"\n",
      path.display()
    ),
  )
  .expect("write scan unit");
  let compiler = build.get_compiler();
  let mut cmd = compiler.to_command();
  cmd.arg("-E").arg("-P").arg(&scan);
  let res = cmd.output().unwrap_or_else(|e| {
    panic!(
      "jarzyn-cuda-emu: could not run the C++ preprocessor {:?}: {e}",
      compiler.path()
    )
  });
  if !res.status.success() {
    panic!(
      "jarzyn-cuda-emu: preprocessing {} failed:\n{}",
      path.display(),
      String::from_utf8_lossy(&res.stderr)
    );
  }
  let text = String::from_utf8(res.stdout).expect("preprocessor output is UTF-8");
  let marker = "struct __jz_emu_source_begin__ {};";
  let at = text
    .find(marker)
    .expect("jarzyn-cuda-emu: marker missing from the preprocessor output");
  text[at + marker.len()..].to_string()
}

/// Identifiers of CUDA features the emulator does not provide, with what they are.
const UNSUPPORTED: &[(&str, &str)] = &[
  ("__shfl", "warp shuffles"),
  ("__ballot", "warp votes"),
  ("__any_sync", "warp votes"),
  ("__all_sync", "warp votes"),
  ("__uni_sync", "warp votes"),
  ("__activemask", "warp masks"),
  ("__syncwarp", "warp barriers"),
  ("__match_", "warp matches"),
  ("__reduce_", "warp reductions"),
  ("warpSize", "warp size"),
  ("__syncthreads_count", "barrier reductions"),
  ("__syncthreads_and", "barrier reductions"),
  ("__syncthreads_or", "barrier reductions"),
  ("cooperative_groups", "cooperative groups"),
  ("__nanosleep", "sleeping"),
  ("clock64", "clocks"),
];

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn scan(build: &cc::Build, out: &Path, unit: &str, path: &Path) -> Vec<Kernel> {
  println!("cargo::rerun-if-changed={}", path.display());
  let text = preprocess(build, out, unit, path);
  let t = tokenize(&text);

  for tok in &t {
    if let Tok::Ident(id) = tok {
      if id == "__jz_emu_global__" || id == "jz_emu_syncthreads" {
        continue;
      }
      for (p, what) in UNSUPPORTED {
        if id.starts_with(p) {
          panic!(
            "jarzyn-cuda-emu: {} uses `{id}` ({what}), which the CPU emulator does not emulate: \
             emulate it in crates/jarzyn-cuda-emu (cuda/cuda_shim.h, cuda/emu_runtime.cpp) or avoid it",
            path.display()
          );
        }
      }
    }
  }
  for w in t.windows(2) {
    if w[0].is("extern") && w[1].is("static") {
      panic!(
        "jarzyn-cuda-emu: {} declares `extern __shared__` (dynamic shared memory), which the emulator \
         does not provide: use a fixed-size __shared__ array or extend crates/jarzyn-cuda-emu",
        path.display()
      );
    }
  }

  // Every function definition anywhere (free functions, member functions of structs and class
  // templates, in namespaces or not): `name ( params ) [qualifiers] {`, with the identifiers of
  // its body.
  let mut funcs: Vec<(String, BTreeSet<String>)> = Vec::new();
  for i in 0..t.len() {
    if !t[i].is("{") {
      continue;
    }
    if let Some((name, _, _)) = definition_head(&t, i, 0) {
      let close = matching(&t, i);
      let body: BTreeSet<String> = t[i + 1..close]
        .iter()
        .filter_map(|x| match x {
          Tok::Ident(s) => Some(s.clone()),
          _ => None,
        })
        .collect();
      funcs.push((name, body));
    }
  }

  // Top level: typedefs and kernels. `namespace X {` and `extern "C" {` are transparent; other
  // braces at the top level (functions, structs, initialisers) are skipped whole.
  let mut typedefs: BTreeMap<String, Vec<Tok>> = BTreeMap::new();
  // name, lparen, rparen, declaration start, inside an `extern "C" { }` block
  let mut kernels_raw: Vec<(String, usize, usize, usize, bool)> = Vec::new();
  let mut blocks: Vec<bool> = Vec::new(); // open transparent blocks: is it `extern "C"`?
  let mut stmt_start = 0usize;
  let mut i = 0usize;
  while i < t.len() {
    let tok = &t[i];
    if tok.is(";") {
      stmt_start = i + 1;
      i += 1;
      continue;
    }
    if tok.is("}") {
      // Closing a transparent block.
      blocks.pop();
      stmt_start = i + 1;
      i += 1;
      continue;
    }
    if tok.is("typedef") && i == stmt_start {
      let end = (i..t.len()).find(|&j| t[j].is(";")).expect("typedef without ;");
      let body = &t[i + 1..end];
      if let Some(Tok::Ident(name)) = body.last() {
        if !body.iter().any(|x| x.is("(") || x.is("{")) {
          typedefs.insert(name.clone(), body[..body.len() - 1].to_vec());
        }
      }
      i = end + 1;
      stmt_start = i;
      continue;
    }
    if tok.is("using") && i == stmt_start && i + 2 < t.len() && t[i + 2].is("=") {
      let end = (i..t.len()).find(|&j| t[j].is(";")).expect("using without ;");
      if let Tok::Ident(name) = &t[i + 1] {
        typedefs.insert(name.clone(), t[i + 3..end].to_vec());
      }
      i = end + 1;
      stmt_start = i;
      continue;
    }
    if tok.is("{") {
      let prefix = &t[stmt_start..i];
      let extern_c = prefix.len() == 2 && prefix[0].is("extern") && prefix[1].is("\"C\"");
      let namespace = prefix.len() <= 2 && prefix.first().is_some_and(|x| x.is("namespace"));
      if extern_c || namespace {
        blocks.push(extern_c);
        stmt_start = i + 1;
        i += 1;
        continue;
      }
      if prefix.iter().any(|x| x.is("__jz_emu_global__")) {
        match definition_head(&t, i, stmt_start) {
          Some((name, lp, rp)) => kernels_raw.push((name, lp, rp, stmt_start, blocks.contains(&true))),
          None => panic!(
            "jarzyn-cuda-emu: cannot read the __global__ definition starting with `{}` in {}",
            join(&prefix[..prefix.len().min(12)]),
            path.display()
          ),
        }
      }
      i = matching(&t, i) + 1;
      stmt_start = i;
      continue;
    }
    i += 1;
  }

  // Functions that reach __syncthreads: a fixpoint over the call graph (by name; overloads and
  // same-named members count together, which can only add fiber launches, never lose a barrier).
  let mut sync: BTreeSet<String> = BTreeSet::new();
  loop {
    let before = sync.len();
    for (name, body) in &funcs {
      if !sync.contains(name) && (body.contains("jz_emu_syncthreads") || body.iter().any(|b| sync.contains(b))) {
        sync.insert(name.clone());
      }
    }
    if sync.len() == before {
      break;
    }
  }

  let mut kernels = Vec::new();
  for (name, lp, rp, start, in_extern_c) in kernels_raw {
    let prefix = &t[start..lp - 1];
    let has_extern_c = in_extern_c || prefix.windows(2).any(|w| w[0].is("extern") && w[1].is("\"C\""));
    if !has_extern_c {
      panic!(
        "jarzyn-cuda-emu: kernel {name} in {} is not `extern \"C\"`: the backend loads kernels by \
         their C names, and the emulator wraps only those",
        path.display()
      );
    }
    if prefix.iter().any(|x| x.is("template")) {
      panic!("jarzyn-cuda-emu: kernel {name} is a template: wrap its instantiations in extern \"C\" kernels");
    }
    if !prefix.iter().any(|x| x.is("void")) {
      panic!("jarzyn-cuda-emu: kernel {name} does not return void");
    }
    let mut params = Vec::new();
    let inner = &t[lp + 1..rp];
    if !(inner.is_empty() || (inner.len() == 1 && inner[0].is("void"))) {
      let mut depth = 0i32;
      let mut cur: Vec<Tok> = Vec::new();
      let mut groups = Vec::new();
      for tok in inner {
        if tok.is("(") || tok.is("[") || tok.is("<") {
          depth += 1;
        } else if tok.is(")") || tok.is("]") || tok.is(">") {
          depth -= 1;
        }
        if tok.is(",") && depth == 0 {
          groups.push(std::mem::take(&mut cur));
        } else {
          cur.push(tok.clone());
        }
      }
      groups.push(cur);
      for g in groups {
        params.push(param(&name, &g, &typedefs));
      }
    }
    let sig = format!(
      "void {name}({})",
      params.iter().map(|p| p.decl.clone()).collect::<Vec<_>>().join(", ")
    );
    kernels.push(Kernel {
      uses_sync: sync.contains(&name),
      name,
      params,
      signature: sig,
    });
  }
  kernels
}

/// If the `{` at `brace` opens a function body (`name ( params ) [const|noexcept|override] {`,
/// the name not a control keyword), its name and the indices of the parameter list's parentheses;
/// tokens before `floor` are not looked at.
fn definition_head(t: &[Tok], brace: usize, floor: usize) -> Option<(String, usize, usize)> {
  let mut k = brace;
  while k > floor && matches!(&t[k - 1], Tok::Ident(q) if q == "const" || q == "noexcept" || q == "override") {
    k -= 1;
  }
  if k <= floor || !t[k - 1].is(")") {
    return None;
  }
  let rp = k - 1;
  let mut depth = 0usize;
  let mut lp = rp;
  loop {
    if t[lp].is(")") {
      depth += 1;
    } else if t[lp].is("(") {
      depth -= 1;
      if depth == 0 {
        break;
      }
    }
    if lp == floor {
      return None;
    }
    lp -= 1;
  }
  if lp <= floor {
    return None;
  }
  match &t[lp - 1] {
    Tok::Ident(name)
      if !matches!(
        name.as_str(),
        "if" | "for" | "while" | "switch" | "catch" | "return" | "sizeof" | "decltype" | "__attribute__" | "alignas"
      ) =>
    {
      Some((name.clone(), lp, rp))
    }
    _ => None,
  }
}

/// Rust type of a (typedef-resolved) C++ scalar type, or None.
fn scalar(words: &[String]) -> Option<&'static str> {
  let mut w: Vec<&str> = words
    .iter()
    .map(|s| s.as_str())
    .filter(|s| *s != "int" || words.len() == 1)
    .collect();
  if w.is_empty() {
    w = vec!["int"];
  }
  let key = w.join(" ");
  Some(match key.as_str() {
    "unsigned" | "uint32_t" => "u32",
    "int" | "signed" | "int32_t" => "i32",
    "unsigned long long" | "unsigned long" | "uint64_t" | "size_t" => "u64",
    "long long" | "long" | "signed long long" | "int64_t" | "ptrdiff_t" => "i64",
    "unsigned short" | "uint16_t" => "u16",
    "short" | "signed short" | "int16_t" => "i16",
    "unsigned char" | "uint8_t" => "u8",
    "signed char" | "int8_t" => "i8",
    "float" => "f32",
    "double" => "f64",
    "bool" => "bool",
    _ => return None,
  })
}

/// Rust pointee type of a CUDA built-in vector type (pointers only).
fn vector(name: &str) -> Option<String> {
  let (base, n) = name.split_at(name.len().checked_sub(1)?);
  let n: usize = n.parse().ok().filter(|n| (1..=4).contains(n))?;
  let r = match base {
    "float" => "f32",
    "double" => "f64",
    "int" => "i32",
    "uint" => "u32",
    "longlong" => "i64",
    "ulonglong" => "u64",
    "short" => "i16",
    "ushort" => "u16",
    "char" => "i8",
    "uchar" => "u8",
    _ => return None,
  };
  Some(format!("[{r}; {n}]"))
}

fn resolve(words: Vec<String>, typedefs: &BTreeMap<String, Vec<Tok>>, depth: usize) -> Vec<String> {
  if depth > 20 {
    panic!("jarzyn-cuda-emu: typedef cycle");
  }
  let mut out = Vec::new();
  let mut changed = false;
  for w in words {
    if let Some(def) = typedefs.get(&w) {
      changed = true;
      for x in def {
        if let Tok::Ident(s) = x {
          if s != "const" && s != "volatile" {
            out.push(s.clone());
          }
        }
      }
    } else {
      out.push(w);
    }
  }
  if changed {
    resolve(out, typedefs, depth + 1)
  } else {
    out
  }
}

fn param(kernel: &str, g: &[Tok], typedefs: &BTreeMap<String, Vec<Tok>>) -> Param {
  let decl = join(g);
  let fail = |why: &str| -> ! {
    panic!(
      "jarzyn-cuda-emu: kernel {kernel}, parameter `{decl}`: {why}; extend param() in crates/jarzyn-cuda-emu/build.rs"
    )
  };
  let name = match g.last() {
    Some(Tok::Ident(n)) => n.clone(),
    _ => fail("no parameter name"),
  };
  let ty = &g[..g.len() - 1];
  if ty.iter().any(|x| x.is("&") || x.is("[") || x.is("(")) {
    fail("references, arrays and function pointers are not supported");
  }
  let stars = ty.iter().filter(|x| x.is("*")).count();
  if stars > 1 {
    fail("pointers to pointers are not supported");
  }
  let pointer = stars == 1;
  // `const` before the `*` makes the pointee const (`const T*`, `T const*`); after it, the pointer.
  let star_at = ty.iter().position(|x| x.is("*")).unwrap_or(ty.len());
  let is_const = ty[..star_at].iter().any(|x| x.is("const"));
  let restrict = ty.iter().any(|x| x.is("__restrict") || x.is("__restrict__"));
  let words: Vec<String> = ty[..star_at]
    .iter()
    .filter_map(|x| match x {
      Tok::Ident(s)
        if !matches!(
          s.as_str(),
          "const" | "volatile" | "__restrict" | "__restrict__" | "struct"
        ) =>
      {
        Some(s.clone())
      }
      Tok::Ident(_) => None,
      _ => fail("unexpected token in the type"),
    })
    .collect();
  let words = resolve(words, typedefs, 0);
  let base = match scalar(&words) {
    Some(r) => r.to_string(),
    None if pointer && words.len() == 1 => {
      vector(&words[0]).unwrap_or_else(|| fail(&format!("no Rust type for `{}`", words.join(" "))))
    }
    None => fail(&format!("no Rust type for `{}`", words.join(" "))),
  };
  let rust = if pointer {
    format!("*{} {base}", if is_const { "const" } else { "mut" })
  } else {
    base
  };
  Param {
    decl,
    name,
    rust,
    pointer,
    is_const,
    restrict,
  }
}

// ---------------------------------------------------------------------------------------------
// Code generation.

fn cpp_unit(path: &Path, kernels: &[Kernel]) -> String {
  let mut s = String::new();
  let _ = writeln!(s, "// Generated by crates/jarzyn-cuda-emu/build.rs: do not edit.");
  let _ = writeln!(s, "#include \"cuda_shim.h\"");
  let _ = writeln!(s, "#include \"emu_runtime.h\"");
  let _ = writeln!(s, "#include \"{}\"", path.display());
  for k in kernels {
    let params: Vec<String> = k.params.iter().map(|p| p.decl.clone()).collect();
    let names: Vec<String> = k.params.iter().map(|p| p.name.clone()).collect();
    let _ = writeln!(s);
    let _ = writeln!(
      s,
      "extern \"C\" void emu_{}(unsigned jz_gx, unsigned jz_gy, unsigned jz_bx{}{}) {{",
      k.name,
      if params.is_empty() { "" } else { ", " },
      params.join(", ")
    );
    // Restrict-qualified pointers promise the compiler (NVRTC too) that what one writes no other
    // reads: the same address passed twice, one of them written, is a bug on the GPU as well.
    for (a, pa) in k.params.iter().enumerate() {
      for pb in k.params.iter().skip(a + 1) {
        if pa.pointer && pb.pointer && pa.restrict && pb.restrict && !(pa.is_const && pb.is_const) {
          let _ = writeln!(
            s,
            "  if ((const void*){} != nullptr && (const void*){} == (const void*){}) \
             jz_emu_error(\"kernel {}: __restrict__ parameters {} and {} are the same buffer\");",
            pa.name, pa.name, pb.name, k.name, pa.name, pb.name
          );
        }
      }
    }
    let _ = writeln!(s, "  auto jz_body = [&]() {{ {}({}); }};", k.name, names.join(", "));
    let _ = writeln!(
      s,
      "  jz_emu_launch(\"{}\", jz_gx, jz_gy, jz_bx, {}, &jz_emu_thunk<decltype(jz_body)>, &jz_body);",
      k.name, k.uses_sync as i32
    );
    let _ = writeln!(s, "}}");
  }
  s
}

/// The fake driver's kernel table: for each kernel an unpacker that reads its arguments from
/// cuLaunchKernel's kernelParams (kernelParams[i] points at argument i, as cudarc's launch builder
/// passes them), checks pointer arguments against the live allocations and calls `emu_NAME`.
/// Separate from the wrappers so that the static library of the tests needs nothing of the driver.
fn drv_unit(unit: &str, kernels: &[Kernel]) -> String {
  let c_type = |p: &Param| -> String {
    if p.pointer {
      return if p.is_const {
        "const void*".into()
      } else {
        "void*".into()
      };
    }
    match p.rust.as_str() {
      "u32" => "uint32_t",
      "i32" => "int32_t",
      "u64" => "uint64_t",
      "i64" => "int64_t",
      "u16" => "uint16_t",
      "i16" => "int16_t",
      "u8" => "uint8_t",
      "i8" => "int8_t",
      "f32" => "float",
      "f64" => "double",
      "bool" => "bool",
      t => panic!("jarzyn-cuda-emu: no C type for {t}"),
    }
    .into()
  };
  let mut s = String::new();
  let _ = writeln!(
    s,
    "// Generated by crates/jarzyn-cuda-emu/build.rs from the {unit} source: do not edit."
  );
  let _ = writeln!(s, "#include <cstdint>");
  let _ = writeln!(s, "#include \"fake_driver.h\"");
  for k in kernels {
    let tys: Vec<String> = k.params.iter().map(|p| c_type(p)).collect();
    let _ = writeln!(s);
    let _ = writeln!(
      s,
      "extern \"C\" void emu_{}(unsigned, unsigned, unsigned{}{});",
      k.name,
      if tys.is_empty() { "" } else { ", " },
      tys.join(", ")
    );
    let _ = writeln!(
      s,
      "static int jz_drv_{}(unsigned gx, unsigned gy, unsigned bx, void** p) {{",
      k.name
    );
    let _ = writeln!(s, "  (void)p;");
    let _ = writeln!(s, "  int bad = 0;");
    for (i, p) in k.params.iter().enumerate() {
      if p.pointer {
        let _ = writeln!(
          s,
          "  bad |= jz_drv_check_ptr(\"{}\", {i}, \"{}\", *(const void* const*)p[{i}]);",
          k.name, p.name
        );
      }
    }
    let _ = writeln!(s, "  if (bad) return 1;");
    let args: Vec<String> = tys
      .iter()
      .enumerate()
      .map(|(i, t)| format!("*({t} const*)p[{i}]"))
      .collect();
    let _ = writeln!(
      s,
      "  emu_{}(gx, gy, bx{}{});",
      k.name,
      if args.is_empty() { "" } else { ", " },
      args.join(", ")
    );
    let _ = writeln!(s, "  return 0;");
    let _ = writeln!(s, "}}");
  }
  let _ = writeln!(s);
  let _ = writeln!(s, "extern \"C\" const JzDrvKernel jz_drv_table_{unit}[] = {{");
  for k in kernels {
    let _ = writeln!(s, "  {{\"{}\", {}, &jz_drv_{}}},", k.name, k.params.len(), k.name);
  }
  if kernels.is_empty() {
    let _ = writeln!(s, "  {{\"\", 0, nullptr}},");
  }
  let _ = writeln!(s, "}};");
  let _ = writeln!(
    s,
    "extern \"C\" const unsigned jz_drv_table_{unit}_len = {};",
    kernels.len()
  );
  s
}

/// Weak stubs for the driver entry points listed in cuda/driver_symbols.txt (every `cu*` name
/// cudarc's bindings can resolve): the implemented ones in cuda/fake_driver.cpp override them.
fn stubs_unit(symbols: &str) -> String {
  let mut s = String::from(
    "// Generated by crates/jarzyn-cuda-emu/build.rs from cuda/driver_symbols.txt: do not edit.\n\
     #include \"fake_driver.h\"\n",
  );
  for name in symbols
    .lines()
    .map(str::trim)
    .filter(|l| !l.is_empty() && !l.starts_with('#'))
  {
    let _ = writeln!(
      s,
      "extern \"C\" __attribute__((weak, visibility(\"default\"))) int {name}() {{ return jz_drv_not_supported(\"{name}\"); }}"
    );
  }
  s
}

fn rust_ident(n: &str) -> String {
  const KW: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for", "if", "impl", "in",
    "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super",
    "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn", "abstract", "become", "box",
    "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen", "grid",
  ];
  if KW.contains(&n) {
    format!("{n}_")
  } else {
    n.to_string()
  }
}

fn rust_unit(unit: &str, kernels: &[Kernel]) -> String {
  let mut s = String::new();
  let _ = writeln!(
    s,
    "// Generated by crates/jarzyn-cuda-emu/build.rs from the {unit} source: do not edit."
  );
  let _ = writeln!(s, "/// The kernels found in the {unit} source, in source order.");
  let _ = writeln!(s, "pub const KERNELS: &[crate::KernelInfo] = &[");
  for k in kernels {
    let _ = writeln!(
      s,
      "  crate::KernelInfo {{ name: {:?}, uses_syncthreads: {}, signature: {:?} }},",
      k.name, k.uses_sync, k.signature
    );
  }
  let _ = writeln!(s, "];");
  let _ = writeln!(s, "/// The C wrappers: `emu_NAME(gx, gy, block, params...)`.");
  let _ = writeln!(s, "pub mod ffi {{");
  let _ = writeln!(s, "  extern \"C\" {{");
  for k in kernels {
    let ps: Vec<String> = k
      .params
      .iter()
      .map(|p| format!("{}: {}", rust_ident(&p.name), p.rust))
      .collect();
    let _ = writeln!(
      s,
      "    pub fn emu_{}(gx: u32, gy: u32, bx: u32{}{});",
      k.name,
      if ps.is_empty() { "" } else { ", " },
      ps.join(", ")
    );
  }
  let _ = writeln!(s, "  }}");
  let _ = writeln!(s, "}}");
  for k in kernels {
    let ps: Vec<String> = k
      .params
      .iter()
      .map(|p| format!("{}: {}", rust_ident(&p.name), p.rust))
      .collect();
    let names: Vec<String> = k.params.iter().map(|p| rust_ident(&p.name)).collect();
    let _ = writeln!(s);
    let _ = writeln!(
      s,
      "/// Emulated launch of `{}`{}.",
      k.signature,
      if k.uses_sync {
        " (fibers: it calls __syncthreads)"
      } else {
        ""
      }
    );
    let _ = writeln!(s, "///");
    let _ = writeln!(s, "/// # Safety");
    let _ = writeln!(
      s,
      "/// As a CUDA launch: every pointer must be valid for what the kernel reads and writes on this grid."
    );
    let _ = writeln!(
      s,
      "/// Panics with the emulator's message on an invalid grid or a barrier that not every thread reached."
    );
    let _ = writeln!(s, "#[allow(clippy::too_many_arguments)]");
    let _ = writeln!(
      s,
      "pub unsafe fn {}(grid: crate::Grid{}{}) {{",
      k.name,
      if ps.is_empty() { "" } else { ", " },
      ps.join(", ")
    );
    let _ = writeln!(s, "  crate::before_launch();");
    let _ = writeln!(
      s,
      "  ffi::emu_{}(grid.gx, grid.gy, grid.block{}{});",
      k.name,
      if names.is_empty() { "" } else { ", " },
      names.join(", ")
    );
    let _ = writeln!(s, "  crate::after_launch({:?});", k.name);
    let _ = writeln!(s, "}}");
  }
  s
}
