/**
 * The image experiment on the live page ({@link LiveServer}): the masses of the digits per method
 * against the data's, ESS/N, k-hat and log Z of the Jarzynski walkers, and a sample grid of each
 * method's walkers (bars: their weights).
 * @internal
 * @module
 */
import type { Method } from '../../train/options'
import type { IterationStats } from '../../train/step'
import type { LiveLayout, LiveSeriesSpec } from '../live/protocol'
import type { LiveServer } from '../live/server'
import { METHOD_LABEL as LABEL } from '../method-label'
import { PALETTE } from '../svg-plots'
import type { MnistConfig } from './config'
import { imageGridPng } from './image-grid'

/** The panels of a run of `c`. */
export function mnistLiveLayout(c: MnistConfig): LiveLayout {
  const mass: LiveSeriesSpec[] = []
  c.digits.forEach((d, i) => {
    for (const m of c.methods) mass.push({ id: `mass.${m}.${d}`, label: `${LABEL[m]}: ${d}`, color: PALETTE[i], dashed: m !== 'jarzynski' })
    mass.push({ id: `mass.data.${d}`, label: `data: ${d}`, color: '#777', dashed: true })
  })
  const x: [number, number] = [0, c.iterations]
  const panels: LiveLayout['panels'] = [{ kind: 'lines', id: 'mass', title: 'Mass of each digit (dashed: PCD/CD, grey: data)', yRange: [0, 1], xRange: x, series: mass }]
  if (c.methods.includes('jarzynski')) {
    panels.push(
      { kind: 'lines', id: 'weights', title: 'Jarzynski weights: ESS/N and k-hat', yInclude: [0, 1], xRange: x, series: [{ id: 'ess', label: 'ESS/N' }, { id: 'khat', label: 'k-hat' }] },
      { kind: 'lines', id: 'logz', title: 'log Z and cross-entropy (Jarzynski estimates, nats)', xRange: x, series: [{ id: 'logz', label: 'log Z' }, { id: 'ce', label: 'cross-entropy' }] },
    )
  }
  for (const m of c.methods) panels.push({ kind: 'picture', id: `walkers.${m}`, title: `${LABEL[m]}: ${Math.min(48, m === 'cd' ? c.walkers / c.batches : c.walkers)} walkers${m === 'jarzynski' ? ' (bar: weight)' : ''}` })
  return { title: `jarzyn mnist: digits ${c.digits.join(', ')} in ${c.counts.join(':')}`, subtitle: `${c.side}x${c.side}, ${c.walkers} walkers, ${c.iterations} updates`, panels }
}

/** Feeds a run to a live page. */
export class MnistLiveFeed {
  readonly #live: LiveServer
  readonly #c: MnistConfig

  constructor(live: LiveServer, c: MnistConfig) {
    this.#live = live
    this.#c = c
    live.setLayout(mnistLiveLayout(c))
    const total = c.counts.reduce((a, b) => a + b, 0)
    c.digits.forEach((d, i) => {
      live.push(`mass.data.${d}`, 0, c.counts[i] / total)
      live.push(`mass.data.${d}`, c.iterations, c.counts[i] / total)
    })
    live.status('starting…')
  }

  /** A measurement of `method` after `iteration` updates. */
  measure(method: Method, iteration: number, walkers: Float32Array, weights: Float64Array, masses: number[], s: IterationStats): void {
    const live = this.#live
    const c = this.#c
    c.digits.forEach((d, i) => live.push(`mass.${method}.${d}`, iteration, masses[i]))
    if (method === 'jarzynski') live.pushAll(iteration, { ess: s.essFraction, khat: s.khat, logz: s.logZ, ce: s.crossEntropy })
    const px = c.side * c.side
    const n = Math.min(48, weights.length)
    const png = imageGridPng(walkers.subarray(0, n * px), { side: c.side, columns: 12, scale: Math.max(2, Math.round(42 / c.side)), weights: method === 'jarzynski' ? weights.subarray(0, n) : undefined })
    live.picture(`walkers.${method}`, { type: 'image', png })
    live.status(`${LABEL[method]}: update ${iteration} / ${c.iterations} · masses ${masses.map((v) => v.toFixed(3)).join(' / ')} · ESS/N ${s.essFraction.toFixed(2)}`)
  }
}
