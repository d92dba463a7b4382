/**
 * The live view's protocol: what an experiment sends to {@link LiveServer} and what the page
 * receives as server-sent events; documented on {@link LiveLayout}.
 * @module
 */
import type { LiveServer } from './server' // for doc links

/** One line of a {@link LiveLinesPanel}. */
export interface LiveSeriesSpec {
  /** Identifier used in `points` events and {@link LiveServer.push}; unique over the layout. */
  id: string
  /** Legend label. */
  label: string
  /** Any CSS colour (default: the panel's palette, in order). */
  color?: string
  /** Dashed line (e.g. an exact value or a target next to an estimate). */
  dashed?: boolean
}

/** A panel of line plots: y against x (e.g. iterations) for several series. */
export interface LiveLinesPanel {
  /** `'lines'`. */
  kind: 'lines'
  /** Identifier of the panel (unique over the layout). */
  id: string
  /** Title shown above the plot. */
  title: string
  /** Label of the x axis (default `'iteration'`). */
  xLabel?: string
  /** Label of the y axis. */
  yLabel?: string
  /** Fixed y range; default: the data's, padded (widened to include this range's ends when given as `yInclude`). */
  yRange?: [number, number]
  /** Values the y range must include (e.g. 0 and 1 for a fraction), when `yRange` is not given. */
  yInclude?: number[]
  /** Fixed x range (default: the data's). */
  xRange?: [number, number]
  /** The lines, in legend order. */
  series: LiveSeriesSpec[]
}

/** A panel that shows the latest {@link LivePicture} sent to it. */
export interface LivePicturePanel {
  /** `'picture'`. */
  kind: 'picture'
  /** Identifier of the panel (unique over the layout). */
  id: string
  /** Title shown above the picture. */
  title: string
}

/** A panel of the live page. */
export type LivePanel = LiveLinesPanel | LivePicturePanel

/**
 * What the live page shows: a title and panels, in order ({@link LiveServer.setLayout}); the
 * protocol's first message.
 *
 * The protocol is generic: an experiment declares panels (line plots of named series, and
 * pictures), then streams points ({@link LiveServer.push}), pictures ({@link LiveServer.picture}:
 * a {@link LiveHeatmap} with dots, or a {@link LiveImage} such as a PNG sample grid) and a status
 * line ({@link LiveServer.status}). The page listens at `GET /events` (`text/event-stream`); each
 * event is `event: NAME`, one `data:` line of JSON, and a blank line:
 *
 * | event | data | when |
 * | --- | --- | --- |
 * | `layout` | this object | first, and again whenever the layout changes |
 * | `points` | `{ "s": { SERIES_ID: [x0, y0, x1, y1, ...] } }`, `null` for a non-finite value (a gap in the line) | in batches, at most every `flushMs` (default 250 ms) |
 * | `picture` | `{ "panel": PANEL_ID, "picture": ... }`: a heat map as given (numbers rounded to 6 digits) or an image as `{ "type": "image", "src": "data:image/png;base64,..." }` | with the next batch |
 * | `status` | `{ "text": "...", "done": false }` (only the latest text is sent) | with the next batch |
 * | `end` | `{ "text": "..." }` | the run ended ({@link LiveServer.end}); the page stops listening |
 *
 * A page that connects late, or reconnects, first gets the whole state: the layout, every point
 * kept (up to `historyPoints` per series, default 4000, evenly thinned beyond), the latest picture
 * of each panel, the status, and `end` if the run is over. Lines starting with `:` are keep-alive
 * comments (every 15 s).
 *
 * @example
 * ```ts
 * // The MNIST experiment's page: masses per digit, ESS/N and k-hat, log Z, a sample grid.
 * const layout: LiveLayout = {
 *   title: 'MNIST 2/3/6',
 *   panels: [
 *     { kind: 'lines', id: 'mass', title: 'Mass per digit', yRange: [0, 1], series: ['2', '3', '6'].map((d) => ({ id: `mass.${d}`, label: `digit ${d}` })) },
 *     { kind: 'lines', id: 'weights', title: 'ESS/N and k-hat', series: [{ id: 'ess', label: 'ESS/N' }, { id: 'khat', label: 'k-hat' }] },
 *     { kind: 'lines', id: 'logz', title: 'log Z (relative)', series: [{ id: 'logz', label: 'estimate' }] },
 *     { kind: 'picture', id: 'samples', title: 'Walkers' },
 *   ],
 * }
 * ```
 */
export interface LiveLayout {
  /** Page title. */
  title: string
  /** A line under the title (e.g. the configuration). */
  subtitle?: string
  /** The panels, in order. */
  panels: LivePanel[]
}

/** Points drawn over a {@link LiveHeatmap} (e.g. walkers), at most a few thousand. */
export interface LiveDots {
  /** x coordinates. */
  x: ArrayLike<number>
  /** y coordinates. */
  y: ArrayLike<number>
  /** Relative size of each dot (area proportional to it; 1 = the default size), e.g. weight x N. */
  size?: ArrayLike<number>
  /** CSS colour of the dots (default white with a dark edge). */
  color?: string
  /** Legend label of the dots. */
  label?: string
}

/** A heat map of values on a regular grid (e.g. a density), with optional dots on top. */
export interface LiveHeatmap {
  /** `'heatmap'`. */
  type: 'heatmap'
  /** x range covered by the grid. */
  xRange: [number, number]
  /** y range covered by the grid. */
  yRange: [number, number]
  /** Grid columns. */
  nx: number
  /** Grid rows. */
  ny: number
  /** nx x ny values, row-major, row 0 at yRange[0] (bottom); drawn from the smallest (dark) to the largest (bright). Non-finite values are drawn as the smallest. */
  values: ArrayLike<number>
  /** Dots drawn over the map. */
  dots?: LiveDots
  /** Label of the x axis. */
  xLabel?: string
  /** Label of the y axis. */
  yLabel?: string
  /** A line under the picture. */
  caption?: string
}

/** An image, e.g. a PNG sample grid. */
export interface LiveImage {
  /** `'image'`. */
  type: 'image'
  /** PNG bytes (sent as a `data:image/png;base64,` URL). */
  png: Uint8Array
  /** A line under the picture. */
  caption?: string
}

/** What a picture panel shows. */
export type LivePicture = LiveHeatmap | LiveImage

/** Round to 6 significant digits for the wire (the plots need no more); non-finite to null. @internal */
export function wireNumber(v: number): number | null {
  if (!Number.isFinite(v)) return null
  return v === 0 ? 0 : Number(v.toPrecision(6))
}

/** A picture as sent in a `picture` event. @internal */
export function wirePicture(p: LivePicture): unknown {
  if (p.type === 'image') {
    return { type: 'image', src: `data:image/png;base64,${Buffer.from(p.png.buffer, p.png.byteOffset, p.png.byteLength).toString('base64')}`, caption: p.caption ?? '' }
  }
  if (!(Number.isInteger(p.nx) && Number.isInteger(p.ny) && p.nx >= 1 && p.ny >= 1 && p.values.length === p.nx * p.ny)) {
    throw new RangeError(`heatmap: ${p.values.length} values for a ${p.nx} x ${p.ny} grid`)
  }
  const arr = (a: ArrayLike<number>) => Array.from(a, wireNumber)
  const dots = p.dots
    ? { x: arr(p.dots.x), y: arr(p.dots.y), size: p.dots.size ? arr(p.dots.size) : null, color: p.dots.color ?? null, label: p.dots.label ?? '' }
    : null
  return {
    type: 'heatmap',
    xRange: p.xRange,
    yRange: p.yRange,
    nx: p.nx,
    ny: p.ny,
    values: arr(p.values),
    dots,
    xLabel: p.xLabel ?? '',
    yLabel: p.yLabel ?? '',
    caption: p.caption ?? '',
  }
}
