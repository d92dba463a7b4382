/**
 * The paper's Gaussian-mixture experiment (Carbone et al. 2023, section 4.1): data from a mixture of
 * unit Gaussians on the first axis, a two-parameter-group mixture model, and Jarzynski vs PCD vs CD.
 * @module
 */
import { deviceOption, type SamplerDevice } from '../../device'
import { jarzynError } from '../../errors'
import { GaussianMixtureEnergy } from '../../gmm'
import { fillNormals } from '../../normals'
import type { Timings } from '../../profiler'
import type { ResampleScheme } from '../../sampler'
import type { Method, TrainerOptions } from '../../train/options' // TrainerOptions: for a doc link
import type { IterationStats } from '../../train/step'
import { Trainer } from '../../trainer'
import { LiveServer, startLiveServer } from '../live/server'
import { GmmLiveFeed } from './live'

/** Configuration of the experiment; {@link PAPER_GMM_CONFIG} is the paper's. */
export interface GmmConfig {
  /** Methods to run, in order. */
  methods: Method[]
  /** Dimension d. */
  dim: number
  /** Data mixture: component means on the first axis. */
  means: number[]
  /** Data mixture weights (sum to 1). */
  weights: number[]
  /** Data points n. */
  dataPoints: number
  /** Walkers N. */
  walkers: number
  /** Training iterations per method (parameter updates). */
  iterations: number
  /** ULA step size h of the walkers. */
  stepSize: number
  /** SGD learning rate of the component means (multiplied by `cdLrFactor` for CD). */
  lrMeans: number
  /** SGD learning rate of the log-weight offsets z_i (multiplied by `cdLrFactor` for CD). */
  lrLogWeights: number
  /** Learning-rate multiplier for CD (the paper uses 10). */
  cdLrFactor: number
  /** Resampling (Jarzynski): scheme and ESS-fraction threshold, or null for none. */
  resample: {
    /** Resampling scheme, e.g. `'systematic'`. */
    scheme: ResampleScheme
    /** Resample when ESS < essFraction * N (0..1). */
    essFraction: number
  } | null
  /** CD: iterations between resets to data. */
  cdReset: number
  /** Seed of the data sample, the initial model and the walkers; same seed, same result, bit for bit. */
  seed: number
  /** Sampler and energy threads; results do not depend on it. */
  threads: number
  /**
   * Where the walkers run: `'cpu'` (default), `'cuda'` or `'auto'` (see {@link TrainerOptions.device};
   * `jarzyn gmm --device`). Each result's `device` says what ran.
   */
  device?: SamplerDevice
  /**
   * Jarzynski: iterations between the weight diagnostics k-hat and CESS (see
   * {@link TrainerOptions.diagnosticsEvery}; 0: never). Default: the first multiple of the series'
   * stride (see {@link GmmSeries.iteration}) that is at least 10, so that every diagnosed iteration
   * is a recorded one.
   */
  diagnosticsEvery?: number
}

/** The paper's configuration: d = 50, modes at -10 and +6 with weights 1/4 and 3/4, n = N = 10^4, h = 0.1, 8000 iterations. */
export const PAPER_GMM_CONFIG: GmmConfig = {
  methods: ['jarzynski'],
  dim: 50,
  means: [-10, 6],
  weights: [0.25, 0.75],
  dataPoints: 10_000,
  walkers: 10_000,
  iterations: 8000,
  stepSize: 0.1,
  lrMeans: 2.5e-3,
  lrLogWeights: 1.25e-2,
  cdLrFactor: 10,
  resample: { scheme: 'systematic', essFraction: 0.5 },
  cdReset: 4,
  seed: 1,
  threads: 2,
}

/** Per-iteration series of one method (thinned to `every` iterations). */
export interface GmmSeries {
  /** The iterations recorded (0-based), every `max(1, floor(iterations / 2000))` and the last. */
  iteration: number[]
  /** Learned mixture weights, one array per component. */
  weights: number[][]
  /** Exact KL(data || model) at theta_k (the model's exact log Z, the data's entropy estimated on the data). */
  klExact: number[]
  /** Jarzynski KL estimate (NaN for PCD/CD). */
  klEstimate: number[]
  /** ESS / N of the walker weights, 0..1 (1 for the unweighted PCD/CD walkers). */
  essFraction: number[]
  /** 1 where the walkers were resampled since the previous recorded iteration, else 0. */
  resampled: number[]
  /** Jarzynski estimate of log Z_theta_k (NaN for PCD/CD). */
  logZ: number[]
  /** Exact log Z_theta_k of the model mixture. */
  logZExact: number[]
  /**
   * Pareto k-hat of the Jarzynski weights used at the iteration (`IterationStats.khat`): NaN where
   * the diagnostics did not run (PCD/CD, and between every `diagnosticsEvery`-th iteration), and
   * -Infinity for equal weights (right after a resampling). series.json writes both as null,
   * series.csv writes NaN as an empty cell and -Infinity as `-Infinity`.
   */
  khat: number[]
  /** CESS / N of the iteration's weight update (`IterationStats.cess` / N), 0..1; NaN where the diagnostics did not run. */
  cessFraction: number[]
}

/** Result of one method. */
export interface GmmResult {
  /** The training method of this run. */
  method: Method
  /** Learned mixture weights, in the order of `means`. */
  weights: number[]
  /** The data mixture's weights (the target), in the same order. */
  dataWeights: number[]
  /** Learned means along the first axis. */
  learnedMeans: number[]
  /** Exact KL(data || model) at the learned parameters, after the last update (nats). */
  klExact: number
  /** Jarzynski estimate of the same KL from the walkers' log Z estimate; null for PCD/CD. */
  klEstimate: number | null
  /** Resamplings over the run (0 for PCD/CD, or when resampling is off). */
  resamplings: number
  /** Iterations done. */
  iterations: number
  /** Wall-clock seconds of the training loop. */
  seconds: number
  /** Sampler share of the time, 0..1, and the full split (ms per iteration). */
  samplerShare: number
  /** Mean milliseconds per iteration in each profiler section. */
  timings: Timings
  /** What computed the energy (e.g. `'native-gmm'`). */
  backend: string
  /** What ran the walkers: `'cpu'` or `'cuda'`. */
  device: 'cpu' | 'cuda'
  /** How the walkers were initialised, in words (see {@link Trainer.initDescription}). */
  init: string
  /** The per-iteration series, for plots. */
  series: GmmSeries
  /** First two coordinates and normalised weight of up to 2000 walkers at the end. */
  walkers: {
    /** First coordinate of each walker. */
    x0: number[]
    /** Second coordinate (0 when d = 1). */
    x1: number[]
    /** Normalised weight (the weights of all N walkers sum to 1; uniform for PCD/CD). */
    weight: number[]
  }
}

/** Progress callback: method, iteration done, total. */
export type GmmProgress = (method: Method, done: number, total: number, last: IterationStats) => void

/** Options of a {@link runGmmExperiment} call (how it runs, not what it computes). */
export interface GmmRunOptions {
  /**
   * Show the run on a live page: a {@link LiveServer} of yours (its layout is set to the
   * experiment's; you end and close it), or `true` to start one on a free port of 127.0.0.1, print
   * `live: http://127.0.0.1:PORT/` on stderr, and stop it when the run ends. The page shows ESS/N,
   * CESS/N, k-hat, log Z (estimate and exact), the mixture weights of each method over the
   * iterations, and the walkers over the learned density. Reading the walkers for it changes
   * nothing in the run.
   */
  live?: LiveServer | true
  /** The configuration in words, shown under the live page's title (`jarzyn gmm` passes its summary). */
  description?: string
}

/** The stride of the recorded series: every max(1, floor(iterations / 2000)) iterations. @internal */
export function seriesStride(c: GmmConfig): number {
  return Math.max(1, Math.floor(c.iterations / 2000))
}

/** `c.diagnosticsEvery`, or its default: the first multiple of the series' stride that is at least 10. @internal */
export function gmmDiagnosticsEvery(c: GmmConfig): number {
  const every = seriesStride(c)
  return c.diagnosticsEvery ?? every * Math.ceil(10 / every)
}

/** Check a configuration; throws a RangeError with code ERR_JARZYN_INVALID_OPTION naming the problem. */
export function validateGmmConfig(c: GmmConfig): void {
  const bad = (msg: string) => jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', msg)
  if (c.means.length < 1) throw bad('--means needs at least one mean')
  if (c.means.length !== c.weights.length) throw bad(`--means has ${c.means.length} entries but --weights has ${c.weights.length}`)
  if (c.weights.some((w) => !(w > 0))) throw bad('--weights must all be > 0')
  const sum = c.weights.reduce((a, b) => a + b, 0)
  if (Math.abs(sum - 1) > 1e-6) throw bad(`--weights must sum to 1 (they sum to ${sum})`)
  if (c.means.some((m) => !Number.isFinite(m))) throw bad('--means must be finite numbers')
  if (!(Number.isInteger(c.dim) && c.dim >= 1)) throw bad('--dim must be a positive integer')
  for (const [k, v] of [['--data', c.dataPoints], ['--walkers', c.walkers], ['--iterations', c.iterations], ['--cd-reset', c.cdReset], ['--threads', c.threads]] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw bad(`${k} must be a positive integer, got ${v}`)
  }
  for (const [k, v] of [['--step-size', c.stepSize], ['--lr-means', c.lrMeans], ['--lr-logweights', c.lrLogWeights], ['--cd-lr-factor', c.cdLrFactor]] as const) {
    if (!(Number.isFinite(v) && v > 0)) throw bad(`${k} must be a positive number, got ${v}`)
  }
  if (!(Number.isSafeInteger(c.seed) && c.seed >= 0)) throw bad('--seed must be a non-negative integer')
  if (c.device !== undefined) {
    try {
      deviceOption(c.device)
    } catch {
      throw bad(`--device must be cpu, cuda or auto, got '${String(c.device)}'`)
    }
  }
  if (c.resample && !(c.resample.essFraction >= 0 && c.resample.essFraction <= 1)) throw bad('--resample threshold must be in [0, 1]')
  if (c.diagnosticsEvery !== undefined && !(Number.isSafeInteger(c.diagnosticsEvery) && c.diagnosticsEvery >= 0)) {
    throw bad(`diagnosticsEvery must be a non-negative integer, got ${c.diagnosticsEvery}`)
  }
}

/** The data-generating mixture: unit Gaussians at means[i] e1. */
export function dataMixture(c: GmmConfig): GaussianMixtureEnergy {
  const d = c.dim
  return new GaussianMixtureEnergy({
    dim: d,
    threads: c.threads,
    means: c.means.map((m) => [m, ...new Array(d - 1).fill(0)]),
    // Mixture weight proportional to exp(-z) with unit scales.
    logWeights: c.weights.map((w) => -Math.log(w)),
  })
}

/**
 * The model at theta_0: means 0.01 N(0, I) with first coordinates spread over [-0.1, 0.1] in the
 * order of the data means (so component i tends to learn mode i), z = 0, z_1 held fixed.
 */
export function initialModel(c: GmmConfig): GaussianMixtureEnergy {
  const d = c.dim
  const k = c.means.length
  const noise = fillNormals(new Float32Array(k * d), { dim: d, seed: c.seed, stream: 'user' })
  const rank = c.means.map((m) => c.means.filter((o) => o < m).length)
  const means = c.means.map((_, i) => {
    const a = Array.from(noise.subarray(i * d, (i + 1) * d), (v) => 0.01 * v)
    a[0] = k === 1 ? 0 : 0.1 * ((2 * rank[i]) / (k - 1) - 1)
    return a
  })
  return new GaussianMixtureEnergy({ dim: d, threads: c.threads, means, fixed: { logWeights: [0] } })
}

/**
 * Run the configured methods; each gets the same data and initial model.
 *
 * @example
 * ```ts
 * // A smaller version of the paper's run: d = 10, 2000 points and walkers, 500 iterations.
 * const results = await runGmmExperiment({ ...PAPER_GMM_CONFIG, methods: ['jarzynski', 'pcd'],
 *   dim: 10, dataPoints: 2000, walkers: 2000, iterations: 500 })
 * for (const r of results) console.log(r.method, r.weights, r.klExact, r.klEstimate)
 *
 * // The same, watched on a live page (its address is printed on stderr).
 * await runGmmExperiment({ ...PAPER_GMM_CONFIG, iterations: 500 }, undefined, { live: true })
 * ```
 */
export async function runGmmExperiment(c: GmmConfig, onProgress?: GmmProgress, options: GmmRunOptions = {}): Promise<GmmResult[]> {
  validateGmmConfig(c)
  const own = options.live === true ? await startLiveServer() : null
  if (own) process.stderr.write(`live: ${own.url}\n`)
  try {
    const live = own ?? (options.live instanceof LiveServer ? options.live : null)
    return await runMethods(c, onProgress, live, options.description)
  } finally {
    if (own) {
      own.end()
      await own.close()
    }
  }
}

async function runMethods(c: GmmConfig, onProgress: GmmProgress | undefined, live: LiveServer | null, description: string | undefined): Promise<GmmResult[]> {
  const truth = dataMixture(c)
  const { x: data } = truth.sample(c.dataPoints, c.seed + 7919, { stratified: true })
  // Entropy of the data distribution, estimated on the data themselves: the same sample enters the
  // cross-entropy, so KL = CE - H is the KL's natural estimate on this data set.
  const logp = truth.logDensity(data)
  const H = -logp.reduce((a, b) => a + b, 0) / c.dataPoints
  const results: GmmResult[] = []
  const every = seriesStride(c)
  const diagnosticsEvery = gmmDiagnosticsEvery(c)
  const feed = live ? new GmmLiveFeed(live, c, every, description) : null
  for (const method of c.methods) {
    const energy = initialModel(c)
    const logZ0 = energy.logZ()
    const f = method === 'cd' ? c.cdLrFactor : 1
    const trainer = new Trainer({
      energy,
      data,
      method,
      walkers: c.walkers,
      stepSize: c.stepSize,
      seed: c.seed,
      threads: c.threads,
      device: c.device ?? 'cpu',
      optimizer: { type: 'sgd', lr: c.lrMeans * f, groups: { means: c.lrMeans * f, logWeights: c.lrLogWeights * f } },
      resample: c.resample ?? false,
      cdReset: c.cdReset,
      dataEntropy: H,
      diagnosticsEvery,
    })
    const k = c.means.length
    const series: GmmSeries = {
      iteration: [],
      weights: Array.from({ length: k }, () => []),
      klExact: [],
      klEstimate: [],
      essFraction: [],
      resampled: [],
      logZ: [],
      logZExact: [],
      khat: [],
      cessFraction: [],
    }
    feed?.begin(method)
    const t0 = performance.now()
    let last: IterationStats | null = null
    let resampledSince = 0
    for await (const s of trainer.run({ iterations: c.iterations })) {
      last = s
      if (s.resampled) resampledSince = 1
      if (s.iteration % every === 0 || s.iteration === c.iterations - 1) {
        series.iteration.push(s.iteration)
        const w = s.model?.mixtureWeights as number[]
        w.forEach((v, i) => series.weights[i].push(v))
        series.klExact.push(s.klExact ?? NaN)
        series.klEstimate.push(s.kl ?? NaN)
        series.essFraction.push(s.essFraction)
        series.resampled.push(resampledSince)
        series.logZ.push(s.logZ ?? NaN)
        series.logZExact.push(s.logZExact ?? NaN)
        series.khat.push(s.khat ?? NaN)
        series.cessFraction.push(s.cess === null ? NaN : s.cess / c.walkers)
        resampledSince = 0
      }
      feed?.iteration(s, energy, trainer.samplers[0])
      onProgress?.(method, s.iteration + 1, c.iterations, s)
    }
    const seconds = (performance.now() - t0) / 1000
    // Final exact KL at the learned parameters (the stats describe theta_k before each update).
    const meanU = energy.energies(data).reduce((a, b) => a + b, 0) / c.dataPoints
    const klExact = energy.logZ() + meanU - H
    const s0 = trainer.samplers[0]
    const p = s0.normalizedWeights()
    const logZHat = method === 'jarzynski' ? logZ0 + s0.logNormalizerRatio() : null
    const klEstimate = logZHat === null ? null : logZHat + meanU - H
    const stride = Math.max(1, Math.floor(s0.walkers / 2000))
    const walkers = { x0: [] as number[], x1: [] as number[], weight: [] as number[] }
    const x = s0.readView('positions')
    for (let i = 0; i < s0.walkers; i += stride) {
      walkers.x0.push(x[i * c.dim])
      walkers.x1.push(c.dim > 1 ? x[i * c.dim + 1] : 0)
      walkers.weight.push(p[i])
    }
    const its = Math.max(trainer.iteration, 1)
    const totals = trainer.profiler.totals()
    const timings = Object.fromEntries(Object.entries(totals).map(([key, v]) => [key, v / its])) as Timings
    results.push({
      method,
      weights: energy.mixtureWeights(),
      dataWeights: [...c.weights],
      learnedMeans: Array.from(energy.getParams().subarray(0, k * c.dim)).filter((_, i) => i % c.dim === 0),
      klExact,
      klEstimate,
      resamplings: last?.resamplings ?? 0,
      iterations: trainer.iteration,
      seconds,
      samplerShare: trainer.profiler.samplerShare(),
      timings,
      backend: energy.backend,
      device: trainer.device,
      init: trainer.initDescription,
      series,
      walkers,
    })
    trainer.dispose()
  }
  return results
}
