/**
 * The Gaussian-mixture energy U(x) = -logsumexp_i(-|x - a_i|^2 / (2 s_i^2) - z_i) in TensorFlow.js,
 * with the parameter layout of the native `GaussianMixtureEnergy`. It checks the TensorFlow.js path
 * against the native one and is a template for writing energies by hand.
 * @module
 */
import type * as TF from '@tensorflow/tfjs'

import type { SurrogateGrad } from '../energy'
import { jarzynError } from '../errors'
import type { Profiler } from '../profiler'
import { mixtureLayout, type MixtureOptions } from '../gmm-options'
import { describe, knownKeys } from '../validate'
import { loadTf } from './backend'
import { TfEnergy } from './tf-energy'

/** Options of {@link TfGaussianMixtureEnergy}: the mixture's, as the native `GaussianMixtureEnergy` takes them, and a penalty. */
export interface TfGaussianMixtureOptions extends MixtureOptions {
  /** Energy-squared penalty weight (default 0). */
  penalty?: number
}

const LN_2PI = Math.log(2 * Math.PI)

/**
 * A K-component Gaussian mixture computed with TensorFlow.js. Flat parameters
 * [means (K x d) | logWeights (K) | logScales (K)], like the native `GaussianMixtureEnergy`; fixed
 * entries get a zero gradient.
 *
 * @example
 * ```ts
 * await initTensorflow()
 * const energy = new TfGaussianMixtureEnergy({ dim: 2, means: [[-1, 0], [1, 0]], fixed: { logWeights: [0] } })
 * ```
 */
export class TfGaussianMixtureEnergy extends TfEnergy {
  /** Number of components K. */
  readonly components: number
  readonly #mask: Float64Array

  constructor(options: TfGaussianMixtureOptions) {
    if (typeof options !== 'object' || options === null) {
      throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `TfGaussianMixtureEnergy options must be an object, got ${describe(options)}`)
    }
    knownKeys('TfGaussianMixtureEnergy', options, ['dim', 'means', 'logWeights', 'logScales', 'learn', 'fixed', 'penalty'])
    const tf = loadTf()
    const { dim: d, components: k, params, mask } = mixtureLayout(options)
    // float32 variables: each value rounded once, as if written straight into a Float32Array.
    const means = Float32Array.from(params.subarray(0, k * d))
    const z0 = Float32Array.from(params.subarray(k * d, k * d + k))
    const ls0 = Float32Array.from(params.subarray(k * d + k))

    const [a, z, ls] = tf.tidy(() => [
      tf.variable(tf.tensor2d(means, [k, d])),
      tf.variable(tf.tensor1d(z0)),
      tf.variable(tf.tensor1d(ls0)),
    ])
    const energy = (x: TF.Tensor2D): TF.Tensor1D => {
      // The difference form, not |x|^2 - 2 x.a + |a|^2: no cancellation far from the means.
      const sq = tf.sum(tf.square(tf.sub(tf.expandDims(x, 1), tf.expandDims(a, 0))), 2) // [n, K]
      const halfInvVar = tf.mul(tf.exp(tf.mul(ls, -2)), 0.5)
      const r = tf.sub(tf.neg(tf.mul(sq, halfInvVar)), z)
      return tf.neg(tf.logSumExp(r, 1)) as TF.Tensor1D
    }
    super({
      dim: d,
      energy,
      parameters: [
        { name: 'means', variable: a, group: 'means' },
        { name: 'logWeights', variable: z, group: 'logWeights' },
        { name: 'logScales', variable: ls, group: 'logScales' },
      ],
      penalty: options.penalty,
    })
    this.components = k
    this.#mask = mask
  }

  /** Which entries are learned (1) or fixed (0). */
  get learnMask(): Float64Array {
    return this.#mask.slice()
  }

  /** log of each component's mass: d/2 log(2 pi) + d log s_i - z_i. */
  #logMasses(): number[] {
    const p = this.getParams()
    const k = this.components
    const d = this.dim
    return Array.from({ length: k }, (_, i) => 0.5 * d * LN_2PI + d * p[k * d + k + i] - p[k * d + i])
  }

  /** Exact log Z (in float64 from the float32 parameters). */
  logZ(): number {
    const lm = this.#logMasses()
    const m = Math.max(...lm)
    return m + Math.log(lm.reduce((s, v) => s + Math.exp(v - m), 0))
  }

  /** The mixture's weights (sum to 1). */
  mixtureWeights(): number[] {
    const lm = this.#logMasses()
    const lz = this.logZ()
    return lm.map((v) => Math.exp(v - lz))
  }

  override describe(): Record<string, number | number[]> {
    return { mixtureWeights: this.mixtureWeights(), logZ: this.logZ() }
  }

  /** As {@link TfEnergy.surrogateGrad}, with fixed entries zeroed. */
  override surrogateGrad(data: Float32Array, walkers: Float32Array, weights: Float64Array, profiler?: Profiler): SurrogateGrad {
    const r = super.surrogateGrad(data, walkers, weights, profiler)
    for (let i = 0; i < r.grad.length; i++) if (this.#mask[i] === 0) r.grad[i] = 0
    return r
  }
}
