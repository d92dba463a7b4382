/**
 * Dependency-free SVG charts (line plots and scatter plots) for run reports: small, readable in a
 * browser and in a README, no canvas or native graphics library needed.
 * @module
 */

/** One line of a {@link linePlot}. */
export interface Series {
  /** Name shown in the legend. */
  label: string
  /** x coordinates, one per point (same length as `y`). */
  x: ArrayLike<number>
  /** y coordinates; a non-finite value (NaN, Infinity) breaks the line there. */
  y: ArrayLike<number>
  /** Any SVG colour; default: the series' index in {@link PALETTE}. */
  color?: string
  /** Draw a dashed line (e.g. for an exact reference next to an estimate). Default false. */
  dashed?: boolean
  /** Draw markers instead of a line. */
  markers?: boolean
}

/**
 * Options of a chart.
 *
 * @example
 * ```ts
 * const svg = linePlot([{ label: 'ESS / N', x: [0, 1, 2], y: [1, 0.7, 0.9] }],
 *   { title: 'Effective sample size', xLabel: 'iteration', yLabel: 'ESS / N', yRange: [0, 1] })
 * writeFileSync('ess.svg', svg)
 * ```
 */
export interface ChartOptions {
  /** Title drawn above the plot (plain text; escaped). */
  title: string
  /** Label of the horizontal axis. */
  xLabel: string
  /** Label of the vertical axis. */
  yLabel: string
  /** Width of the SVG in pixels (default 640). */
  width?: number
  /** Height of the SVG in pixels (default 360). */
  height?: number
  /** Fixed y range; default: the data's, padded. */
  yRange?: [number, number]
  /** Fixed x range; default: the data's (line plots) or the data's padded by 5% (scatter plots). */
  xRange?: [number, number]
  /**
   * Where the legend goes: `'inside'` (default), the plot's top right corner; `'right'`, a column
   * right of the plot (the SVG grows by {@link LEGEND_COLUMN} pixels), for many series that would
   * hide the lines.
   */
  legend?: 'inside' | 'right'
}

/** Width in pixels of the legend column of `legend: 'right'`. */
export const LEGEND_COLUMN = 190

/** Colours distinguishable for common colour-vision deficiencies (Okabe-Ito). */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000']

/** Escape text for SVG or HTML content. @internal */
export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** "Nice" tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo]
  const raw = (hi - lo) / count
  const mag = Math.pow(10, Math.floor(Math.log10(raw)))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v)
  return out
}

function fmt(v: number): string {
  if (v === 0) return '0'
  const a = Math.abs(v)
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1)
  return String(Number(v.toPrecision(4)))
}

function extent(values: number[], pad: number): [number, number] {
  const finite = values.filter(Number.isFinite)
  if (finite.length === 0) return [0, 1]
  let lo = Math.min(...finite)
  let hi = Math.max(...finite)
  if (lo === hi) {
    lo -= 0.5
    hi += 0.5
  }
  const p = (hi - lo) * pad
  return [lo - p, hi + p]
}

class Frame {
  readonly w: number
  readonly h: number
  readonly left = 70
  readonly right: number
  readonly top = 40
  readonly bottom = 50
  constructor(
    readonly opts: ChartOptions,
    readonly xr: [number, number],
    readonly yr: [number, number],
  ) {
    const column = opts.legend === 'right' ? LEGEND_COLUMN : 0
    this.right = 20 + column
    this.w = (opts.width ?? 640) + column
    this.h = opts.height ?? 360
  }
  sx(v: number): number {
    return this.left + ((v - this.xr[0]) / (this.xr[1] - this.xr[0])) * (this.w - this.left - this.right)
  }
  sy(v: number): number {
    return this.h - this.bottom - ((v - this.yr[0]) / (this.yr[1] - this.yr[0])) * (this.h - this.top - this.bottom)
  }
  axes(): string {
    const { w, h, left, right, top, bottom, opts } = this
    const parts: string[] = [
      `<rect x="0" y="0" width="${w}" height="${h}" fill="white"/>`,
      `<text x="${w / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(opts.title)}</text>`,
      `<text x="${(left + w - right) / 2}" y="${h - 10}" text-anchor="middle" font-size="12">${esc(opts.xLabel)}</text>`,
      `<text transform="translate(16 ${(top + h - bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(opts.yLabel)}</text>`,
    ]
    for (const t of ticks(this.xr[0], this.xr[1])) {
      const x = this.sx(t).toFixed(1)
      parts.push(`<line x1="${x}" x2="${x}" y1="${top}" y2="${h - bottom}" stroke="#eee"/>`)
      parts.push(`<text x="${x}" y="${h - bottom + 16}" text-anchor="middle" font-size="11">${fmt(t)}</text>`)
    }
    for (const t of ticks(this.yr[0], this.yr[1])) {
      const y = this.sy(t).toFixed(1)
      parts.push(`<line x1="${left}" x2="${w - right}" y1="${y}" y2="${y}" stroke="#eee"/>`)
      parts.push(`<text x="${left - 6}" y="${(+y + 4).toFixed(1)}" text-anchor="end" font-size="11">${fmt(t)}</text>`)
    }
    parts.push(`<rect x="${left}" y="${top}" width="${w - left - right}" height="${h - top - bottom}" fill="none" stroke="#444"/>`)
    return parts.join('\n')
  }
  legend(items: { label: string; color: string; dashed?: boolean; marker?: boolean }[]): string {
    // Inside: symbols at the plot's right edge, labels right-aligned before them. Right: a column
    // beside the plot, symbols first, labels left-aligned after them.
    const right = this.opts.legend === 'right'
    const sym0 = right ? this.w - LEGEND_COLUMN + 4 : this.w - this.right - 32
    const text = right ? { x: sym0 + 26, anchor: 'start' } : { x: sym0 - 6, anchor: 'end' }
    return items
      .map((it, i) => {
        const y = this.top + (right ? 10 : 14) + i * 16
        const sym = it.marker
          ? `<circle cx="${sym0 + 10}" cy="${y - 4}" r="3.5" fill="${it.color}"/>`
          : `<line x1="${sym0}" x2="${sym0 + 20}" y1="${y - 4}" y2="${y - 4}" stroke="${it.color}" stroke-width="2"${it.dashed ? ' stroke-dasharray="5 3"' : ''}/>`
        return `${sym}<text x="${text.x}" y="${y}" text-anchor="${text.anchor}" font-size="11">${esc(it.label)}</text>`
      })
      .join('\n')
  }
}

function svg(frame: Frame, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${frame.w}" height="${frame.h}" viewBox="0 0 ${frame.w} ${frame.h}" font-family="Helvetica, Arial, sans-serif">\n${body}\n</svg>\n`
}

/** A line chart of several series; non-finite points break the line. Long series are thinned to <= 1500 points. */
export function linePlot(series: Series[], opts: ChartOptions): string {
  const xs = series.flatMap((s) => Array.from(s.x))
  const ys = series.flatMap((s) => Array.from(s.y))
  const frame = new Frame(opts, opts.xRange ?? extent(xs, 0), opts.yRange ?? extent(ys, 0.05))
  const clip = `<clipPath id="plot"><rect x="${frame.left}" y="${frame.top}" width="${frame.w - frame.left - frame.right}" height="${frame.h - frame.top - frame.bottom}"/></clipPath>`
  const lines = series.map((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]
    const n = s.x.length
    const stride = Math.max(1, Math.floor(n / 1500))
    if (s.markers) {
      const dots: string[] = []
      for (let j = 0; j < n; j += stride) {
        if (Number.isFinite(s.y[j])) dots.push(`<circle cx="${frame.sx(s.x[j]).toFixed(1)}" cy="${frame.sy(s.y[j]).toFixed(1)}" r="2.5" fill="${color}"/>`)
      }
      return dots.join('')
    }
    let d = ''
    let pen = false
    for (let j = 0; j < n; j += stride) {
      const y = s.y[j]
      if (!Number.isFinite(y)) {
        pen = false
        continue
      }
      d += `${pen ? 'L' : 'M'}${frame.sx(s.x[j]).toFixed(1)} ${frame.sy(y).toFixed(1)}`
      pen = true
    }
    return `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`
  })
  const legend = frame.legend(series.map((s, i) => ({ label: s.label, color: s.color ?? PALETTE[i % PALETTE.length], dashed: s.dashed, marker: s.markers })))
  return svg(frame, `${clip}\n${frame.axes()}\n<g clip-path="url(#plot)">\n${lines.join('\n')}\n</g>\n${legend}`)
}

/** One point cloud of a {@link scatterPlot}. */
export interface Cloud {
  /** Name shown in the legend. */
  label: string
  /** x coordinates of the points (same length as `y`). */
  x: ArrayLike<number>
  /** y coordinates of the points; points with a non-finite coordinate are skipped. */
  y: ArrayLike<number>
  /** Relative sizes (e.g. walker weights); default equal. */
  size?: ArrayLike<number>
  /** Any SVG colour; default: the cloud's index in {@link PALETTE}. */
  color?: string
}

/** A scatter plot; point area proportional to `size` (normalised per cloud). */
export function scatterPlot(clouds: Cloud[], opts: ChartOptions): string {
  const frame = new Frame(
    opts,
    opts.xRange ?? extent(clouds.flatMap((c) => Array.from(c.x)), 0.05),
    opts.yRange ?? extent(clouds.flatMap((c) => Array.from(c.y)), 0.05),
  )
  const dots = clouds.map((c, i) => {
    const color = c.color ?? PALETTE[i % PALETTE.length]
    let mean = 1
    if (c.size) {
      let s = 0
      for (let j = 0; j < c.size.length; j++) s += c.size[j]
      mean = s / Math.max(c.size.length, 1) || 1
    }
    const out: string[] = []
    for (let j = 0; j < c.x.length; j++) {
      const rel = c.size ? c.size[j] / mean : 1
      if (!(rel > 0) || !Number.isFinite(c.x[j]) || !Number.isFinite(c.y[j])) continue
      const r = Math.min(8, 1.6 * Math.sqrt(rel))
      out.push(`<circle cx="${frame.sx(c.x[j]).toFixed(1)}" cy="${frame.sy(c.y[j]).toFixed(1)}" r="${r.toFixed(2)}" fill="${color}" fill-opacity="0.45"/>`)
    }
    return out.join('')
  })
  const legend = frame.legend(clouds.map((c, i) => ({ label: c.label, color: c.color ?? PALETTE[i % PALETTE.length], marker: true })))
  return svg(frame, `${frame.axes()}\n${dots.join('\n')}\n${legend}`)
}

/** Options of a {@link heatmapPlot}. */
export interface HeatmapOptions extends ChartOptions {
  /** Grid values, `rows x cols`, row 0 at the bottom (y = yRange[0]). */
  values: ArrayLike<number>
  /** Number of grid rows (cells along y). */
  rows: number
  /** Number of grid columns (cells along x). */
  cols: number
  /** The x interval the columns cover, left edge of column 0 to right edge of the last. Required. */
  xRange: [number, number]
  /** The y interval the rows cover, bottom edge of row 0 to top edge of the last. Required. */
  yRange: [number, number]
  /** Points drawn on top (e.g. walkers); points outside the ranges are skipped. */
  points?: {
    /** x coordinates. */
    x: ArrayLike<number>
    /** y coordinates (same length as `x`). */
    y: ArrayLike<number>
    /** Name shown in the legend. */
    label: string
    /** Any SVG colour (default white). */
    color?: string
  }
}

/** Perceptually ordered colour ramp (viridis-like), t in [0, 1]. */
function ramp(t: number): string {
  const stops = [
    [68, 1, 84],
    [59, 82, 139],
    [33, 145, 140],
    [94, 201, 98],
    [253, 231, 37],
  ]
  const x = Math.min(Math.max(t, 0), 1) * (stops.length - 1)
  const i = Math.min(Math.floor(x), stops.length - 2)
  const f = x - i
  const c = stops[i].map((v, k) => Math.round(v + f * (stops[i + 1][k] - v)))
  return `rgb(${c[0]},${c[1]},${c[2]})`
}

/** A density heatmap (values scaled to their max) with optional points on top. */
export function heatmapPlot(opts: HeatmapOptions): string {
  const frame = new Frame(opts, opts.xRange, opts.yRange)
  let max = 0
  for (let i = 0; i < opts.values.length; i++) if (Number.isFinite(opts.values[i])) max = Math.max(max, opts.values[i])
  const cw = (opts.xRange[1] - opts.xRange[0]) / opts.cols
  const ch = (opts.yRange[1] - opts.yRange[0]) / opts.rows
  const cells: string[] = []
  for (let r = 0; r < opts.rows; r++) {
    for (let c = 0; c < opts.cols; c++) {
      const v = opts.values[r * opts.cols + c]
      const x0 = frame.sx(opts.xRange[0] + c * cw)
      const x1 = frame.sx(opts.xRange[0] + (c + 1) * cw)
      const y0 = frame.sy(opts.yRange[0] + (r + 1) * ch)
      const y1 = frame.sy(opts.yRange[0] + r * ch)
      cells.push(`<rect x="${x0.toFixed(1)}" y="${y0.toFixed(1)}" width="${(x1 - x0 + 0.6).toFixed(1)}" height="${(y1 - y0 + 0.6).toFixed(1)}" fill="${ramp(max > 0 ? v / max : 0)}"/>`)
    }
  }
  let pts = ''
  const legend: { label: string; color: string; marker?: boolean }[] = []
  if (opts.points) {
    const color = opts.points.color ?? '#ffffff'
    const out: string[] = []
    for (let i = 0; i < opts.points.x.length; i++) {
      const x = opts.points.x[i]
      const y = opts.points.y[i]
      if (x < opts.xRange[0] || x > opts.xRange[1] || y < opts.yRange[0] || y > opts.yRange[1]) continue
      out.push(`<circle cx="${frame.sx(x).toFixed(1)}" cy="${frame.sy(y).toFixed(1)}" r="1.4" fill="${color}" fill-opacity="0.7"/>`)
    }
    pts = out.join('')
    legend.push({ label: opts.points.label, color, marker: true })
  }
  return svg(frame, `${frame.axes()}\n${cells.join('')}\n${pts}\n${frame.legend(legend)}`)
}
