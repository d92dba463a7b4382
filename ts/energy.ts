/**
 * The energy interface the trainers drive. The sampler never knows how an energy is computed; a
 * trainer only needs these operations, implemented natively (Gaussian mixture) or with
 * TensorFlow.js (any network).
 * @module
 */
import type { Sampler, ObserveReport } from './sampler'
import type { Profiler } from './profiler'

/** One named parameter tensor of an energy. */
export interface ParamInfo {
  /** Name, unique within the energy (e.g. `'means'`, `'dense1/kernel'`). */
  name: string
  /** Optimiser group (per-group learning rates). */
  group: string
  /** Shape. */
  shape: number[]
  /** Number of elements. */
  size: number
}

/** The surrogate-loss gradient of one iteration. */
export interface SurrogateGrad {
  /** d/dtheta [mean_j U(data_j) - sum_i p_i U(X_i)], flat, in the order of `parameters()`. */
  grad: Float64Array
  /** mean_j U(data_j) at the current parameters (for the cross-entropy estimate). */
  meanDataEnergy: number
  /** sum_i p_i U(X_i). */
  meanWalkerEnergy: number
}

/**
 * An energy U_theta(x) on R^d. Implementations: {@link GaussianMixtureEnergy} (native) and
 * `TfEnergy` (TensorFlow.js).
 */
export interface Energy {
  /** Dimension d. */
  readonly dim: number
  /** What computes it, for run metadata (e.g. `'native-gmm'`, `'tfjs:wasm'`). */
  readonly backend: string
  /** The parameter tensors, in the order of the flat vector. */
  parameters(): ParamInfo[]
  /** A copy of all parameters, flat. */
  getParams(): Float64Array
  /** Set all parameters from a flat vector. */
  setParams(values: Float64Array): void
  /**
   * Evaluate U and grad_x U at `sampler.positions` and hand them to `sampler.observe`.
   * Implementations time their parts on `profiler` (energy, copy, observe).
   */
  observe(sampler: Sampler, profiler?: Profiler): ObserveReport
  /**
   * Gradient of the surrogate loss mean U(data) - sum_i p_i U(X_i) with data, walkers and weights
   * held constant.
   * @param data data batch, n x d
   * @param walkers walker positions, N x d
   * @param weights normalised walker weights p (sum to 1)
   */
  surrogateGrad(data: Float32Array, walkers: Float32Array, weights: Float64Array, profiler?: Profiler): SurrogateGrad
  /**
   * Optional fast path of {@link Energy.surrogateGrad} for energies that read the walkers and their
   * weights from the sampler themselves (natively, possibly reusing work of their last `observe`).
   * Trainers prefer it when present; it must equal `surrogateGrad(data, sampler.positions,
   * sampler.normalizedWeights())` up to floating-point rounding.
   */
  surrogateGradFromSampler?(data: Float32Array, sampler: Sampler, profiler?: Profiler): SurrogateGrad
  /** U at the points `x` (n x d). */
  energies(x: Float32Array): Float32Array
  /** Exact log Z, when the energy knows it. */
  logZ?(): number
  /** Exact samples of rho_theta into the sampler's positions, when the energy can draw them. */
  sampleInto?(sampler: Sampler, seed: bigint): void
  /** Model-specific numbers for the per-iteration stats (e.g. mixture weights). */
  describe?(): Record<string, number | number[]>
  /** Free resources (tensors, threads). */
  dispose?(): void
}
