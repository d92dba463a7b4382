/**
 * Training loops: Jarzynski-weighted (the paper's Algorithm 1 and its mini-batch variant), PCD and CD.
 * @module
 */
import { createHash } from 'node:crypto'
import { closeSync, openSync, writeSync } from 'node:fs'

import type { Energy } from './energy'
import { isJarzynError, jarzynError } from './errors'
import { Optimizer, type OptimizerOptions } from './optim'
import { Profiler, type Timings } from './profiler'
import { deriveSeed, SplitMix64 } from './splitmix'
import { fillNormals } from './normals'
import { Sampler, schemeOption, type ResampleScheme } from './sampler'
import { seedOption } from './seed'
import { deviceOption, type SamplerDevice } from './device'
import { readCheckpoint, writeCheckpoint, type CheckpointArray } from './checkpoint'
import { intOption, knownKeys, numberOption, describe } from './validate'

/** Training methods. `jarzynski` weights the walkers; `pcd` and `cd` are the unweighted baselines. */
export type Method = 'jarzynski' | 'pcd' | 'cd'

/** When and how a Jarzynski run resamples. */
export interface ResampleOptions {
  /** Scheme (default `'systematic'`). */
  scheme?: ResampleScheme
  /** Resample when ESS < essFraction * N (default 0.5). */
  essFraction?: number
  /** The paper's criterion: resample when CV^2 > cv2 (same as essFraction = 1 / (1 + cv2)). */
  cv2?: number
}

/** How walkers start. */
export type WalkerInit = 'exact' | 'data' | 'noise' | Float32Array

/** Options of a {@link Trainer}. */
export interface TrainerOptions {
  /** The energy U_theta. */
  energy: Energy
  /** Training data, n x d row-major. */
  data: Float32Array
  /** `'jarzynski'` (default), `'pcd'` or `'cd'`. */
  method?: Method
  /** Number of walkers N. */
  walkers: number
  /** ULA step size h. */
  stepSize: number
  /** Optimiser (per-group learning rates, schedules). */
  optimizer: OptimizerOptions
  /** Seed; same seed, same run, bit for bit. Default: random (see `trainer.seed`). */
  seed?: number | bigint
  /** Sampler threads (default: CPUs). Results do not depend on it. */
  threads?: number
  /**
   * Where the walkers run: `'cpu'` (default), `'cuda'` or `'auto'`, as {@link SamplerOptions.device}
   * (each walker group's sampler decides; when CUDA cannot run, the CPU runs with a warning).
   * {@link Trainer.device} and the run's metadata say what ran. Checkpoints do not depend on it:
   * a run saved on one device resumes on another.
   */
  device?: SamplerDevice
  /** Jarzynski resampling, or `false` for none. Default `{ scheme: 'systematic', essFraction: 0.5 }`. */
  resample?: ResampleOptions | false
  /** CD: iterations between resets of the walkers to data (default 4). */
  cdReset?: number
  /**
   * Walker start: `'exact'` samples of rho_theta0 (energies that can sample themselves; the
   * Jarzynski default), `'data'` (the PCD/CD default), `'noise'` (Gaussian noise then `burnIn`
   * unweighted ULA steps: approximate, stated in the run's metadata), or explicit positions.
   */
  init?: WalkerInit
  /** Scale of the `'noise'` init (default 1). */
  noiseScale?: number
  /** Unweighted ULA steps after a `'noise'` init (default 0). */
  burnIn?: number
  /** Data points per gradient (default: all, full batch). Batches walk a seeded shuffle. */
  dataBatch?: number
  /**
   * The mini-batch variant (method.md section 5): walkers split into `batches` groups; each update
   * moves one group `mcmcSteps` ULA steps at fixed parameters, takes the loss over that group with
   * weights normalised within it, and adds the AIS increment to every walker at the parameter change.
   */
  minibatch?: {
    /** Walker groups (>= 1; must divide `walkers`); one group moves per update. */
    batches: number
    /** ULA steps each group takes at fixed parameters before its update (>= 1). */
    mcmcSteps: number
  }
  /** log Z at theta_0 if known (default: the energy's exact log Z, else 0: estimates are then relative). */
  logZ0?: number
  /** Entropy of the data distribution, if known: the stats then report KL = cross-entropy - entropy. */
  dataEntropy?: number
  /** Append each iteration's stats to this JSON-lines file. */
  statsFile?: string
}

/** The statistics of one iteration; estimates refer to the parameters theta_k at its start. */
export interface IterationStats {
  /** Iteration k (0-based). */
  iteration: number
  /** The trainer's method. */
  method: Method
  /** Effective sample size of the weights used at this iteration (summed over walker groups), and as a fraction of N. */
  ess: number
  /** `ess / N`, in [0, 1]; 1 for the unweighted PCD/CD walkers unless some walkers are invalid. */
  essFraction: number
  /** Whether the walkers were resampled at the end of this iteration; total so far. */
  resampled: boolean
  /** Total resamplings so far, summed over walker groups. */
  resamplings: number
  /** Jarzynski estimate of log Z_theta_k (relative to log Z_0 when that is unknown); null for PCD/CD. */
  logZ: number | null
  /** Exact log Z_theta_k, when the energy knows it. */
  logZExact: number | null
  /** Cross-entropy estimate log Z + mean U(data); null for PCD/CD. */
  crossEntropy: number | null
  /** Exact cross-entropy logZExact + mean U(data batch); null when the energy has no exact log Z. */
  crossEntropyExact: number | null
  /** KL(data || model) = cross-entropy - data entropy, when `dataEntropy` is given. */
  kl: number | null
  /** Exact KL = crossEntropyExact - data entropy; null unless the energy has an exact log Z and `dataEntropy` is given. */
  klExact: number | null
  /** mean U_theta_k(data batch). */
  meanDataEnergy: number
  /** Walkers with zero weight after this iteration's observation (non-finite energies). */
  invalidWalkers: number
  /** Model-specific numbers (e.g. `mixtureWeights`) at theta_{k+1}, after the update. */
  model: Record<string, number | number[]> | null
  /** Milliseconds per section in this iteration. */
  timings: Timings
  /** Seconds since `run()` started. */
  elapsed: number
}

/** Options of {@link Trainer.run}. */
export interface RunOptions {
  /** Iterations to run (from the current one). */
  iterations: number
  /** Stop early when aborted (the generator returns after the current iteration). */
  signal?: AbortSignal
}

const TRAINER_KEYS = [
  'energy', 'data', 'method', 'walkers', 'stepSize', 'optimizer', 'seed', 'threads', 'device', 'resample', 'cdReset', 'init',
  'noiseScale', 'burnIn', 'dataBatch', 'minibatch', 'logZ0', 'dataEntropy', 'statsFile',
] as const


/**
 * Trains an energy with Jarzynski-weighted walkers (Algorithm 1 of Carbone et al. 2023) or the
 * PCD/CD baselines.
 *
 * @example
 * ```ts
 * const trainer = new Trainer({ energy, data, method: 'jarzynski', walkers: 10_000, stepSize: 0.1,
 *   optimizer: { type: 'sgd', lr: 2.5e-3, groups: { logWeights: 1.25e-2 } }, seed: 1 })
 * for await (const s of trainer.run({ iterations: 1000 })) {
 *   if (s.iteration % 100 === 0) console.log(s.iteration, s.ess, s.crossEntropy)
 * }
 * trainer.save('run.ckpt')
 * console.log(trainer.profiler.table())
 * ```
 */
export class Trainer {
  /** The energy U_theta being trained; its parameters are updated in place. */
  readonly energy: Energy
  /** The training data, n x d row-major (the array passed in, not a copy: do not modify it during training). */
  readonly data: Float32Array
  /** `'jarzynski'`, `'pcd'` or `'cd'`. */
  readonly method: Method
  /** Number of walkers N (over all walker groups). */
  readonly walkers: number
  /** Dimension d, the energy's. */
  readonly dim: number
  /** The seed in use: the one given, or the random one drawn when none was (pass it back to reproduce the run). */
  readonly seed: bigint
  /** Where the time went, over the trainer's life. */
  readonly profiler = new Profiler()
  /** How the walkers were initialised, in words (for reports). */
  readonly initDescription: string

  readonly #opts: TrainerOptions
  readonly #samplers: Sampler[]
  readonly #weights: Float64Array[]
  readonly #optimizer: Optimizer
  readonly #resample: { scheme: ResampleScheme; essFraction: number } | null
  readonly #cdReset: number
  readonly #logZ0: number
  readonly #dataRng: SplitMix64
  #perm: Uint32Array
  #cursor = 0
  #batchBuf: Float32Array | null = null
  #iteration = 0
  #dataFingerprint: string

  constructor(options: TrainerOptions, internal: { skipInit?: boolean } = {}) {
    if (typeof options !== 'object' || options === null) {
      throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `Trainer options must be an object, got ${describe(options)}`)
    }
    knownKeys('Trainer', options, TRAINER_KEYS)
    this.#opts = { ...options }
    const energy = options.energy
    if (!energy || typeof energy.observe !== 'function' || typeof energy.surrogateGrad !== 'function') {
      throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', 'option `energy` must implement the Energy interface')
    }
    this.energy = energy
    this.dim = energy.dim
    this.method = options.method ?? 'jarzynski'
    if (!['jarzynski', 'pcd', 'cd'].includes(this.method)) {
      throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `option \`method\` must be 'jarzynski', 'pcd' or 'cd', got ${String(options.method)}`)
    }
    if (!(options.data instanceof Float32Array)) {
      throw jarzynError(TypeError, 'ERR_JARZYN_BAD_ARRAY_TYPE', `option \`data\` must be a Float32Array, got ${describe(options.data)}`)
    }
    if (options.data.length === 0 || options.data.length % this.dim !== 0) {
      throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `option \`data\` length ${options.data.length} is not a positive multiple of dim ${this.dim}`)
    }
    for (let i = 0; i < options.data.length; i++) {
      if (!Number.isFinite(options.data[i])) {
        throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `option \`data\` has a non-finite value at index ${i}`)
      }
    }
    this.data = options.data
    this.walkers = intOption('walkers', options.walkers, 1, 2 ** 31)
    numberOption('stepSize', options.stepSize, 0, Number.MAX_VALUE, true)
    this.seed = seedOption(options.seed)
    const device = deviceOption(options.device)
    const groupOf: string[] = []
    for (const p of energy.parameters()) for (let i = 0; i < p.size; i++) groupOf.push(p.group)
    this.#optimizer = new Optimizer(options.optimizer, groupOf)

    if (this.method === 'jarzynski' && options.resample !== false) {
      const r = options.resample ?? {}
      knownKeys('resample', r, ['scheme', 'essFraction', 'cv2'])
      if (r.cv2 !== undefined && r.essFraction !== undefined) {
        throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', 'give `resample.essFraction` or `resample.cv2`, not both')
      }
      const essFraction = r.cv2 !== undefined ? 1 / (1 + numberOption('resample.cv2', r.cv2, 0, Number.MAX_VALUE, false)) : numberOption('resample.essFraction', r.essFraction ?? 0.5, 0, 1, false)
      this.#resample = { scheme: schemeOption(r.scheme ?? 'systematic'), essFraction }
    } else {
      this.#resample = null
    }
    this.#cdReset = intOption('cdReset', options.cdReset ?? 4, 1, Number.MAX_SAFE_INTEGER)
    if (options.dataBatch !== undefined) intOption('dataBatch', options.dataBatch, 1, this.data.length / this.dim)
    const batches = options.minibatch ? intOption('minibatch.batches', options.minibatch.batches, 1, this.walkers) : 1
    if (options.minibatch) {
      knownKeys('minibatch', options.minibatch, ['batches', 'mcmcSteps'])
      intOption('minibatch.mcmcSteps', options.minibatch.mcmcSteps, 1, 1_000_000)
      if (this.method === 'cd') throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', 'the mini-batch variant applies to jarzynski and pcd, not cd')
      if (this.walkers % batches !== 0) throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `walkers (${this.walkers}) must be a multiple of minibatch.batches (${batches})`)
    }
    const logZ0 = options.logZ0 ?? energy.logZ?.() ?? 0
    this.#logZ0 = numberOption('logZ0', logZ0, -Number.MAX_VALUE, Number.MAX_VALUE, false)
    if (options.dataEntropy !== undefined) numberOption('dataEntropy', options.dataEntropy, -Number.MAX_VALUE, Number.MAX_VALUE, false)

    this.#samplers = []
    for (let b = 0; b < batches; b++) {
      this.#samplers.push(
        new Sampler({
          walkers: this.walkers / batches,
          dim: this.dim,
          stepSize: options.stepSize,
          seed: batches === 1 ? this.seed : deriveSeed(this.seed, 100 + b),
          threads: options.threads,
          weighted: this.method === 'jarzynski',
          device,
        }),
      )
    }
    this.#weights = this.#samplers.map((s) => new Float64Array(s.walkers))
    this.#dataRng = new SplitMix64(deriveSeed(this.seed, 1))
    const n = this.data.length / this.dim
    this.#perm = Uint32Array.from({ length: n }, (_, i) => i)
    this.#dataFingerprint = createHash('sha256').update(Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength)).digest('hex')
    this.initDescription = this.#describeInit()
    if (!internal.skipInit) this.#initWalkers()
  }

  /** What runs the walkers, `'cpu'` or `'cuda'` (see {@link TrainerOptions.device}). */
  get device(): 'cpu' | 'cuda' {
    return this.#samplers[0].device
  }

  /** Iterations done. */
  get iteration(): number {
    return this.#iteration
  }

  /** The samplers (one, or one per walker group in the mini-batch variant). */
  get samplers(): readonly Sampler[] {
    return this.#samplers
  }

  /** Metadata describing the run (for reports and stats files). */
  metadata(): Record<string, unknown> {
    return {
      method: this.method,
      walkers: this.walkers,
      dim: this.dim,
      stepSize: this.#samplers[0].stepSize,
      seed: this.seed.toString(),
      threads: this.#samplers[0].threads,
      device: this.#samplers[0].device,
      deviceFallback: this.#samplers[0].fallbackReason,
      energy: this.energy.backend,
      init: this.initDescription,
      resample: this.#resample,
      cdReset: this.method === 'cd' ? this.#cdReset : null,
      minibatch: this.#opts.minibatch ?? null,
      dataPoints: this.data.length / this.dim,
      dataBatch: this.#opts.dataBatch ?? null,
      optimizer: this.#optimizer.options,
      logZ0: this.#logZ0,
      logZ0Known: this.#opts.logZ0 !== undefined || this.energy.logZ !== undefined,
    }
  }

  #describeInit(): string {
    const init = this.#opts.init ?? (this.method === 'jarzynski' ? (this.energy.sampleInto ? 'exact' : 'noise') : 'data')
    if (init instanceof Float32Array) return 'positions given by the caller'
    switch (init) {
      case 'exact':
        return 'exact samples of rho_theta0 drawn by the energy'
      case 'data':
        return 'data points (PCD/CD start)'
      case 'noise':
        return `Gaussian noise (scale ${this.#opts.noiseScale ?? 1}) then ${this.#opts.burnIn ?? 0} unweighted ULA steps: approximate samples of rho_theta0`
      default:
        throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `option \`init\` must be 'exact', 'data', 'noise' or a Float32Array, got ${String(init)}`)
    }
  }

  #initWalkers(): void {
    const init = this.#opts.init ?? (this.method === 'jarzynski' ? (this.energy.sampleInto ? 'exact' : 'noise') : 'data')
    this.#samplers.forEach((s, b) => {
      if (init instanceof Float32Array) {
        if (init.length !== this.walkers * this.dim) {
          throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `option \`init\` has length ${init.length}, expected ${this.walkers * this.dim}`)
        }
        s.positions.set(init.subarray(b * s.positions.length, (b + 1) * s.positions.length))
      } else if (init === 'exact') {
        if (!this.energy.sampleInto) {
          throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', "init 'exact' needs an energy that can draw its own samples; use init: 'noise' with burnIn")
        }
        this.energy.sampleInto(s, deriveSeed(this.seed, 200 + b))
      } else if (init === 'data') {
        this.#fillFromData(s)
      } else {
        fillNormals(s.positions, { dim: this.dim, seed: deriveSeed(this.seed, 300 + b), stream: 'init' })
        const scale = numberOption('noiseScale', this.#opts.noiseScale ?? 1, 0, Number.MAX_VALUE, true)
        for (let i = 0; i < s.positions.length; i++) s.positions[i] *= scale
      }
      this.#observe(s, -1)
      const burnIn = init === 'noise' ? intOption('burnIn', this.#opts.burnIn ?? 0, 0, 1e9) : 0
      for (let k = 0; k < burnIn; k++) {
        s.move()
        this.#observe(s, -1)
      }
      if (burnIn > 0) {
        s.reinitialize()
        this.#observe(s, -1)
      }
    })
  }

  /** Copy data points into the walkers: a seeded random subset (with replacement when N > n). */
  #fillFromData(s: Sampler): void {
    const d = this.dim
    const n = this.data.length / d
    const pos = s.positions
    if (s.walkers === n) {
      // Every data point once, in order: one copy.
      pos.set(this.data)
    } else if (s.walkers < n) {
      const idx = Uint32Array.from({ length: n }, (_, i) => i)
      this.#dataRng.shuffle(idx)
      for (let i = 0; i < s.walkers; i++) pos.set(this.data.subarray(idx[i] * d, (idx[i] + 1) * d), i * d)
    } else {
      for (let i = 0; i < s.walkers; i++) {
        const j = this.#dataRng.below(n)
        pos.set(this.data.subarray(j * d, (j + 1) * d), i * d)
      }
    }
  }

  #observe(s: Sampler, iteration: number): number {
    try {
      return this.energy.observe(s, this.profiler).invalid
    } catch (e) {
      if (isJarzynError(e) && e.code === 'ERR_JARZYN_ALL_WALKERS_INVALID') {
        throw this.#diverged(iteration, 'every walker\'s energy or gradient (non-finite U or grad U at all walkers)')
      }
      throw e
    }
  }

  #diverged(iteration: number, what: string): Error {
    const where = iteration < 0 ? 'during initialisation' : `at iteration ${iteration}`
    const e = jarzynError(Error, 'ERR_JARZYN_DIVERGED', `training diverged ${where}: ${what} became non-finite`)
    Object.assign(e, { iteration, what })
    return e
  }

  /** The data batch of this iteration (all data for full batch). */
  #dataBatch(): Float32Array {
    const bs = this.#opts.dataBatch
    const d = this.dim
    const n = this.data.length / d
    if (bs === undefined || bs >= n) return this.data
    if (!this.#batchBuf) this.#batchBuf = new Float32Array(bs * d)
    for (let i = 0; i < bs; i++) {
      if (this.#cursor === 0) this.#dataRng.shuffle(this.#perm)
      const j = this.#perm[this.#cursor]
      this.#batchBuf.set(this.data.subarray(j * d, (j + 1) * d), i * d)
      this.#cursor = (this.#cursor + 1) % n
    }
    return this.#batchBuf
  }

  /** Combined Jarzynski estimate of log(Z_k / Z_0) over the walker groups. */
  #logRatio(): number {
    const r = this.#samplers.map((s) => s.logNormalizerRatio())
    const m = Math.max(...r)
    if (!Number.isFinite(m)) return m
    return m + Math.log(r.reduce((a, v) => a + Math.exp(v - m), 0) / r.length)
  }

  /** One iteration; returns its stats. */
  step(): IterationStats {
    const k = this.#iteration
    const prof = this.profiler
    const t0 = performance.now()
    const mb = this.#opts.minibatch
    const b = mb ? k % this.#samplers.length : 0
    const s = this.#samplers[b]
    if (this.method === 'cd' && k > 0 && k % this.#cdReset === 0) {
      prof.time('other', () => this.#fillFromData(s))
      s.reinitialize()
      this.#observe(s, k)
    }
    if (mb) {
      for (let m = 0; m < mb.mcmcSteps; m++) {
        prof.time('move', () => s.move())
        this.#observe(s, k)
      }
    }
    const w = this.#weights[b]
    const fromSampler = this.energy.surrogateGradFromSampler !== undefined
    // Energies that read the weights natively need no normalised copy here, only the summary.
    const snap = prof.time('resample', () => (fromSampler ? s.summaryWithRatio() : s.weightsAndSummary(w)))
    const logRatio = this.method !== 'jarzynski' ? null : mb ? prof.time('resample', () => this.#logRatio()) : snap.logNormalizerRatio
    const batch = prof.time('other', () => this.#dataBatch())
    const sg = fromSampler ? this.energy.surrogateGradFromSampler!(batch, s, prof) : this.energy.surrogateGrad(batch, s.readView('positions'), w, prof)
    if (!Number.isFinite(sg.meanDataEnergy)) throw this.#diverged(k, 'the energy of the data')
    for (let i = 0; i < sg.grad.length; i++) {
      if (!Number.isFinite(sg.grad[i])) throw this.#diverged(k, `the parameter gradient (entry ${i})`)
    }
    const logZExact = this.energy.logZ ? this.energy.logZ() : null
    const params = this.energy.getParams()
    prof.time('optimizer', () => this.#optimizer.step(params, sg.grad))
    for (let i = 0; i < params.length; i++) {
      if (!Number.isFinite(params[i])) throw this.#diverged(k, `the parameters (entry ${i})`)
    }
    this.energy.setParams(params)
    let invalid: number
    if (mb) {
      // The parameter change reweights every walker (AIS increment), moved or not.
      invalid = 0
      for (const t of this.#samplers) invalid += this.#observe(t, k)
    } else {
      prof.time('move', () => s.move())
      invalid = this.#observe(s, k)
    }
    let resampled = false
    if (this.#resample) {
      const r = this.#resample
      for (const t of mb ? this.#samplers : [s]) {
        resampled = prof.time('resample', () => t.maybeResample(r)) || resampled
      }
    }
    // ESS of the weights that estimated theta_k's expectations (the weights at the start).
    let ess = snap.ess
    let resamplings = 0
    for (const t of this.#samplers) {
      if (mb && t !== s) ess += t.ess()
      resamplings += t.resamplings
    }
    const logZ = logRatio === null ? null : this.#logZ0 + logRatio
    const ce = logZ === null ? null : logZ + sg.meanDataEnergy
    const ceExact = logZExact === null ? null : logZExact + sg.meanDataEnergy
    const H = this.#opts.dataEntropy
    const model = this.energy.describe ? this.energy.describe() : null
    this.#iteration++
    prof.add('other', 0)
    const timings = prof.endIteration()
    void t0
    return {
      iteration: k,
      method: this.method,
      ess,
      essFraction: ess / this.walkers,
      resampled,
      resamplings,
      logZ,
      logZExact,
      crossEntropy: ce,
      crossEntropyExact: ceExact,
      kl: ce === null || H === undefined ? null : ce - H,
      klExact: ceExact === null || H === undefined ? null : ceExact - H,
      meanDataEnergy: sg.meanDataEnergy,
      invalidWalkers: invalid,
      model,
      timings,
      elapsed: 0,
    }
  }

  /**
   * Run `iterations` iterations, yielding each one's stats. Yields to the event loop now and then so
   * that timers, progress bars and abort signals work.
   */
  async *run(options: RunOptions): AsyncGenerator<IterationStats, void, undefined> {
    knownKeys('run', options, ['iterations', 'signal'])
    const iterations = intOption('iterations', options.iterations, 0, Number.MAX_SAFE_INTEGER)
    const start = performance.now()
    let lastYield = start
    const fd = this.#opts.statsFile ? openSync(this.#opts.statsFile, 'a') : null
    try {
      for (let i = 0; i < iterations; i++) {
        if (options.signal?.aborted) return
        const st = this.step()
        st.elapsed = (performance.now() - start) / 1000
        if (fd !== null) writeSync(fd, JSON.stringify(st) + '\n')
        yield st
        if (performance.now() - lastYield > 50) {
          await new Promise((r) => setImmediate(r))
          lastYield = performance.now()
        }
      }
    } finally {
      if (fd !== null) closeSync(fd)
    }
  }

  /**
   * Write a checkpoint atomically: parameters, optimiser state, walkers, log-weights, cached
   * observations, log-normaliser, RNG positions and the iteration. Resuming from it continues
   * bit-identically.
   */
  save(path: string): void {
    const arrays: Record<string, CheckpointArray> = { params: this.energy.getParams() }
    const opt = this.#optimizer.state()
    arrays.optM = Float64Array.from(opt.m)
    arrays.optV = Float64Array.from(opt.v)
    arrays.perm = this.#perm
    const counters: number[][] = []
    this.#samplers.forEach((s, b) => {
      arrays[`positions${b}`] = s.readView('positions')
      arrays[`logWeights${b}`] = s.readView('logWeights')
      arrays[`energies${b}`] = s.readView('energies')
      arrays[`gradients${b}`] = s.readView('gradients')
      counters.push(s.counters())
    })
    writeCheckpoint(
      path,
      {
        format: 'jarzyn-trainer',
        method: this.method,
        walkers: this.walkers,
        dim: this.dim,
        batches: this.#samplers.length,
        seed: this.seed.toString(),
        iteration: this.#iteration,
        optimizerT: opt.t,
        stepSize: this.#samplers[0].stepSize,
        parameters: this.energy.parameters(),
        energy: this.energy.backend,
        data: this.#dataFingerprint,
        dataRng: this.#dataRng.state.toString(),
        cursor: this.#cursor,
        counters,
      },
      arrays,
    )
  }

  /**
   * Continue a run from a checkpoint. `options` must describe the same run (energy architecture,
   * data, method, walkers); a mismatched or corrupt checkpoint is refused with
   * `ERR_JARZYN_BAD_CHECKPOINT`.
   */
  static resume(path: string, options: TrainerOptions): Trainer {
    const { meta, arrays } = readCheckpoint(path)
    const m = meta as Record<string, unknown>
    const bad = (why: string) => jarzynError(Error, 'ERR_JARZYN_BAD_CHECKPOINT', `${path}: ${why}`)
    if (m?.format !== 'jarzyn-trainer') throw bad('not a trainer checkpoint')
    if (typeof m.seed !== 'string' || !/^\d{1,20}$/.test(m.seed)) throw bad('`seed` is not a 64-bit integer')
    // A refused checkpoint leaves nothing half-restored: the caller's energy gets its parameters
    // back and the trainer made for the restore is freed (its samplers only: the energy is the caller's).
    const energyBefore = typeof options?.energy?.getParams === 'function' ? options.energy.getParams() : null
    let t: Trainer | null = null
    try {
      t = new Trainer({ ...options, seed: BigInt(m.seed) }, { skipInit: true })
      Trainer.#restore(t, m, arrays, bad)
      return t
    } catch (e) {
      if (t) for (const s of t.#samplers) s.dispose()
      if (energyBefore) options.energy.setParams(energyBefore)
      if (isJarzynError(e) && e.code !== 'ERR_JARZYN_BAD_CHECKPOINT' && t !== null) throw bad(e.message)
      throw e
    }
  }

  /** Check a checkpoint's contents against a fresh trainer `t`, then write them into it. */
  static #restore(t: Trainer, m: Record<string, unknown>, arrays: Record<string, CheckpointArray>, bad: (why: string) => Error): void {
    const expect = (what: string, got: unknown, want: unknown) => {
      if (JSON.stringify(got) !== JSON.stringify(want)) throw bad(`${what} is ${JSON.stringify(got)} in the checkpoint but ${JSON.stringify(want)} in the options`)
    }
    expect('method', m.method, t.method)
    expect('walkers', m.walkers, t.walkers)
    expect('dim', m.dim, t.dim)
    expect('mini-batch groups', m.batches, t.#samplers.length)
    expect('parameter layout', m.parameters, t.energy.parameters())
    expect('data (SHA-256)', m.data, t.#dataFingerprint)
    // The checksum only proves the file is what was written; check that what was written fits.
    const arr = (name: string, Ctor: Float32ArrayConstructor | Float64ArrayConstructor | Uint32ArrayConstructor, length: number) => {
      const a = arrays[name]
      if (!(a instanceof Ctor) || a.length !== length) throw bad(`array \`${name}\` is missing or has the wrong type or length (expected ${length})`)
      return a
    }
    const finite = (name: string, a: Float64Array) => {
      const i = a.findIndex((v) => !Number.isFinite(v))
      if (i >= 0) throw bad(`array \`${name}\` has a non-finite value at index ${i}`)
      return a
    }
    const intIn = (name: string, v: unknown, max: number) => {
      if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > max) throw bad(`\`${name}\` is not an integer in [0, ${max}]`)
      return v as number
    }
    const n = t.#perm.length
    const paramCount = t.energy.getParams().length
    const params = finite('params', arr('params', Float64Array, paramCount) as Float64Array)
    const optM = finite('optM', arr('optM', Float64Array, paramCount) as Float64Array)
    const optV = finite('optV', arr('optV', Float64Array, paramCount) as Float64Array)
    const perm = arr('perm', Uint32Array, n) as Uint32Array
    const seen = new Uint8Array(n)
    for (const i of perm) {
      if (i >= n || seen[i]) throw bad('`perm` is not a permutation of the data indices')
      seen[i] = 1
    }
    const iteration = intIn('iteration', m.iteration, Number.MAX_SAFE_INTEGER)
    const cursor = intIn('cursor', m.cursor, n - 1)
    const optT = intIn('optimizerT', m.optimizerT, Number.MAX_SAFE_INTEGER)
    if (typeof m.dataRng !== 'string' || !/^\d{1,20}$/.test(m.dataRng) || BigInt(m.dataRng) >= 1n << 64n) throw bad('`dataRng` is not a 64-bit integer')
    if (typeof m.stepSize !== 'number' || !(m.stepSize > 0) || !Number.isFinite(m.stepSize)) throw bad('`stepSize` is not a positive number')
    const counters = m.counters
    if (!Array.isArray(counters) || counters.length !== t.#samplers.length || counters.some((c) => !Array.isArray(c) || c.length !== 5 || c.some((v) => typeof v !== 'number'))) {
      throw bad('`counters` are malformed')
    }
    const per = t.#samplers[0].walkers
    const views = t.#samplers.map((_, b) => {
      const logWeights = arr(`logWeights${b}`, Float64Array, per) as Float64Array
      // A log-weight is finite, or -Infinity for a walker with zero weight; never NaN or +Infinity.
      const i = logWeights.findIndex((a) => !(a < Infinity))
      if (i >= 0) throw bad(`array \`logWeights${b}\` has ${logWeights[i]} at index ${i}`)
      return {
        positions: arr(`positions${b}`, Float32Array, per * t.dim),
        logWeights,
        energies: arr(`energies${b}`, Float32Array, per),
        gradients: arr(`gradients${b}`, Float32Array, per * t.dim),
      }
    })
    t.energy.setParams(params)
    t.#optimizer.restore({ t: optT, m: Array.from(optM), v: Array.from(optV) })
    t.#perm.set(perm)
    t.#cursor = cursor
    t.#dataRng.state = BigInt(m.dataRng)
    t.#iteration = iteration
    t.#samplers.forEach((s, b) => {
      s.stepSize = m.stepSize as number
      s.positions.set(views[b].positions)
      s.logWeights.set(views[b].logWeights)
      s.energies.set(views[b].energies)
      s.gradients.set(views[b].gradients)
      s.restoreCounters(counters[b] as number[])
    })
  }

  /** Free the samplers' threads and memory, and the energy's resources. */
  dispose(): void {
    for (const s of this.#samplers) s.dispose()
    this.energy.dispose?.()
  }
}
