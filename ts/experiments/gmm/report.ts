/**
 * The Gaussian-mixture experiment's report: SVG plots, an HTML page showing them, and the raw series
 * as JSON and CSV.
 * @module
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

import { writeFileAtomic } from '../../atomic-file'
import { METHOD_COLOR, METHOD_LABEL } from '../method-label'
import { esc, linePlot, scatterPlot, PALETTE, type Series } from '../svg-plots'
import { gmmDiagnosticsEvery, type GmmConfig, type GmmResult } from './experiment'

/** The four plots, as SVG strings keyed by file name. */
export function gmmPlots(config: GmmConfig, results: GmmResult[]): Record<string, string> {
  const modeWeight: Series[] = results.map((r) => ({
    label: METHOD_LABEL[r.method],
    x: r.series.iteration,
    y: r.series.weights[0],
    color: METHOD_COLOR[r.method],
  }))
  const xr: [number, number] = [0, Math.max(...results.map((r) => r.iterations), 1)]
  modeWeight.push({ label: `data: ${config.weights[0]}`, x: xr, y: [config.weights[0], config.weights[0]], color: '#555', dashed: true })
  const kl: Series[] = []
  for (const r of results) {
    kl.push({ label: `${METHOD_LABEL[r.method]}: exact KL`, x: r.series.iteration, y: r.series.klExact, color: METHOD_COLOR[r.method] })
    if (r.method === 'jarzynski') {
      kl.push({ label: 'Jarzynski: estimated KL', x: r.series.iteration, y: r.series.klEstimate, color: '#000', dashed: true })
    }
  }
  const ess: Series[] = results
    .filter((r) => r.method === 'jarzynski')
    .flatMap((r) => [
      { label: 'ESS / N', x: r.series.iteration, y: r.series.essFraction, color: METHOD_COLOR.jarzynski },
      { label: 'CESS / N of the update', ...finitePoints(r.series.iteration, r.series.cessFraction), color: '#000', dashed: true },
      {
        label: 'resampled',
        x: r.series.iteration.filter((_, i) => r.series.resampled[i] === 1),
        y: r.series.essFraction.filter((_, i) => r.series.resampled[i] === 1),
        color: PALETTE[1],
        markers: true,
      },
    ])
  const plots: Record<string, string> = {
    'mode-weight.svg': linePlot(modeWeight, {
      title: `Weight of the mode at ${config.means[0]} e1`,
      xLabel: 'iteration',
      yLabel: 'learned mixture weight',
      yRange: [0, 1],
      xRange: xr,
    }),
    'kl.svg': linePlot(kl, { title: 'KL(data || model): exact and Jarzynski estimate', xLabel: 'iteration', yLabel: 'KL (nats)', xRange: xr }),
    'walkers.svg': scatterPlot(
      results.map((r) => ({ label: `${METHOD_LABEL[r.method]} walkers`, x: r.walkers.x0, y: r.walkers.x1, size: r.walkers.weight, color: METHOD_COLOR[r.method] })),
      { title: 'Walkers at the end (first two coordinates; area ~ weight)', xLabel: 'x[0]', yLabel: 'x[1]' },
    ),
  }
  if (ess.length > 0) {
    plots['ess.svg'] = linePlot(ess, { title: 'Effective sample size of the Jarzynski walkers', xLabel: 'iteration', yLabel: 'ESS / N, CESS / N', yRange: [0, 1.05], xRange: xr })
  }
  const jar = results.find((r) => r.method === 'jarzynski')
  const kh = jar ? finitePoints(jar.series.iteration, jar.series.khat) : null
  if (jar && kh && kh.x.length > 0) {
    const lo = Math.min(0, ...kh.y)
    const hi = Math.max(0.8, ...kh.y)
    plots['khat.svg'] = linePlot(
      [
        { label: 'Jarzynski: Pareto k-hat', ...kh, color: METHOD_COLOR.jarzynski },
        { label: '0.5: good below', x: xr, y: [0.5, 0.5], color: PALETTE[2], dashed: true },
        { label: '0.7: unreliable above', x: xr, y: [0.7, 0.7], color: PALETTE[1], dashed: true },
      ],
      { title: 'Pareto k-hat of the Jarzynski weights (PSIS diagnostic)', xLabel: 'iteration', yLabel: 'k-hat', xRange: xr, yRange: [lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)] },
    )
  }
  return plots
}

/**
 * The finite points of a series recorded only at some iterations (k-hat, CESS: NaN elsewhere, and
 * k-hat -Infinity for equal weights), so that the line joins them.
 */
function finitePoints(x: number[], y: number[]): { x: number[]; y: number[] } {
  const out = { x: [] as number[], y: [] as number[] }
  y.forEach((v, i) => {
    if (Number.isFinite(v)) {
      out.x.push(x[i])
      out.y.push(v)
    }
  })
  return out
}

function table(results: GmmResult[]): string {
  const rows = results.map((r) => {
    const w = r.weights.map((v) => v.toFixed(3)).join(', ')
    const dw = r.dataWeights.map((v) => v.toFixed(3)).join(', ')
    return `<tr><td>${METHOD_LABEL[r.method]}</td><td>${w}</td><td>${dw}</td><td>${r.klExact.toFixed(4)}</td><td>${r.klEstimate === null ? '—' : r.klEstimate.toFixed(4)}</td><td>${r.resamplings}</td><td>${r.seconds.toFixed(1)} s</td><td>${(100 * r.samplerShare).toFixed(0)} %</td></tr>`
  })
  return `<table><thead><tr><th>method</th><th>learned weights</th><th>data weights</th><th>exact KL</th><th>Jarzynski KL estimate</th><th>resamplings</th><th>wall time</th><th>sampler share</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
}

/** The series of all methods as CSV (one row per recorded iteration and method). */
export function seriesCsv(results: GmmResult[]): string {
  const k = results[0]?.weights.length ?? 0
  const head = ['method', 'iteration', ...Array.from({ length: k }, (_, i) => `weight${i}`), 'kl_exact', 'kl_estimate', 'ess_fraction', 'resampled', 'logz_estimate', 'logz_exact', 'khat', 'cess_fraction']
  const lines = [head.join(',')]
  for (const r of results) {
    const s = r.series
    for (let j = 0; j < s.iteration.length; j++) {
      const num = (v: number) => (Number.isFinite(v) ? String(v) : '')
      // k-hat: empty where not computed, -Infinity for equal weights.
      const khat = (v: number | undefined) => (v === -Infinity ? '-Infinity' : num(v ?? NaN))
      lines.push(
        [r.method, s.iteration[j], ...s.weights.map((w) => w[j]), num(s.klExact[j]), num(s.klEstimate[j]), s.essFraction[j], s.resampled[j], num(s.logZ[j]), num(s.logZExact[j]), khat(s.khat?.[j]), num(s.cessFraction?.[j] ?? NaN)].join(','),
      )
    }
  }
  return lines.join('\n') + '\n'
}

function diagnosticsNote(config: GmmConfig, results: GmmResult[]): string {
  if (!results.some((r) => r.method === 'jarzynski')) return ''
  const every = gmmDiagnosticsEvery(config)
  if (every === 0) return '<p><b>Weight diagnostics</b> were off (diagnosticsEvery = 0).</p>'
  return `<p><b>Weight diagnostics</b> (Jarzynski, every ${every} iterations; columns <code>khat</code> and <code>cess_fraction</code> of series.csv).
ESS/N = (sum w)<sup>2</sup> / (N sum w<sup>2</sup>) of the weights used at the iteration.
CESS/N: the conditional effective sample size of the iteration's weight update (Zhou, Johansen &amp; Aston 2016), before any resampling: 1 when the update moved every weight alike, small when a few walkers took the new weight.
k-hat: Pareto-smoothed importance sampling's diagnostic (Vehtari et al. 2024) of the weights used at the iteration, the shape of a generalized Pareto distribution fitted to the largest ones: below 0.5 the weighted estimates are reliable, above 0.7 they are not (the weights' variance is infinite or nearly so); equal weights, right after a resampling, have no tail (k-hat = -Infinity, not drawn).</p>`
}

/** Write report.html, the SVG plots, results.json, series.json and series.csv into `dir`. */
export function writeGmmReport(dir: string, config: GmmConfig, results: GmmResult[], meta: Record<string, unknown> = {}): string[] {
  mkdirSync(dir, { recursive: true })
  const plots = gmmPlots(config, results)
  const written: string[] = []
  for (const [name, svg] of Object.entries(plots)) {
    writeFileAtomic(join(dir, name), svg)
    written.push(name)
  }
  const summary = results.map(({ series: _s, walkers: _w, ...rest }) => rest)
  writeFileAtomic(join(dir, 'results.json'), JSON.stringify({ config, meta, results: summary }, null, 2) + '\n')
  writeFileAtomic(join(dir, 'series.json'), JSON.stringify(results.map((r) => ({ method: r.method, ...r.series }))) + '\n')
  writeFileAtomic(join(dir, 'series.csv'), seriesCsv(results))
  written.push('results.json', 'series.json', 'series.csv')
  const figs = Object.keys(plots)
    .map((name) => `<figure>${plots[name].replace(/^<svg /, '<svg class="plot" ')}<figcaption>${name}</figcaption></figure>`)
    .join('\n')
  const cfg = Object.entries(config)
    .map(([k, v]) => `<tr><td>${k}</td><td>${JSON.stringify(v)}</td></tr>`)
    .join('')
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>jarzyn: Gaussian-mixture experiment</title>
<style>
body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1340px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 4px 10px; text-align: left; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; } figure { margin: 0; } figcaption { font-size: 12px; color: #666; }
</style></head><body>
<h1>Gaussian-mixture experiment (Carbone et al. 2023, d = ${config.dim})</h1>
<p>Data: ${config.dataPoints} points from unit Gaussians at ${config.means.join(', ')} times e1 with weights ${config.weights.join(', ')}.
Model: a mixture of ${config.means.length} unit Gaussians learning means and log-weights (the first held at 0), ${config.walkers} walkers, step size ${config.stepSize}, ${config.iterations} iterations.</p>
${typeof meta.configuration === 'string' ? `<p><b>Configuration.</b> ${esc(meta.configuration)}</p>\n` : ''}${table(results)}
<div class="plots">${figs}</div>
${diagnosticsNote(config, results)}
<h2>Configuration</h2><table>${cfg}</table>
<p>Raw series: <a href="series.json">series.json</a>, <a href="series.csv">series.csv</a>; summary: <a href="results.json">results.json</a>.</p>
</body></html>
`
  writeFileAtomic(join(dir, 'report.html'), html)
  written.push('report.html')
  return written
}
