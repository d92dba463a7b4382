//! A native Gaussian-mixture energy, U(x) = -log sum_i exp(-|x - a_i|^2 / (2 s_i^2) - z_i), with
//! exact log Z, exact samples, energies, gradients and weighted parameter gradients.
//!
//! This is the paper's first experiment's model (with learnable scales as an option). Per-point work
//! is in f32 (what a TensorFlow.js implementation computes, so the two agree to f32 round-off);
//! sums over points are in f64 over fixed chunks combined in order, so results are bit-identical
//! for any thread count. `model` holds the parameters, exact log Z and samples and the [`Energy`]
//! implementation, `kernels` the per-point arithmetic, `walker_grad` the walker-weighted gradient
//! fused into observations.

mod kernels;
mod model;
#[cfg(test)]
mod tests;
mod walker_grad;

pub use model::{largest_remainder, GaussianMixture, ParamVector};
