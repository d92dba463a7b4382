/**
 * The native Gaussian-mixture energy U(x) = -log sum_i exp(-|x - a_i|^2 / (2 s_i^2) - z_i), computed in
 * the Rust core: energies, gradients and weighted parameter gradients in parallel, straight into the
 * sampler's buffers. Exact log Z and exact samples.
 * @module
 */
import native, { nativeSamplers } from './native'
import { callNative, jarzynError } from './errors'
import type { Energy, FusedPath, ParamInfo, SurrogateGrad } from './energy'
import type { Profiler } from './profiler'
import type { Sampler } from './sampler'
import { seedOption } from './seed'
import { defaultThreads } from './threads'
import { intOption, knownKeys, pointsArray, typedArray, describe as describeValue } from './validate'
import { mixtureLayout, type GaussianMixtureOptions } from './gmm-options'

export type { GaussianMixtureOptions }


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
    const layout = mixtureLayout(options)
    const [d, k] = [(this.dim = layout.dim), (this.components = layout.components)]
    const threads = options.threads === undefined ? defaultThreads() : intOption('threads', options.threads, 1, 1024)
    this.#native = callNative(() => new native.NativeGmm(d, k, threads))
    this.setParams(layout.params)
    this.#mask = layout.mask
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
    return callNative(() => this.#native.getParams())
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
    return callNative(() => this.#native.logZ())
  }

  /** The mixture's weights (sum to 1). */
  mixtureWeights(): number[] {
    return Array.from(callNative(() => this.#native.mixtureWeights()))
  }

  describe(): Record<string, number | number[]> {
    return { mixtureWeights: this.mixtureWeights(), logZ: this.logZ() }
  }

  /** U and grad_x U at the points `x` (n x d) into `energy` (n) and `grad` (n x d). */
  evaluate(x: Float32Array, energy: Float32Array, grad: Float32Array, profiler?: Profiler): void {
    const t0 = performance.now()
    pointsArray('x', x, this.dim)
    typedArray('energy', energy, Float32Array, x.length / this.dim)
    typedArray('grad', grad, Float32Array, x.length)
    callNative(() => this.#native.evaluate(x, energy, grad))
    profiler?.add('energy', performance.now() - t0)
  }

  /**
   * The native side of this energy: samplers evaluate it inside their own passes (U, grad U, the
   * weight update and the next iteration's walker-weighted parameter gradient in one pass), and
   * trainers drive an iteration with two native calls.
   * @internal
   */
  get fused(): FusedPath {
    return { handle: this.#native, mask: this.#mask }
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

  energies(x: Float32Array): Float32Array {
    pointsArray('x', x, this.dim)
    const out = new Float32Array(x.length / this.dim)
    callNative(() => this.#native.evaluate(x, out, null))
    return out
  }

  /** U and grad_x U at the points `x`, in new arrays (see {@link GaussianMixtureEnergy.evaluate} to write into yours). */
  energyAndGrad(x: Float32Array): {
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
      this.#native.sample(x, s, options.step ?? 0, options.stratified ?? false),
    )
    return { x, component }
  }

  /** Exact samples of the mixture into `out` (n x d), stratified over the components. */
  sampleInto(out: Float32Array, seed: bigint): void {
    pointsArray('out', out, this.dim)
    const s = seedOption(seed)
    callNative(() => this.#native.sample(out, s, 0, true))
  }

  /** Per-walker surrogate parts natively from the sampler's own weights (no JS arrays). */
  walkerParamGrad(sampler: Sampler): {
    /** sum_i p_i dU/dtheta(X_i), laid out like {@link GaussianMixtureEnergy.getParams} (not masked by `fixed`). */
    grad: Float64Array
    /** sum_i p_i U(X_i), the weighted mean walker energy. */
    meanEnergy: number
  } {
    const n = nativeSamplers.get(sampler)
    if (!n || sampler.disposed) throw jarzynError(Error, 'ERR_JARZYN_DISPOSED', 'the sampler was disposed; create a new one')
    return callNative(() => this.#native.walkerParamGrad(n))
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
