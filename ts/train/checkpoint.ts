/**
 * Checkpoints of a training run: the {@link TrainerState} (and the energy's parameters) written out
 * by {@link saveState}, and read back by {@link restoreState}, which continues bit-identically.
 *
 * The file (see checkpoint-file.ts) holds a JSON header `meta` and named arrays:
 * - meta: `format` ('jarzyn-trainer'), what must match the options (`method`, `walkers`, `dim`,
 *   `batches`, `backwardKernel` (absent in checkpoints written before the option: the kernel such
 *   runs used, see {@link savedKernel}), `parameters`, `data` = the data's SHA-256), the energy's
 *   `backend` (informative), and the scalar state: `seed`, `iteration`, `optimizerT`, `stepSize`, `dataRng`, `cursor`, and per
 *   walker group the sampler's five {@link SAMPLER_COUNTERS};
 * - arrays: `params`, the optimiser's moments `optM` and `optV`, the data order `perm`, and per
 *   walker group b `positions<b>`, `logWeights<b>`, `energies<b>`, `gradients<b>`.
 * @module
 */
import type { Energy } from '../energy'
import { isJarzynError, jarzynError } from '../errors'
import { readCheckpoint, writeCheckpoint, type CheckpointArray } from './checkpoint-file'
import type { ResolvedOptions, TrainerOptions } from './options'
import { createState, type TrainerState } from './state'

/**
 * What a sampler's `counters()` holds, in order: steps taken, resamplings, walkers ever invalidated,
 * the log-normaliser absorbed by resamplings, and whether the walkers have been observed (1 or 0).
 * @internal
 */
export const SAMPLER_COUNTERS = ['steps', 'resamplings', 'invalidTotal', 'logNormAbsorbed', 'observed'] as const

/**
 * Write the run's state and the energy's parameters to `path` atomically.
 * @internal
 */
export function saveState(path: string, state: TrainerState, energy: Energy): void {
  const o = state.options
  const opt = state.optimizer.state()
  const arrays: Record<string, CheckpointArray> = {
    params: energy.getParams(),
    optM: Float64Array.from(opt.m),
    optV: Float64Array.from(opt.v),
    perm: state.perm,
  }
  state.samplers.forEach((s, b) => {
    arrays[`positions${b}`] = s.readView('positions')
    arrays[`logWeights${b}`] = s.readView('logWeights')
    arrays[`energies${b}`] = s.readView('energies')
    arrays[`gradients${b}`] = s.readView('gradients')
  })
  const meta = {
    format: 'jarzyn-trainer',
    method: o.method,
    walkers: o.walkers,
    dim: o.dim,
    batches: state.samplers.length,
    backwardKernel: o.backwardKernel,
    seed: o.seed.toString(),
    iteration: state.iteration,
    optimizerT: opt.t,
    stepSize: state.samplers[0].stepSize,
    noiseStd: state.samplers[0].noiseStd,
    parameters: energy.parameters(),
    energy: energy.backend,
    data: state.dataFingerprint,
    dataRng: state.dataRng.state.toString(),
    cursor: state.cursor,
    counters: state.samplers.map((s) => s.counters()),
  }
  writeCheckpoint(path, meta, arrays)
}

/**
 * The state saved at `path`, for a run described by `options` (same energy architecture, data,
 * method, walkers), written into `options.energy`. A mismatched or corrupt checkpoint is refused
 * with `ERR_JARZYN_BAD_CHECKPOINT`; a refused one leaves the energy's parameters as they were and
 * frees the samplers made for it.
 * @internal
 */
export function restoreState(path: string, options: TrainerOptions): TrainerState {
  const { meta, arrays } = readCheckpoint(path)
  const m = meta as Record<string, unknown>
  const bad = (why: string) => jarzynError(Error, 'ERR_JARZYN_BAD_CHECKPOINT', `${path}: ${why}`)
  if (m?.format !== 'jarzyn-trainer') throw bad('not a trainer checkpoint')
  if (typeof m.seed !== 'string' || !/^\d{1,20}$/.test(m.seed)) throw bad('`seed` is not a 64-bit integer')
  // A refused checkpoint leaves nothing half-restored: the caller's energy gets its parameters
  // back and the state made for the restore is freed (its samplers only: the energy is the caller's).
  const energyBefore = typeof options?.energy?.getParams === 'function' ? options.energy.getParams() : null
  let state: TrainerState | null = null
  try {
    state = createState({ ...options, seed: BigInt(m.seed) })
    restoreInto(state, options.energy, m, arrays, bad)
    return state
  } catch (e) {
    if (state) for (const s of state.samplers) s.dispose()
    if (energyBefore) options.energy.setParams(energyBefore)
    if (isJarzynError(e) && e.code !== 'ERR_JARZYN_BAD_CHECKPOINT' && state !== null) throw bad(e.message)
    throw e
  }
}

/**
 * The backward kernel of a checkpointed run: as recorded, or for a checkpoint written before the
 * option existed the one a run of options `o` used then (the paper's `'next'` for full-batch
 * Jarzynski, `'current'` for the mini-batch variant, none for PCD and CD).
 * @internal
 */
export function savedKernel(m: Record<string, unknown>, o: ResolvedOptions): unknown {
  if ('backwardKernel' in m) return m.backwardKernel
  if (o.method !== 'jarzynski') return null
  return o.minibatch ? 'current' : 'next'
}

/** Check a checkpoint's contents against a fresh state, then write them into it (and the parameters into `energy`). */
function restoreInto(state: TrainerState, energy: Energy, m: Record<string, unknown>, arrays: Record<string, CheckpointArray>, bad: (why: string) => Error): void {
  const o = state.options
  const expect = (what: string, got: unknown, want: unknown) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) throw bad(`${what} is ${JSON.stringify(got)} in the checkpoint but ${JSON.stringify(want)} in the options`)
  }
  expect('method', m.method, o.method)
  expect('walkers', m.walkers, o.walkers)
  expect('dim', m.dim, o.dim)
  expect('mini-batch groups', m.batches, state.samplers.length)
  expect('backward kernel', savedKernel(m, o), o.backwardKernel)
  expect('parameter layout', m.parameters, energy.parameters())
  expect('data (SHA-256)', m.data, state.dataFingerprint)
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
  const n = state.perm.length
  const paramCount = energy.getParams().length
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
  const stepSize = m.stepSize
  // Checkpoints from before the option have no noiseStd: they ran with sqrt(2h).
  expect('noiseStd', m.noiseStd ?? null, o.noiseStd)
  const counters = m.counters
  const groups = state.samplers.length
  if (!Array.isArray(counters) || counters.length !== groups || counters.some((c) => !Array.isArray(c) || c.length !== SAMPLER_COUNTERS.length || c.some((v) => typeof v !== 'number'))) {
    throw bad('`counters` are malformed')
  }
  const per = state.samplers[0].walkers
  const views = state.samplers.map((_, b) => {
    const logWeights = arr(`logWeights${b}`, Float64Array, per) as Float64Array
    // A log-weight is finite, or -Infinity for a walker with zero weight; never NaN or +Infinity.
    const i = logWeights.findIndex((a) => !(a < Infinity))
    if (i >= 0) throw bad(`array \`logWeights${b}\` has ${logWeights[i]} at index ${i}`)
    return {
      positions: arr(`positions${b}`, Float32Array, per * o.dim),
      logWeights,
      energies: arr(`energies${b}`, Float32Array, per),
      gradients: arr(`gradients${b}`, Float32Array, per * o.dim),
    }
  })
  // Every check JavaScript can make has passed: write (the native sampler still checks the counters).
  energy.setParams(params)
  state.optimizer.restore({ t: optT, m: Array.from(optM), v: Array.from(optV) })
  state.perm.set(perm)
  state.cursor = cursor
  state.dataRng.state = BigInt(m.dataRng)
  state.iteration = iteration
  state.samplers.forEach((s, b) => {
    s.stepSize = stepSize
    s.positions.set(views[b].positions)
    s.logWeights.set(views[b].logWeights)
    s.energies.set(views[b].energies)
    s.gradients.set(views[b].gradients)
    s.restoreCounters(counters[b] as number[])
  })
}
