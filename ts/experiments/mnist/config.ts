/**
 * The configuration of the image experiment (digits 2, 3, 6 in 4:2:1) and its presets.
 * @module
 */
import type { ConvLayerOptions } from '../../tf/cnn'
import type { Method } from '../../train/options'
import type { ResampleScheme } from '../../sampler'
import { jarzynError } from '../../errors'
import { intOption, knownKeys, numberOption } from '../../validate'

/** Everything a run of the image experiment depends on. */
export interface MnistConfig {
  /** Methods to run, in order. */
  methods: Method[]
  /** Side of the images: 28 (MNIST's own), or 14 / 7 (2x2 / 4x4 block means). */
  side: number
  /** The digits (the paper's: 2, 3, 6). */
  digits: number[]
  /** Training images of each digit (the paper's: 5600 / 2800 / 1400). */
  counts: number[]
  /** Walkers N, in `batches` groups (the mini-batch variant: one group moves per update). */
  walkers: number
  /** Walker groups; one moves `mcmcSteps` steps per update. */
  batches: number
  /** ULA steps of the moving group per update. */
  mcmcSteps: number
  /** ULA step size h. */
  stepSize: number
  /**
   * Standard deviation of the moves' noise when it is not sqrt(2h): the authors' h = 5e-5 with std
   * 1e-4 (the weights are then NOT exact; `paper` preset only). null: sqrt(2h).
   */
  noiseStd: number | null
  /** Parameter updates per method. */
  iterations: number
  /** Adam's learning rate of the network. */
  lr: number
  /** Adam's learning rate of the base mixture's log-weights (`init: 'base'`). */
  lrLogWeights: number
  /** Adam's betas (the paper's (0, 0.999)). */
  betas: [number, number]
  /** Learning-rate schedule over the run: constant, or linear decay to 0 (the paper's). */
  schedule: 'constant' | 'linear'
  /** Gradient clipping (global norm; the paper's 1), or null. */
  clip: number | null
  /** Energy-squared penalty of the network's output (the paper's 0.01). */
  penalty: number
  /** Data images per update. */
  dataBatch: number
  /** The CNN: convolutions and dense widths (see cnnEnergy). */
  conv: (number | ConvLayerOptions)[]
  /** Widths of the dense layers after the convolutions. */
  dense: number[]
  /**
   * How walkers start: `'base'`, exact samples of rho_theta0 = the equal-weight mixture of one
   * Gaussian per digit under a zero-output CNN (log Z known); `'noise'`, the paper's: uniform noise
   * on [-1, 1] then `burnIn` unweighted ULA steps (approximate, an unnormalisable start).
   */
  init: 'base' | 'noise'
  /** Unweighted ULA steps from the start before training (`init: 'noise'`). */
  burnIn: number
  /** Shrinkage added to each digit's covariance (the base's smallest variance). */
  baseShrink: number
  /** Jarzynski resampling: scheme and ESS fraction, or null. */
  resample: {
    /** The resampling scheme. */
    scheme: ResampleScheme
    /** Resample a group when its ESS / N falls below this. */
    essFraction: number
  } | null
  /** CD: updates between resets of the walkers to data. */
  cdReset: number
  /** Updates between two measurements of the masses. */
  record: number
  /** Fraction of the run at its end whose measured masses are averaged for the reported figure. */
  tail: number
  /** Seed of the data subsets, the network's initialisation, the walkers and their moves. */
  seed: number
  /** Threads of the native walkers (results are the same for any count). */
  threads: number
}

/** The paper's configuration (the authors' code): 28x28, their CNN, noise start, 46k updates. */
export const PAPER_MNIST_CONFIG: MnistConfig = {
  methods: ['jarzynski', 'pcd'],
  side: 28,
  digits: [2, 3, 6],
  counts: [5600, 2800, 1400],
  walkers: 1024,
  batches: 4,
  mcmcSteps: 30,
  stepSize: 5e-5,
  noiseStd: 1e-4,
  iterations: 46000,
  lr: 1e-4,
  lrLogWeights: 1e-4,
  betas: [0, 0.999],
  schedule: 'linear',
  clip: 1,
  penalty: 0.01,
  dataBatch: 256,
  conv: [{ filters: 16, kernel: 5, stride: 2, pad: 4 }, 32, 64, 64],
  dense: [64],
  init: 'noise',
  burnIn: 20000,
  baseShrink: 0.01,
  // std(w / mean w) > 1.5, i.e. CV^2 > 2.25, i.e. ESS / N < 1 / 3.25.
  resample: { scheme: 'multinomial', essFraction: 1 / 3.25 },
  cdReset: 1,
  record: 200,
  tail: 0.1,
  seed: 1,
  threads: 2,
}

/** The presets of `jarzyn mnist --preset`. */
export interface MnistPresets {
  /** Sized for 2 CPU cores: Jarzynski and PCD together in under 45 minutes (README: how it was chosen). */
  readonly cpu: MnistConfig
  /** The authors' configuration, for a GPU or a long run. */
  readonly paper: MnistConfig
  /** Seconds, for tests. */
  readonly smoke: MnistConfig
}

/** The presets of `jarzyn mnist --preset`. */
export const MNIST_PRESETS: MnistPresets = {
  /** Sized for 2 CPU cores: Jarzynski and PCD together in under 45 minutes (README: how it was chosen). */
  cpu: {
    ...PAPER_MNIST_CONFIG,
    side: 14,
    walkers: 1023,
    batches: 3,
    mcmcSteps: 10,
    stepSize: 1e-4,
    noiseStd: null,
    iterations: 2000,
    lr: 1e-4,
    lrLogWeights: 3e-3,
    schedule: 'linear',
    clip: null,
    penalty: 0,
    dataBatch: 128,
    conv: [16, 32, 64],
    dense: [64],
    init: 'base',
    burnIn: 0,
    resample: { scheme: 'systematic', essFraction: 0.3 },
    record: 50,
    tail: 0.2,
  },
  /** The authors' configuration, for a GPU or a long run. */
  paper: PAPER_MNIST_CONFIG,
  /** Seconds, for tests. */
  smoke: {
    ...PAPER_MNIST_CONFIG,
    side: 7,
    counts: [400, 200, 100],
    walkers: 96,
    batches: 3,
    mcmcSteps: 2,
    stepSize: 1e-4,
    noiseStd: null,
    iterations: 20,
    lr: 1e-4,
    lrLogWeights: 3e-3,
    schedule: 'constant',
    clip: null,
    dataBatch: 32,
    conv: [8, 16],
    dense: [16],
    init: 'base',
    burnIn: 0,
    resample: { scheme: 'systematic', essFraction: 0.3 },
    record: 5,
    tail: 0.5,
  },
}

/** A name of {@link MNIST_PRESETS}. */
export type MnistPreset = keyof MnistPresets

const KEYS = Object.keys(PAPER_MNIST_CONFIG) as (keyof MnistConfig)[]

/** Check a configuration; throws ERR_JARZYN_INVALID_OPTION naming the first bad field. */
export function validateMnistConfig(c: MnistConfig): MnistConfig {
  knownKeys('MnistConfig', c, KEYS)
  const bad = (what: string) => jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', what)
  if (!Array.isArray(c.methods) || c.methods.length === 0 || c.methods.some((m) => !['jarzynski', 'pcd', 'cd'].includes(m))) {
    throw bad(`methods must be a non-empty list of jarzynski, pcd, cd; got ${JSON.stringify(c.methods)}`)
  }
  intOption('side', c.side, 1, 28)
  if (28 % c.side !== 0) throw bad(`side must divide 28, got ${c.side}`)
  if (!Array.isArray(c.digits) || c.digits.length < 2 || c.digits.length !== c.counts?.length) throw bad('digits and counts must be lists of the same length (at least two digits)')
  c.digits.forEach((d, i) => intOption(`digits[${i}]`, d, 0, 9))
  c.counts.forEach((n, i) => intOption(`counts[${i}]`, n, 1, 7000))
  intOption('batches', c.batches, 1, 1 << 20)
  intOption('walkers', c.walkers, c.batches, 1 << 24)
  if (c.walkers % c.batches !== 0) throw bad(`walkers (${c.walkers}) must be a multiple of batches (${c.batches})`)
  intOption('mcmcSteps', c.mcmcSteps, 1, 1e6)
  numberOption('stepSize', c.stepSize, 0, 1e3, true)
  if (c.noiseStd !== null) numberOption('noiseStd', c.noiseStd, 0, 1e3, false)
  intOption('iterations', c.iterations, 1, 1e9)
  numberOption('lr', c.lr, 0, 1e3, false)
  numberOption('lrLogWeights', c.lrLogWeights, 0, 1e3, false)
  if (!['constant', 'linear'].includes(c.schedule)) throw bad(`schedule must be constant or linear, got ${String(c.schedule)}`)
  if (c.clip !== null) numberOption('clip', c.clip, 0, 1e9, true)
  numberOption('penalty', c.penalty, 0, 1e9, false)
  intOption('dataBatch', c.dataBatch, 1, 1e7)
  if (!['base', 'noise'].includes(c.init)) throw bad(`init must be base or noise, got ${String(c.init)}`)
  intOption('burnIn', c.burnIn, 0, 1e9)
  numberOption('baseShrink', c.baseShrink, 0, 1e3, true)
  intOption('cdReset', c.cdReset, 1, 1e9)
  intOption('record', c.record, 1, 1e9)
  numberOption('tail', c.tail, 0, 1, true)
  intOption('threads', c.threads, 1, 1024)
  return c
}
