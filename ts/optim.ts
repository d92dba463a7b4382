/**
 * Optimisers over a flat parameter vector with per-group learning rates and schedules.
 *
 * Parameters live in one Float64Array; each element belongs to a named group (the Gaussian-mixture
 * experiment uses different rates for means and log-weights). State is plain arrays, so it
 * checkpoints exactly.
 * @module
 */
import { jarzynError } from './errors'
import { knownKeys, numberOption, intOption } from './validate'

/**
 * A learning-rate schedule: a multiplier of the base rate (and of every group's rate) as a function
 * of the 0-based iteration k. See {@link scheduleFactor}.
 *
 * @example
 * ```ts
 * // halve the rates every 1000 iterations
 * const optimizer = { type: 'adam', lr: 1e-3, schedule: { type: 'step', every: 1000, factor: 0.5 } } as const
 * ```
 */
export type Schedule =
  | {
      /** Multiplier 1 at every iteration (the default). */
      type: 'constant'
    }
  | {
      /** Multiplier `factor ^ floor(k / every)`. */
      type: 'step'
      /** Iterations between decays (integer >= 1). */
      every: number
      /** Multiplier applied at each decay (> 0), e.g. 0.5. */
      factor: number
    }
  | {
      /** Multiplier `rate ^ k`. */
      type: 'exponential'
      /** Per-iteration multiplier (> 0), e.g. 0.999. */
      rate: number
    }
  | {
      /** Cosine decay from 1 to `floor` over `iterations`, then `floor`. */
      type: 'cosine'
      /** Iterations of the decay (integer >= 1). */
      iterations: number
      /** Final multiplier in [0, 1] (default 0). */
      floor?: number
    }
  | {
      /** Linear decay from 1 to `floor` over `iterations`, then `floor` (the paper's image runs, to 0). */
      type: 'linear'
      /** Iterations of the decay (integer >= 1). */
      iterations: number
      /** Final multiplier in [0, 1] (default 0). */
      floor?: number
    }
  | {
      /** Linear warm-up: multiplier `min(1, (k + 1) / iterations)`. */
      type: 'warmup'
      /** Iterations until the full rate (integer >= 1). */
      iterations: number
    }

/** Optimiser options. `lr` is the base rate; `groups` overrides it per parameter group. */
export interface OptimizerOptions {
  /** `'sgd'` (plain gradient descent, optional momentum) or `'adam'`. */
  type: 'sgd' | 'adam'
  /** Base learning rate. */
  lr: number
  /** Learning rate per parameter group, e.g. `{ means: 2.5e-3, logWeights: 1.25e-2 }`. */
  groups?: Record<string, number>
  /** SGD momentum (default 0). */
  momentum?: number
  /** Adam betas (default [0.9, 0.999]; the paper's MNIST run uses [0, 0.999]). */
  betas?: [number, number]
  /** Adam epsilon (default 1e-8). */
  eps?: number
  /** Learning-rate schedule (default constant). */
  schedule?: Schedule
  /**
   * Clip the gradient to this Euclidean norm (over all parameters) before the step, when it is
   * longer (default: no clipping; the paper's image runs use 1).
   */
  clip?: number
}

/** The multiplier a schedule gives at `iteration` (0-based). */
export function scheduleFactor(s: Schedule | undefined, iteration: number): number {
  if (!s) return 1
  switch (s.type) {
    case 'constant':
      return 1
    case 'step':
      return Math.pow(s.factor, Math.floor(iteration / s.every))
    case 'exponential':
      return Math.pow(s.rate, iteration)
    case 'cosine': {
      const floor = s.floor ?? 0
      const t = Math.min(iteration / s.iterations, 1)
      return floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * t))
    }
    case 'linear': {
      const floor = s.floor ?? 0
      return floor + (1 - floor) * Math.max(0, 1 - iteration / s.iterations)
    }
    case 'warmup':
      return Math.min(1, (iteration + 1) / s.iterations)
  }
}

function checkSchedule(s: unknown): Schedule | undefined {
  if (s === undefined) return undefined
  const o = s as Schedule
  switch (o?.type) {
    case 'constant':
      return o
    case 'step':
      intOption('schedule.every', o.every, 1, Number.MAX_SAFE_INTEGER)
      numberOption('schedule.factor', o.factor, 0, Number.MAX_VALUE, true)
      return o
    case 'exponential':
      numberOption('schedule.rate', o.rate, 0, Number.MAX_VALUE, true)
      return o
    case 'cosine':
    case 'linear':
      intOption('schedule.iterations', o.iterations, 1, Number.MAX_SAFE_INTEGER)
      if (o.floor !== undefined) numberOption('schedule.floor', o.floor, 0, 1, false)
      return o
    case 'warmup':
      intOption('schedule.iterations', o.iterations, 1, Number.MAX_SAFE_INTEGER)
      return o
    default:
      throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `unknown schedule ${JSON.stringify(s)}`)
  }
}

/**
 * Check optimiser options against the parameter groups `groups` (names, repeats allowed): the checks
 * of the {@link Optimizer} constructor, for callers that check options before making one.
 * @internal
 */
export function checkOptimizerOptions(options: OptimizerOptions, groups: readonly string[]): void {
  knownKeys('optimizer', options, ['type', 'lr', 'groups', 'momentum', 'betas', 'eps', 'schedule', 'clip'])
  if (options.clip !== undefined) numberOption('optimizer.clip', options.clip, 0, Number.MAX_VALUE, true)
  if (options.type !== 'sgd' && options.type !== 'adam') {
    throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `optimizer type must be 'sgd' or 'adam', got ${String(options.type)}`)
  }
  numberOption('optimizer.lr', options.lr, 0, Number.MAX_VALUE, false)
  if (options.momentum !== undefined) numberOption('optimizer.momentum', options.momentum, 0, 1, false)
  if (options.betas !== undefined) {
    if (!Array.isArray(options.betas) || options.betas.length !== 2) {
      throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', 'optimizer.betas must be [beta1, beta2]')
    }
    numberOption('optimizer.betas[0]', options.betas[0], 0, 1, false)
    numberOption('optimizer.betas[1]', options.betas[1], 0, 1, false)
  }
  if (options.eps !== undefined) numberOption('optimizer.eps', options.eps, 0, 1, true)
  checkSchedule(options.schedule)
  const known = new Set(groups)
  for (const [g, lr] of Object.entries(options.groups ?? {})) {
    if (!known.has(g)) {
      throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `optimizer group \`${g}\` matches no parameter (groups: ${[...known].join(', ')})`)
    }
    numberOption(`optimizer.groups.${g}`, lr, 0, Number.MAX_VALUE, false)
  }
}

/** Serializable optimiser state (plain arrays: it round-trips through JSON exactly). */
export interface OptimizerState {
  /** Steps taken so far (the schedule's iteration and Adam's bias-correction count). */
  t: number
  /** First moment per parameter: Adam's running mean of the gradient, or SGD's momentum buffer. */
  m: number[]
  /** Adam's running mean of the squared gradient per parameter (zeros for SGD). */
  v: number[]
}

/** Gradient descent or Adam on a flat parameter vector. Minimises: `params -= lr * step(grad)`. */
export class Optimizer {
  /** The options it was made with (a shallow copy). */
  readonly options: Readonly<OptimizerOptions>
  #lr: Float64Array
  #m: Float64Array
  #v: Float64Array
  #t = 0

  /**
   * @param options optimiser settings
   * @param groupOf the group name of each parameter (its length is the parameter count)
   */
  constructor(options: OptimizerOptions, groupOf: readonly string[]) {
    checkOptimizerOptions(options, groupOf)
    this.options = { ...options }
    this.#lr = Float64Array.from(groupOf, (g) => options.groups?.[g] ?? options.lr)
    this.#m = new Float64Array(groupOf.length)
    this.#v = new Float64Array(groupOf.length)
  }

  /** Steps taken. */
  get iteration(): number {
    return this.#t
  }

  /** Apply one update in place. */
  step(params: Float64Array, grad: Float64Array): void {
    const f = scheduleFactor(this.options.schedule, this.#t)
    if (this.options.clip !== undefined) {
      let n2 = 0
      for (let i = 0; i < grad.length; i++) n2 += grad[i] * grad[i]
      const norm = Math.sqrt(n2)
      // Scaling the gradient by c: SGD's step scales by c; Adam's moments see the clipped gradient.
      if (norm > this.options.clip) grad = grad.map((g) => (g * this.options.clip!) / norm)
    }
    this.#t++
    const lr = this.#lr
    if (this.options.type === 'sgd') {
      const mu = this.options.momentum ?? 0
      const m = this.#m
      for (let i = 0; i < params.length; i++) {
        m[i] = mu * m[i] + grad[i]
        params[i] -= f * lr[i] * m[i]
      }
      return
    }
    const [b1, b2] = this.options.betas ?? [0.9, 0.999]
    const eps = this.options.eps ?? 1e-8
    const c1 = 1 - Math.pow(b1, this.#t)
    const c2 = 1 - Math.pow(b2, this.#t)
    const m = this.#m
    const v = this.#v
    for (let i = 0; i < params.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * grad[i]
      v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i]
      params[i] -= (f * lr[i] * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps)
    }
  }

  /** State for a checkpoint. */
  state(): OptimizerState {
    return { t: this.#t, m: Array.from(this.#m), v: Array.from(this.#v) }
  }

  /** Restore a checkpointed state. */
  restore(s: OptimizerState): void {
    if (s.m.length !== this.#m.length || s.v.length !== this.#v.length || !Number.isInteger(s.t) || s.t < 0) {
      throw jarzynError(RangeError, 'ERR_JARZYN_BAD_CHECKPOINT', 'optimizer state does not match the parameters')
    }
    this.#t = s.t
    this.#m.set(s.m)
    this.#v.set(s.v)
  }
}
