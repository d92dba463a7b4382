/**
 * Diagnostics of a set of importance (log-)weights: the effective sample size, the conditional ESS
 * of one sequential Monte Carlo step, and Pareto-smoothed importance sampling's k-hat.
 *
 * Everything here reads log-weights (any `ArrayLike<number>`, e.g. {@link Sampler.logWeights}),
 * works in float64 and shifts by the largest log-weight before exponentiating, so that log-weights
 * of any magnitude are safe. An entry that is not a finite number (the sampler's `-Infinity` for a
 * dead walker, and also NaN or `+Infinity`) counts as a zero weight: no function here returns NaN.
 * @module
 */

import type { Sampler } from '../sampler' // for doc links

/** k-hat below this: the importance-sampling estimate is reliable (Vehtari et al. 2024). */
export const KHAT_GOOD = 0.5
/** k-hat above this: the estimate is unreliable, whatever the sample size (Vehtari et al. 2024). */
export const KHAT_UNRELIABLE = 0.7

const LOG_TINY = Math.log(2.2250738585072014e-308) // log of the smallest normal float64, as ArviZ
const EPS = 2.220446049250313e-16

/**
 * Effective sample size (sum w)^2 / sum w^2 of the weights w_i = exp(logWeights_i), in [0, N]
 * (N when all weights are equal, 1 when one weight dominates, 0 when every weight is zero). Divide
 * by N for ESS/N.
 *
 * @example
 * ```ts
 * effectiveSampleSize([0, 0, 0, 0])               // 4
 * effectiveSampleSize([0, -Infinity, 0, 0]) / 4   // 0.75
 * ```
 */
export function effectiveSampleSize(logWeights: ArrayLike<number>): number {
  const n = logWeights.length
  let m = -Infinity
  for (let i = 0; i < n; i++) {
    const a = logWeights[i]
    if (a > m && a < Infinity) m = a
  }
  if (m === -Infinity) return 0
  let s1 = 0
  let s2 = 0
  for (let i = 0; i < n; i++) {
    const a = logWeights[i]
    if (!(a > -Infinity && a < Infinity)) continue
    const w = Math.exp(a - m)
    s1 += w
    s2 += w * w
  }
  return Math.min(n, (s1 * s1) / s2)
}

/**
 * Conditional effective sample size of one sequential Monte Carlo step (Zhou, Johansen & Aston
 * 2016, "Towards automatic model comparison: an adaptive sequential Monte Carlo approach", JCGS):
 *
 *     CESS = N (sum_i W_i w_i)^2 / sum_i W_i w_i^2
 *
 * with W_i the normalised weights before the step (from `logWeights`) and w_i = exp(increment_i)
 * the incremental weights of the step (from `logIncrements`). It measures how much the step alone
 * degraded the weights, whatever state they were in before: N when every increment is the same
 * (the step changed nothing), about N / (1 + var) for small increments of variance var, 1 when one
 * walker takes all the new weight. In [0, N]; 0 when no weight survives the step.
 *
 * Computed in log space: log CESS = log N + 2 LSE(A + a) - LSE(A) - LSE(A + 2a), each log-sum-exp
 * shifted by its own maximum. A walker with a zero weight before the step does not count; one
 * whose increment is not finite loses its weight in the step.
 *
 * @param logWeights log-weights A before the step (length N).
 * @param logIncrements the step's log-incremental weights a (length N).
 */
export function conditionalEss(logWeights: ArrayLike<number>, logIncrements: ArrayLike<number>): number {
  if (logIncrements.length !== logWeights.length) {
    throw new RangeError(`conditionalEss: ${logWeights.length} log-weights but ${logIncrements.length} increments`)
  }
  return cess(logWeights, logIncrements, true)
}

/**
 * {@link conditionalEss} of the step that took the log-weights from `before` to `after` (the
 * increments are `after - before`): e.g. {@link Sampler.logWeights} copied before an observation
 * and read after it (before any resampling, which resets the weights).
 */
export function conditionalEssOfUpdate(before: ArrayLike<number>, after: ArrayLike<number>): number {
  if (after.length !== before.length) throw new RangeError(`conditionalEssOfUpdate: ${before.length} log-weights before but ${after.length} after`)
  return cess(before, after, false)
}

const finite = (v: number) => v > -Infinity && v < Infinity

/**
 * CESS with W_i = exp(A_i) and log-increments d_i = X_i (`increments`) or X_i - A_i. Fast path:
 * with W_i = exp(A_i - max A) and r_i = exp(d_i - max d), CESS = N (sum W r)^2 / (sum W sum W r^2):
 * two exponentials per walker. When W r underflows for the walkers that matter (sums below 1e-250,
 * e.g. the heaviest walker before the step is the lightest after it by hundreds of nats), the
 * log-space form, each log-sum-exp shifted by its own maximum.
 */
function cess(A: ArrayLike<number>, X: ArrayLike<number>, increments: boolean): number {
  return cessAndEss(A, X, increments).cess
}

/**
 * {@link conditionalEssOfUpdate} and the {@link effectiveSampleSize} of the weights after the step,
 * from the same two passes (the trainer's diagnostics).
 * @internal
 */
export function cessAndEssOfUpdate(before: ArrayLike<number>, after: ArrayLike<number>): { cess: number; ess: number } {
  if (after.length !== before.length) throw new RangeError(`cessAndEssOfUpdate: ${before.length} log-weights before but ${after.length} after`)
  return cessAndEss(before, after, false)
}

/**
 * `f(a, d)` for every walker with weight before the step: its log-weight `a` and its increment `d`
 * (`X` holds the increments, or the log-weights after the step when `increments` is false; `d` may
 * be -Infinity or NaN for a walker the step killed).
 */
function eachStep(A: ArrayLike<number>, X: ArrayLike<number>, increments: boolean, f: (a: number, d: number) => void): void {
  for (let i = 0; i < A.length; i++) {
    const a = A[i]
    if (finite(a)) f(a, increments ? X[i] : X[i] - a)
  }
}

function cessAndEss(A: ArrayLike<number>, X: ArrayLike<number>, increments: boolean): { cess: number; ess: number } {
  const n = A.length
  let mA = -Infinity
  let md = -Infinity
  eachStep(A, X, increments, (a, d) => {
    if (a > mA) mA = a
    if (d > md && d < Infinity) md = d
  })
  // No weight before, or none left after the step.
  if (mA === -Infinity || md === -Infinity) return { cess: 0, ess: effectiveSampleSize(increments ? sumOf(A, X) : X) }
  let s0 = 0
  let s1 = 0
  let s2 = 0
  let s3 = 0
  eachStep(A, X, increments, (a, d) => {
    const W = Math.exp(a - mA)
    s0 += W
    if (!finite(d)) return
    const r = Math.exp(d - md)
    const Wr = W * r
    s1 += Wr
    s2 += Wr * r
    s3 += Wr * Wr
  })
  if (!(s1 > 1e-250 && s2 > 1e-250 && s3 > 1e-250)) {
    return { cess: cessLogSpace(A, X, increments, mA), ess: effectiveSampleSize(increments ? sumOf(A, X) : X) }
  }
  // The weights after the step are proportional to W r: ESS = (sum W r)^2 / sum (W r)^2.
  return { cess: clampCess(n * (s1 / s0) * (s1 / s2), n), ess: clampCess((s1 / s3) * s1, n) }
}

function sumOf(A: ArrayLike<number>, X: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: A.length }, (_, i) => A[i] + X[i])
}

function clampCess(v: number, n: number): number {
  return v > n ? n : v >= 0 ? v : 0
}

/** log CESS = log N + 2 LSE(b) - LSE(A) - LSE(c), b = A + d, c = A + 2d, each shifted by its maximum. */
function cessLogSpace(A: ArrayLike<number>, X: ArrayLike<number>, increments: boolean, mA: number): number {
  const n = A.length
  let mb = -Infinity
  let mc = -Infinity
  eachStep(A, X, increments, (a, d) => {
    if (!finite(d)) return
    if (a + d > mb) mb = a + d
    if (a + 2 * d > mc) mc = a + 2 * d
  })
  // A + d or A + 2d beyond float64 (increments near 1e308): no log-space answer; the fast path's
  // sums were not small then, so this is only reached for inputs near overflow.
  if (!(finite(mb) && finite(mc))) return 0
  let sA = 0
  let sb = 0
  let sc = 0
  eachStep(A, X, increments, (a, d) => {
    sA += Math.exp(a - mA)
    if (!finite(d)) return
    sb += Math.exp(a + d - mb)
    sc += Math.exp(a + 2 * d - mc)
  })
  return clampCess(Math.exp(Math.log(n) + 2 * (mb + Math.log(sb)) - (mA + Math.log(sA)) - (mc + Math.log(sc))), n)
}

/** What {@link paretoKhat} found. */
export interface ParetoKhat {
  /**
   * The estimated shape k-hat of the generalized Pareto distribution fitted to the largest weights:
   * below {@link KHAT_GOOD} (0.5) the self-normalised estimates are reliable, up to
   * {@link KHAT_UNRELIABLE} (0.7) acceptable, above it unreliable (weights with infinite variance
   * and worse); see {@link khatThreshold} for small N. Two cases are not a fit:
   * - `-Infinity`: the M + 1 largest weights are equal (equal weights, e.g. right after a
   *   resampling): no tail at all, importance sampling is exact there. Every threshold calls it good.
   * - `Infinity`: fewer than 5 weights lie above the (M + 1)-th largest (N < 25, or almost every
   *   weight zero), too few to fit a tail, or the fit failed: unreliable, as ArviZ and loo say.
   */
  khat: number
  /** Scale sigma of the fitted distribution, relative to the largest weight (NaN when not fitted). */
  sigma: number
  /** Weights in the fitted tail: those above the (M + 1)-th largest, M = ceil(min(N / 5, 3 sqrt(N))). */
  tailLength: number
}

/** Options of {@link paretoKhat}. */
export interface ParetoKhatOptions {
  /**
   * Relative efficiency r_eff of the draws (MCMC draws: ESS of the chain / its length); the tail
   * length is M = ceil(min(N / 5, 3 sqrt(N / r_eff))). Default 1 (independent draws).
   */
  relativeEfficiency?: number
}

/**
 * Pareto-smoothed importance sampling's diagnostic k-hat of a set of log-weights (Vehtari, Simpson,
 * Gelman, Yao & Gabry, "Pareto smoothed importance sampling", JMLR 2024; arXiv 1507.02646): fit a
 * generalized Pareto distribution to the M = ceil(min(N / 5, 3 sqrt(N))) largest weights (in excess
 * of the (M + 1)-th largest) with the empirical-Bayes estimator of Zhang & Stephens (2009,
 * Technometrics) and its weakly informative prior, which pulls k towards 0.5 as if 10 more
 * observations had k = 0.5: k = (M k + 5) / (M + 10). This is the computation of ArviZ's
 * `psislw` (`_gpdfit`) and of the `loo` R package's `gpdfit`, whose k-hat it reproduces to
 * round-off. The shape k says how heavy the weights' right tail is: moments of order below 1 / k
 * exist, so k < 0.5 means finite variance.
 *
 * Cost: O(N) to pick the M + 1 largest (a bounded heap), O(M log M) to sort them and
 * O(M (30 + sqrt(M))) for the fit; no copy of the N weights.
 *
 * @example
 * ```ts
 * const { khat } = paretoKhat(sampler.logWeights)
 * if (khat > KHAT_UNRELIABLE) console.warn(`k-hat ${khat.toFixed(2)}: the weights have degenerated`)
 * ```
 */
export function paretoKhat(logWeights: ArrayLike<number>, options: ParetoKhatOptions = {}): ParetoKhat {
  const n = logWeights.length
  const reff = options.relativeEfficiency ?? 1
  if (!(reff > 0 && reff < Infinity)) throw new RangeError(`paretoKhat: relativeEfficiency must be a positive number, got ${reff}`)
  const fail = (tailLength: number, khat = Infinity): ParetoKhat => ({ khat, sigma: NaN, tailLength })
  if (n === 0) return fail(0)
  const M = Math.ceil(Math.min(n / 5, 3 * Math.sqrt(n / reff)))
  const top = largest(logWeights, Math.min(M + 1, n))
  // top: the min(M + 1, N) largest log-weights, ascending (non-finite ones as -Infinity).
  const max = top[top.length - 1]
  if (max === -Infinity) return fail(0)
  // ArviZ: x -= max; cutoff = max(x[(M + 1)-th largest], log(tiny)); tail = x > cutoff.
  const cutoff = top.length === M + 1 ? Math.max(top[0] - max, LOG_TINY) : LOG_TINY
  let first = 0
  while (first < top.length && !(top[first] - max > cutoff)) first++
  const tail = top.length - first
  if (tail === 0) return { khat: -Infinity, sigma: NaN, tailLength: 0 }
  if (tail <= 4) return fail(tail)
  const expCut = Math.exp(cutoff)
  const x = new Float64Array(tail)
  for (let i = 0; i < tail; i++) x[i] = Math.exp(top[first + i] - max) - expCut
  if (!(x[tail - 1] > 0)) return { khat: -Infinity, sigma: NaN, tailLength: tail }
  const { k, sigma } = gpdFit(x)
  return Number.isFinite(k) ? { khat: k, sigma, tailLength: tail } : fail(tail)
}

/**
 * The k-hat above which PSIS estimates from N draws are unreliable (Vehtari et al. 2024, section
 * 3.2.4): min(1 - 1 / log10(N), 0.7). It is 0.7 from N = 2155 on; smaller samples need a smaller
 * k-hat (e.g. 0.5 at N = 100).
 */
export function khatThreshold(n: number): number {
  if (!(n > 1)) return -Infinity
  return Math.min(1 - 1 / Math.log10(n), KHAT_UNRELIABLE)
}

/**
 * The `count` largest values of `v`, ascending, non-finite values as -Infinity (NaN and +Infinity
 * included: they are zero weights). A min-heap of size `count`: one comparison per value once the
 * heap is full, O(N + count log count log(N / count)) for values in random order.
 */
function largest(v: ArrayLike<number>, count: number): Float64Array {
  const h = new Float64Array(count)
  const n = v.length
  let size = 0
  const read = (i: number) => {
    const a = v[i]
    return a > -Infinity && a < Infinity ? a : -Infinity
  }
  for (let i = 0; i < n; i++) {
    const a = read(i)
    if (size < count) {
      // Sift up.
      let j = size++
      while (j > 0) {
        const p = (j - 1) >> 1
        if (h[p] <= a) break
        h[j] = h[p]
        j = p
      }
      h[j] = a
    } else if (a > h[0]) {
      // Replace the minimum and sift down.
      let j = 0
      for (;;) {
        const l = 2 * j + 1
        if (l >= size) break
        const r = l + 1
        const c = r < size && h[r] < h[l] ? r : l
        if (h[c] >= a) break
        h[j] = h[c]
        j = c
      }
      h[j] = a
    }
  }
  return h.sort()
}

/**
 * Zhang & Stephens (2009) empirical-Bayes fit of a generalized Pareto distribution to `x` (sorted
 * ascending, > 0 at the end), with the weakly informative prior on k; ArviZ's `_gpdfit`.
 */
function gpdFit(x: Float64Array): { k: number; sigma: number } {
  const n = x.length
  const PRIOR_BS = 3
  const PRIOR_K = 10
  const m = 30 + Math.floor(Math.sqrt(n))
  const b = new Float64Array(m)
  const ls = new Float64Array(m)
  const xq = x[Math.floor(n / 4 + 0.5) - 1]
  const xmax = x[n - 1]
  for (let j = 0; j < m; j++) {
    b[j] = (1 - Math.sqrt(m / (j + 1 - 0.5))) / (PRIOR_BS * xq) + 1 / xmax
    let s = 0
    for (let i = 0; i < n; i++) s += Math.log1p(-b[j] * x[i])
    const k = s / n
    ls[j] = n * (Math.log(-(b[j] / k)) - k - 1)
  }
  // Weights of the grid points: 1 / sum_l exp(ls_l - ls_j) (a softmax), negligible ones dropped.
  let lmax = -Infinity
  for (let j = 0; j < m; j++) if (ls[j] > lmax) lmax = ls[j]
  let z = 0
  for (let j = 0; j < m; j++) z += Math.exp(ls[j] - lmax)
  let wsum = 0
  let bsum = 0
  for (let j = 0; j < m; j++) {
    const w = Math.exp(ls[j] - lmax) / z
    if (!(w >= 10 * EPS)) continue
    wsum += w
    bsum += w * b[j]
  }
  const bPost = bsum / wsum
  let s = 0
  for (let i = 0; i < n; i++) s += Math.log1p(-bPost * x[i])
  const kPost = s / n
  const sigma = -kPost / bPost
  return { k: (n * kPost + PRIOR_K * 0.5) / (n + PRIOR_K), sigma }
}
