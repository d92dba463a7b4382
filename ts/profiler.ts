/**
 * Where the time goes: named sections timed with `performance.now()`, summed per run, and how many
 * calls into the native addon each iteration makes (each crossing has a fixed cost).
 * @module
 */
import { nativeCalls } from './errors'

/** The sections every trainer reports. */
export type Section = 'energy' | 'paramGrad' | 'move' | 'observe' | 'resample' | 'copy' | 'optimizer' | 'diagnostics' | 'other'

/** Milliseconds per section. */
export type Timings = Record<Section, number>

/** Sections in display order, with what they measure. */
export const SECTIONS: Record<Section, string> = {
  energy: 'energy network: U and grad_x U at the walkers',
  paramGrad: 'parameter gradient of the surrogate loss',
  move: 'sampler: ULA move',
  observe: 'sampler: weight update (observe)',
  resample: 'sampler: ESS and resampling',
  copy: 'copies between TensorFlow.js and native memory',
  optimizer: 'optimiser step',
  diagnostics: 'weight diagnostics (k-hat, CESS)',
  other: 'everything else (stats, callbacks)',
}

function zero(): Timings {
  return { energy: 0, paramGrad: 0, move: 0, observe: 0, resample: 0, copy: 0, optimizer: 0, diagnostics: 0, other: 0 }
}

/** Accumulates time per section, for the last iteration and for the whole run. */
export class Profiler {
  #total: Timings = zero()
  #last: Timings = zero()
  #iterations = 0
  #nativeAtStart = 0
  #nativeCalls = 0
  #lastNativeCalls = 0

  /** Open an iteration (its native calls are counted from here). */
  beginIteration(): void {
    this.#nativeAtStart = nativeCalls.count
  }

  /** Time `f` under `section`. */
  time<T>(section: Section, f: () => T): T {
    const t0 = performance.now()
    try {
      return f()
    } finally {
      this.add(section, performance.now() - t0)
    }
  }

  /** Add `ms` to a section. */
  add(section: Section, ms: number): void {
    this.#last[section] += ms
    this.#total[section] += ms
  }

  /** Close an iteration: its timings are returned and a new one starts. */
  endIteration(): Timings {
    const last = this.#last
    this.#last = zero()
    this.#iterations++
    this.#lastNativeCalls = nativeCalls.count - this.#nativeAtStart
    this.#nativeCalls += this.#lastNativeCalls
    return last
  }

  /** Calls into the native addon in the last iteration. */
  get lastNativeCalls(): number {
    return this.#lastNativeCalls
  }

  /** Calls into the native addon per iteration, over the run so far. */
  nativeCallsPerIteration(): number {
    return this.#nativeCalls / Math.max(this.#iterations, 1)
  }

  /** Totals over the run so far (ms). */
  totals(): Timings {
    return { ...this.#total }
  }

  /** Sampler time (move + observe + resample) over total time, 0..1. */
  samplerShare(): number {
    const t = this.#total
    const all = Object.values(t).reduce((a, b) => a + b, 0)
    return all > 0 ? (t.move + t.observe + t.resample) / all : 0
  }

  /** A fixed-width table of the totals, per iteration and as a share. */
  table(): string {
    const t = this.#total
    const all = Object.values(t).reduce((a, b) => a + b, 0) || 1
    const n = Math.max(this.#iterations, 1)
    const rows = (Object.keys(SECTIONS) as Section[]).map((s) => {
      const ms = t[s]
      return `${s.padEnd(11)} ${(ms / n).toFixed(3).padStart(10)} ms/it ${((100 * ms) / all).toFixed(1).padStart(6)} %  ${SECTIONS[s]}`
    })
    return [
      `section     ${'time'.padStart(10)}        share`,
      ...rows,
      `total       ${(all / n).toFixed(3).padStart(10)} ms/it  over ${this.#iterations} iterations`,
      `native      ${this.nativeCallsPerIteration().toFixed(2).padStart(10)} calls/it into the native addon`,
    ].join('\n')
  }
}
