/**
 * Deterministic parameter initialisation: the same seed gives the same network on every backend and
 * machine, because the values are drawn in JavaScript (SplitMix64), not by a backend's RNG.
 * @module
 */
import type * as TF from '@tensorflow/tfjs'

import { jarzynError } from '../errors'
import { SplitMix64, deriveSeed } from '../splitmix'

/**
 * A seed option as a 64-bit integer (default 0).
 * @internal
 */
export function seedBigInt(seed: unknown): bigint {
  if (seed === undefined) return 0n
  if (typeof seed === 'bigint' && seed >= 0n && seed < 1n << 64n) return seed
  if (typeof seed === 'number' && Number.isSafeInteger(seed) && seed >= 0) return BigInt(seed)
  throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `option \`seed\` must be a non-negative safe integer or a bigint below 2^64, got ${String(seed)}`)
}

/**
 * A float32 variable of the given shape, uniform in [-bound, bound] (PyTorch's default layer
 * initialisation uses bound = 1/sqrt(fan_in)), drawn from stream `tag` of `seed`.
 * @internal
 */
export function uniformVariable(tf: typeof TF, shape: number[], bound: number, seed: bigint, tag: number): TF.Variable {
  const size = shape.reduce((a, b) => a * b, 1)
  const rng = new SplitMix64(deriveSeed(seed, tag))
  const v = new Float32Array(size)
  for (let i = 0; i < size; i++) v[i] = bound * (2 * (Number(rng.nextU64() >> 11n) / 2 ** 53) - 1)
  // The initial-value tensor is freed by the tidy; the variable (never tidied) survives.
  return tf.tidy(() => tf.variable(tf.tensor(v, shape, 'float32')))
}
