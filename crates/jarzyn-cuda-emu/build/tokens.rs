//! The C++ tokens of the preprocessed kernel source, and the bracket and definition matching the
//! scanner needs: enough of C++ to find function definitions and their parameter lists, no more.

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
  Ident(String),
  Punct(String),
  Lit(String),
}

impl Tok {
  pub(crate) fn text(&self) -> &str {
    match self {
      Tok::Ident(s) | Tok::Punct(s) | Tok::Lit(s) => s,
    }
  }
  pub(crate) fn is(&self, s: &str) -> bool {
    self.text() == s
  }
}

pub(crate) fn tokenize(s: &str) -> Vec<Tok> {
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
pub(crate) fn matching(t: &[Tok], open: usize) -> usize {
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

pub(crate) fn join(t: &[Tok]) -> String {
  let s: Vec<&str> = t.iter().map(|x| x.text()).collect();
  s.join(" ").replace(" *", "*")
}

/// If the `{` at `brace` opens a function body (`name ( params ) [const|noexcept|override] {`,
/// the name not a control keyword), its name and the indices of the parameter list's parentheses;
/// tokens before `floor` are not looked at.
pub(crate) fn definition_head(t: &[Tok], brace: usize, floor: usize) -> Option<(String, usize, usize)> {
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
