/**
 * {@link TfEnergy}: any TensorFlow.js function x -> U(x) with named variables, as an {@link Energy}
 * the samplers and trainers drive.
 * @module
 */
import type * as TF from '@tensorflow/tfjs'

import type { Energy, ParamInfo, SurrogateGrad } from '../energy'
import { jarzynError } from '../errors'
import type { Profiler } from '../profiler'
import { describe, intOption, knownKeys, numberOption, typedArray } from '../validate'
import { backendLabel, loadTf } from './backend'

/** One named parameter tensor of a {@link TfEnergy}. */
export interface TfParameter {
  /** Name, unique within the energy (e.g. `'dense0/kernel'`). */
  name: string
  /** The variable (float32). The energy owns it from now on: `dispose()` frees it. */
  variable: TF.Variable
  /** Optimiser group, for per-group learning rates (default `'default'`). */
  group?: string
}

/** Options of a {@link TfEnergy}. */
export interface TfEnergyOptions {
  /** Dimension d of a point. */
  dim: number
  /**
   * The energy: a batch of points (n x d) to U at each (length n). Points must not interact (no
   * batch statistics): the walkers' gradients come from one backward pass of the summed energy.
   */
  energy: (x: TF.Tensor2D) => TF.Tensor1D
  /** The variables U depends on, in the order of the flat parameter vector. */
  parameters: TfParameter[]
  /**
   * Weight c of the energy-squared penalty c (mean_j U(data_j)^2 + mean_i U(X_i)^2) added to the
   * surrogate loss, the walker mean unweighted over live walkers (p_i > 0). Default 0; the paper's
   * MNIST run uses 0.01. It keeps the energies near zero.
   */
  penalty?: number
  /**
   * The part of U whose square the penalty takes (default U itself). An energy made of a network
   * plus a fixed-scale base (e.g. a Gaussian's quadratic, hundreds of nats) penalises the network
   * alone: the penalty is there to keep the network's output near zero.
   */
  penalized?: (x: TF.Tensor2D) => TF.Tensor1D
  /** Model-specific numbers for the per-iteration stats. */
  describe?: () => Record<string, number | number[]>
}

const OPTION_KEYS = ['dim', 'energy', 'parameters', 'penalty', 'penalized', 'describe'] as const

/**
 * An energy U_theta(x) computed with TensorFlow.js on the active backend (see `initTensorflow`).
 *
 * Every evaluation runs inside `tf.tidy`, so steps allocate no lasting tensors. Non-finite energies
 * or gradients are passed on as they are: the sampler gives those walkers zero weight.
 *
 * @example
 * ```ts
 * const { tf } = await initTensorflow()
 * const a = tf.variable(tf.zeros([2]))
 * const energy = new TfEnergy({
 *   dim: 2,
 *   energy: (x) => tf.sum(tf.square(tf.sub(x, a)), 1).mul(0.5),
 *   parameters: [{ name: 'center', variable: a }],
 * })
 * ```
 */
export class TfEnergy implements Energy {
  /** Dimension d of a point. */
  readonly dim: number
  /** Weight of the energy-squared penalty in the surrogate loss. */
  readonly penalty: number

  readonly #tf: typeof TF
  readonly #fn: (x: TF.Tensor2D) => TF.Tensor1D
  readonly #penalized?: (x: TF.Tensor2D) => TF.Tensor1D
  readonly #params: TfParameter[]
  readonly #info: ParamInfo[]
  readonly #size: number
  readonly #valueAndGrad: (x: TF.Tensor2D) => { value: TF.Tensor1D; grad: TF.Tensor2D }
  readonly #describe?: () => Record<string, number | number[]>
  /** Reused input buffer of the surrogate loss: data rows then live walker rows. */
  #scratch = new Float32Array(0)
  #disposed = false

  constructor(options: TfEnergyOptions) {
    if (typeof options !== 'object' || options === null) {
      throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `TfEnergy options must be an object, got ${describe(options)}`)
    }
    knownKeys('TfEnergy', options, OPTION_KEYS)
    const tf = (this.#tf = loadTf())
    this.dim = intOption('dim', options.dim, 1, 2 ** 30)
    if (typeof options.energy !== 'function') {
      throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `option \`energy\` must be a function, got ${describe(options.energy)}`)
    }
    this.#fn = options.energy
    this.penalty = numberOption('penalty', options.penalty ?? 0, 0, Number.MAX_VALUE, false)
    if (options.penalized !== undefined && typeof options.penalized !== 'function') {
      throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `option \`penalized\` must be a function, got ${describe(options.penalized)}`)
    }
    this.#penalized = options.penalized
    if (options.describe !== undefined && typeof options.describe !== 'function') {
      throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `option \`describe\` must be a function, got ${describe(options.describe)}`)
    }
    this.#describe = options.describe
    if (!Array.isArray(options.parameters) || options.parameters.length === 0) {
      throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', 'option `parameters` must be a non-empty array of { name, variable, group? }')
    }
    const names = new Set<string>()
    this.#params = options.parameters.map((p, i) => {
      if (typeof p?.name !== 'string' || p.name === '' || names.has(p.name)) {
        throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `parameters[${i}].name must be a unique non-empty string`)
      }
      names.add(p.name)
      if (!(p.variable instanceof tf.Variable) || p.variable.dtype !== 'float32') {
        throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `parameters[${i}].variable must be a float32 tf.Variable of this @tensorflow/tfjs`)
      }
      if (!p.variable.trainable) {
        throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `parameters[${i}].variable ('${p.name}') is not trainable`)
      }
      return { name: p.name, variable: p.variable, group: p.group ?? 'default' }
    })
    this.#info = this.#params.map((p) => ({ name: p.name, group: p.group!, shape: [...p.variable.shape], size: p.variable.size }))
    this.#size = this.#info.reduce((a, p) => a + p.size, 0)
    this.#valueAndGrad = tf.valueAndGrad((x: TF.Tensor2D) => this.#fn(x))
  }

  /**
   * `'tfjs:'` and the backend that computes the energy now, e.g. `'tfjs:wasm'` (TensorFlow.js has one
   * active backend; variables follow it when it changes).
   */
  get backend(): string {
    return backendLabel(this.#tf)
  }

  #live(): typeof TF {
    if (this.#disposed) throw jarzynError(Error, 'ERR_JARZYN_DISPOSED', 'the energy was disposed')
    return this.#tf
  }

  /** U at a batch, checked to be one value per point, as a vector (an [n, 1] result would broadcast). */
  #energy(x: TF.Tensor2D): TF.Tensor1D {
    const u = this.#fn(x)
    if (u.size !== x.shape[0]) {
      throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `the energy function returned shape [${u.shape}] for ${x.shape[0]} points; expected [${x.shape[0]}]`)
    }
    return u.rank === 1 ? u : this.#tf.reshape(u, [-1])
  }

  /** Name, group, shape and size of each parameter tensor, in the order of the flat vector. */
  parameters(): ParamInfo[] {
    return this.#info.map((p) => ({ ...p, shape: [...p.shape] }))
  }

  /** All parameters, flat, in the order of {@link TfEnergy.parameters}. */
  getParams(): Float64Array {
    this.#live()
    const out = new Float64Array(this.#size)
    let off = 0
    for (const p of this.#params) {
      out.set(p.variable.dataSync() as Float32Array, off)
      off += p.variable.size
    }
    return out
  }

  /** Set all parameters (rounded to float32). */
  setParams(values: Float64Array): void {
    const tf = this.#live()
    typedArray('params', values, Float64Array, this.#size)
    tf.tidy(() => {
      let off = 0
      for (const p of this.#params) {
        const v = p.variable
        v.assign(tf.tensor(Float32Array.from(values.subarray(off, off + v.size)), v.shape, 'float32'))
        off += v.size
      }
    })
  }

  /**
   * U and grad_x U at the points `x` (n x d) from one forward and one backward pass, written into
   * `energy` (n) and `grad` (n x d). Times 'copy' and 'energy'.
   */
  evaluate(x: Float32Array, energy: Float32Array, grad: Float32Array, profiler?: Profiler): void {
    const tf = this.#live()
    const d = this.dim
    if (!(x instanceof Float32Array)) throw jarzynError(TypeError, 'ERR_JARZYN_BAD_ARRAY_TYPE', `\`x\` must be a Float32Array, got ${describe(x)}`)
    if (x.length % d !== 0) throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `\`x\` length ${x.length} is not a multiple of dim ${d}`)
    const n = x.length / d
    typedArray('energy', energy, Float32Array, n)
    typedArray('grad', grad, Float32Array, n * d)
    let t = performance.now()
    let copy = 0
    let spent = 0
    tf.tidy(() => {
      const xt = tf.tensor2d(x, [n, d], 'float32')
      let t1 = performance.now()
      copy += t1 - t
      const { value, grad: g } = this.#valueAndGrad(xt)
      if (value.size !== n) {
        throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `the energy function returned shape [${value.shape}] for ${n} points; expected [${n}]`)
      }
      t = performance.now()
      spent += t - t1
      energy.set(value.dataSync() as Float32Array)
      grad.set(g.dataSync() as Float32Array)
      t1 = performance.now()
      copy += t1 - t
    })
    profiler?.add('copy', copy)
    profiler?.add('energy', spent)
  }

  /**
   * d/dtheta [mean_j U(data_j) - sum_i p_i U(X_i) + penalty terms], with data, walkers and p held
   * constant, from one forward and one backward pass over data and walkers together. Walkers with
   * p_i = 0 (dead ones, whose positions may be non-finite) are left out. Times 'paramGrad'.
   */
  surrogateGrad(data: Float32Array, walkers: Float32Array, weights: Float64Array, profiler?: Profiler): SurrogateGrad {
    const tf = this.#live()
    const t0 = performance.now()
    const d = this.dim
    if (!(data instanceof Float32Array)) throw jarzynError(TypeError, 'ERR_JARZYN_BAD_ARRAY_TYPE', `\`data\` must be a Float32Array, got ${describe(data)}`)
    if (data.length === 0 || data.length % d !== 0) {
      throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `\`data\` length ${data.length} is not a positive multiple of dim ${d}`)
    }
    if (!(weights instanceof Float64Array)) throw jarzynError(TypeError, 'ERR_JARZYN_BAD_ARRAY_TYPE', `\`weights\` must be a Float64Array, got ${describe(weights)}`)
    typedArray('walkers', walkers, Float32Array, weights.length * d)
    const nData = data.length / d
    const live: number[] = []
    for (let i = 0; i < weights.length; i++) if (weights[i] > 0) live.push(i)
    const m = nData + live.length
    if (this.#scratch.length < m * d) this.#scratch = new Float32Array(m * d)
    const x = this.#scratch.subarray(0, m * d)
    x.set(data)
    // Loss = sum_j c_j U_j + sum_j a_j U_j^2: c = 1/n on data, -p on walkers; a = penalty / count.
    const c = new Float32Array(m)
    const a = new Float32Array(m)
    c.fill(1 / nData, 0, nData)
    a.fill(this.penalty / nData, 0, nData)
    live.forEach((i, k) => {
      x.set(walkers.subarray(i * d, (i + 1) * d), (nData + k) * d)
      c[nData + k] = -weights[i]
      a[nData + k] = this.penalty / live.length
    })
    const grad = new Float64Array(this.#size)
    let u: TF.Tensor1D | null = null
    try {
      tf.tidy(() => {
        const xt = tf.tensor2d(x, [m, d], 'float32')
        const ct = tf.tensor1d(c, 'float32')
        const at = tf.tensor1d(a, 'float32')
        const vars = this.#params.map((p) => p.variable)
        const { grads } = tf.variableGrads(() => {
          // Kept past the gradient's own tidy for the mean energies; disposed in `finally`.
          u = tf.keep(this.#energy(xt))
          const linear = tf.sum(tf.mul(ct, u)) as TF.Scalar
          if (!(this.penalty > 0)) return linear
          const pen = this.#penalized ? this.#penalized(xt) : u
          return tf.add(linear, tf.sum(tf.mul(at, tf.square(pen)))) as TF.Scalar
        }, vars)
        let off = 0
        for (const p of this.#params) {
          const g = grads[p.variable.name]
          // A variable U does not depend on has no gradient: zero.
          if (g) grad.set(g.dataSync() as Float32Array, off)
          off += p.variable.size
        }
      })
      const uv = (u as TF.Tensor1D | null)!.dataSync() as Float32Array
      let meanData = 0
      for (let j = 0; j < nData; j++) meanData += uv[j]
      let meanWalker = 0
      live.forEach((i, k) => (meanWalker += weights[i] * uv[nData + k]))
      return { grad, meanDataEnergy: meanData / nData, meanWalkerEnergy: meanWalker }
    } finally {
      ;(u as TF.Tensor1D | null)?.dispose()
      profiler?.add('paramGrad', performance.now() - t0)
    }
  }

  /** U at the points `x` (n x d). */
  energies(x: Float32Array): Float32Array {
    const tf = this.#live()
    if (!(x instanceof Float32Array)) throw jarzynError(TypeError, 'ERR_JARZYN_BAD_ARRAY_TYPE', `\`x\` must be a Float32Array, got ${describe(x)}`)
    if (x.length % this.dim !== 0) throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `\`x\` length ${x.length} is not a multiple of dim ${this.dim}`)
    const n = x.length / this.dim
    if (n === 0) return new Float32Array(0)
    return tf.tidy(() => (this.#energy(tf.tensor2d(x, [n, this.dim], 'float32')).dataSync() as Float32Array).slice())
  }

  /** The numbers of the `describe` option (none by default), for the per-iteration stats. */
  describe(): Record<string, number | number[]> {
    return this.#describe ? this.#describe() : {}
  }

  /** Free the variables. Any later call throws `ERR_JARZYN_DISPOSED`. */
  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    for (const p of this.#params) p.variable.dispose()
  }

  /** Whether {@link TfEnergy.dispose} was called. */
  get disposed(): boolean {
    return this.#disposed
  }
}
