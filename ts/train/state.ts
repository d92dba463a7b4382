/**
 * The state of a training run as one value, {@link TrainerState}: what `step` advances, `saveState`
 * writes and `restoreState` reads back. `initState` makes a fresh one.
 * @module
 */
import { createHash } from 'node:crypto'

import type { Energy } from '../energy'
import { isJarzynError, jarzynError } from '../errors'
import { fillNormals } from '../normals'
import { Optimizer } from '../optim'
import type { Profiler } from '../profiler'
import { Sampler } from '../sampler'
import { deriveSeed, SplitMix64 } from '../splitmix'
import { intOption, numberOption } from '../validate'
import { resolveOptions, type ResolvedOptions, type TrainerOptions } from './options'

/**
 * Everything a run is between two iterations, the energy's parameters aside (they live in the
 * energy): a checkpoint is this value written out.
 * @internal
 */
export interface TrainerState {
  /** The run's options, checked, defaults filled in. */
  readonly options: ResolvedOptions
  /** Iterations done. */
  iteration: number
  /** The walkers: one sampler, or one per walker group in the mini-batch variant. */
  readonly samplers: Sampler[]
  /** Per walker group: the normalised weights the surrogate gradient reads (rewritten each iteration). */
  readonly weights: Float64Array[]
  /** The optimiser and its moments. */
  readonly optimizer: Optimizer
  /** Order in which mini-batches walk the data (reshuffled at each pass). */
  readonly perm: Uint32Array
  /** Position in `perm` of the next data point. */
  cursor: number
  /** The generator of data shuffles and of walkers drawn from the data. */
  readonly dataRng: SplitMix64
  /** Scratch for the current data batch (made at the first mini-batch). */
  batchBuf: Float32Array | null
  /** SHA-256 of the data: a checkpoint resumes only on the same data. */
  readonly dataFingerprint: string
}

/**
 * A state for `options` with its samplers made but the walkers not initialised: the start of
 * {@link initState}, and what a checkpoint is restored into.
 * @internal
 */
export function createState(options: TrainerOptions): TrainerState {
  const o = resolveOptions(options)
  const groupOf: string[] = []
  for (const p of options.energy.parameters()) for (let i = 0; i < p.size; i++) groupOf.push(p.group)
  const optimizer = new Optimizer(o.optimizer, groupOf)
  const samplers: Sampler[] = []
  for (let b = 0; b < o.batches; b++) {
    samplers.push(
      new Sampler({
        walkers: o.walkers / o.batches,
        dim: o.dim,
        stepSize: o.stepSize,
        seed: o.batches === 1 ? o.seed : deriveSeed(o.seed, 100 + b),
        threads: o.threads,
        weighted: o.method === 'jarzynski',
        device: o.device,
        ...(o.noiseStd === null ? {} : { noiseStd: o.noiseStd }),
      }),
    )
  }
  const n = o.data.length / o.dim
  return {
    options: o,
    iteration: 0,
    samplers,
    weights: samplers.map((s) => new Float64Array(s.walkers)),
    optimizer,
    perm: Uint32Array.from({ length: n }, (_, i) => i),
    cursor: 0,
    dataRng: new SplitMix64(deriveSeed(o.seed, 1)),
    batchBuf: null,
    dataFingerprint: createHash('sha256').update(Buffer.from(o.data.buffer, o.data.byteOffset, o.data.byteLength)).digest('hex'),
  }
}

/**
 * A fresh run: the state for `options` with every walker group initialised as `options.init` says
 * (and observed once, so that the first iteration has energies and weights).
 * @internal
 */
export function initState(options: TrainerOptions, profiler: Profiler): TrainerState {
  const state = createState(options)
  const energy = options.energy
  const o = state.options
  const init = o.init
  state.samplers.forEach((s, b) => {
    if (init instanceof Float32Array) {
      if (init.length !== o.walkers * o.dim) {
        throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `option \`init\` has length ${init.length}, expected ${o.walkers * o.dim}`)
      }
      s.positions.set(init.subarray(b * s.positions.length, (b + 1) * s.positions.length))
    } else if (init === 'exact') {
      if (!energy.sampleInto) {
        throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', "init 'exact' needs an energy that can draw its own samples; use init: 'noise' with burnIn")
      }
      energy.sampleInto(s.positions, deriveSeed(o.seed, 200 + b))
    } else if (init === 'data') {
      fillFromData(state, s)
    } else {
      fillNormals(s.positions, { dim: o.dim, seed: deriveSeed(o.seed, 300 + b), stream: 'init' })
      const scale = numberOption('noiseScale', o.noiseScale ?? 1, 0, Number.MAX_VALUE, true)
      for (let i = 0; i < s.positions.length; i++) s.positions[i] *= scale
    }
    observeWalkers(energy, s, profiler, -1)
    const burnIn = init === 'noise' || init instanceof Float32Array ? intOption('burnIn', o.burnIn ?? 0, 0, 1e9) : 0
    for (let k = 0; k < burnIn; k++) {
      s.move()
      observeWalkers(energy, s, profiler, -1)
    }
    if (burnIn > 0) {
      s.reinitialize()
      observeWalkers(energy, s, profiler, -1)
    }
  })
  return state
}

/**
 * Copy data points into the walkers of `s`: a seeded random subset (with replacement when N > n).
 * @internal
 */
export function fillFromData(state: TrainerState, s: Sampler): void {
  const { data, dim: d } = state.options
  const n = data.length / d
  const pos = s.positions
  if (s.walkers === n) {
    // Every data point once, in order: one copy.
    pos.set(data)
  } else if (s.walkers < n) {
    const idx = Uint32Array.from({ length: n }, (_, i) => i)
    state.dataRng.shuffle(idx)
    for (let i = 0; i < s.walkers; i++) pos.set(data.subarray(idx[i] * d, (idx[i] + 1) * d), i * d)
  } else {
    for (let i = 0; i < s.walkers; i++) {
      const j = state.dataRng.below(n)
      pos.set(data.subarray(j * d, (j + 1) * d), i * d)
    }
  }
}

/**
 * Have the energy observe the walkers of `s`; returns the walkers with zero weight. All walkers
 * invalid is the run diverging (`iteration` -1: during initialisation).
 * @internal
 */
export function observeWalkers(energy: Energy, s: Sampler, profiler: Profiler, iteration: number): number {
  try {
    return s.observeEnergy(energy, profiler).invalid
  } catch (e) {
    if (isJarzynError(e) && e.code === 'ERR_JARZYN_ALL_WALKERS_INVALID') {
      throw diverged(iteration, 'every walker\'s energy or gradient (non-finite U or grad U at all walkers)')
    }
    throw e
  }
}

/**
 * The `ERR_JARZYN_DIVERGED` error: `what` became non-finite at `iteration` (-1: during initialisation).
 * @internal
 */
export function diverged(iteration: number, what: string): Error {
  const where = iteration < 0 ? 'during initialisation' : `at iteration ${iteration}`
  const e = jarzynError(Error, 'ERR_JARZYN_DIVERGED', `training diverged ${where}: ${what} became non-finite`)
  Object.assign(e, { iteration, what })
  return e
}
