/**
 * A fully connected energy network d -> hidden... -> 1, built from raw variables and `matMul`
 * (`tf.layers.dense` is several times slower on the wasm backend).
 * @module
 */
import type * as TF from '@tensorflow/tfjs'

import { jarzynError } from '../errors'
import { describe, intOption, knownKeys } from '../validate'
import { activation, type Activation } from './activations'
import { loadTf } from './backend'
import { seedBigInt, uniformVariable } from './seeded-init'
import { TfEnergy, type TfParameter } from './tf-energy'

/** Options of {@link mlpEnergy}. */
export interface MlpEnergyOptions {
  /** Input dimension d. */
  dim: number
  /** Hidden layer widths (default [128, 128]). */
  hidden?: number[]
  /** Activation after each hidden layer (default `'silu'`). */
  activation?: Activation
  /** Seed of the initialisation (default 0); same seed, same network on every backend. */
  seed?: number | bigint
  /** Energy-squared penalty weight of the surrogate loss (default 0); see {@link TfEnergyOptions}. */
  penalty?: number
}

/**
 * A multilayer-perceptron energy U(x) = W_L act(... act(x W_1 + b_1) ...) + b_L on the active
 * TensorFlow.js backend. Parameters `dense<i>/kernel` (group `'weights'`) and `dense<i>/bias`
 * (group `'biases'`), initialised uniform in +-1/sqrt(fan_in) from `seed`.
 *
 * @example
 * ```ts
 * await initTensorflow()
 * const energy = mlpEnergy({ dim: 2, hidden: [128, 128], activation: 'silu', seed: 1 })
 * ```
 */
export function mlpEnergy(options: MlpEnergyOptions): TfEnergy {
  if (typeof options !== 'object' || options === null) {
    throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `mlpEnergy options must be an object, got ${describe(options)}`)
  }
  knownKeys('mlpEnergy', options, ['dim', 'hidden', 'activation', 'seed', 'penalty'])
  const tf = loadTf()
  const dim = intOption('dim', options.dim, 1, 2 ** 30)
  const hidden = options.hidden ?? [128, 128]
  if (!Array.isArray(hidden)) throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', 'option `hidden` must be an array of layer widths')
  hidden.forEach((h, i) => intOption(`hidden[${i}]`, h, 1, 2 ** 20))
  const act = activation(tf, options.activation ?? 'silu')
  const seed = seedBigInt(options.seed)
  const widths = [dim, ...hidden, 1]
  const parameters: TfParameter[] = []
  const layers: { w: TF.Variable; b: TF.Variable }[] = []
  for (let l = 0; l + 1 < widths.length; l++) {
    const bound = 1 / Math.sqrt(widths[l])
    const w = uniformVariable(tf, [widths[l], widths[l + 1]], bound, seed, 2 * l)
    const b = uniformVariable(tf, [widths[l + 1]], bound, seed, 2 * l + 1)
    layers.push({ w, b })
    parameters.push({ name: `dense${l}/kernel`, variable: w, group: 'weights' }, { name: `dense${l}/bias`, variable: b, group: 'biases' })
  }
  const energy = (x: TF.Tensor2D): TF.Tensor1D => {
    let h: TF.Tensor2D = x
    layers.forEach(({ w, b }, l) => {
      h = tf.add(tf.matMul(h, w), b)
      if (l + 1 < layers.length) h = act(h)
    })
    return tf.reshape(h, [-1])
  }
  return new TfEnergy({ dim, energy, parameters, penalty: options.penalty })
}
