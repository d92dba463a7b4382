/**
 * One training iteration on a {@link TrainerState}: {@link step}, and the {@link IterationStats} it
 * returns.
 * @module
 */
import type { Energy, FusedPath, SurrogateGrad } from '../energy'
import { callNative, isJarzynError } from '../errors'
import type { Profiler, Timings } from '../profiler'
import type { Sampler } from '../sampler'
import type { conditionalEss, paretoKhat } from '../diagnostics/weights' // for doc links
import { clearlyNoResampling, diagnosticsAfter, diagnosticsBefore, diagnosticsDue, diagnosticsKhat, diagnosticsStart } from './diagnostics'
import type { Method, TrainerOptions } from './options' // TrainerOptions: for doc links
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
  /**
   * Pareto k-hat of the log-weights used at this iteration ({@link paretoKhat}): below 0.5 good, up
   * to 0.7 acceptable, above 0.7 the weighted estimates are unreliable; `-Infinity` for equal
   * weights (right after a resampling). Jarzynski runs, at the iterations
   * {@link TrainerOptions.diagnosticsEvery} picks; null otherwise (PCD/CD, other iterations). In
   * the mini-batch variant: the weights of the group that made the update.
   */
  khat: number | null
  /**
   * Conditional ESS (in walkers, 0..N; {@link conditionalEss}) of this iteration's weight update,
   * from the weights used at this iteration to those after the observation, before any
   * resampling: N when the update moved every weight alike, small when a few walkers took the new
   * weight. When k-hat is reported; null otherwise. These two are pure diagnostics: they read the
   * log-weights and change nothing in the run.
   */
  cess: number | null
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
 * One iteration: estimate the surrogate-loss gradient from the data batch and the weighted walkers,
 * update the energy's parameters, move and reweight the walkers (and maybe resample). With the
 * backward kernel at theta_k (`backwardKernel: 'current'`, full batch) the walkers move and are
 * observed at theta_k before the gradient, and the observation at theta_{k+1} (the AIS term)
 * needs no move. Advances `state` in place; `elapsed` in the stats is left 0 for the caller.
 * @internal
 */
export function step(state: TrainerState, energy: Energy, profiler: Profiler): IterationStats {
  const { method, minibatch: mb, resample, cdReset } = state.options
  // The mini-batch variant is of this form already (its own loop below).
  const current = !mb && state.options.backwardKernel === 'current'
  const k = state.iteration
  const prof = profiler
  prof.beginIteration()
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
  const fused = energy.fused
  const batch = prof.time('other', () => dataBatch(state))
  // Weight diagnostics (Jarzynski, every diagnosticsEvery iterations): the weights used now, A_k.
  const diag = diagnosticsDue(state, k)
  let khat: number | null = null
  let cess: number | null = null
  if (!current) {
    if (diag) khat = prof.time('diagnostics', () => diagnosticsBefore(s))
  } else {
    // The weights at the start of the iteration, for the CESS of its whole update (MALA and AIS terms).
    if (diag) prof.time('diagnostics', () => diagnosticsStart(s))
    if (!fused) {
      // The MALA term: a move with grad U_k, observed at theta_k (the fused path does it in `gradient`).
      prof.time('move', () => s.move())
      observeWalkers(energy, s, prof, k)
    }
  }
  const at = fused ? fusedGradient(fused, s, batch, prof, current, k) : plainGradient(energy, s, w, batch, prof)
  // 'current': k-hat of the weights the gradient read, after the MALA term.
  if (current && diag) khat = prof.time('diagnostics', () => diagnosticsKhat(s))
  const { sg, logZExact } = at
  const logRatio = method !== 'jarzynski' ? null : mb ? prof.time('resample', () => combinedLogRatio(state.samplers)) : at.logNormalizerRatio
  if (!Number.isFinite(sg.meanDataEnergy)) throw diverged(k, 'the energy of the data')
  for (let i = 0; i < sg.grad.length; i++) {
    if (!Number.isFinite(sg.grad[i])) throw diverged(k, `the parameter gradient (entry ${i})`)
  }
  const params = at.params ?? energy.getParams()
  prof.time('optimizer', () => state.optimizer.step(params, sg.grad))
  for (let i = 0; i < params.length; i++) {
    if (!Number.isFinite(params[i])) throw diverged(k, `the parameters (entry ${i})`)
  }
  if (fused && !mb) {
    // One native call for the rest: theta_{k+1}, the move ('next' only), the observation, the
    // resampling. When the diagnostics run, the resampling waits until they have read the updated
    // weights, and the native check runs only if their ESS does not rule it out: the same bits
    // either way.
    const a = fusedAdvance(fused, s, params, diag ? null : resample, prof, k, !current)
    let { resampled, resamplings } = a
    if (diag) {
      const after = prof.time('diagnostics', () => diagnosticsAfter(s))
      cess = after.cess
      if (resample && !clearlyNoResampling(after.ess, resample.essFraction, s.walkers)) {
        resampled = prof.time('resample', () => s.maybeResample(resample))
        // Counted here: reading s.resamplings would be one more native call.
        if (resampled) resamplings++
      }
    }
    const model = { mixtureWeights: Array.from(a.mixtureWeights), logZ: a.logZ }
    return finish(state, k, at.ess, resampled, resamplings, logRatio, logZExact, sg, a.report.invalid, model, prof, khat, cess)
  }
  energy.setParams(params)
  let invalid: number
  if (mb) {
    // The parameter change reweights every walker (AIS increment), moved or not.
    invalid = 0
    for (const t of state.samplers) invalid += observeWalkers(energy, t, prof, k)
  } else if (current) {
    // The AIS term U_k - U_{k+1} at the walkers the gradient read: an observation without a move.
    invalid = observeWalkers(energy, s, prof, k)
  } else {
    prof.time('move', () => s.move())
    invalid = observeWalkers(energy, s, prof, k)
  }
  if (diag) cess = prof.time('diagnostics', () => diagnosticsAfter(s).cess)
  let resampled = false
  if (resample) {
    for (const t of mb ? state.samplers : [s]) {
      resampled = prof.time('resample', () => t.maybeResample(resample)) || resampled
    }
  }
  // ESS of the weights that estimated theta_k's expectations (the weights at the start; 'current':
  // after the MALA term).
  let ess = at.ess
  let resamplings = 0
  for (const t of state.samplers) {
    if (mb && t !== s) ess += t.ess()
    resamplings += t.resamplings
  }
  const model = energy.describe ? energy.describe() : null
  return finish(state, k, ess, resampled, resamplings, logRatio, logZExact, sg, invalid, model, prof, khat, cess)
}

/** The gradient at theta_k and what the iteration reports about the weights it used. */
interface GradientAt {
  sg: SurrogateGrad
  ess: number
  logNormalizerRatio: number
  logZExact: number | null
  /** theta_k, when the gradient's native call returned it (else read from the energy). */
  params?: Float64Array
}

/** Any energy: the normalised weights, then the energy's surrogate gradient. */
function plainGradient(energy: Energy, s: Sampler, w: Float64Array, batch: Float32Array, prof: Profiler): GradientAt {
  const snap = prof.time('resample', () => s.weightsAndSummary(w))
  const sg = energy.surrogateGrad(batch, s.readView('positions'), w, prof)
  return { sg, ess: snap.ess, logNormalizerRatio: snap.logNormalizerRatio, logZExact: energy.logZ ? energy.logZ() : null }
}

/**
 * A native energy, in one native call: the data side, the walker side (folded into the last
 * observation), the weights' summary, log Z and theta_k. With `moveFirst` (the backward kernel at
 * theta_k), first the move with grad U_k and the observation at theta_k that folds the walker side in.
 */
function fusedGradient(fused: FusedPath, s: Sampler, batch: Float32Array, prof: Profiler, moveFirst: boolean, k: number): GradientAt {
  const t0 = performance.now()
  const call = () => fused.handle.gradient(s.nativeForOperation(), batch, moveFirst)
  // With the move, its observation may leave no walker: the run diverged.
  const r = moveFirst ? callIteration(k, call) : callNative(call)
  const grad = new Float64Array(r.dataGrad.length)
  for (let i = 0; i < grad.length; i++) grad[i] = fused.mask[i] * (r.dataGrad[i] - r.walkerGrad[i])
  prof.add('paramGrad', performance.now() - t0)
  return {
    sg: { grad, meanDataEnergy: r.meanDataEnergy, meanWalkerEnergy: r.meanWalkerEnergy },
    ess: r.summary.ess,
    logNormalizerRatio: r.summary.logNormalizerRatio,
    logZExact: r.logZ,
    params: r.params,
  }
}

/**
 * A native energy's theta_{k+1}, move, observation and resampling, in one native call. Without
 * `move` (the backward kernel at theta_k: the walkers moved in `gradient`) the observation adds the
 * AIS term and folds nothing in (the next gradient reads the walkers after another move).
 */
function fusedAdvance(fused: FusedPath, s: Sampler, params: Float64Array, resample: TrainerState['options']['resample'], prof: Profiler, k: number, move: boolean) {
  const t0 = performance.now()
  try {
    // nativeForOperation: on CUDA the views read after this call (the diagnostics', a checkpoint's)
    // must be refreshed from the device.
    return callIteration(k, () => fused.handle.advance(s.nativeForOperation(), params, move, move, resample?.essFraction ?? null, resample?.scheme ?? 'systematic'))
  } finally {
    // One pass: the move, U + grad_x, the weight update, the next walker-weighted sums; resampling.
    prof.add('energy', performance.now() - t0)
  }
}

/** A native call of iteration `k`; an observation in it that leaves no walker is the run diverging. */
function callIteration<T>(k: number, f: () => T): T {
  try {
    return callNative(f)
  } catch (e) {
    if (isJarzynError(e) && e.code === 'ERR_JARZYN_ALL_WALKERS_INVALID') {
      throw diverged(k, "every walker's energy or gradient (non-finite U or grad U at all walkers)")
    }
    throw e
  }
}

/** Close iteration `k`: its stats. */
function finish(
  state: TrainerState,
  k: number,
  ess: number,
  resampled: boolean,
  resamplings: number,
  logRatio: number | null,
  logZExact: number | null,
  sg: SurrogateGrad,
  invalid: number,
  model: Record<string, number | number[]> | null,
  prof: Profiler,
  khat: number | null,
  cess: number | null,
): IterationStats {
  const { method, logZ0, dataEntropy: H, walkers } = state.options
  const logZ = logRatio === null ? null : logZ0 + logRatio
  const ce = logZ === null ? null : logZ + sg.meanDataEnergy
  const ceExact = logZExact === null ? null : logZExact + sg.meanDataEnergy
  state.iteration++
  const timings = prof.endIteration()
  return {
    iteration: k,
    method,
    ess,
    essFraction: ess / walkers,
    khat,
    cess,
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
