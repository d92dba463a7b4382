/**
 * Sample grids: images in [-1, 1] (values outside are clipped for display only) tiled into one
 * grey-scale PNG, with an optional bar under each tile showing its weight.
 * @module
 */
import { PNG } from 'pngjs'

/** Options of {@link imageGridPng}. */
export interface ImageGridOptions {
  /** Side of each (square) image. */
  side: number
  /** Tiles per row (default: ceil(sqrt(n))). */
  columns?: number
  /** Pixels per image pixel (default 3). */
  scale?: number
  /** A weight in [0, 1] per image, drawn as a bar under it (relative to the largest). */
  weights?: ArrayLike<number>
}

/** PNG bytes of `images` (n x side^2, row-major) tiled in a grid. */
export function imageGridPng(images: Float32Array, options: ImageGridOptions): Buffer {
  const { side } = options
  const n = images.length / (side * side)
  const cols = options.columns ?? Math.max(1, Math.ceil(Math.sqrt(n)))
  const rows = Math.max(1, Math.ceil(n / cols))
  const scale = options.scale ?? 3
  const gap = 2
  const bar = options.weights ? 3 : 0
  const tileW = side * scale + gap
  const tileH = side * scale + gap + bar
  const png = new PNG({ width: cols * tileW + gap, height: rows * tileH + gap, colorType: 0, inputColorType: 0, bitDepth: 8 })
  const data = png.data
  data.fill(255)
  const wmax = options.weights ? Math.max(...Array.from(options.weights), 1e-300) : 1
  const put = (x: number, y: number, v: number) => {
    const o = (y * png.width + x) << 2
    data[o] = data[o + 1] = data[o + 2] = v
    data[o + 3] = 255
  }
  for (let i = 0; i < n; i++) {
    const x0 = gap + (i % cols) * tileW
    const y0 = gap + Math.floor(i / cols) * tileH
    for (let r = 0; r < side; r++) {
      for (let c = 0; c < side; c++) {
        const v = images[i * side * side + r * side + c]
        // Digits are light on dark in MNIST: -1 -> black, 1 -> white.
        const g = Math.round(255 * Math.min(1, Math.max(0, (v + 1) / 2)))
        for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) put(x0 + c * scale + dx, y0 + r * scale + dy, g)
      }
    }
    if (options.weights) {
      const len = Math.round((side * scale * options.weights[i]) / wmax)
      for (let dx = 0; dx < len; dx++) for (let dy = 0; dy < bar - 1; dy++) put(x0 + dx, y0 + side * scale + 1 + dy, 90)
    }
  }
  // Grey-scale output: pngjs reads RGBA and writes the colour type asked for.
  return PNG.sync.write(png, { colorType: 0 })
}
