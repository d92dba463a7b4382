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

/// Compile `src` to PTX for `arch` (e.g. "compute_90"), with `--fmad=false`. Not cached.
pub fn compile(src: &str, name: &str, arch: &str) -> Result<String, String> {
  let a = api()?;
  let csrc = CString::new(src).map_err(|e| e.to_string())?;
  let cname = CString::new(name).map_err(|e| e.to_string())?;
  let opts: Vec<CString> = [
    format!("--gpu-architecture={arch}"),
    "--fmad=false".into(),
    "--prec-div=true".into(),
    "--prec-sqrt=true".into(),
    "--ftz=false".into(),
    "--std=c++14".into(),
  ]
  .into_iter()
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
      let r = (a.ptx_size)(prog, &mut n);
      if r != 0 {
        Err(format!("nvrtcGetPTXSize: {}", err(a, r)))
      } else {
        let mut buf = vec![0u8; n];
        let r = (a.ptx)(prog, buf.as_mut_ptr().cast());
        if r != 0 {
          Err(format!("nvrtcGetPTX: {}", err(a, r)))
        } else {
          while buf.last() == Some(&0) {
            buf.pop();
          }
          String::from_utf8(buf).map_err(|e| e.to_string())
        }
      }
    };
    (a.destroy)(&mut prog);
    out
  }
}

/// The jarzyn kernels compiled for `arch`, once per process and architecture.
pub fn kernels_ptx(arch: &str) -> Result<String, String> {
  static CACHE: OnceLock<Mutex<HashMap<String, Result<String, String>>>> = OnceLock::new();
  let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
  let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
  c.entry(arch.to_string())
    .or_insert_with(|| compile(&super::kernel_source(), "jarzyn_kernels.cu", arch))
    .clone()
}
