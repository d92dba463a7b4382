//! jarzyn-core: Jarzynski-weighted Langevin walkers for training energy-based models
//! (Carbone, Hua, Coste & Vanden-Eijnden, NeurIPS 2023).
//!
//! Pure Rust, no Node symbols: `cargo test -p jarzyn-core` runs on its own. The Node binding
//! (`jarzyn-node`) is a thin layer over a `Box<dyn` [`Walkers`]`>` and the native [`energy`]s.
//!
//! - [`walkers`]: the population and the [`Walkers`] interface ([`CpuWalkers`]; `cuda::CudaWalkers`).
//! - [`energy`]: native energies behind the walkers ([`Energy`], [`FusedEnergy`]).
//! - [`models`]: the energies themselves (the Gaussian mixture).
//! - [`weights`], [`resample`]: log-weight summaries and resampling schemes.
//! - [`philox`], [`normal`]: the counter-based generator and its normals.
#![deny(clippy::all)]
// Numeric kernels index several arrays by the same counter on purpose (it is what vectorises), and
// the dispatched kernels take their buffers as separate arguments.
#![allow(
  clippy::needless_range_loop,
  clippy::too_many_arguments,
  clippy::manual_is_multiple_of
)]
// `!(x > 0.0)` is meant: it is true for NaN. Constants keep the digits of their references.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::excessive_precision)]

pub mod bandwidth;
#[cfg(feature = "cuda")]
pub mod cuda;
mod dispatch;
pub mod energy;
pub mod error;
pub mod lanes;
pub mod math;
pub mod models;
pub mod normal;
mod par;
pub mod philox;
pub mod resample;
pub mod walkers;
pub mod weights;

pub use energy::{combine_parts, Energy, FusedEnergy, WalkerPart};
pub use error::{CoreError, Result};
pub use models::gmm::GaussianMixture;
pub use resample::Scheme;
pub use walkers::{
  walker_chunk, Counters, CpuWalkers, DeviceInfo, FixedBuf, HostBuffers, Observation, ObserveReport, View,
  WalkerConfig, Walkers,
};
pub use weights::WeightSummary;

/// Test inputs: a xorshift stream of 32-bit words from `seed`.
#[cfg(test)]
pub(crate) fn test_words(seed: u64) -> impl FnMut() -> u32 {
  let mut st = seed;
  move || {
    st ^= st << 13;
    st ^= st >> 7;
    st ^= st << 17;
    (st >> 32) as u32
  }
}

/// The byte range of a slice's memory (to tell whether two slices alias).
pub fn addr_range<T>(s: &[T]) -> std::ops::Range<usize> {
  let start = s.as_ptr() as usize;
  start..start + std::mem::size_of_val(s)
}
