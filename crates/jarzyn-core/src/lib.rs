//! jarzyn-core: Jarzynski-weighted Langevin walkers for training energy-based models
//! (Carbone, Hua, Coste & Vanden-Eijnden, NeurIPS 2023).
//!
//! Pure Rust, no Node symbols: `cargo test -p jarzyn-core` runs on its own. The Node binding
//! (`jarzyn-node`) is a thin layer over [`Sampler`].
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
pub mod error;
pub mod gmm;
pub mod lanes;
pub mod math;
pub mod normal;
mod par;
pub mod philox;
pub mod resample;
pub mod sampler;
pub mod weights;

pub use error::{CoreError, Result};
pub use gmm::GaussianMixture;
pub use resample::Scheme;
pub use sampler::{Observation, ObserveReport, Sampler, SamplerConfig, SamplerCounters};
pub use weights::WeightSummary;
