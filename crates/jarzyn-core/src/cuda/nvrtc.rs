//! A minimal NVRTC loader: CUDA C source to PTX at run time.
//!
//! cudarc can load NVRTC too, but its library-name list is fixed by the CUDA API version it was
//! built for (12.2 here) and misses CUDA 13's `libnvrtc.so.13`, and it panics when the library is
//! absent. This loader tries `$JARZYN_NVRTC` (a full path), `libnvrtc.so`, `.so.13`, `.so.12`,
//! `.so.11.2` and `$CUDA_HOME/lib64/libnvrtc.so` (on Windows: `nvrtc64_130_0.dll`,
//! `nvrtc64_120_0.dll`, `nvrtc64_112_0.dll` on the loader path, then in `%CUDA_PATH%\bin` and
//! `%CUDA_PATH%\bin\x64`), and reports failures as `Err(String)`.
//!
//! The kernels are compiled with `--fmad=false` (no fused multiply-add, so the f32/f64 arithmetic
//! rounds as on the CPU) and the precise division and square root (NVRTC's defaults, stated).

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::{Mutex, OnceLock};

type Prog = *mut c_void;
type Res = c_int;

struct Api {
  _lib: libloading::Library,
  path: String,
  version: unsafe extern "C" fn(*mut c_int, *mut c_int) -> Res,
  error_string: unsafe extern "C" fn(Res) -> *const c_char,
  create: unsafe extern "C" fn(
    *mut Prog,
    *const c_char,
    *const c_char,
    c_int,
    *const *const c_char,
    *const *const c_char,
  ) -> Res,
  compile: unsafe extern "C" fn(Prog, c_int, *const *const c_char) -> Res,
  log_size: unsafe extern "C" fn(Prog, *mut usize) -> Res,
  log: unsafe extern "C" fn(Prog, *mut c_char) -> Res,
  ptx_size: unsafe extern "C" fn(Prog, *mut usize) -> Res,
  ptx: unsafe extern "C" fn(Prog, *mut c_char) -> Res,
  /// CUBIN output (NVRTC 11.1 on); None with older libraries.
  cubin_size: Option<unsafe extern "C" fn(Prog, *mut usize) -> Res>,
  cubin: Option<unsafe extern "C" fn(Prog, *mut c_char) -> Res>,
  destroy: unsafe extern "C" fn(*mut Prog) -> Res,
}

// SAFETY: NVRTC's entry points are thread-safe for distinct programs; the table is read-only.
unsafe impl Send for Api {}
unsafe impl Sync for Api {}

/// NVRTC's file names on Windows: one DLL per major version (`nvrtc64_120_0.dll` for every 12.x).
const WINDOWS_NAMES: [&str; 3] = ["nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll"];

fn candidates() -> Vec<String> {
  let mut v = Vec::new();
  if let Ok(p) = std::env::var("JARZYN_NVRTC") {
    v.push(p);
  }
  if cfg!(windows) {
    // The loader path (PATH, the application's folder), then the toolkit's bin folder (CUDA 13
    // puts its DLLs in bin\x64).
    v.extend(WINDOWS_NAMES.iter().map(|n| n.to_string()));
    for var in ["CUDA_PATH", "CUDA_HOME"] {
      if let Ok(h) = std::env::var(var) {
        for dir in ["bin", "bin\\x64"] {
          v.extend(WINDOWS_NAMES.iter().map(|n| format!("{h}\\{dir}\\{n}")));
        }
      }
    }
    return v;
  }
  for n in ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"] {
    v.push(n.to_string());
  }
  for var in ["CUDA_HOME", "CUDA_PATH"] {
    if let Ok(h) = std::env::var(var) {
      v.push(format!("{h}/lib64/libnvrtc.so"));
    }
  }
  v
}

fn load() -> Result<Api, String> {
  let mut tried = Vec::new();
  for path in candidates() {
    // SAFETY: loading NVRTC runs its initialisers only; no Rust invariants depend on them.
    let lib = match unsafe { libloading::Library::new(&path) } {
      Ok(l) => l,
      Err(_) => {
        tried.push(path);
        continue;
      }
    };
    macro_rules! sym {
      ($name:literal) => {
        // SAFETY: the NVRTC C API signatures declared in `Api` (nvrtc.h).
        *unsafe { lib.get($name) }.map_err(|e| format!("{path}: missing {}: {e}", String::from_utf8_lossy($name)))?
      };
    }
    let api = Api {
      version: sym!(b"nvrtcVersion"),
      error_string: sym!(b"nvrtcGetErrorString"),
      create: sym!(b"nvrtcCreateProgram"),
      compile: sym!(b"nvrtcCompileProgram"),
      log_size: sym!(b"nvrtcGetProgramLogSize"),
      log: sym!(b"nvrtcGetProgramLog"),
      ptx_size: sym!(b"nvrtcGetPTXSize"),
      ptx: sym!(b"nvrtcGetPTX"),
      destroy: sym!(b"nvrtcDestroyProgram"),
      // SAFETY: the NVRTC C API signatures (nvrtc.h); optional in old libraries.
      cubin_size: unsafe { lib.get(b"nvrtcGetCUBINSize") }.ok().map(|f| *f),
      cubin: unsafe { lib.get(b"nvrtcGetCUBIN") }.ok().map(|f| *f),
      path: path.clone(),
      _lib: lib,
    };
    return Ok(api);
  }
  let lib = if cfg!(windows) {
    "nvrtc64_120_0.dll"
  } else {
    "libnvrtc.so"
  };
  Err(format!(
    "NVRTC not found (tried {}); install the CUDA toolkit's NVRTC (e.g. `pip install nvidia-cuda-nvrtc-cu12`) and set JARZYN_NVRTC to the path of {lib}",
    tried.join(", ")
  ))
}

fn api() -> Result<&'static Api, String> {
  static API: OnceLock<Result<Api, String>> = OnceLock::new();
  API.get_or_init(load).as_ref().map_err(|e| e.clone())
}

/// NVRTC's (major, minor) version and the library path, or why it is unavailable.
pub fn version() -> Result<((i32, i32), String), String> {
  let a = api()?;
  let (mut maj, mut min) = (0, 0);
  // SAFETY: valid out-pointers.
  let r = unsafe { (a.version)(&mut maj, &mut min) };
  if r != 0 {
    return Err(format!("nvrtcVersion failed: {}", err(a, r)));
  }
  Ok(((maj, min), a.path.clone()))
}

fn err(a: &Api, r: Res) -> String {
  // SAFETY: nvrtcGetErrorString returns a static C string for any code.
  let p = unsafe { (a.error_string)(r) };
  if p.is_null() {
    format!("NVRTC error {r}")
  } else {
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
  }
}

/// What NVRTC is asked to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Image {
  /// PTX for a virtual architecture ("compute_90"): the driver compiles it at load time, and
  /// refuses PTX newer than itself (CUDA_ERROR_UNSUPPORTED_PTX_VERSION).
  Ptx,
  /// Machine code for a real architecture ("sm_90"): no compilation at load time, so a driver
  /// older than NVRTC (same CUDA major version) loads it.
  Cubin,
}

impl Image {
  fn ext(self) -> &'static str {
    match self {
      Image::Ptx => "ptx",
      Image::Cubin => "cubin",
    }
  }
}

/// The options every compilation uses: no fused multiply-add, IEEE division and square root, no
/// flush to zero, so that the f32/f64 arithmetic rounds as on the CPU.
const OPTIONS: [&str; 5] = [
  "--fmad=false",
  "--prec-div=true",
  "--prec-sqrt=true",
  "--ftz=false",
  "--std=c++14",
];

/// Compile `src` to PTX for `arch` (e.g. "compute_90"), with `--fmad=false`. Not cached.
pub fn compile(src: &str, name: &str, arch: &str) -> Result<String, String> {
  let bytes = compile_image(src, name, arch, Image::Ptx)?;
  String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// Compile `src` to PTX (`arch` "compute_XY") or CUBIN ("sm_XY"). Not cached. PTX comes without
/// its terminating NUL.
pub fn compile_image(src: &str, name: &str, arch: &str, kind: Image) -> Result<Vec<u8>, String> {
  let a = api()?;
  let (size_fn, get_fn) = match kind {
    Image::Ptx => (a.ptx_size, a.ptx),
    Image::Cubin => match (a.cubin_size, a.cubin) {
      (Some(s), Some(g)) => (s, g),
      _ => return Err(format!("{} cannot produce CUBIN (NVRTC 11.1 or newer needed)", a.path)),
    },
  };
  let csrc = CString::new(src).map_err(|e| e.to_string())?;
  let cname = CString::new(name).map_err(|e| e.to_string())?;
  let opts: Vec<CString> = std::iter::once(format!("--gpu-architecture={arch}"))
    .chain(OPTIONS.iter().map(|o| o.to_string()))
    .map(|o| CString::new(o).expect("no NUL in options"))
    .collect();
  let optp: Vec<*const c_char> = opts.iter().map(|o| o.as_ptr()).collect();
  let mut prog: Prog = std::ptr::null_mut();
  // SAFETY: NVRTC C API with valid NUL-terminated strings; the program is destroyed below.
  unsafe {
    let r = (a.create)(
      &mut prog,
      csrc.as_ptr(),
      cname.as_ptr(),
      0,
      std::ptr::null(),
      std::ptr::null(),
    );
    if r != 0 {
      return Err(format!("nvrtcCreateProgram: {}", err(a, r)));
    }
    let r = (a.compile)(prog, optp.len() as c_int, optp.as_ptr());
    let mut log_len = 0usize;
    let mut log = String::new();
    if (a.log_size)(prog, &mut log_len) == 0 && log_len > 1 {
      let mut buf = vec![0u8; log_len];
      if (a.log)(prog, buf.as_mut_ptr().cast()) == 0 {
        log = String::from_utf8_lossy(&buf[..log_len - 1]).into_owned();
      }
    }
    let out = if r != 0 {
      Err(format!("NVRTC compilation for {arch} failed: {}\n{log}", err(a, r)))
    } else {
      let mut n = 0usize;
      let r = size_fn(prog, &mut n);
      if r != 0 {
        Err(format!("NVRTC output size ({}): {}", kind.ext(), err(a, r)))
      } else {
        let mut buf = vec![0u8; n];
        let r = get_fn(prog, buf.as_mut_ptr().cast());
        if r != 0 {
          Err(format!("NVRTC output ({}): {}", kind.ext(), err(a, r)))
        } else {
          if kind == Image::Ptx {
            while buf.last() == Some(&0) {
              buf.pop();
            }
          }
          Ok(buf)
        }
      }
    };
    (a.destroy)(&mut prog);
    out
  }
}

/// The jarzyn kernels compiled for `arch`, once per process and architecture.
pub fn kernels_ptx(arch: &str) -> Result<String, String> {
  kernels_image(arch, Image::Ptx).and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()))
}

/// FNV-1a, 64 bits: a stable cache key (std's hasher may change between Rust releases).
fn fnv1a(parts: &[&[u8]]) -> u64 {
  let mut h = 0xcbf2_9ce4_8422_2325u64;
  for p in parts {
    for &b in p.iter().chain(&[0xffu8]) {
      h ^= b as u64;
      h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
  }
  h
}

/// Where compiled kernels are kept between processes: `$JARZYN_CACHE_DIR` (empty: no disk cache),
/// else `$XDG_CACHE_HOME/jarzyn`, `$HOME/.cache/jarzyn` or `%LOCALAPPDATA%\jarzyn`.
pub fn cache_dir() -> Option<std::path::PathBuf> {
  use std::path::PathBuf;
  if let Ok(d) = std::env::var("JARZYN_CACHE_DIR") {
    return (!d.is_empty()).then(|| PathBuf::from(d));
  }
  if let Ok(d) = std::env::var("XDG_CACHE_HOME") {
    if !d.is_empty() {
      return Some(PathBuf::from(d).join("jarzyn"));
    }
  }
  if cfg!(windows) {
    if let Ok(d) = std::env::var("LOCALAPPDATA") {
      return Some(PathBuf::from(d).join("jarzyn"));
    }
  }
  std::env::var("HOME")
    .ok()
    .filter(|h| !h.is_empty())
    .map(|h| PathBuf::from(h).join(".cache").join("jarzyn"))
}

/// The kernels for `arch` as `kind`, from `dir`'s cache when there (keyed on the source, NVRTC's
/// version, the options, the architecture and the kind), else compiled and stored there
/// atomically (write to a temporary name, then rename; a failure to store is ignored).
pub fn kernels_image_in(dir: Option<&std::path::Path>, arch: &str, kind: Image) -> Result<Vec<u8>, String> {
  let src = super::kernel_source();
  let ((maj, min), _) = version()?;
  let ver = format!("{maj}.{min}");
  let opts = OPTIONS.join(" ");
  let key = fnv1a(&[
    src.as_bytes(),
    ver.as_bytes(),
    opts.as_bytes(),
    arch.as_bytes(),
    kind.ext().as_bytes(),
  ]);
  let file = dir.map(|d| d.join(format!("kernels-{arch}-{key:016x}.{}", kind.ext())));
  if let Some(f) = &file {
    if let Ok(bytes) = std::fs::read(f) {
      if !bytes.is_empty() {
        return Ok(bytes);
      }
    }
  }
  let bytes = compile_image(&src, "jarzyn_kernels.cu", arch, kind)?;
  if let (Some(d), Some(f)) = (dir, &file) {
    let tmp = d.join(format!(".kernels-{}-{key:016x}.tmp", std::process::id()));
    let stored = std::fs::create_dir_all(d)
      .and_then(|_| std::fs::write(&tmp, &bytes))
      .and_then(|_| std::fs::rename(&tmp, f));
    if stored.is_err() {
      let _ = std::fs::remove_file(&tmp);
    }
  }
  Ok(bytes)
}

/// The kernels for `arch` as `kind`: once per process, and across processes through
/// [`cache_dir`].
pub fn kernels_image(arch: &str, kind: Image) -> Result<Vec<u8>, String> {
  type Cache = Mutex<HashMap<(String, Image), Result<Vec<u8>, String>>>;
  static CACHE: OnceLock<Cache> = OnceLock::new();
  let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
  let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
  c.entry((arch.to_string(), kind))
    .or_insert_with(|| kernels_image_in(cache_dir().as_deref(), arch, kind))
    .clone()
}
