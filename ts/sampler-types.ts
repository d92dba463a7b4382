/**
 * The options and results of a {@link Sampler}, and the resampling schemes.
 * @module
 */
import { jarzynError } from './errors'
import { describe } from './validate'
// Types only (for the doc links): no cycle at run time.
import type { CUDA_AUTO_MIN_ELEMENTS, SamplerDevice, cudaStatus } from './device'
import type { Sampler } from './sampler'

/** Resampling schemes: multinomial (plain), systematic, stratified and residual (lower variance). */
export type ResampleScheme = 'multinomial' | 'systematic' | 'stratified' | 'residual'

/** The schemes {@link Sampler.resample} accepts. */
export const RESAMPLE_SCHEMES: readonly ResampleScheme[] = ['multinomial', 'systematic', 'stratified', 'residual']

/** Options of a {@link Sampler}. */
export interface SamplerOptions {
  /** Number of walkers N (>= 1). */
  walkers: number
  /** Dimension d of each walker (>= 1). */
  dim: number
  /** ULA step size h > 0. The weights are exact for any h. */
  stepSize: number
  /**
   * Seed of the counter-based RNG (a non-negative safe integer or a bigint below 2^64). Same seed,
   * same results, bit for bit, whatever `threads` is. Default: random (read it back from {@link Sampler.seed}).
   */
  seed?: number | bigint
  /** Worker threads; results do not depend on it. Default: the number of CPUs. */
  threads?: number
  /**
   * Whether observations update the Jarzynski log-weights (default `true`). `false` gives
   * unweighted PCD/CD walkers; invalid walkers still get zero weight.
   */
  weighted?: boolean
  /**
   * Standard deviation of each move's Gaussian noise, when it should NOT be sqrt(2h). The
   * Jarzynski weights (and log Z) assume sqrt(2h): with any other noise they are not exact. It
   * exists to reproduce the authors' image code (h = 5e-5, noise std 1e-4); leave it undefined
   * otherwise. {@link Sampler.exactWeights} tells which.
   */
  noiseStd?: number
  /**
   * Where the walkers run (default `'cpu'`):
   * - `'cpu'`: the Rust core's thread pool.
   * - `'cuda'`: an NVIDIA GPU through the CUDA backend. When it cannot run here (no driver, no
   *   device, a driver older than CUDA 12.2, NVRTC missing, a build without CUDA), the sampler runs
   *   on the CPU instead, with one process warning per reason (code `JARZYN_CUDA_FALLBACK`) and the
   *   reason in {@link Sampler.fallbackReason}: never an error.
   * - `'auto'`: CUDA when {@link cudaStatus} says it is available and walkers x dim >=
   *   {@link CUDA_AUTO_MIN_ELEMENTS} (65536), else the CPU, silently.
   *
   * {@link Sampler.device} tells which runs. A CPU sampler gives the same bits whatever was asked
   * for. On CUDA the views are host copies: see {@link Sampler} for when they are synchronised.
   */
  device?: SamplerDevice
}

/** What one pass over the log-weights tells. */
export interface WeightSummary {
  /** Effective sample size (sum w)^2 / sum w^2, in walkers. */
  ess: number
  /** Squared coefficient of variation of the weights, N / ESS - 1. */
  cv2: number
  /** log of the mean weight, log(1/N sum exp A_i). */
  logMeanWeight: number
  /** Largest log-weight. */
  maxLogWeight: number
  /** Walkers with zero weight (A = -Infinity). */
  zeroWeight: number
}

/** What an observation found. */
export interface ObserveReport {
  /** Walkers whose energy, gradient or weight became non-finite in this observation. */
  newlyInvalid: number
  /** Walkers with zero weight after it. */
  invalid: number
}

/** Options of {@link Sampler.maybeResample}. */
export interface MaybeResampleOptions {
  /** Resample when ESS < essFraction * N (0..1). */
  essFraction: number
  /** Resampling scheme (default `'systematic'`). */
  scheme?: ResampleScheme
}

/** The `scheme` option, checked. @internal */
export function schemeOption(v: unknown): ResampleScheme {
  if (typeof v !== 'string' || !(RESAMPLE_SCHEMES as readonly string[]).includes(v)) {
    throw jarzynError(
      typeof v === 'string' ? RangeError : TypeError,
      'ERR_JARZYN_INVALID_OPTION',
      `resampling scheme must be one of ${RESAMPLE_SCHEMES.join(', ')}, got ${typeof v === 'string' ? `'${v}'` : describe(v)}`,
    )
  }
  return v as ResampleScheme
}

