//! Kernel parameters: a declaration's tokens to its Rust type (typedefs resolved), and what the
//! generated wrappers need to know about it (pointer, const, restrict).

use std::collections::BTreeMap;

use crate::tokens::{join, Tok};

#[derive(Debug)]
pub(crate) struct Param {
  /// Declared as in the source (preprocessed), e.g. `const u32* __restrict ctr`.
  pub decl: String,
  pub name: String,
  pub rust: String,
  pub pointer: bool,
  pub is_const: bool,
  pub restrict: bool,
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

pub(crate) fn param(kernel: &str, g: &[Tok], typedefs: &BTreeMap<String, Vec<Tok>>) -> Param {
  let decl = join(g);
  let fail = |why: &str| -> ! {
    panic!(
      "jarzyn-cuda-emu: kernel {kernel}, parameter `{decl}`: {why}; extend param() in crates/jarzyn-cuda-emu/build/params.rs"
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
