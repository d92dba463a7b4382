//! Print the kernels' PTX for an architecture (default compute_90): `cargo run --features cuda --example dump_ptx`.
fn main() {
  let arch = std::env::args().nth(1).unwrap_or_else(|| "compute_90".into());
  match jarzyn_core::cuda::nvrtc::kernels_ptx(&arch) {
    Ok(p) => print!("{p}"),
    Err(e) => {
      eprintln!("{e}");
      std::process::exit(1);
    }
  }
}
