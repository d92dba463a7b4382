/**
 * Shared helpers of the JS test suite: an exactly solvable Gaussian schedule, weighted statistics
 * with their standard errors and typed error assertions (bit-level comparisons: bits.ts).
 */
import type { ExecutionContext } from 'ava'

import { Sampler, fillNormals, isJarzynError } from '../ts/index'
import type { ResampleScheme } from '../ts/index'

// ---------------------------------------------------------------------------------------------
// Gaussian energies U(x) = |x - m|^2 / (2 s^2): Z = (2 pi s^2)^(d/2), so log(Z_K / Z_0) = d log(s_K / s_0).

/** Energies and gradients of U(x) = |x - m|^2 / (2 s^2) at `x` (N x d), computed in f64, stored in f32. */
export function gaussianEnergy(
  x: Float32Array,
  d: number,
  m: ArrayLike<number>,
  s: number,
  energy: Float32Array,
  grad: Float32Array,
): void {
  const n = energy.length
  const inv = 1 / (s * s)
  for (let i = 0; i < n; i++) {
    let u = 0
    for (let j = 0; j < d; j++) {
      const r = x[i * d + j] - m[j]
      u += r * r
      grad[i * d + j] = r * inv
    }
    energy[i] = 0.5 * u * inv
  }
}

/** A schedule of Gaussian parameters over K steps: mean m_k = (k/K) mK, sigma geometric from s0 to sK. */
export interface GaussianSchedule {
  K: number
  d: number
  mean(k: number): number[]
  sigma(k: number): number
}

export function linearSchedule(K: number, m0: number[], mK: number[], s0: number, sK: number): GaussianSchedule {
  const d = m0.length
  return {
    K,
    d,
    mean: (k) => m0.map((a, j) => a + ((mK[j] - a) * k) / K),
    sigma: (k) => s0 * Math.pow(sK / s0, k / K),
  }
}

/** Put exact samples of N(m, s^2 I) into the sampler's positions (the RNG's 'init' stream). */
export function exactInit(s: Sampler, m: number[], sigma: number, seed: number): void {
  const z = fillNormals(new Float32Array(s.walkers * s.dim), { dim: s.dim, seed, stream: 'init' })
  const x = s.positions
  for (let i = 0; i < s.walkers; i++) {
    for (let j = 0; j < s.dim; j++) x[i * s.dim + j] = m[j] + sigma * z[i * s.dim + j]
  }
}

export interface ScheduleRun {
  sampler: Sampler
  /** CV^2 of the weights at the end of each resampling epoch (just before each resampling, and now). */
  epochCv2: number[]
  /** Time-0 ancestor ("Eve") of each walker, tracked through the ancestors resample() returns. */
  eve: Uint32Array
  resamplings: number
}

export interface RunOptions {
  walkers: number
  stepSize: number
  seed: number
  threads?: number
  /** Resample when ESS < essFraction * N; 0 never resamples. */
  essFraction: number
  scheme?: ResampleScheme
  /**
   * 'manual': test the ESS and call resample() (tracks Eve indices); 'maybe': call
   * maybeResample() (no ancestors to track: `eve` stays the identity).
   */
  resampleVia?: 'manual' | 'maybe'
}

/**
 * Run the Gaussian schedule through the public API: exact samples of rho_0, then K iterations of
 * move() (with U_k) / observe(U_{k+1}) / resample when the ESS is below essFraction * N.
 */
export function runSchedule(sch: GaussianSchedule, opts: RunOptions): ScheduleRun {
  const { d, K } = sch
  const n = opts.walkers
  const scheme = opts.scheme ?? 'systematic'
  const s = new Sampler({ walkers: n, dim: d, stepSize: opts.stepSize, seed: opts.seed, threads: opts.threads ?? 2 })
  const e = new Float32Array(n)
  const g = new Float32Array(n * d)
  exactInit(s, sch.mean(0), sch.sigma(0), opts.seed + 1)
  gaussianEnergy(s.positions, d, sch.mean(0), sch.sigma(0), e, g)
  s.observe(e, g)
  const epochCv2: number[] = []
  let eve = new Uint32Array(n)
  for (let i = 0; i < n; i++) eve[i] = i
  for (let k = 0; k < K; k++) {
    s.move()
    gaussianEnergy(s.positions, d, sch.mean(k + 1), sch.sigma(k + 1), e, g)
    s.observe(e, g)
    if (opts.essFraction > 0) {
      const sum = s.summary()
      if (opts.resampleVia === 'maybe') {
        if (s.maybeResample({ essFraction: opts.essFraction, scheme })) epochCv2.push(sum.cv2)
      } else if (sum.ess < opts.essFraction * n) {
        const anc = s.resample(scheme)
        const next = new Uint32Array(n)
        for (let i = 0; i < n; i++) next[i] = eve[anc[i]]
        eve = next
        epochCv2.push(sum.cv2)
      }
    }
  }
  epochCv2.push(s.summary().cv2)
  return { sampler: s, epochCv2, eve, resamplings: s.resamplings }
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** Weighted mean of f_i with weights p (summing to 1) and its delta-method standard error. */
export function weightedMean(p: Float64Array, f: (i: number) => number): { mean: number; se: number } {
  let mean = 0
  for (let i = 0; i < p.length; i++) mean += p[i] * f(i)
  let v = 0
  for (let i = 0; i < p.length; i++) {
    const r = f(i) - mean
    v += p[i] * p[i] * r * r
  }
  return { mean, se: Math.sqrt(v) }
}

/**
 * Weighted mean of f_i and its standard error across resamplings: the Chan & Lai (2013) estimator
 * that groups walkers by their time-0 ancestor e, Var ~= sum_e (sum_{i in e} p_i (f_i - mean))^2.
 * Without resampling (every walker its own Eve) this is sum_i p_i^2 (f_i - mean)^2.
 */
export function weightedMeanEve(p: Float64Array, eve: Uint32Array, f: (i: number) => number): { mean: number; se: number } {
  let mean = 0
  for (let i = 0; i < p.length; i++) mean += p[i] * f(i)
  const acc = new Float64Array(p.length)
  for (let i = 0; i < p.length; i++) acc[eve[i]] += p[i] * (f(i) - mean)
  let v = 0
  for (let e = 0; e < acc.length; e++) v += acc[e] * acc[e]
  return { mean, se: Math.sqrt(v) }
}

/**
 * Standard error of log Zhat after R resamplings, from the final weights and Eve indices: the
 * relative variance estimator of Lee & Whiteley (2018), V = 1 - (N/(N-1))^(R+1) (1 - sum_e S_e^2)
 * with S_e the total normalised weight of Eve e's descendants; SE(log Zhat) ~= sqrt(V).
 * Without resampling it is sum_i p_i^2 - 1/N ~= CV^2 / N.
 */
export function logZSeEve(p: Float64Array, eve: Uint32Array, resamplings: number): number {
  const n = p.length
  const S = new Float64Array(n)
  for (let i = 0; i < n; i++) S[eve[i]] += p[i]
  let s2 = 0
  for (let e = 0; e < n; e++) s2 += S[e] * S[e]
  const v = 1 - Math.pow(n / (n - 1), resamplings + 1) * (1 - s2)
  return Math.sqrt(Math.max(v, 0))
}

/** Plain mean and standard error of f_i, i < n. */
export function plainMean(n: number, f: (i: number) => number): { mean: number; se: number } {
  let m = 0
  for (let i = 0; i < n; i++) m += f(i)
  m /= n
  let v = 0
  for (let i = 0; i < n; i++) v += (f(i) - m) ** 2
  return { mean: m, se: Math.sqrt(v / (n - 1) / n) }
}

/** Mean and standard error of the mean of a list of numbers. */
export function meanSe(xs: ArrayLike<number>): { mean: number; se: number; sd: number } {
  const r = plainMean(xs.length, (i) => xs[i])
  return { ...r, sd: r.se * Math.sqrt(xs.length) }
}

/** log(1/N sum exp(a_i)), max-shifted, in f64. */
export function logMeanExp(a: ArrayLike<number>): number {
  let m = -Infinity
  for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i]
  if (m === -Infinity) return -Infinity
  let s = 0
  for (let i = 0; i < a.length; i++) s += Math.exp(a[i] - m)
  return m + Math.log(s / a.length)
}

/** Offspring counts from an ancestor array. */
export function offspring(ancestors: Uint32Array, n: number): Float64Array {
  const c = new Float64Array(n)
  for (const a of ancestors) c[a] += 1
  return c
}

// ---------------------------------------------------------------------------------------------
// Errors

type ErrorCtor = typeof Error | typeof TypeError | typeof RangeError

/**
 * Assert that `f` throws a jarzyn error of exactly class `Class` (not a subclass or parent) with
 * `code`. Returns the error.
 */
export function throwsJarzyn(t: ExecutionContext, f: () => unknown, Class: ErrorCtor, code: string, label = ''): Error | undefined {
  let err: unknown
  try {
    f()
  } catch (e) {
    err = e
  }
  return checkJarzynError(t, err, Class, code, label)
}

/** The checks behind {@link throwsJarzyn}, for an error already caught (or `undefined` if none was). */
export function checkJarzynError(t: ExecutionContext, err: unknown, Class: ErrorCtor, code: string, label = ''): Error | undefined {
  if (err === undefined) {
    t.fail(`${label}: expected ${Class.name} ${code}, nothing was thrown`)
    return undefined
  }
  t.true(isJarzynError(err), `${label}: not a jarzyn error: ${String(err)}`)
  t.is((err as Error).constructor, Class, `${label}: class ${(err as Error).constructor?.name}, expected ${Class.name} (${String(err)})`)
  t.is((err as { code?: string }).code, code, `${label}: code (${String(err)})`)
  return err as Error
}

/** A Float32Array (or other typed array) whose buffer has been detached by a transfer. */
export function detached<T extends Float32Array | Float64Array>(a: T): T {
  structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] })
  return a
}
