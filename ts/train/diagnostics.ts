/**
 * The trainer's weight diagnostics (k-hat and CESS, {@link IterationStats.khat} and
 * {@link IterationStats.cess}): pure measurements of the log-weights, read through the sampler's
 * views on the iterations where they run. They never change what the run computes: the same bits
 * with them or without.
 * @module
 */
import { cessAndEssOfUpdate, paretoKhat } from '../diagnostics/weights'
import type { Sampler } from '../sampler'
import type { IterationStats } from './step' // for doc links
import type { TrainerState } from './state'

/**
 * Default of `diagnosticsEvery`: k-hat and CESS at every 10th iteration. Measured at the paper's
 * GMM size (N = 10^4, d = 50), the diagnostics take about 0.55 ms on the iterations where they
 * run, a quarter of the sampler's 2.2 ms (one copy of the N log-weights, a heap pass for the top
 * M, the Zhang-Stephens fit on M = 300 values, two exponentials per walker for the CESS); every
 * 10th iteration brings that to 2-3 % of the run. See the README's "Weight diagnostics".
 */
export const DEFAULT_DIAGNOSTICS_EVERY = 10

/** Scratch copies of the log-weights before the update, one per sampler. */
const scratch = new WeakMap<Sampler, Float64Array>()

/** Whether iteration `k` computes the diagnostics (Jarzynski runs only). @internal */
export function diagnosticsDue(state: TrainerState, k: number): boolean {
  const every = state.options.diagnosticsEvery
  return state.options.method === 'jarzynski' && every > 0 && k % every === 0
}

/**
 * Before the update: copy the log-weights used at this iteration (A_k) and return their k-hat.
 * @internal
 */
export function diagnosticsBefore(s: Sampler): number {
  diagnosticsStart(s)
  return paretoKhat(scratch.get(s) as Float64Array).khat
}

/**
 * With the backward kernel at theta_k: copy the log-weights at the start of the iteration (before
 * its move), from which {@link diagnosticsAfter} rates the iteration's whole update.
 * @internal
 */
export function diagnosticsStart(s: Sampler): void {
  let a = scratch.get(s)
  if (!a) {
    a = new Float64Array(s.walkers)
    scratch.set(s, a)
  }
  a.set(s.readView('logWeights'))
}

/**
 * With the backward kernel at theta_k: k-hat of the log-weights the gradient reads (after the MALA
 * term).
 * @internal
 */
export function diagnosticsKhat(s: Sampler): number {
  return paretoKhat(s.readView('logWeights')).khat
}

/**
 * After the update, before any resampling: the CESS of the step A_k -> A_{k+1} and the ESS of
 * A_{k+1} (which decides the resampling). Needs {@link diagnosticsBefore} on the same sampler first.
 * @internal
 */
export function diagnosticsAfter(s: Sampler): { cess: number; ess: number } {
  const a = scratch.get(s)
  if (!a) throw new Error('diagnosticsAfter without diagnosticsBefore')
  return cessAndEssOfUpdate(a, s.readView('logWeights'))
}

/**
 * Whether a resampling check may be skipped because the ESS computed here, `ess`, is clearly above
 * the threshold: the native check resamples when its ESS < essFraction N, and the two ESS agree to
 * round-off (1e-13 relative), so a margin of 1e-9 never skips a resampling the native check would
 * do. Anything closer is left to the native check.
 * @internal
 */
export function clearlyNoResampling(ess: number, essFraction: number, walkers: number): boolean {
  return ess > essFraction * walkers * (1 + 1e-9)
}
