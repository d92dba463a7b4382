/**
 * Resident memory over a long run of small steps: a leak per call (a buffer, a view, a handle)
 * shows up as growth.
 * @module
 */
import { Sampler, Trainer, fillNormals, initTensorflow, mlpEnergy } from '../ts/index'
import { gc, gcAvailable, now, progress, release, rss } from './util'

/** 5 MB. */
export const RSS_GROWTH_LIMIT = 5e6

/** "Flat": the resident set at the end within 10 % of the one after the warm-up. */
export const RSS_RELATIVE_LIMIT = 0.1

export interface RssResult {
  walkers: number
  dim: number
  threads: number
  steps: number
  warmupSteps: number
  gcBeforeReadings: boolean
  /** RSS (bytes) after the warm-up, at the middle and at the end. */
  start: number
  middle: number
  end: number
  growth: number
  /** growth / start. */
  relativeGrowth: number
  seconds: number
  pass: boolean
}

export async function measureRss(walkers = 1000, dim = 10, steps = 100_000, threads = 2, warmupSteps = 2000): Promise<RssResult> {
  await release()
  const s = new Sampler({ walkers, dim, stepSize: 0.01, seed: 99, threads, weighted: true })
  try {
    const x = s.positions
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i)
    s.gradients.set(x)
    s.energies.fill(1)
    s.observe()
    for (let k = 0; k < warmupSteps; k++) {
      s.move()
      s.observe()
    }
    const reading = () => {
      gc()
      return rss()
    }
    const start = reading()
    const t = now()
    let middle = start
    for (let k = 1; k <= steps; k++) {
      s.move()
      s.observe()
      if (k === steps / 2) {
        middle = reading()
        progress(`rss: ${k} steps, ${(middle / 1e6).toFixed(1)} MB`)
      }
    }
    const seconds = now() - t
    const end = reading()
    const growth = end - start
    progress(`rss: ${steps} steps in ${seconds.toFixed(1)} s, growth ${(growth / 1e6).toFixed(2)} MB`)
    return {
      walkers,
      dim,
      threads,
      steps,
      warmupSteps,
      gcBeforeReadings: gcAvailable,
      start,
      middle,
      end,
      growth,
      relativeGrowth: growth / start,
      seconds,
      pass: growth < RSS_GROWTH_LIMIT && growth / start <= RSS_RELATIVE_LIMIT,
    }
  } finally {
    s.dispose()
    await release()
  }
}

/** {@link measureTfRss}: resident memory and live tensors over TensorFlow.js training steps. */
export interface TfRssResult extends RssResult {
  /** The TensorFlow.js backend that ran. */
  backend: string
  /** tf.memory().numTensors after the warm-up and at the end: a tensor leaked per step shows here. */
  tensorsStart: number
  tensorsEnd: number
}

/**
 * Resident memory over `steps` Jarzynski training steps of an MLP energy (TensorFlow.js): every
 * tensor a step makes must be disposed, and the native sampler must not grow either.
 */
export async function measureTfRss(steps = 2000, walkers = 256, dim = 4, warmupSteps = 500, threads = 2): Promise<TfRssResult> {
  const { backend, tf } = await initTensorflow()
  await release()
  const data = fillNormals(new Float32Array(512 * dim), { dim, seed: 3 })
  const trainer = new Trainer({
    energy: mlpEnergy({ dim, hidden: [32, 32], activation: 'silu', seed: 1 }),
    data,
    walkers,
    stepSize: 0.01,
    seed: 4,
    threads,
    init: 'noise',
    optimizer: { type: 'adam', lr: 1e-3 },
    resample: { scheme: 'systematic', essFraction: 0.5 },
  })
  try {
    for (let k = 0; k < warmupSteps; k++) trainer.step()
    const reading = () => {
      gc()
      return rss()
    }
    const start = reading()
    const tensorsStart = tf.memory().numTensors
    const t = now()
    let middle = start
    for (let k = 1; k <= steps; k++) {
      trainer.step()
      if (k === steps / 2) {
        middle = reading()
        progress(`tf rss: ${k} steps, ${(middle / 1e6).toFixed(1)} MB`)
      }
    }
    const seconds = now() - t
    const end = reading()
    const growth = end - start
    const tensorsEnd = tf.memory().numTensors
    progress(`tf rss: ${steps} training steps in ${seconds.toFixed(1)} s, growth ${(growth / 1e6).toFixed(2)} MB, tensors ${tensorsStart} -> ${tensorsEnd}`)
    return {
      backend,
      walkers,
      dim,
      threads,
      steps,
      warmupSteps,
      gcBeforeReadings: gcAvailable,
      start,
      middle,
      end,
      growth,
      relativeGrowth: growth / start,
      seconds,
      tensorsStart,
      tensorsEnd,
      pass: growth / start <= RSS_RELATIVE_LIMIT && tensorsEnd === tensorsStart,
    }
  } finally {
    trainer.dispose()
    await release()
  }
}
