fn main() {
  napi_build::setup();
  // `cfg(jarzyn_cuda)`: the targets whose jarzyn-core dependency has the `cuda` feature (see
  // Cargo.toml); keep the two conditions the same.
  println!("cargo::rustc-check-cfg=cfg(jarzyn_cuda)");
  let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
  if os == "linux" || os == "windows" {
    println!("cargo::rustc-cfg=jarzyn_cuda");
  }
}
