/**
 * The native Gaussian-mixture energy U(x) = -log sum_i exp(-|x - a_i|^2 / (2 s_i^2) - z_i), computed in
 * the Rust core: energies, gradients and weighted parameter gradients in parallel, straight into the
 * sampler's buffers. Exact log Z and exact samples.
 * @module
 */
import native from './native'
import { callNative, jarzynError } from './errors'
import type { Energy, ParamInfo, SurrogateGrad } from './energy'
import type { Profiler } from './profiler'
import { Sampler, seedOption, type ObserveReport } from './sampler'
import { intOption, knownKeys, pointsArray, typedArray, describe as describeValue } from './validate'
import { availableParallelism, cpus } from 'node:os'
import type { GaussianMixtureOptions } from './gmm-options'

export type { GaussianMixtureOptions }

const GROUPS = ['means', 'logWeights', 'logScales'] as const

/**
 * A K-component Gaussian-mixture energy computed natively.
 *
 * @example
 * ```ts
 * const energy = new GaussianMixtureEnergy({ dim: 2, means: [[-1, 0], [1, 0]], fixed: { logWeights: [0] } })
 * energy.logZ()            // exact
 * energy.mixtureWeights()  // [0.5, 0.5]
 * ```
 */
export class GaussianMixtureEnergy implements Energy {
  readonly dim: number
  /** Number of mixture components K. */
  readonly components: number
  readonly backend = 'native-gmm'
  #native: InstanceType<typeof native.NativeGmm>
  /** 1 where a parameter is learned, 0 where held fixed (its gradient is zeroed). */
  #mask: Float64Array
  #params: ParamInfo[]

  constructor(options: GaussianMixtureOptions) {
    knownKeys('GaussianMixtureEnergy', options, ['dim', 'means', 'logWeights', 'logScales', 'learn', 'fixed', 'threads'])
    this.dim = intOption('dim', options.dim, 1, 2 ** 24)
    if (!Array.isArray(options.means) || options.means.length === 0) {
      throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `option \`means\` must be a non-empty array of arrays, got ${describeValue(options.means)}`)
    }
    const k = (this.components = options.means.length)
    const d = this.dim
    const threads = options.threads === undefined ? (typeof availableParallelism === 'function' ? availableParallelism() : cpus().length) : intOption('threads', options.threads, 1, 1024)
    this.#native = callNative(() => new native.NativeGmm(d, k, threads))
    const p = new Float64Array(k * (d + 2))
    options.means.forEach((m, i) => {
      if (m.length !== d) throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `means[${i}] has length ${m.length}, expected ${d}`)
      for (let c = 0; c < d; c++) p[i * d + c] = m[c]
    })
    const fill = (name: string, src: ArrayLike<number> | undefined, off: number) => {
      if (src === undefined) return
      if (src.length !== k) throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `${name} has length ${src.length}, expected ${k}`)
      for (let i = 0; i < k; i++) p[off + i] = src[i]
    }
    fill('logWeights', options.logWeights, k * d)
    fill('logScales', options.logScales, k * d + k)
    this.setParams(p)
    const learn = new Set(options.learn ?? ['means', 'logWeights'])
    for (const g of learn) if (!(GROUPS as readonly string[]).includes(g)) throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `cannot learn \`${g}\``)
    this.#mask = new Float64Array(p.length)
    const offsets = { means: 0, logWeights: k * d, logScales: k * d + k }
    for (const g of GROUPS) {
      if (!learn.has(g)) continue
      const per = g === 'means' ? d : 1
      const fixed = new Set(options.fixed?.[g] ?? [])
      for (let i = 0; i < k; i++) {
        if (fixed.has(i)) continue
        this.#mask.fill(1, offsets[g] + i * per, offsets[g] + (i + 1) * per)
      }
    }
    this.#params = [
      { name: 'means', group: 'means', shape: [k, d], size: k * d },
      { name: 'logWeights', group: 'logWeights', shape: [k], size: k },
      { name: 'logScales', group: 'logScales', shape: [k], size: k },
    ]
  }

  parameters(): ParamInfo[] {
    return this.#params.map((p) => ({ ...p, shape: [...p.shape] }))
  }

  /** Flat parameters [means (K x d) | logWeights (K) | logScales (K)]. */
  getParams(): Float64Array {
    return this.#native.getParams()
  }

  setParams(values: Float64Array): void {
    typedArray('params', values, Float64Array, this.components * (this.dim + 2))
    callNative(() => this.#native.setParams(values))
  }

  /** Which entries are learned (1) or fixed (0). */
  get learnMask(): Float64Array {
    return this.#mask.slice()
  }

  logZ(): number {
    return this.#native.logZ()
  }

  /** The mixture's weights (sum to 1). */
  mixtureWeights(): number[] {
    return Array.from(this.#native.mixtureWeights())
  }

  describe(): Record<string, number | number[]> {
    return { mixtureWeights: this.mixtureWeights(), logZ: this.logZ() }
  }

  observe(sampler: Sampler, profiler?: Profiler): ObserveReport {
    const t0 = performance.now()
    const r = callNative(() => this.#native.observeSampler(sampler.nativeHandle()))
    // One native pass: U + grad_x, the weight update, and the walker-weighted parameter-gradient
    // sums the next iteration needs (see surrogateGradFromSampler). It all counts as energy.
    profiler?.add('energy', performance.now() - t0)
    return r
  }

  surrogateGrad(data: Float32Array, walkers: Float32Array, weights: Float64Array, profiler?: Profiler): SurrogateGrad {
    const t0 = performance.now()
    pointsArray('data', data, this.dim)
    pointsArray('walkers', walkers, this.dim)
    typedArray('weights', weights, Float64Array, walkers.length / this.dim)
    const dg = callNative(() => this.#native.paramGrad(data, null))
    const wg = callNative(() => this.#native.paramGrad(walkers, weights))
    const grad = new Float64Array(dg.grad.length)
    for (let i = 0; i < grad.length; i++) grad[i] = this.#mask[i] * (dg.grad[i] - wg.grad[i])
    profiler?.add('paramGrad', performance.now() - t0)
    return { grad, meanDataEnergy: dg.meanEnergy, meanWalkerEnergy: wg.meanEnergy }
  }

  /**
   * The surrogate-loss gradient with the walker side taken straight from the sampler (its positions
   * and normalised weights), natively: when the sampler's state has not changed since this energy's
   * last `observe` (no move, observation, resampling or re-initialisation in between), the walker
   * sums come from that observation's pass (no second pass over the walkers); otherwise they are
   * computed anew with the same arithmetic, so the result is the same either way. Writes through the
   * sampler's views are not tracked: observe again after writing positions or log-weights yourself.
   */
  surrogateGradFromSampler(data: Float32Array, sampler: Sampler, profiler?: Profiler): SurrogateGrad {
    const t0 = performance.now()
    pointsArray('data', data, this.dim)
    const dg = callNative(() => this.#native.paramGrad(data, null))
    const wg = callNative(() => this.#native.walkerParamGrad(sampler.nativeHandle()))
    const grad = new Float64Array(dg.grad.length)
    for (let i = 0; i < grad.length; i++) grad[i] = this.#mask[i] * (dg.grad[i] - wg.grad[i])
    profiler?.add('paramGrad', performance.now() - t0)
    return { grad, meanDataEnergy: dg.meanEnergy, meanWalkerEnergy: wg.meanEnergy }
  }

  energies(x: Float32Array): Float32Array {
    pointsArray('x', x, this.dim)
    const out = new Float32Array(x.length / this.dim)
    callNative(() => this.#native.evaluate(x, out, null))
    return out
  }

  /** U and grad_x U at the points `x`. */
  evaluate(x: Float32Array): {
    /** U(x_j), one per point. */
    energy: Float32Array
    /** grad_x U(x_j), n x d row-major. */
    grad: Float32Array
  } {
    pointsArray('x', x, this.dim)
    const energy = new Float32Array(x.length / this.dim)
    const grad = new Float32Array(x.length)
    callNative(() => this.#native.evaluate(x, energy, grad))
    return { energy, grad }
  }

  /** Exact log density log rho(x) = -U(x) - log Z at each point. */
  logDensity(x: Float32Array): Float64Array {
    pointsArray('x', x, this.dim)
    const out = new Float64Array(x.length / this.dim)
    callNative(() => this.#native.logDensity(x, out))
    return out
  }

  /**
   * Exact samples (n x d). With `stratified`, component counts are n w_i rounded (largest
   * remainder), as the paper's "half from each component"; otherwise iid.
   */
  sample(n: number, seed: number | bigint, options: { stratified?: boolean; step?: number } = {}): {
    /** The samples, n x d row-major. */
    x: Float32Array
    /** The component index (0..K-1) each sample was drawn from. */
    component: Uint32Array
  } {
    intOption('n', n, 0, 2 ** 31)
    const s = seedOption(seed)
    if (typeof options !== 'object' || options === null) {
      throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `sample options must be an object, got ${describeValue(options)}`)
    }
    knownKeys('sample', options, ['stratified', 'step'])
    if (options.step !== undefined) intOption('step', options.step, 0, Number.MAX_SAFE_INTEGER)
    const x = new Float32Array(n * this.dim)
    const component = callNative(() =>
      this.#native.sample(x, Number(s & 0xffffffffn), Number((s >> 32n) & 0xffffffffn), options.step ?? 0, options.stratified ?? false),
    )
    return { x, component }
  }

  sampleInto(sampler: Sampler, seed: bigint): void {
    if (sampler.dim !== this.dim) throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `sampler dim ${sampler.dim} != energy dim ${this.dim}`)
    callNative(() => this.#native.sampleInto(sampler.nativeHandle(), Number(seed & 0xffffffffn), Number((seed >> 32n) & 0xffffffffn), 0, true))
  }

  /** Per-walker surrogate parts natively from the sampler's own weights (no JS arrays). */
  walkerParamGrad(sampler: Sampler): {
    /** sum_i p_i dU/dtheta(X_i), laid out like {@link GaussianMixtureEnergy.getParams} (not masked by `fixed`). */
    grad: Float64Array
    /** sum_i p_i U(X_i), the weighted mean walker energy. */
    meanEnergy: number
  } {
    return callNative(() => this.#native.walkerParamGrad(sampler.nativeHandle()))
  }

  /** Energy-side parameter gradient over the data only: mean_j dU/dtheta(x_j). */
  dataParamGrad(data: Float32Array): {
    /** mean_j dU/dtheta(x_j), laid out like {@link GaussianMixtureEnergy.getParams} (not masked by `fixed`). */
    grad: Float64Array
    /** mean_j U(x_j), the mean data energy. */
    meanEnergy: number
  } {
    pointsArray('data', data, this.dim)
    return callNative(() => this.#native.paramGrad(data, null))
  }
}
