/**
 * Activations of the network builders, from first-order-safe TensorFlow.js ops.
 * @module
 */
import type * as TF from '@tensorflow/tfjs'

import { jarzynError } from '../errors'

/** Activations the builders accept. SiLU (x sigmoid(x)) is the paper's. */
export type Activation = 'silu' | 'softplus' | 'tanh' | 'elu'

/** The accepted activation names. */
export const ACTIVATIONS: readonly Activation[] = ['silu', 'softplus', 'tanh', 'elu']

/**
 * The activation as a tensor function.
 * @internal
 */
export function activation(tf: typeof TF, name: unknown): <T extends TF.Tensor>(x: T) => T {
  switch (name) {
    case 'silu':
      // No fused SiLU op in tfjs; x * sigmoid(x) has the right first-order gradient on every backend.
      return (x) => tf.mul(x, tf.sigmoid(x))
    case 'softplus':
      return (x) => tf.softplus(x)
    case 'tanh':
      return (x) => tf.tanh(x)
    case 'elu':
      return (x) => tf.elu(x)
    default:
      throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `option \`activation\` must be one of ${ACTIVATIONS.join(', ')}, got ${String(name)}`)
  }
}
