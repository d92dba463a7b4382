/**
 * The Gaussian-mixture experiment on the live page ({@link LiveServer}): its layout, and what each
 * iteration sends (ESS/N, CESS/N, k-hat, log Z, mixture weights, and now and then the walkers over
 * the learned density).
 * @internal
 * @module
 */
import type { GaussianMixtureEnergy } from '../../gmm'
import type { Sampler } from '../../sampler'
import type { Method } from '../../train/options'
import type { IterationStats } from '../../train/step'
import type { LiveServer } from '../live/server'
import type { LiveLayout, LiveSeriesSpec } from '../live/protocol'
import { METHOD_COLOR as COLOR, METHOD_LABEL as LABEL } from '../method-label'
import { PALETTE } from '../svg-plots'
import type { GmmConfig } from './experiment'

const REF = '#777'

/** Walkers drawn on the picture, at most. */
export const LIVE_WALKERS = 500
/** Milliseconds between two pictures of the walkers (besides each method's first and last iteration). */
const PICTURE_MS = 400

/** The experiment's panels for `config`'s methods. */
export function gmmLiveLayout(config: GmmConfig, configuration?: string): LiveLayout {
  const methods = config.methods
  const jarzynski = methods.includes('jarzynski')
  const K = config.means.length
  const weightSeries: LiveSeriesSpec[] = []
  for (const m of methods) {
    for (let i = 0; i < K; i++) weightSeries.push({ id: `w.${m}.${i}`, label: `${LABEL[m]}: mode at ${config.means[i]}`, color: shade(COLOR[m], i, K) })
  }
  for (let i = 0; i < K; i++) weightSeries.push({ id: `w.data.${i}`, label: `data: ${config.weights[i]}`, color: REF, dashed: true })
  const ess: LiveSeriesSpec[] = methods.map((m) => ({ id: `ess.${m}`, label: `${LABEL[m]}: ESS/N`, color: COLOR[m] }))
  if (jarzynski) ess.push({ id: 'cess.jarzynski', label: 'Jarzynski: CESS/N of the update', color: '#000', dashed: true })
  const logz: LiveSeriesSpec[] = []
  if (jarzynski) logz.push({ id: 'logz.jarzynski', label: 'Jarzynski: estimate', color: COLOR.jarzynski })
  for (const m of methods) logz.push({ id: `logzExact.${m}`, label: `${LABEL[m]}: exact`, color: COLOR[m], dashed: true })
  const panels: LiveLayout['panels'] = [
    { kind: 'lines', id: 'weights', title: 'Learned mixture weights', yLabel: 'weight', yRange: [0, 1], xRange: [0, config.iterations - 1], series: weightSeries },
    { kind: 'lines', id: 'ess', title: 'Effective sample size: ESS/N, and CESS/N of each weight update', yLabel: 'fraction of N', yRange: [0, 1.02], xRange: [0, config.iterations - 1], series: ess },
  ]
  if (jarzynski) {
    panels.push({
      kind: 'lines',
      id: 'khat',
      title: 'Pareto k-hat of the Jarzynski weights (< 0.5 good, > 0.7 unreliable)',
      yLabel: 'k-hat',
      yInclude: [0, 0.8],
      xRange: [0, config.iterations - 1],
      series: [
        { id: 'khat.jarzynski', label: 'Jarzynski: k-hat', color: COLOR.jarzynski },
        { id: 'khat.good', label: '0.5', color: PALETTE[2], dashed: true },
        { id: 'khat.bad', label: '0.7', color: PALETTE[1], dashed: true },
      ],
    })
  }
  panels.push({ kind: 'lines', id: 'logz', title: 'log Z of the model', yLabel: 'log Z', xRange: [0, config.iterations - 1], series: logz })
  for (const m of methods) {
    panels.push({ kind: 'picture', id: `walkers.${m}`, title: `${LABEL[m]}: walkers over the learned density (x[0], x[1]; up to ${LIVE_WALKERS} walkers, area ~ weight)` })
  }
  return {
    title: `jarzyn gmm: ${methods.map((m) => LABEL[m]).join(', ')}, d = ${config.dim}, N = ${config.walkers}, ${config.iterations} iterations`,
    subtitle: configuration ?? `data: modes at ${config.means.join(', ')} with weights ${config.weights.join(', ')}`,
    panels,
  }
}

/** A lighter or darker version of `color` for component i of K (component 0: the colour itself). */
function shade(color: string, i: number, K: number): string {
  if (i === 0 || K < 2) return color
  const f = 0.55 * (i / (K - 1))
  const c = [1, 3, 5].map((o) => parseInt(color.slice(o, o + 2), 16))
  return '#' + c.map((v) => Math.round(v + (255 - v) * f).toString(16).padStart(2, '0')).join('')
}

/** Feeds one run of the experiment to a live page. */
export class GmmLiveFeed {
  readonly #live: LiveServer
  readonly #c: GmmConfig
  readonly #every: number
  #lastPicture = -Infinity
  #method: Method = 'jarzynski'

  /** `every`: the experiment's series stride (points are sent at those iterations and at every diagnosed one). */
  constructor(live: LiveServer, config: GmmConfig, every: number, configuration?: string) {
    this.#live = live
    this.#c = config
    this.#every = every
    live.setLayout(gmmLiveLayout(config, configuration))
    const last = config.iterations - 1
    config.weights.forEach((w, i) => {
      live.push(`w.data.${i}`, 0, w)
      live.push(`w.data.${i}`, last, w)
    })
    if (config.methods.includes('jarzynski')) {
      for (const [id, v] of [['khat.good', 0.5], ['khat.bad', 0.7]] as const) {
        live.push(id, 0, v)
        live.push(id, last, v)
      }
    }
    live.status('starting…')
  }

  /** A method's run starts. */
  begin(method: Method): void {
    this.#method = method
    this.#lastPicture = -Infinity
  }

  /** After iteration `s` of the current method. */
  iteration(s: IterationStats, energy: GaussianMixtureEnergy, sampler: Sampler): void {
    const m = this.#method
    const k = s.iteration
    const last = k === this.#c.iterations - 1
    if (k % this.#every === 0 || s.khat !== null || last) {
      const live = this.#live
      const w = s.model?.mixtureWeights as number[] | undefined
      w?.forEach((v, i) => live.push(`w.${m}.${i}`, k, v))
      live.push(`ess.${m}`, k, s.essFraction)
      if (m === 'jarzynski') {
        live.pushAll(k, { 'khat.jarzynski': s.khat, 'cess.jarzynski': s.cess === null ? null : s.cess / this.#c.walkers, 'logz.jarzynski': s.logZ })
      }
      live.pushAll(k, { [`logzExact.${m}`]: s.logZExact })
      const f = (v: number | null, d = 3) => (v === null ? '–' : Number.isFinite(v) ? v.toFixed(d) : String(v))
      const parts = [`${LABEL[m]}: iteration ${k + 1} / ${this.#c.iterations}`, `ESS/N ${f(s.essFraction)}`]
      if (m === 'jarzynski') parts.push(`k-hat ${f(s.khat, 2)}`, `CESS/N ${f(s.cess === null ? null : s.cess / this.#c.walkers)}`, `log Z ${f(s.logZ)} (exact ${f(s.logZExact)})`)
      if (w) parts.push(`weights ${w.map((v) => v.toFixed(3)).join(', ')}`)
      live.status(parts.join(' · '))
    }
    const now = performance.now()
    if (k === 0 || last || now - this.#lastPicture >= PICTURE_MS) {
      this.#lastPicture = now
      this.picture(energy, sampler, k)
    }
  }

  /** The walkers (first two coordinates, up to {@link LIVE_WALKERS}) over the model's marginal density of (x[0], x[1]). */
  picture(energy: GaussianMixtureEnergy, sampler: Sampler, k: number): void {
    const c = this.#c
    const d = c.dim
    const K = c.means.length
    const lo = Math.min(...c.means) - 4
    const hi = Math.max(...c.means) + 4
    const yr: [number, number] = d > 1 ? [-4, 4] : [-1, 1]
    const nx = 160
    const ny = Math.max(16, Math.min(120, Math.round((nx * (yr[1] - yr[0])) / (hi - lo))))
    const p = energy.getParams()
    const pi = energy.mixtureWeights()
    const comps = Array.from({ length: K }, (_, i) => {
      const s2 = Math.exp(2 * p[K * d + K + i])
      return { a0: p[i * d], a1: d > 1 ? p[i * d + 1] : 0, inv: 1 / (2 * s2), norm: pi[i] / (d > 1 ? 2 * Math.PI * s2 : Math.sqrt(2 * Math.PI * s2)) }
    })
    const values = new Float64Array(nx * ny)
    let max = 0
    for (let r = 0; r < ny; r++) {
      const y = yr[0] + ((r + 0.5) / ny) * (yr[1] - yr[0])
      for (let col = 0; col < nx; col++) {
        const x = lo + ((col + 0.5) / nx) * (hi - lo)
        let v = 0
        for (const q of comps) v += q.norm * Math.exp(-((x - q.a0) ** 2 + (d > 1 ? (y - q.a1) ** 2 : 0)) * q.inv)
        values[r * nx + col] = v
        if (v > max) max = v
      }
    }
    // Colour on a square-root scale, so that the lighter mode and the tails show.
    for (let i = 0; i < values.length; i++) values[i] = max > 0 ? Math.sqrt(values[i] / max) : 0
    const n = sampler.walkers
    const x = sampler.readView('positions')
    const a = sampler.readView('logWeights')
    let m = -Infinity
    for (let i = 0; i < n; i++) if (a[i] > m && a[i] < Infinity) m = a[i]
    let z = 0
    for (let i = 0; i < n; i++) if (a[i] > -Infinity && a[i] < Infinity) z += Math.exp(a[i] - m)
    const stride = Math.max(1, Math.floor(n / LIVE_WALKERS))
    const dots = { x: [] as number[], y: [] as number[], size: [] as number[] }
    for (let i = 0; i < n && dots.x.length < LIVE_WALKERS; i += stride) {
      dots.x.push(x[i * d])
      dots.y.push(d > 1 ? x[i * d + 1] : 0)
      // N p_i: 1 for a walker of average weight.
      dots.size.push(a[i] > -Infinity && a[i] < Infinity && z > 0 ? (n * Math.exp(a[i] - m)) / z : 0)
    }
    this.#live.picture(`walkers.${this.#method}`, {
      type: 'heatmap',
      xRange: [lo, hi],
      yRange: yr,
      nx,
      ny,
      values,
      dots: { ...dots, label: 'walkers' },
      xLabel: 'x[0]',
      yLabel: d > 1 ? 'x[1]' : '',
      caption: `Iteration ${k + 1}: the model's density of (x[0], x[1]) (colour ~ sqrt density) and ${dots.x.length} of the ${n} walkers (area ~ weight).`,
    })
  }
}
