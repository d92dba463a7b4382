/**
 * Training loops: Jarzynski-weighted (the paper's Algorithm 1 and its mini-batch variant), PCD and CD.
 *
 * {@link Trainer} is a thin object over an explicit state value (ts/train/): `initState` makes it,
 * `step` advances it one iteration, `saveState` and `restoreState` write and read it.
 * @module
 */
import { closeSync, openSync, writeSync } from 'node:fs'

import type { Energy } from './energy'
import { Profiler } from './profiler'
import type { Sampler } from './sampler'
import { restoreState, saveState } from './train/checkpoint'
import type { Method, RunOptions, TrainerOptions } from './train/options'
import { initState, type TrainerState } from './train/state'
import { step, type IterationStats } from './train/step'
import { intOption, knownKeys } from './validate'

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

  readonly #state: TrainerState

  /** The state {@link Trainer.resume} restored, for the one constructor call it makes. */
  static #restored: TrainerState | null = null

  constructor(options: TrainerOptions) {
    const state = Trainer.#restored ?? initState(options, this.profiler)
    Trainer.#restored = null
    this.#state = state
    const o = state.options
    this.energy = options.energy
    this.data = o.data
    this.method = o.method
    this.walkers = o.walkers
    this.dim = o.dim
    this.seed = o.seed
    this.initDescription = o.initDescription
  }

  /** What runs the walkers, `'cpu'` or `'cuda'` (see {@link TrainerOptions.device}). */
  get device(): 'cpu' | 'cuda' {
    return this.#state.samplers[0].device
  }

  /** Iterations done. */
  get iteration(): number {
    return this.#state.iteration
  }

  /** The samplers (one, or one per walker group in the mini-batch variant). */
  get samplers(): readonly Sampler[] {
    return this.#state.samplers
  }

  /** Metadata describing the run (for reports and stats files). */
  metadata(): Record<string, unknown> {
    const o = this.#state.options
    const s = this.#state.samplers[0]
    return {
      method: o.method,
      walkers: o.walkers,
      dim: o.dim,
      stepSize: s.stepSize,
      noiseStd: s.noiseStd,
      exactWeights: s.exactWeights,
      seed: o.seed.toString(),
      threads: s.threads,
      device: s.device,
      deviceFallback: s.fallbackReason,
      energy: this.energy.backend,
      init: o.initDescription,
      resample: o.resample,
      backwardKernel: o.backwardKernel,
      cdReset: o.method === 'cd' ? o.cdReset : null,
      minibatch: o.minibatch,
      dataPoints: o.data.length / o.dim,
      dataBatch: o.dataBatch ?? null,
      optimizer: this.#state.optimizer.options,
      logZ0: o.logZ0,
      logZ0Known: o.logZ0Known,
    }
  }

  /** One iteration; returns its stats. */
  step(): IterationStats {
    return step(this.#state, this.energy, this.profiler)
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
    const statsFile = this.#state.options.statsFile
    const fd = statsFile ? openSync(statsFile, 'a') : null
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
    saveState(path, this.#state, this.energy)
  }

  /**
   * Continue a run from a checkpoint. `options` must describe the same run (energy architecture,
   * data, method, walkers); a mismatched or corrupt checkpoint is refused with
   * `ERR_JARZYN_BAD_CHECKPOINT`.
   */
  static resume(path: string, options: TrainerOptions): Trainer {
    Trainer.#restored = restoreState(path, options)
    return new Trainer(options)
  }

  /** Free the samplers' threads and memory, and the energy's resources. */
  dispose(): void {
    for (const s of this.#state.samplers) s.dispose()
    this.energy.dispose?.()
  }
}
