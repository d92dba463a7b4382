/**
 * The paper's image experiment (Carbone et al. 2023, section 4.2): an energy-based model of MNIST's
 * digits 2, 3 and 6 in the proportions 4:2:1, trained with Jarzynski weights, PCD or CD; the mass
 * of each digit in the model is judged by a separately trained classifier applied to the walkers,
 * weighted by their Jarzynski weights (uniformly for PCD/CD).
 * @module
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import { writeFileAtomic } from '../../atomic-file'
import { jarzynError } from '../../errors'
import type { Timings } from '../../profiler'
import { deriveSeed, SplitMix64 } from '../../splitmix'
import { initTensorflow } from '../../tf/backend'
import { cnnEnergy } from '../../tf/cnn'
import type { Method, TrainerOptions } from '../../train/options'
import type { IterationStats } from '../../train/step'
import { Trainer } from '../../trainer'
import { fitDigitGaussians, mixtureBase, mixtureLogZ0, sampleMixture, type DigitGaussians } from './base'
import { digitClassifier, massesOf, type DigitClassifier } from './classifier'
import { validateMnistConfig, type MnistConfig } from './config'
import { loadDigits, type DigitImages } from './data'

/** The recorded series of one method, one entry per measurement (every `record` updates). */
export interface MnistSeries {
  /** The update after which each measurement was taken. */
  iteration: number[]
  /** Mass of each digit (in `digits` order) at each measurement. */
  masses: number[][]
  /** ESS / N of the weights used at that update (1 for PCD/CD). */
  essFraction: number[]
  /** Jarzynski estimate of log Z (absolute with the 'base' start; null for PCD/CD). */
  logZ: (number | null)[]
  /** Cross-entropy estimate log Z + mean U(data batch) (null for PCD/CD). */
  crossEntropy: (number | null)[]
  /** PSIS k-hat of the weights at the last diagnosed update (null when none). */
  khat: (number | null)[]
  /** Resamplings so far. */
  resamplings: number[]
}

/** One method's result. */
export interface MnistResult {
  /** The training method. */
  method: Method
  /** The digits, in the order of every per-digit array. */
  digits: number[]
  /** The data's proportions (4/7, 2/7, 1/7 for the paper's). */
  target: number[]
  /**
   * The masses reported: the mean of the measurements over the last `tail` of the run (the
   * measurements are noisy, weighted by a finite population); keyed by digit.
   */
  masses: Record<string, number>
  /**
   * Standard deviation of each digit's measurements over the tail: how much one measurement
   * scatters around `masses` (after resampling has started, far more than the ESS suggests: copies
   * of a walker stay close together for many updates at small steps).
   */
  massesSd: Record<string, number>
  /** How many measurements `masses` is the mean of. */
  tailMeasurements: number
  /** The last measurement alone. */
  finalMasses: Record<string, number>
  /** Largest |mass - target| over the digits (of `masses`). */
  maxError: number
  /** Accuracy of the judging classifier on held-out test images of the digits. */
  classifierAccuracy: number
  /** Whether the classifier came from the disk cache. */
  classifierCached: boolean
  /** Wall-clock seconds of the training loop (this method). */
  seconds: number
  /** Updates done. */
  iterations: number
  /** Resamplings over the run (summed over the walker groups; 0 for PCD/CD). */
  resamplings: number
  /** Whether the weights are exact (false with a decoupled noise). */
  exactWeights: boolean
  /** What computed the energy, e.g. `'tfjs:tensorflow'`. */
  backend: string
  /** How the walkers started, in words. */
  init: string
  /** Mean milliseconds per update in each profiler section. */
  timings: Timings
  /** Fraction of an update's time spent in the sampler (move, observe, resample, copies). */
  samplerShare: number
  /** Calls into the native addon per update, averaged over the run. */
  nativeCallsPerIteration: number
  /** The measurements over the run. */
  series: MnistSeries
  /** Walkers for the sample grids, side x side each, row-major. */
  samples: {
    /** 64 walkers at the start (the first 64). */
    initial: Float32Array
    /** 64 walkers at the end, spread over all groups. */
    final: Float32Array
    /** Their normalised weights at the end. */
    finalWeights: Float64Array
  }
}

/** Progress: the method, updates done, total, the last update's stats, its masses when just measured. */
export type MnistProgress = (method: Method, done: number, total: number, last: IterationStats, masses: number[] | null) => void

/** How a run is carried out (not what it computes). */
export interface MnistRunOptions {
  /**
   * A folder for checkpoints: every `checkpointEvery` updates each method's trainer and its series
   * so far are saved there (atomically); a run given the same folder resumes from them, bit for bit.
   */
  checkpointDir?: string
  /** Updates between checkpoints (default 200). */
  checkpointEvery?: number
  /** Data, classifier and starting mixture made by {@link mnistSetup} for this configuration (made here when absent). */
  setup?: MnistSetup
  /** Called after every update. */
  onProgress?: MnistProgress
  /**
   * Called at every measurement with the walkers (for a live page); `stats.khat` is the latest k-hat
   * computed (the trainer computes it every `diagnosticsEvery` updates, not at each measurement).
   */
  onMeasure?: (method: Method, iteration: number, walkers: Float32Array, weights: Float64Array, masses: number[], stats: IterationStats) => void
}

/** The training and held-out images, the classifier, and the base of a configuration. */
export interface MnistSetup {
  /** The training images of the configured digits and counts. */
  train: DigitImages
  /** Held-out images (test split) that the classifier is checked on. */
  heldOut: DigitImages
  /** The classifier that judges the walkers' digits. */
  classifier: DigitClassifier
  /** The starting mixture fitted to `train` (`init: 'base'`; null for the noise start), shared by the methods. */
  base: DigitGaussians | null
}

/** Data, classifier (trained once per configuration of data; cached on disk) and starting mixture. */
export function mnistSetup(c: MnistConfig): MnistSetup {
  const train = loadDigits({ split: 'train', digits: c.digits, counts: c.counts, side: c.side, seed: c.seed })
  const heldOut = loadDigits({ split: 'test', digits: c.digits, side: c.side, seed: c.seed + 1 })
  const classifier = digitClassifier(train, heldOut, c.digits)
  const base = c.init === 'base' ? fitDigitGaussians(train, c.digits, c.baseShrink) : null
  return { train, heldOut, classifier, base }
}

/** Positions of all walkers and their normalised weights over the whole population (all groups). */
export function walkersAndWeights(trainer: Trainer): {
  /** Positions, walkers x dim, the groups one after the other. */
  x: Float32Array
  /** Normalised weights over all walkers (sum 1). */
  w: Float64Array
} {
  const groups = trainer.samplers
  const per = groups[0].walkers
  const d = trainer.dim
  const x = new Float32Array(groups.length * per * d)
  const w = new Float64Array(groups.length * per)
  // A group's share is its normaliser exp(log Z ratio): groups resample on their own.
  const ratio = groups.map((s) => s.logNormalizerRatio())
  const m = Math.max(...ratio)
  const share = ratio.map((r) => Math.exp(r - m))
  const total = share.reduce((a, b) => a + b, 0)
  groups.forEach((s, b) => {
    x.set(s.readView('positions'), b * per * d)
    const p = s.normalizedWeights()
    for (let i = 0; i < per; i++) w[b * per + i] = (p[i] * share[b]) / total
  })
  return { x, w }
}

function trainerOptions(c: MnistConfig, method: Method, setup: MnistSetup): { options: TrainerOptions; describe: string } {
  const base = setup.base
  const energy = cnnEnergy({
    height: c.side,
    width: c.side,
    conv: c.conv,
    dense: c.dense,
    penalty: c.penalty,
    seed: c.seed,
    ...(base ? { base: mixtureBase(base), zeroOutput: true } : {}),
  })
  const d = c.side * c.side
  const cd = method === 'cd'
  const walkers = cd ? c.walkers / c.batches : c.walkers
  let init: Float32Array
  if (base) {
    init = sampleMixture(base, walkers, BigInt(c.seed) + 11n)
  } else {
    // The paper's start: uniform noise on [-1, 1) (then `burnIn` unweighted steps).
    const rng = new SplitMix64(deriveSeed(BigInt(c.seed), 11))
    init = Float32Array.from({ length: walkers * d }, () => Number(rng.nextU64() >> 11n) / 2 ** 52 - 1)
  }
  // The log-weights group exists only with the mixture base; naming it without one is an error.
  const groups: Record<string, number> = base ? { logWeights: c.lrLogWeights } : {}
  const options: TrainerOptions = {
    energy,
    data: setup.train.images,
    method,
    walkers,
    stepSize: c.stepSize,
    ...(c.noiseStd === null ? {} : { noiseStd: c.noiseStd }),
    seed: c.seed,
    threads: c.threads,
    init: cd ? 'data' : init,
    burnIn: cd ? undefined : c.burnIn,
    optimizer: {
      type: 'adam',
      lr: c.lr,
      betas: c.betas,
      groups,
      ...(c.schedule === 'linear' ? { schedule: { type: 'linear', iterations: c.iterations } } : {}),
      ...(c.clip === null ? {} : { clip: c.clip }),
    },
    resample: c.resample ?? false,
    // CD: walkers reset to data every mcmcSteps updates (CD-k with k = mcmcSteps), all moving.
    ...(cd ? { cdReset: c.mcmcSteps } : { minibatch: { batches: c.batches, mcmcSteps: c.mcmcSteps } }),
    dataBatch: c.dataBatch,
    ...(base ? { logZ0: mixtureLogZ0(base) } : {}),
  }
  const describe = base
    ? `exact samples of rho_theta0: an equal-weight mixture of one Gaussian per digit (shrinkage ${c.baseShrink}) under a zero-output CNN`
    : `uniform noise on [-1, 1] then ${c.burnIn} unweighted ULA steps`
  return { options, describe }
}

/** Mean and standard deviation of each digit's mass over the measurements at or after iteration `from`. */
function tailStats(series: MnistSeries, from: number, k: number): { mean: number[]; sd: number[]; count: number } {
  const idx = series.iteration.map((it, j) => (it >= from ? j : -1)).filter((j) => j >= 0)
  const use = idx.length > 0 ? idx : [series.iteration.length - 1]
  const mean = Array.from({ length: k }, (_, c) => use.reduce((a, j) => a + series.masses[j][c], 0) / use.length)
  const sd = mean.map((m, c) => Math.sqrt(use.reduce((a, j) => a + (series.masses[j][c] - m) ** 2, 0) / use.length))
  return { mean, sd, count: use.length }
}

const keyed = (digits: number[], v: number[]) => Object.fromEntries(digits.map((d, i) => [String(d), v[i]]))

/** Run the configured methods on the same data, classifier and starting model. */
export async function runMnistExperiment(config: MnistConfig, run: MnistRunOptions = {}): Promise<MnistResult[]> {
  const c = validateMnistConfig(config)
  await initTensorflow()
  const setup = run.setup ?? mnistSetup(c)
  const results: MnistResult[] = []
  for (const method of c.methods) results.push(await runMethod(c, method, setup, run))
  return results
}

/** What a checkpoint of one method holds besides the trainer. */
interface Progress {
  series: MnistSeries
  initial: number[]
  seconds: number
}

async function runMethod(c: MnistConfig, method: Method, setup: MnistSetup, run: MnistRunOptions): Promise<MnistResult> {
  const { options, describe } = trainerOptions(c, method, setup)
  const k = c.digits.length
  const d = c.side * c.side
  const ckpt = run.checkpointDir ? join(run.checkpointDir, `${method}.ckpt`) : null
  const side = ckpt ? `${ckpt}.json` : null
  let trainer: Trainer
  let progress: Progress
  if (ckpt && side && existsSync(ckpt) && existsSync(side)) {
    trainer = Trainer.resume(ckpt, options)
    progress = JSON.parse(readFileSync(side, 'utf8')) as Progress
  } else {
    trainer = new Trainer(options)
    progress = {
      series: { iteration: [], masses: [], essFraction: [], logZ: [], crossEntropy: [], khat: [], resamplings: [] },
      initial: Array.from(trainer.samplers[0].positions.subarray(0, 64 * d)),
      seconds: 0,
    }
  }
  const every = run.checkpointEvery ?? 200
  const t0 = performance.now() - 1000 * progress.seconds
  let last: IterationStats | null = null
  let lastKhat: number | null = null
  try {
    while (trainer.iteration < c.iterations) {
      const s = trainer.step()
      last = s
      if (s.khat !== null) lastKhat = s.khat
      const done = trainer.iteration
      let masses: number[] | null = null
      if (done % c.record === 0 || done === c.iterations) {
        const { x, w } = walkersAndWeights(trainer)
        masses = massesOf(setup.classifier.classify(x), k, method === 'jarzynski' ? w : undefined)
        const sr = progress.series
        sr.iteration.push(done)
        sr.masses.push(masses)
        sr.essFraction.push(s.essFraction)
        sr.logZ.push(s.logZ)
        sr.crossEntropy.push(s.crossEntropy)
        sr.khat.push(lastKhat)
        sr.resamplings.push(s.resamplings)
        run.onMeasure?.(method, done, x, w, masses, s.khat === lastKhat ? s : { ...s, khat: lastKhat })
      }
      run.onProgress?.(method, done, c.iterations, s, masses)
      if (ckpt && side && (done % every === 0 || done === c.iterations)) {
        progress.seconds = (performance.now() - t0) / 1000
        mkdirSync(run.checkpointDir!, { recursive: true })
        trainer.save(ckpt)
        writeFileAtomic(side, JSON.stringify(progress))
      }
      // Let timers (progress display, live page) run now and then.
      if (done % 10 === 0) await new Promise((r) => setImmediate(r))
    }
    if (!last && trainer.iteration >= c.iterations && progress.series.iteration.length === 0) {
      throw jarzynError(Error, 'ERR_JARZYN_BAD_CHECKPOINT', `${ckpt}: the checkpoint is at the end of the run but holds no measurements`)
    }
    const seconds = (performance.now() - t0) / 1000
    const { x, w } = walkersAndWeights(trainer)
    // 64 walkers spread over the whole population (all groups), not the first 64 (one group's,
    // often copies of one another after resampling).
    const shown = Math.min(64, w.length)
    const order = Array.from({ length: shown }, (_, k) => Math.floor((k * w.length) / shown))
    const sr = progress.series
    const tail = tailStats(sr, c.iterations * (1 - c.tail), k)
    const masses = tail.mean
    const target = c.counts.map((n) => n / c.counts.reduce((a, b) => a + b, 0))
    const prof = trainer.profiler
    const totals = prof.totals()
    const n = Math.max(trainer.iteration, 1)
    const timings = Object.fromEntries(Object.entries(totals).map(([key, v]) => [key, v / n])) as Timings
    return {
      method,
      digits: c.digits,
      target,
      masses: keyed(c.digits, masses),
      massesSd: keyed(c.digits, tail.sd),
      tailMeasurements: tail.count,
      finalMasses: keyed(c.digits, sr.masses[sr.masses.length - 1]),
      maxError: Math.max(...masses.map((m, i) => Math.abs(m - target[i]))),
      classifierAccuracy: setup.classifier.accuracy,
      classifierCached: setup.classifier.cached,
      seconds,
      iterations: trainer.iteration,
      resamplings: sr.resamplings[sr.resamplings.length - 1] ?? 0,
      exactWeights: trainer.samplers[0].exactWeights,
      backend: trainer.energy.backend,
      init: describe,
      timings,
      samplerShare: prof.samplerShare(),
      nativeCallsPerIteration: prof.nativeCallsPerIteration(),
      series: sr,
      samples: {
        initial: Float32Array.from(progress.initial),
        final: Float32Array.from(order.flatMap((i) => Array.from(x.subarray(i * d, (i + 1) * d)))),
        finalWeights: Float64Array.from(order, (i) => w[i]),
      },
    }
  } finally {
    trainer.dispose()
  }
}
