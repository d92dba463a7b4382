/**
 * The options of a training run, and their checking into {@link ResolvedOptions}: every default
 * filled in, every value valid.
 * @module
 */
import { deviceOption, type SamplerDevice } from '../device'
import type { Energy } from '../energy'
import { jarzynError } from '../errors'
import { checkOptimizerOptions, type OptimizerOptions } from '../optim'
import { schemeOption, type ResampleScheme } from '../sampler'
import { seedOption } from '../seed'
import { describe, intOption, knownKeys, numberOption } from '../validate'
import { DEFAULT_DIAGNOSTICS_EVERY } from './diagnostics'
import type { IterationStats } from './step' // for doc links

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

/**
 * The backward kernel behind the Jarzynski weights (see {@link TrainerOptions.backwardKernel}):
 * `'next'`, the ULA kernel at theta_{k+1} (the paper's), or `'current'`, the ULA kernel at theta_k.
 */
export type BackwardKernel = 'next' | 'current'

/** The values of {@link BackwardKernel}. */
export const BACKWARD_KERNELS: readonly BackwardKernel[] = ['next', 'current']

/**
 * The default of {@link TrainerOptions.backwardKernel} for full-batch Jarzynski runs: `'next'`,
 * the paper's. It had the larger ESS per second in every case `npm run bench` measured (the
 * paper's Gaussian mixture, a moving Gaussian from slow to fast): the two kernels gave the same
 * ESS to within 5 %, and `'current'` took 1.2-1.5x the time per iteration. The README's "Exact
 * backward kernels" has the table.
 */
export const DEFAULT_BACKWARD_KERNEL: BackwardKernel = 'next'

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
  /**
   * The backward kernel of the Jarzynski weights (Jarzynski runs; default
   * {@link DEFAULT_BACKWARD_KERNEL}, `'next'`). Both give exact weights, for any step size h.
   *
   * **`'next'`** (the paper's, method.md section 2): the backward kernel of step k is the ULA
   * kernel at theta_{k+1}, and an iteration is: the gradient at theta_k from the weights A_k,
   * theta_{k+1}, a move with grad U_k, an observation at theta_{k+1}:
   * A_{k+1} = A_k + alpha_k(X_k, X_{k+1}) - alpha_{k+1}(X_{k+1}, X_k).
   *
   * **`'current'`**: the backward kernel of step k is the ULA kernel at theta_k. Derivation, with
   * K_j(x, y) = (4 pi h)^(-d/2) exp(-|y - x + h grad U_j(x)|^2 / (4h)) the ULA kernel at theta_j
   * and X_0 ~ rho_0. The forward path has density rho_0(X_0) prod_{j<k} K_j(X_j, X_{j+1}); take as
   * backward path rho_k(X_k) prod_{j<k} K_j(X_{j+1}, X_j), whose X_k-marginal is rho_k since each
   * K_j(X_{j+1}, .) integrates to 1. Their ratio, with rho_j = exp(-U_j) / Z_j, is
   * (Z_0 / Z_k) exp(A_k) with
   *
   *     A_k = U_0(X_0) - U_k(X_k) + sum_{j<k} [log K_j(X_{j+1}, X_j) - log K_j(X_j, X_{j+1})].
   *
   * Since log K_j(x, y) = -|y - x|^2 / (4h) - alpha_j(x, y) + U_j(x) + const, the |y - x|^2 / (4h)
   * terms of the two directions cancel (as in the paper) and each bracket is
   * alpha_j(X_j, X_{j+1}) - alpha_j(X_{j+1}, X_j) - U_j(X_j) + U_j(X_{j+1}); the U terms telescope
   * with U_0(X_0) - U_k(X_k) into sum_{j<k} [U_j(X_{j+1}) - U_{j+1}(X_{j+1})], so
   *
   *     A_{k+1} = A_k + [alpha_k(X_k, X_{k+1}) - alpha_k(X_{k+1}, X_k)] + [U_k(X_{k+1}) - U_{k+1}(X_{k+1})]:
   *
   * a MALA log-ratio at fixed theta_k plus an annealed-importance (AIS) term. As the expectation of
   * the ratio times f(X_k) under the forward path is that of f under the backward path,
   * E[exp(A_k) f(X_k)] = (Z_k / Z_0) E_{theta_k}[f], the same identity as the paper's. It costs one
   * more evaluation of U and grad U per iteration (U_k and grad U_k at X_{k+1}).
   *
   * An iteration with `'current'`: a move with grad U_k, the observation at theta_k (the MALA
   * term), the gradient at theta_k from these weights, theta_{k+1}, the observation at theta_{k+1}
   * without a move (the AIS term), the resampling. The weights after the MALA term are those of the
   * same identity for the parameters theta_0, ..., theta_k, theta_k (a repeated parameter adds no
   * AIS term), so they target rho_theta_k exactly, at positions one ULA step at theta_k fresher
   * than A_k's; and after a resampling, that step spreads the copies out before the estimator
   * reads them. The iteration's stats (ESS, log Z, k-hat) describe these weights; the CESS covers
   * the iteration's whole update (MALA and AIS terms), as with `'next'`.
   *
   * The mini-batch variant ({@link TrainerOptions.minibatch}) is always of the `'current'` form
   * (moves at fixed parameters, the AIS term at each parameter change): it takes `'current'`,
   * and `'next'` is refused. PCD and CD have no weights: the option does nothing there (their
   * metadata records null). Any other value is `ERR_JARZYN_INVALID_OPTION`. Checkpoints record the
   * kernel and resume only with the same one.
   */
  backwardKernel?: BackwardKernel
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
  /** Unweighted ULA steps after a `'noise'` init or explicit positions (default 0). */
  burnIn?: number
  /**
   * Standard deviation of the moves' noise when it should NOT be sqrt(2h) (see
   * {@link SamplerOptions.noiseStd}): the Jarzynski weights, log Z and cross-entropy estimates are
   * then not exact (the run's metadata says so). Only to reproduce the authors' image code.
   */
  noiseStd?: number
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
  /**
   * Jarzynski runs: compute the weight diagnostics {@link IterationStats.khat} and
   * {@link IterationStats.cess} at every `diagnosticsEvery`-th iteration (iterations k with
   * k % diagnosticsEvery == 0; null in between), 0 for never. Default 10: at the paper's
   * Gaussian-mixture size they cost about a quarter of the sampler's time on the iterations where
   * they run (a few O(N) passes over the log-weights), so about 2-3 % of the run at the default.
   * They only read the weights: the run's bits are the same for every value.
   */
  diagnosticsEvery?: number
}

/** Options of {@link Trainer.run}. */
export interface RunOptions {
  /** Iterations to run (from the current one). */
  iterations: number
  /** Stop early when aborted (the generator returns after the current iteration). */
  signal?: AbortSignal
}

/**
 * Trainer options checked, with their defaults filled in (the energy aside: it is an argument of
 * each operation on the state).
 * @internal
 */
export interface ResolvedOptions {
  /** Training data, n x d row-major (the caller's array). */
  readonly data: Float32Array
  /** Dimension d, the energy's. */
  readonly dim: number
  readonly method: Method
  /** Walkers N over all groups. */
  readonly walkers: number
  readonly stepSize: number
  /** The seed given, or the random one drawn. */
  readonly seed: bigint
  /** As given: each sampler checks it (default: CPUs). */
  readonly threads: number | undefined
  readonly device: SamplerDevice
  /** As given; checked against the energy's parameter groups. */
  readonly optimizer: OptimizerOptions
  /** Jarzynski resampling, or null (PCD, CD, `resample: false`). */
  readonly resample: { scheme: ResampleScheme; essFraction: number } | null
  /** The backward kernel of the weights: null for PCD and CD; `'current'` for the mini-batch variant. */
  readonly backwardKernel: BackwardKernel | null
  readonly cdReset: number
  /** Data points per gradient; undefined for full batch. */
  readonly dataBatch: number | undefined
  /** The mini-batch variant, or null. */
  readonly minibatch: { batches: number; mcmcSteps: number } | null
  /** Walker groups: `minibatch.batches`, else 1. */
  readonly batches: number
  readonly logZ0: number
  /** Whether log Z_0 is known (given, or exact from the energy) rather than taken as 0. */
  readonly logZ0Known: boolean
  readonly dataEntropy: number | undefined
  readonly statsFile: string | undefined
  /** Iterations between weight diagnostics (0: never). */
  readonly diagnosticsEvery: number
  /** How the walkers start, the default chosen. */
  readonly init: WalkerInit
  /** The same in words (for reports). */
  readonly initDescription: string
  /** As given: checked when walkers are initialised with noise (a restored run never is). */
  readonly noiseScale: number | undefined
  /** As given: checked when walkers are initialised with noise. */
  readonly burnIn: number | undefined
  readonly noiseStd: number | null
}

const TRAINER_KEYS = [
  'energy', 'data', 'method', 'walkers', 'stepSize', 'optimizer', 'seed', 'threads', 'device', 'resample', 'backwardKernel', 'cdReset', 'init',
  'noiseScale', 'burnIn', 'noiseStd', 'dataBatch', 'minibatch', 'logZ0', 'dataEntropy', 'statsFile',
  'diagnosticsEvery',
] as const

/** Check `options` (throwing the first problem as a coded error) and fill in the defaults. @internal */
export function resolveOptions(options: TrainerOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `Trainer options must be an object, got ${describe(options)}`)
  }
  knownKeys('Trainer', options, TRAINER_KEYS)
  const energy = options.energy
  if (!energy || typeof energy.evaluate !== 'function' || typeof energy.surrogateGrad !== 'function') {
    throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', 'option `energy` must implement the Energy interface')
  }
  const dim = energy.dim
  const method = options.method ?? 'jarzynski'
  if (!['jarzynski', 'pcd', 'cd'].includes(method)) {
    throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `option \`method\` must be 'jarzynski', 'pcd' or 'cd', got ${String(options.method)}`)
  }
  const data = options.data
  if (!(data instanceof Float32Array)) {
    throw jarzynError(TypeError, 'ERR_JARZYN_BAD_ARRAY_TYPE', `option \`data\` must be a Float32Array, got ${describe(data)}`)
  }
  if (data.length === 0 || data.length % dim !== 0) {
    throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `option \`data\` length ${data.length} is not a positive multiple of dim ${dim}`)
  }
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `option \`data\` has a non-finite value at index ${i}`)
    }
  }
  const walkers = intOption('walkers', options.walkers, 1, 2 ** 31)
  const stepSize = numberOption('stepSize', options.stepSize, 0, Number.MAX_VALUE, true)
  const seed = seedOption(options.seed)
  const device = deviceOption(options.device)
  // The groups that own parameter entries (an empty parameter has none to give a rate).
  checkOptimizerOptions(options.optimizer, energy.parameters().filter((p) => p.size > 0).map((p) => p.group))
  const resample = method === 'jarzynski' && options.resample !== false ? resampleOption(options.resample ?? {}) : null
  const cdReset = intOption('cdReset', options.cdReset ?? 4, 1, Number.MAX_SAFE_INTEGER)
  if (options.dataBatch !== undefined) intOption('dataBatch', options.dataBatch, 1, data.length / dim)
  const mb = options.minibatch
  const batches = mb ? intOption('minibatch.batches', mb.batches, 1, walkers) : 1
  if (mb) {
    knownKeys('minibatch', mb, ['batches', 'mcmcSteps'])
    intOption('minibatch.mcmcSteps', mb.mcmcSteps, 1, 1_000_000)
    if (method === 'cd') throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', 'the mini-batch variant applies to jarzynski and pcd, not cd')
    if (walkers % batches !== 0) throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `walkers (${walkers}) must be a multiple of minibatch.batches (${batches})`)
  }
  const backwardKernel = backwardKernelOption(options.backwardKernel, method, !!mb)
  const logZ0 = numberOption('logZ0', options.logZ0 ?? energy.logZ?.() ?? 0, -Number.MAX_VALUE, Number.MAX_VALUE, false)
  if (options.dataEntropy !== undefined) numberOption('dataEntropy', options.dataEntropy, -Number.MAX_VALUE, Number.MAX_VALUE, false)
  const init = options.init ?? (method === 'jarzynski' ? (energy.sampleInto ? 'exact' : 'noise') : 'data')
  return {
    data,
    dim,
    method,
    walkers,
    stepSize,
    seed,
    threads: options.threads,
    device,
    optimizer: options.optimizer,
    resample,
    backwardKernel,
    cdReset,
    dataBatch: options.dataBatch,
    minibatch: mb ? { batches: mb.batches, mcmcSteps: mb.mcmcSteps } : null,
    batches,
    logZ0,
    logZ0Known: options.logZ0 !== undefined || energy.logZ !== undefined,
    dataEntropy: options.dataEntropy,
    statsFile: options.statsFile,
    diagnosticsEvery: intOption('diagnosticsEvery', options.diagnosticsEvery ?? DEFAULT_DIAGNOSTICS_EVERY, 0, Number.MAX_SAFE_INTEGER),
    init,
    initDescription: describeInit(init, options.noiseScale, options.burnIn),
    noiseScale: options.noiseScale,
    burnIn: options.burnIn,
    noiseStd: options.noiseStd === undefined ? null : numberOption('noiseStd', options.noiseStd, 0, Number.MAX_VALUE, false),
  }
}

/**
 * The backward kernel a run uses: null for PCD and CD (no weights; any valid value is accepted),
 * `'current'` for the mini-batch variant (its only form; `'next'` is refused), else the value given
 * or {@link DEFAULT_BACKWARD_KERNEL}.
 * @internal
 */
export function backwardKernelOption(v: unknown, method: Method, minibatch: boolean): BackwardKernel | null {
  if (v !== undefined && (typeof v !== 'string' || !(BACKWARD_KERNELS as readonly string[]).includes(v))) {
    throw jarzynError(
      typeof v === 'string' ? RangeError : TypeError,
      'ERR_JARZYN_INVALID_OPTION',
      `option \`backwardKernel\` must be 'next' or 'current', got ${typeof v === 'string' ? `'${v}'` : describe(v)}`,
    )
  }
  if (method !== 'jarzynski') return null
  if (minibatch) {
    if (v === 'next') {
      throw jarzynError(
        RangeError,
        'ERR_JARZYN_INVALID_OPTION',
        "option `backwardKernel` 'next' does not apply to the mini-batch variant, whose moves are at fixed parameters (the 'current' form): leave it out or pass 'current'",
      )
    }
    return 'current'
  }
  return (v as BackwardKernel | undefined) ?? DEFAULT_BACKWARD_KERNEL
}

function resampleOption(r: ResampleOptions): { scheme: ResampleScheme; essFraction: number } {
  knownKeys('resample', r, ['scheme', 'essFraction', 'cv2'])
  if (r.cv2 !== undefined && r.essFraction !== undefined) {
    throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', 'give `resample.essFraction` or `resample.cv2`, not both')
  }
  const essFraction =
    r.cv2 !== undefined ? 1 / (1 + numberOption('resample.cv2', r.cv2, 0, Number.MAX_VALUE, false)) : numberOption('resample.essFraction', r.essFraction ?? 0.5, 0, 1, false)
  return { scheme: schemeOption(r.scheme ?? 'systematic'), essFraction }
}

/** How the walkers start, in words; refuses an unknown `init`. */
function describeInit(init: WalkerInit, noiseScale: number | undefined, burnIn: number | undefined): string {
  if (init instanceof Float32Array) return burnIn ? `positions given by the caller then ${burnIn} unweighted ULA steps` : 'positions given by the caller'
  switch (init) {
    case 'exact':
      return 'exact samples of rho_theta0 drawn by the energy'
    case 'data':
      return 'data points (PCD/CD start)'
    case 'noise':
      return `Gaussian noise (scale ${noiseScale ?? 1}) then ${burnIn ?? 0} unweighted ULA steps: approximate samples of rho_theta0`
    default:
      throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `option \`init\` must be 'exact', 'data', 'noise' or a Float32Array, got ${String(init)}`)
  }
}
