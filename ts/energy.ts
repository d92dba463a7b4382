/**
 * The energy interface the trainers drive. An energy evaluates U and grad U at given points and
 * parameter gradients for given points and weights; it never sees a sampler (the sampler evaluates
 * it at its walkers: `sampler.observeEnergy(energy)`). Implemented natively (Gaussian mixture) or
 * with TensorFlow.js (any network).
 * @module
 */
import type native from './native'
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
   * U and grad_x U at the points `x` (n x d, row-major), written into `energy` (n) and `grad`
   * (n x d). Non-finite values are allowed: a walker whose energy or gradient is not finite gets
   * weight zero. Implementations time their parts on `profiler` (`energy`, `copy`).
   */
  evaluate(x: Float32Array, energy: Float32Array, grad: Float32Array, profiler?: Profiler): void
  /**
   * Gradient of the surrogate loss mean U(data) - sum_i p_i U(X_i) with data, walkers and weights
   * held constant.
   * @param data data batch, n x d
   * @param walkers walker positions, N x d
   * @param weights normalised walker weights p (sum to 1)
   */
  surrogateGrad(data: Float32Array, walkers: Float32Array, weights: Float64Array, profiler?: Profiler): SurrogateGrad
  /** U at the points `x` (n x d). */
  energies(x: Float32Array): Float32Array
  /** Exact log Z, when the energy knows it. */
  logZ?(): number
  /** Exact samples of rho_theta into `out` (n x d), when the energy can draw them. */
  sampleInto?(out: Float32Array, seed: bigint): void
  /** Model-specific numbers for the per-iteration stats (e.g. mixture weights). */
  describe?(): Record<string, number | number[]>
  /** Free resources (tensors, threads). */
  dispose?(): void
  /**
   * A native energy that samplers evaluate inside their own passes, and that trainers drive with
   * two native calls per iteration.
   * @internal
   */
  readonly fused?: FusedPath
}

/**
 * The native side of an energy (see {@link Energy.fused}).
 * @internal
 */
export interface FusedPath {
  /** The native energy. */
  readonly handle: InstanceType<typeof native.NativeGmm>
  /** 1 where a parameter is learned, 0 where held fixed (its gradient is zeroed). */
  readonly mask: Float64Array
}
