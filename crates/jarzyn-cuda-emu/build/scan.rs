//! Scanning: preprocess the kernel source, tokenize it, and find the kernels, what each reaches
//! (`__syncthreads`) and the typedefs their parameters use.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::params::{param, Param};
use crate::tokens::{definition_head, join, matching, tokenize, Tok};

#[derive(Debug)]
pub(crate) struct Kernel {
  pub name: String,
  pub params: Vec<Param>,
  pub uses_sync: bool,
  pub signature: String,
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
pub(crate) fn scan(build: &cc::Build, out: &Path, unit: &str, path: &Path) -> Vec<Kernel> {
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
