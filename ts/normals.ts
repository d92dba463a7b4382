/**
 * The counter-based normals the sampler draws, exposed for tests, benchmarks and reproducible
 * initialisation.
 * @module
 */
import native from './native'
import { callNative, jarzynError } from './errors'
import { seedOption } from './seed'
import { intOption, describe, knownKeys, isDetached } from './validate'

/** Named Philox streams: disjoint counter ranges for independent purposes. */
export type RngStream = 'noise' | 'resample' | 'init' | 'user'

const STREAMS: Record<RngStream, number> = { noise: 0, resample: 1, init: 2, user: 3 }

/** Options of {@link fillNormals}. */
export interface FillNormalsOptions {
  /** Numbers per walker. */
  dim: number
  /** Seed (non-negative safe integer or bigint below 2^64). */
  seed: number | bigint
  /** Step (counter) index. Default 0. */
  step?: number
  /** Stream. Default `'user'`. */
  stream?: RngStream
  /** Index of the first walker. Default 0. */
  walker0?: number
}

/**
 * Fill `out` with standard normals: `out.length / dim` walkers, walker `walker0 + w` at `step`
 * drawing exactly what a {@link Sampler} with this seed draws there (for `stream: 'noise'`).
 *
 * @example
 * ```ts
 * const x = fillNormals(new Float32Array(1000 * 2), { dim: 2, seed: 1, stream: 'init' })
 * ```
 */
export function fillNormals(out: Float32Array, options: FillNormalsOptions): Float32Array {
  if (!(out instanceof Float32Array)) {
    throw jarzynError(TypeError, 'ERR_JARZYN_BAD_ARRAY_TYPE', `\`out\` must be a Float32Array, got ${describe(out)}`)
  }
  if (typeof options !== 'object' || options === null) {
    throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `fillNormals options must be an object, got ${describe(options)}`)
  }
  knownKeys('fillNormals', options, ['dim', 'seed', 'step', 'stream', 'walker0'])
  if (isDetached(out)) {
    throw jarzynError(TypeError, 'ERR_JARZYN_DETACHED', '`out` is backed by a detached ArrayBuffer')
  }
  const dim = intOption('dim', options.dim, 1, 2 ** 32 - 1)
  if (out.length % dim !== 0) {
    throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `\`out\` length ${out.length} is not a multiple of dim ${dim}`)
  }
  // Required here: seedOption would draw a random seed for a missing one.
  if (options.seed === undefined) throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', 'option `seed` must be a number or bigint, got undefined')
  const seed = seedOption(options.seed)
  const step = intOption('step', options.step ?? 0, 0, 2 ** 53 - 1)
  const walkers = out.length / dim
  const walker0 = intOption('walker0', options.walker0 ?? 0, 0, 2 ** 32 - walkers)
  const name = options.stream ?? 'user'
  if (typeof name !== 'string') {
    throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `option \`stream\` must be one of ${Object.keys(STREAMS).join(', ')}, got ${describe(name)}`)
  }
  if (!Object.prototype.hasOwnProperty.call(STREAMS, name)) {
    throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `option \`stream\` must be one of ${Object.keys(STREAMS).join(', ')}, got '${name}'`)
  }
  const stream = STREAMS[name as RngStream]
  callNative(() =>
    native.fillNormalsNative(out, dim, seed, stream, step, walker0),
  )
  return out
}
