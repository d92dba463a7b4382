/**
 * Resident memory over a long run of small steps: a leak per call (a buffer, a view, a handle)
 * shows up as growth.
 * @module
 */
import { Sampler } from '../ts/index'
import { gc, gcAvailable, now, progress, release, rss } from './util'

/** 5 MB. */
export const RSS_GROWTH_LIMIT = 5e6

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
      seconds,
      pass: growth < RSS_GROWTH_LIMIT,
    }
  } finally {
    s.dispose()
    await release()
  }
}
