//! The GPU benchmark without Node (for a GPU machine that has none):
//! `cargo run --release -p jarzyn-core --features cuda --example cuda_bench [cpu_threads] [--quick]`.
//! Prints the JSON of `jarzyn_core::cuda::bench::run_all`, or why the GPU is unavailable.
fn main() {
  let args: Vec<String> = std::env::args().skip(1).collect();
  let quick = args.iter().any(|a| a == "--quick");
  let threads = args
    .iter()
    .find_map(|a| a.parse::<usize>().ok())
    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
  match jarzyn_core::cuda::bench::run_all(threads, quick) {
    Ok(json) => println!("{json}"),
    Err(e) => {
      eprintln!("GPU benchmark skipped: {e}");
      std::process::exit(2);
    }
  }
}
