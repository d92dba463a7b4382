/**
 * The image experiment's report: the masses of the digits over training against 4/7, 2/7, 1/7,
 * ESS, k-hat and log Z as SVG plots, sample grids as PNG, an HTML page, and the results and series
 * as JSON and CSV.
 * @module
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

import { writeFileAtomic } from '../../atomic-file'
import { METHOD_LABEL as LABEL } from '../method-label'
import { esc, linePlot, PALETTE, type Series } from '../svg-plots'
import type { MnistConfig } from './config'
import type { MnistResult } from './experiment'
import { imageGridPng } from './image-grid'

const DASH: Record<string, boolean> = { jarzynski: false, pcd: true, cd: true }

/** The results without their image buffers (for results.json and the CLI's JSON lines). */
export function mnistSummary(r: MnistResult): Record<string, unknown> {
  const { series: _s, samples: _x, ...rest } = r
  return rest
}

/** The SVG plots, keyed by file name. */
export function mnistPlots(config: MnistConfig, results: MnistResult[]): Record<string, string> {
  const xr: [number, number] = [0, Math.max(...results.map((r) => r.iterations), 1)]
  const target = results[0]?.target ?? []
  const masses: Series[] = []
  config.digits.forEach((digit, c) => {
    for (const r of results) {
      masses.push({ label: `${LABEL[r.method]}: ${digit}`, x: r.series.iteration, y: r.series.masses.map((m) => m[c]), color: PALETTE[c], dashed: DASH[r.method] })
    }
    masses.push({ label: `data: ${digit} (${target[c].toFixed(3)})`, x: xr, y: [target[c], target[c]], color: '#777', dashed: true })
  })
  const plots: Record<string, string> = {
    'masses.svg': linePlot(masses, {
      title: `Mass of each digit in the model (classifier on the walkers; ${results.map((r) => LABEL[r.method]).join(', ')})`,
      xLabel: 'update',
      yLabel: 'mass',
      yRange: [0, 1],
      xRange: xr,
      legend: 'right',
    }),
  }
  const jar = results.find((r) => r.method === 'jarzynski')
  if (jar) {
    const pts = (y: (number | null)[]) => {
      const out = { x: [] as number[], y: [] as number[] }
      y.forEach((v, i) => {
        if (v !== null && Number.isFinite(v)) {
          out.x.push(jar.series.iteration[i])
          out.y.push(v)
        }
      })
      return out
    }
    plots['ess.svg'] = linePlot([{ label: 'ESS / N', x: jar.series.iteration, y: jar.series.essFraction, color: PALETTE[0] }], {
      title: 'Effective sample size of the Jarzynski walkers (the moving group)',
      xLabel: 'update',
      yLabel: 'ESS / N',
      yRange: [0, 1.05],
      xRange: xr,
    })
    const kh = pts(jar.series.khat)
    if (kh.x.length > 0) {
      plots['khat.svg'] = linePlot(
        [
          { label: 'Pareto k-hat', ...kh, color: PALETTE[0] },
          { label: '0.5: good below', x: xr, y: [0.5, 0.5], color: PALETTE[2], dashed: true },
          { label: '0.7: unreliable above', x: xr, y: [0.7, 0.7], color: PALETTE[1], dashed: true },
        ],
        { title: 'Pareto k-hat of the Jarzynski weights', xLabel: 'update', yLabel: 'k-hat', xRange: xr },
      )
    }
    plots['logz.svg'] = linePlot(
      [
        { label: 'log Z (Jarzynski estimate)', ...pts(jar.series.logZ), color: PALETTE[0] },
        { label: 'cross-entropy estimate', ...pts(jar.series.crossEntropy), color: PALETTE[1] },
      ],
      { title: config.init === 'base' ? 'log Z and cross-entropy (nats; absolute: log Z_0 is known)' : 'log Z and cross-entropy (nats; relative to the start)', xLabel: 'update', yLabel: 'nats', xRange: xr },
    )
  }
  return plots
}

/** The series of every method as CSV, one row per measurement. */
export function mnistSeriesCsv(results: MnistResult[]): string {
  const digits = results[0]?.digits ?? []
  const head = ['method', 'update', ...digits.map((d) => `mass_${d}`), 'ess_fraction', 'logz', 'cross_entropy', 'khat', 'resamplings']
  const num = (v: number | null) => (v === null || !Number.isFinite(v) ? '' : String(v))
  const lines = [head.join(',')]
  for (const r of results) {
    const s = r.series
    s.iteration.forEach((it, j) => lines.push([r.method, it, ...s.masses[j], s.essFraction[j], num(s.logZ[j]), num(s.crossEntropy[j]), num(s.khat[j]), s.resamplings[j]].join(',')))
  }
  return lines.join('\n') + '\n'
}

/**
 * Write report.html, the plots (SVG), the sample grids (PNG: the data, and each method's walkers
 * at the start and at the end, a bar under each for its weight), results.json, series.json and
 * series.csv into `dir`. Returns the files written.
 */
export function writeMnistReport(dir: string, config: MnistConfig, results: MnistResult[], data: Float32Array, meta: Record<string, unknown> = {}): string[] {
  mkdirSync(dir, { recursive: true })
  const written: string[] = []
  const put = (name: string, content: string | Uint8Array) => {
    writeFileAtomic(join(dir, name), content)
    written.push(name)
  }
  const plots = mnistPlots(config, results)
  for (const [name, svg] of Object.entries(plots)) put(name, svg)
  const side = config.side
  const scale = Math.max(2, Math.round(56 / side))
  put('data.png', imageGridPng(data.subarray(0, 64 * side * side), { side, columns: 16, scale }))
  for (const r of results) {
    put(`walkers-${r.method}-start.png`, imageGridPng(r.samples.initial, { side, columns: 16, scale }))
    put(`walkers-${r.method}-end.png`, imageGridPng(r.samples.final, { side, columns: 16, scale, weights: r.method === 'jarzynski' ? r.samples.finalWeights : undefined }))
  }
  put('results.json', JSON.stringify({ ...meta, config, results: results.map(mnistSummary) }, null, 2) + '\n')
  put('series.json', JSON.stringify(Object.fromEntries(results.map((r) => [r.method, r.series]))) + '\n')
  put('series.csv', mnistSeriesCsv(results))
  const fmt = (m: Record<string, number>) => Object.entries(m).map(([d, v]) => `${d}: ${v.toFixed(3)}`).join(', ')
  const rows = results
    .map((r) => `<tr><td>${LABEL[r.method]}</td><td>${fmt(r.masses)}</td><td>${fmt(r.massesSd)}</td><td>${r.maxError.toFixed(3)}</td><td>${r.resamplings}</td><td>${r.seconds.toFixed(0)} s</td><td>${r.exactWeights ? 'yes' : '<b>no</b> (decoupled noise)'}</td></tr>`)
    .join('')
  const target = results[0] ? results[0].digits.map((d, i) => `${d}: ${results[0].target[i].toFixed(3)}`).join(', ') : ''
  const grids = results
    .map((r) => `<h3>${LABEL[r.method]}</h3><p>Start</p><img src="walkers-${r.method}-start.png" alt="walkers at the start"><p>End${r.method === 'jarzynski' ? ' (bar: weight)' : ''}</p><img src="walkers-${r.method}-end.png" alt="walkers at the end">`)
    .join('')
  const figs = Object.keys(plots)
    .map((f) => `<figure><img src="${f}" alt="${esc(f)}"></figure>`)
    .join('')
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>jarzyn: MNIST 2/3/6 (4:2:1)</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}img{image-rendering:pixelated;max-width:100%}figure{margin:1em 0}</style></head><body>
<h1>MNIST digits ${config.digits.join(', ')} in ${config.counts.join(':')}</h1>
<p>Masses of the digits in the model, judged by a CNN classifier (held-out accuracy ${(100 * (results[0]?.classifierAccuracy ?? 0)).toFixed(1)} %) applied to the walkers, weighted by their Jarzynski weights (uniformly for PCD and CD); the reported figure is the mean over the last ${(100 * config.tail).toFixed(0)} % of the run. Data: ${target}.</p>
<table><thead><tr><th>method</th><th>masses (tail mean)</th><th>spread of one measurement (sd)</th><th>largest error</th><th>resamplings</th><th>time</th><th>exact weights</th></tr></thead><tbody>${rows}</tbody></table>
<p>Configuration: ${esc(JSON.stringify(config))}</p>
${figs}
<h2>Samples</h2><p>Training data</p><img src="data.png" alt="training data">${grids}
</body></html>
`
  put('report.html', html)
  return written
}
