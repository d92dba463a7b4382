/**
 * The walker population with Jarzynski log-weights (Carbone et al., NeurIPS 2023, Proposition 1).
 * @module
 */

import native, { nativeSamplers } from './native'
export { RESAMPLE_SCHEMES, schemeOption } from './sampler-types'
export type { MaybeResampleOptions, ObserveReport, ResampleScheme, SamplerOptions, WeightSummary } from './sampler-types'
import { schemeOption, type MaybeResampleOptions, type ObserveReport, type ResampleScheme, type SamplerOptions, type WeightSummary } from './sampler-types'
import { seedOption } from './seed'
import { defaultThreads } from './threads'
import { callNative, jarzynError } from './errors'
import type { Energy } from './energy'
import type { Profiler } from './profiler'
import type { TrainerOptions } from './train/options' // for doc links
import { intOption, knownKeys, numberOption, typedArray, describe } from './validate'
import {
  CUDA_AUTO_MIN_ELEMENTS,
  cudaStatus,
  deviceInfoFromNative,
  deviceOption,
  warnCudaFallback,
  type CudaDeviceInfo,
  type SamplerDevice,
  type ResolvedDevice,
} from './device'

const SAMPLER_KEYS = ['walkers', 'dim', 'stepSize', 'noiseStd', 'seed', 'threads', 'weighted', 'device'] as const

/** The views, by the index the native side uses. */
const VIEW = { positions: 0, gradients: 1, energies: 2, logWeights: 3 } as const
type ViewName = keyof typeof VIEW

/**
 * N walkers in R^d with Jarzynski log-weights, moved by the unadjusted Langevin algorithm.
 *
 * The sampler never computes energies: you evaluate U and grad U at {@link Sampler.positions}
 * (with any model: TensorFlow.js, a native energy, plain JS) and hand them to
 * {@link Sampler.observe}. One iteration of the paper's Algorithm 1 is:
 *
 * @example
 * ```ts
 * import { Sampler } from 'jarzyn'
 * const s = new Sampler({ walkers: 4096, dim: 2, stepSize: 0.1, seed: 42 })
 * // ... fill s.positions with exact samples of the initial model, then:
 * s.observe(energy(s.positions), grad(s.positions))
 * for (let k = 0; k < 1000; k++) {
 *   const p = s.normalizedWeights()          // weights for the model expectation
 *   updateParameters(p)                       // theta_k -> theta_{k+1}
 *   s.move()                                  // ULA step with grad U_k
 *   s.observe(energy(s.positions), grad(s.positions))   // U_{k+1}, grad U_{k+1}: updates the weights
 *   s.maybeResample({ essFraction: 0.5, scheme: 'systematic' })
 * }
 * console.log('log Z_k / Z_0 ~', s.logNormalizerRatio())
 * ```
 *
 * That loop is the paper's weighting, whose backward kernel is the ULA kernel at theta_{k+1}:
 * A += alpha_k(X_k, X_{k+1}) - alpha_{k+1}(X_{k+1}, X_k). The ULA kernel at theta_k is an exact
 * backward kernel too (the derivation: {@link TrainerOptions.backwardKernel}); it splits each
 * increment into a MALA log-ratio at fixed theta_k and an annealed-importance term,
 * A += [alpha_k(X_k, X_{k+1}) - alpha_k(X_{k+1}, X_k)] + [U_k(X_{k+1}) - U_{k+1}(X_{k+1})], and
 * costs one more evaluation of U and grad U per iteration. The sampler needs nothing new for it:
 * an observation after a move at unchanged parameters adds the first bracket, and an observation
 * with no move in between adds U_old - U_new, the second. Observe twice:
 *
 * @example
 * ```ts
 * // The backward kernel at theta_k ('current'): same start as above, then
 * for (let k = 0; k < 1000; k++) {
 *   s.move()                                  // ULA step with grad U_k
 *   s.observe(energy(s.positions), grad(s.positions))   // U_k, grad U_k at X_{k+1}: the MALA term
 *   const p = s.normalizedWeights()          // still weights for rho_theta_k, at the moved walkers
 *   updateParameters(p)                       // theta_k -> theta_{k+1}
 *   s.observe(energy(s.positions), grad(s.positions))   // U_{k+1}, grad U_{k+1}, no move: the AIS term
 *   s.maybeResample({ essFraction: 0.5, scheme: 'systematic' })
 * }
 * ```
 *
 * The second observation's gradient is the one the next `move()` uses. Both weightings estimate
 * E_theta[f] and log Z_theta exactly; which has the larger effective sample size per second depends
 * on how fast theta changes (the README's "Exact backward kernels" has measurements).
 * `Trainer` does either with its `backwardKernel` option.
 *
 * Memory: {@link Sampler.positions}, {@link Sampler.logWeights}, {@link Sampler.energies} and
 * {@link Sampler.gradients} are views of native memory, made once. Writes from JavaScript are seen
 * by the core; no step allocates a new buffer.
 *
 * On CUDA (`device: 'cuda'` or `'auto'`, see {@link Sampler.device}) the walkers live on the GPU
 * and the four views are host copies (mirrors) of the device buffers, kept in step by these rules:
 * - Reading: each getter refreshes its view from the device when the device has changed it since
 *   (one copy over PCIe: N x d x 4 bytes for `positions` and `gradients`, N x 4 for `energies`,
 *   N x 8 for `logWeights`); repeated reads between two operations cost nothing. Take the view from
 *   the getter after each operation: a reference kept across operations may be stale.
 * - Writing: a view taken from its getter counts as written (the sampler cannot see writes) and is
 *   copied to the device before the next operation that reads that buffer (`move`, `observe`,
 *   `summary`, `resample`, ...): one more copy of that buffer. So positions you write before the
 *   first `observe()` (or before an `observe()` after {@link Sampler.reinitialize}) reach the
 *   device. Writes to `positions` between `move()` and `observe()` are dropped (the device refuses
 *   them; on the CPU they would change the Jarzynski increment) and the view is refreshed.
 * - `observe()` with no arguments sends `energies` and `gradients` to the device (one copy each,
 *   as any observation on CUDA).
 */
export class Sampler {
  /** Number of walkers N. */
  readonly walkers: number
  /** Dimension d. */
  readonly dim: number
  /** The RNG seed (given or drawn). */
  readonly seed: bigint
  /** Worker threads. */
  readonly threads: number
  /** Whether observations update the log-weights. */
  readonly weighted: boolean
  /** What runs the walkers: `'cuda'` (a GPU) or `'cpu'`, whatever the `device` option asked for. */
  readonly device: ResolvedDevice
  /** The `device` option as given (default `'cpu'`). */
  readonly requestedDevice: SamplerDevice
  /**
   * Why the sampler runs on the CPU although `device` was `'cuda'` or `'auto'` (e.g. `'no CUDA
   * driver: ...'`, or for `'auto'` that the sampler is below {@link CUDA_AUTO_MIN_ELEMENTS}); null
   * when it runs where asked, or when `'cpu'` was asked for.
   */
  readonly fallbackReason: string | null

  #native: InstanceType<typeof native.NativeSampler>
  #positions: Float32Array
  #gradients: Float32Array
  #energies: Float32Array
  #logWeights: Float64Array
  #stepSize: number
  #noiseStd: number | null = null
  #disposed = false
  #cuda: boolean
  #deviceInfo: CudaDeviceInfo | null
  /** CUDA: bits of the views synced for writing / for reading since the last native operation. */
  #writable = 0
  #readable = 0

  constructor(options: SamplerOptions) {
    if (typeof options !== 'object' || options === null) {
      throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `Sampler options must be an object, got ${describe(options)}`)
    }
    knownKeys('Sampler', options, SAMPLER_KEYS)
    this.walkers = intOption('walkers', options.walkers, 1, 2 ** 32 - 1)
    this.dim = intOption('dim', options.dim, 1, 2 ** 32 - 1)
    this.#stepSize = numberOption('stepSize', options.stepSize, 0, Number.MAX_VALUE, true)
    this.seed = seedOption(options.seed)
    this.threads = options.threads === undefined ? defaultThreads() : intOption('threads', options.threads, 1, 1024)
    if (options.weighted !== undefined && typeof options.weighted !== 'boolean') {
      throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `option \`weighted\` must be a boolean, got ${describe(options.weighted)}`)
    }
    this.weighted = options.weighted ?? true
    if (this.walkers * this.dim > 2 ** 31) {
      throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `walkers * dim = ${this.walkers * this.dim} exceeds the 2^31 elements a typed array may hold`)
    }
    this.requestedDevice = deviceOption(options.device)
    let tryCuda = this.requestedDevice === 'cuda'
    let autoReason: string | null = null
    if (this.requestedDevice === 'auto') {
      const st = cudaStatus()
      const elements = this.walkers * this.dim
      if (!st.available) autoReason = `device 'auto': CUDA is not available: ${st.reason}`
      else if (elements < CUDA_AUTO_MIN_ELEMENTS) autoReason = `device 'auto': walkers x dim = ${elements} is below ${CUDA_AUTO_MIN_ELEMENTS}, where the CPU is faster`
      else tryCuda = true
    }
    const noiseStd = options.noiseStd === undefined ? null : numberOption('noiseStd', options.noiseStd, 0, Number.MAX_VALUE, false)
    this.#native = callNative(() => new native.NativeSampler(this.walkers, this.dim, this.#stepSize, this.seed, this.threads, this.weighted, tryCuda))
    if (noiseStd !== null) this.noiseStd = noiseStd
    nativeSamplers.set(this, this.#native)
    this.device = callNative(() => this.#native.device) === 'cuda' ? 'cuda' : 'cpu'
    this.#cuda = this.device === 'cuda'
    const failed = this.#native.fallbackReason
    // A CUDA sampler that was tried and could not be made warns, 'auto' included (it was expected to work).
    if (failed != null) warnCudaFallback(failed)
    this.fallbackReason = failed ?? autoReason
    const info = callNative(() => this.#native.deviceInfo)
    this.#deviceInfo = info == null ? null : deviceInfoFromNative(info)
    this.#positions = callNative(() => this.#native.f32View(VIEW.positions))
    this.#gradients = callNative(() => this.#native.f32View(VIEW.gradients))
    this.#energies = callNative(() => this.#native.f32View(VIEW.energies))
    this.#logWeights = callNative(() => this.#native.logWeightView())
  }

  #live(): InstanceType<typeof native.NativeSampler> {
    if (this.#disposed) throw jarzynError(Error, 'ERR_JARZYN_DISPOSED', 'the sampler was disposed; create a new one')
    return this.#native
  }

  /**
   * CUDA: an operation on the device is about to run, so every view must be re-synced before its
   * next use (the native side copies only what changed).
   */
  #op(): InstanceType<typeof native.NativeSampler> {
    const n = this.#live()
    this.#writable = 0
    this.#readable = 0
    return n
  }

  /**
   * The native sampler, for an operation on the walkers run outside this class (the native
   * mixture's fused `gradient` and `advance` in the trainer): like every operation of this class,
   * it makes the views count as out of sync on CUDA, so that the next read refreshes them instead
   * of returning what the device held before. Nothing changes on the CPU.
   * @internal
   */
  nativeForOperation(): InstanceType<typeof native.NativeSampler> {
    return this.#op()
  }

  /** CUDA: refresh view `i` if the device changed it; with `write`, mark it as written by JS. */
  #sync(i: number, write: boolean): void {
    const b = 1 << i
    if (write ? this.#writable & b : (this.#writable | this.#readable) & b) return
    callNative(() => this.#native.syncView(i, write))
    if (write) this.#writable |= b
    this.#readable |= b
  }

  #view<T>(name: ViewName, view: T): T {
    this.#live()
    if (this.#cuda) this.#sync(VIEW[name], true)
    return view
  }

  /**
   * A view for reading only: on CUDA refreshed like the getters but not counted as written, so the
   * next operation does not copy it back to the device. The library's own code uses it.
   * @internal
   */
  readView<K extends ViewName>(name: K): Sampler[K] {
    this.#live()
    if (this.#cuda) this.#sync(VIEW[name], false)
    const v = { positions: this.#positions, gradients: this.#gradients, energies: this.#energies, logWeights: this.#logWeights }
    return v[name] as Sampler[K]
  }

  /**
   * Bytes copied between the GPU and the views since the sampler was made: `down` (device to host,
   * refreshing stale views) and `up` (host to device, views written by JavaScript). Observations'
   * own copies of energies and gradients are not counted. Zero on the CPU.
   * @internal
   */
  viewTraffic(): { down: number; up: number } {
    const [down, up] = callNative(() => this.#live().viewTraffic())
    return { down, up }
  }

  /**
   * The GPU of a CUDA sampler (name, compute capability, memory, driver version); null when the
   * sampler runs on the CPU.
   */
  get deviceInfo(): CudaDeviceInfo | null {
    this.#live()
    return this.#deviceInfo === null ? null : { ...this.#deviceInfo }
  }

  /**
   * Positions X, N x d row-major (walker i at `[i*d, (i+1)*d)`): a writable view of native memory
   * (on CUDA a host copy, see {@link Sampler}).
   */
  get positions(): Float32Array {
    return this.#view('positions', this.#positions)
  }

  /** Log-weights A (length N): a view of native memory. A = -Infinity marks a dead walker. */
  get logWeights(): Float64Array {
    return this.#view('logWeights', this.#logWeights)
  }

  /**
   * The energies of the last observation (length N), a view of native memory. Write U here and
   * call `observe()` with no arguments for the zero-copy path.
   */
  get energies(): Float32Array {
    return this.#view('energies', this.#energies)
  }

  /** The gradients of the last observation (N x d), a view of native memory; see {@link Sampler.energies}. */
  get gradients(): Float32Array {
    return this.#view('gradients', this.#gradients)
  }

  /** The ULA step size h. May change between iterations (not between `move()` and `observe()`). */
  get stepSize(): number {
    this.#live()
    return this.#stepSize
  }

  /**
   * Standard deviation of each move's noise when decoupled from the step size (see
   * {@link SamplerOptions.noiseStd}); null when it is sqrt(2h), as the exact weights assume.
   */
  get noiseStd(): number | null {
    this.#live()
    return this.#noiseStd
  }

  /** Decouple the noise from the step size (a number), or tie it back to sqrt(2h) (null). */
  set noiseStd(std: number | null) {
    const v = std === null ? null : numberOption('noiseStd', std, 0, Number.MAX_VALUE, false)
    callNative(() => this.#live().setNoiseStd(v))
    this.#noiseStd = v
  }

  /** Whether the log-weights are exact (the noise is sqrt(2h)); false after setting {@link Sampler.noiseStd}. */
  get exactWeights(): boolean {
    return this.noiseStd === null
  }

  /** Set the ULA step size h (> 0) for the next `move()`; throws ERR_JARZYN_INVALID_OPTION otherwise. */
  set stepSize(h: number) {
    const v = numberOption('stepSize', h, 0, Number.MAX_VALUE, true)
    callNative(() => this.#live().setStepSize(v))
    this.#stepSize = v
  }

  /** ULA moves taken so far. */
  get steps(): number {
    return this.counters()[0]
  }

  /** Resamplings so far. */
  get resamplings(): number {
    return this.counters()[1]
  }

  /** Walker observations that turned out non-finite, over the whole run. */
  get invalidTotal(): number {
    return this.counters()[2]
  }

  /**
   * Record U and grad U at the current positions, under the current parameters, and update the
   * log-weights: after a `move()` by the Jarzynski increment, otherwise (parameters changed, walkers
   * not moved) by the AIS increment U_old - U_new. The first observation only records.
   *
   * Walkers with a non-finite energy, gradient or weight get weight zero (A = -Infinity) and are
   * counted; if no walker is left, this throws `ERR_JARZYN_ALL_WALKERS_INVALID`.
   *
   * @param energy U at each walker, a Float32Array of length N (default: {@link Sampler.energies}).
   * @param grad grad U at each walker, a Float32Array of length N*d (default: {@link Sampler.gradients}).
   */
  observe(energy?: Float32Array, grad?: Float32Array): ObserveReport {
    const n = this.#op()
    const e = energy === undefined ? this.#energies : typedArray<Float32Array>('energy', energy, Float32Array, this.walkers)
    const g = grad === undefined ? this.#gradients : typedArray<Float32Array>('grad', grad, Float32Array, this.walkers * this.dim)
    return callNative(() => n.observe(e, g))
  }

  /**
   * Evaluate `energy` at the walkers' positions and observe it: a native energy is evaluated inside
   * the walkers' own pass (no copy through JavaScript), any other one writes U and grad U into
   * {@link Sampler.energies} and {@link Sampler.gradients} (zero copy on the CPU) before
   * {@link Sampler.observe}. The energy never sees the sampler.
   * @param profiler where the time goes (sections `energy`, `observe`), if given.
   */
  observeEnergy(energy: Energy, profiler?: Profiler): ObserveReport {
    if (energy.fused) {
      const n = this.#op()
      const h = energy.fused.handle
      const t0 = performance.now()
      const r = callNative(() => n.observeEnergy(h))
      // One pass: U + grad_x, the weight update and the next iteration's walker-weighted sums.
      profiler?.add('energy', performance.now() - t0)
      return r
    }
    energy.evaluate(this.readView('positions'), this.energies, this.gradients, profiler)
    const t0 = performance.now()
    const r = this.observe()
    profiler?.add('observe', performance.now() - t0)
    return r
  }

  /** One ULA step, X <- X - h grad U(X) + sqrt(2h) xi, with the last observed gradient. */
  move(): void {
    const n = this.#op()
    callNative(() => n.move())
  }

  /** Effective sample size (sum w)^2 / sum w^2, in walkers (N when all weights are equal). */
  ess(): number {
    return this.summary().ess
  }

  /** ESS, CV^2, log-mean weight and dead walkers, from one pass over the weights. */
  summary(): WeightSummary {
    const { logNormalizerRatio: _, ...s } = callNative(() => this.#op().summary())
    return s
  }

  /**
   * Estimate of log(Z_now / Z_0): the log-mean weights absorbed at each resampling plus
   * log mean exp(A) now (Jarzynski's equality).
   */
  logNormalizerRatio(): number {
    return callNative(() => this.#op().summary()).logNormalizerRatio
  }

  /**
   * Normalised weights p_i = exp(A_i) / sum_j exp(A_j) (max-shifted, f64).
   * @param out optional Float64Array of length N to write into (no allocation).
   */
  normalizedWeights(out?: Float64Array): Float64Array {
    const n = this.#op()
    const o = out === undefined ? new Float64Array(this.walkers) : typedArray<Float64Array>('out', out, Float64Array, this.walkers)
    callNative(() => n.weightsAndSummary(o))
    return o
  }

  /** {@link Sampler.summary} plus the log-normaliser estimate {@link Sampler.logNormalizerRatio}, from one pass. */
  summaryWithRatio(): WeightSummary & {
    /** Estimate of log(Z_now / Z_0), as {@link Sampler.logNormalizerRatio}. */
    logNormalizerRatio: number
  } {
    return callNative(() => this.#op().summary())
  }

  /**
   * Everything about the weights in one call (two passes over A): normalised weights written into
   * `out` (or a new array), ESS, CV^2, log-mean weight, and the log-normaliser estimate.
   */
  weightsAndSummary(out?: Float64Array): WeightSummary & {
    /** The normalised weights p_i (sum to 1): `out` when given, else a new array of length N. */
    weights: Float64Array
    /** Jarzynski estimate of log(Z_k / Z_0), as {@link Sampler.logNormalizerRatio}. */
    logNormalizerRatio: number
  } {
    const n = this.#op()
    const o = out === undefined ? new Float64Array(this.walkers) : typedArray<Float64Array>('out', out, Float64Array, this.walkers)
    return { ...callNative(() => n.weightsAndSummary(o)), weights: o }
  }

  /**
   * Resample: walkers are copied from ancestors drawn with probabilities p, A is reset to 0 and
   * log mean exp(A) is carried into {@link Sampler.logNormalizerRatio}. Returns the ancestor of each
   * new walker.
   */
  resample(scheme: ResampleScheme = 'systematic'): Uint32Array {
    const s = schemeOption(scheme)
    return callNative(() => this.#op().resample(s))
  }

  /**
   * Resample when ESS < essFraction * N. The paper's criterion CV^2 > c is
   * `essFraction = 1 / (1 + c)`. Returns whether it resampled.
   */
  maybeResample(options: MaybeResampleOptions): boolean {
    if (typeof options !== 'object' || options === null) {
      throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `maybeResample options must be an object, got ${describe(options)}`)
    }
    knownKeys('maybeResample', options, ['essFraction', 'scheme'])
    const f = numberOption('essFraction', options.essFraction, 0, 1, false)
    const s = schemeOption(options.scheme ?? 'systematic')
    return callNative(() => this.#op().maybeResample(f, s))
  }

  /**
   * Forget the weights and the last observation: the walkers as they are now count as exact samples
   * of the current model (A = 0, log-normaliser 0; the next `observe()` only records). Used after
   * writing new positions (exact samples, CD resets, burn-in).
   */
  reinitialize(): void {
    callNative(() => this.#op().reinitialize())
  }

  /**
   * The scalar state between iterations, for checkpoints.
   * @internal
   */
  counters(): number[] {
    return callNative(() => this.#live().getCounters())
  }

  /**
   * Restore scalar state saved by {@link Sampler.counters} (after writing the views back).
   * @internal
   */
  restoreCounters(c: number[]): void {
    if (!Array.isArray(c) || c.length !== 5 || c.some((v) => typeof v !== 'number')) {
      throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `counters must be an array of 5 numbers, got ${describe(c)}`)
    }
    callNative(() => this.#op().setCounters(c))
  }

  /** Free the thread pool and scratch memory. Any later call throws `ERR_JARZYN_DISPOSED`. */
  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    callNative(() => this.#native.dispose())
  }

  /** Whether {@link Sampler.dispose} was called. */
  get disposed(): boolean {
    return this.#disposed
  }
}
