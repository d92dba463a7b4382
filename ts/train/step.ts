/**
 * One training iteration on a {@link TrainerState}: {@link step}, and the {@link IterationStats} it
 * returns.
 * @module
 */
import type { Energy } from '../energy'
import type { Profiler, Timings } from '../profiler'
import type { Sampler } from '../sampler'
import type { Method } from './options'
import { diverged, fillFromData, observeWalkers, type TrainerState } from './state'

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

/**
 * One iteration: move and observe the walkers, estimate the surrogate-loss gradient from the data
 * batch and the weighted walkers, update the energy's parameters, reweight (and maybe resample).
 * Advances `state` in place; `elapsed` in the stats is left 0 for the caller.
 * @internal
 */
export function step(state: TrainerState, energy: Energy, profiler: Profiler): IterationStats {
  const { method, minibatch: mb, resample, cdReset, logZ0, dataEntropy: H, walkers } = state.options
  const k = state.iteration
  const prof = profiler
  const b = mb ? k % state.samplers.length : 0
  const s = state.samplers[b]
  if (method === 'cd' && k > 0 && k % cdReset === 0) {
    prof.time('other', () => fillFromData(state, s))
    s.reinitialize()
    observeWalkers(energy, s, prof, k)
  }
  if (mb) {
    for (let m = 0; m < mb.mcmcSteps; m++) {
      prof.time('move', () => s.move())
      observeWalkers(energy, s, prof, k)
    }
  }
  const w = state.weights[b]
  const fromSampler = energy.surrogateGradFromSampler !== undefined
  // Energies that read the weights natively need no normalised copy here, only the summary.
  const snap = prof.time('resample', () => (fromSampler ? s.summaryWithRatio() : s.weightsAndSummary(w)))
  const logRatio = method !== 'jarzynski' ? null : mb ? prof.time('resample', () => combinedLogRatio(state.samplers)) : snap.logNormalizerRatio
  const batch = prof.time('other', () => dataBatch(state))
  const sg = fromSampler ? energy.surrogateGradFromSampler!(batch, s, prof) : energy.surrogateGrad(batch, s.readView('positions'), w, prof)
  if (!Number.isFinite(sg.meanDataEnergy)) throw diverged(k, 'the energy of the data')
  for (let i = 0; i < sg.grad.length; i++) {
    if (!Number.isFinite(sg.grad[i])) throw diverged(k, `the parameter gradient (entry ${i})`)
  }
  const logZExact = energy.logZ ? energy.logZ() : null
  const params = energy.getParams()
  prof.time('optimizer', () => state.optimizer.step(params, sg.grad))
  for (let i = 0; i < params.length; i++) {
    if (!Number.isFinite(params[i])) throw diverged(k, `the parameters (entry ${i})`)
  }
  energy.setParams(params)
  let invalid: number
  if (mb) {
    // The parameter change reweights every walker (AIS increment), moved or not.
    invalid = 0
    for (const t of state.samplers) invalid += observeWalkers(energy, t, prof, k)
  } else {
    prof.time('move', () => s.move())
    invalid = observeWalkers(energy, s, prof, k)
  }
  let resampled = false
  if (resample) {
    for (const t of mb ? state.samplers : [s]) {
      resampled = prof.time('resample', () => t.maybeResample(resample)) || resampled
    }
  }
  // ESS of the weights that estimated theta_k's expectations (the weights at the start).
  let ess = snap.ess
  let resamplings = 0
  for (const t of state.samplers) {
    if (mb && t !== s) ess += t.ess()
    resamplings += t.resamplings
  }
  const logZ = logRatio === null ? null : logZ0 + logRatio
  const ce = logZ === null ? null : logZ + sg.meanDataEnergy
  const ceExact = logZExact === null ? null : logZExact + sg.meanDataEnergy
  const model = energy.describe ? energy.describe() : null
  state.iteration++
  const timings = prof.endIteration()
  return {
    iteration: k,
    method,
    ess,
    essFraction: ess / walkers,
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

/** The data batch of this iteration (all data for full batch). */
function dataBatch(state: TrainerState): Float32Array {
  const { data, dim: d, dataBatch: bs } = state.options
  const n = data.length / d
  if (bs === undefined || bs >= n) return data
  if (!state.batchBuf) state.batchBuf = new Float32Array(bs * d)
  for (let i = 0; i < bs; i++) {
    if (state.cursor === 0) state.dataRng.shuffle(state.perm)
    const j = state.perm[state.cursor]
    state.batchBuf.set(data.subarray(j * d, (j + 1) * d), i * d)
    state.cursor = (state.cursor + 1) % n
  }
  return state.batchBuf
}

/** Combined Jarzynski estimate of log(Z_k / Z_0) over the walker groups. */
function combinedLogRatio(samplers: readonly Sampler[]): number {
  const r = samplers.map((s) => s.logNormalizerRatio())
  const m = Math.max(...r)
  if (!Number.isFinite(m)) return m
  return m + Math.log(r.reduce((a, v) => a + Math.exp(v - m), 0) / r.length)
}
