/**
 * The options of the Gaussian-mixture energies, native ({@link GaussianMixtureEnergy}) and
 * TensorFlow.js ({@link TfGaussianMixtureEnergy}), and their reading into the flat parameter layout
 * [means (K x d) | logWeights (K) | logScales (K)] with its learn mask.
 * @module
 */
import { jarzynError } from './errors'
import { describe, intOption } from './validate'

/** A parameter group of a Gaussian mixture. */
export type MixtureGroup = 'means' | 'logWeights' | 'logScales'

/** The groups in the order of the flat parameters. */
const GROUPS: readonly MixtureGroup[] = ['means', 'logWeights', 'logScales']

/** What defines a K-component Gaussian mixture and what of it is learned: the options both mixture energies share. */
export interface MixtureOptions {
  /** Dimension d. */
  dim: number
  /** Initial means, one array of length d per component (K components). */
  means: ArrayLike<number>[]
  /** Initial log-weight offsets z_i (default 0). Mixture weight i is proportional to s_i^d exp(-z_i). */
  logWeights?: ArrayLike<number>
  /** Initial log-scales log s_i (default 0: unit covariance). */
  logScales?: ArrayLike<number>
  /**
   * Which parameters are learned: `'means'`, `'logWeights'`, `'logScales'`. Default means and
   * log-weights. `fixed` pins single entries, e.g. the paper's z_1 = 0: `{ logWeights: [0] }`.
   */
  learn?: MixtureGroup[]
  /** Entries held fixed within learned groups, by component index. */
  fixed?: Partial<Record<MixtureGroup, number[]>>
}

/** Options of {@link GaussianMixtureEnergy}. */
export interface GaussianMixtureOptions extends MixtureOptions {
  /** Threads for data-side computations (default: CPUs). */
  threads?: number
}

/**
 * Mixture options read into the flat layout.
 * @internal
 */
export interface MixtureLayout {
  /** Dimension d. */
  dim: number
  /** Components K. */
  components: number
  /** Initial parameters [means (K x d) | logWeights (K) | logScales (K)]. */
  params: Float64Array
  /** 1 where a parameter is learned, 0 where it is held fixed. */
  mask: Float64Array
}

/**
 * Check mixture options and lay them out flat: initial parameters and the learn mask.
 * @internal
 */
export function mixtureLayout(options: MixtureOptions): MixtureLayout {
  const d = intOption('dim', options.dim, 1, 2 ** 24)
  if (!Array.isArray(options.means) || options.means.length === 0) {
    throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `option \`means\` must be a non-empty array of arrays, got ${describe(options.means)}`)
  }
  const k = options.means.length
  const offsets: Record<MixtureGroup, number> = { means: 0, logWeights: k * d, logScales: k * d + k }
  const params = new Float64Array(k * (d + 2))
  options.means.forEach((m, i) => {
    if (m.length !== d) throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `means[${i}] has length ${m.length}, expected ${d}`)
    for (let c = 0; c < d; c++) params[i * d + c] = m[c]
  })
  for (const g of ['logWeights', 'logScales'] as const) {
    const src = options[g]
    if (src === undefined) continue
    if (src.length !== k) throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `${g} has length ${src.length}, expected ${k}`)
    for (let i = 0; i < k; i++) params[offsets[g] + i] = src[i]
  }
  const learn = new Set(options.learn ?? ['means', 'logWeights'])
  for (const g of learn) if (!(GROUPS as readonly string[]).includes(g)) throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `cannot learn \`${g}\``)
  const mask = new Float64Array(params.length)
  for (const g of GROUPS) {
    if (!learn.has(g)) continue
    const per = g === 'means' ? d : 1
    const fixed = new Set(options.fixed?.[g] ?? [])
    for (let i = 0; i < k; i++) if (!fixed.has(i)) mask.fill(1, offsets[g] + i * per, offsets[g] + (i + 1) * per)
  }
  return { dim: d, components: k, params, mask }
}
