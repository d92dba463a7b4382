/**
 * The judge of the image experiment: a small CNN classifier of the kept digits, trained once on
 * the same training images and cached on disk, then applied to the walkers. The mass of a digit is
 * the (Jarzynski-)weight of the walkers it classifies as that digit (the paper's measure).
 * @module
 */
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import type * as TF from '@tensorflow/tfjs'

import { writeFileAtomic } from '../../atomic-file'
import { cacheDir } from '../../cache-dir'
import { fillNormals } from '../../normals'
import { SplitMix64 } from '../../splitmix'
import { loadTf } from '../../tf/backend'
import { uniformVariable } from '../../tf/seeded-init'
import type { DigitImages } from './data'

/** How the classifier is trained. */
export interface ClassifierOptions {
  /** Passes over the training images (default: at least 4, and enough for 600 Adam steps on a small set). */
  epochs?: number
  /** Images per Adam step (default 64). */
  batch?: number
  /** Adam learning rate (default 2e-3). */
  lr?: number
  /** Seed of the initialisation and the batch order (default 1). */
  seed?: number
  /**
   * Largest standard deviation of the Gaussian noise added to training images (each image draws
   * its own in [0, noise]; default 1). Model samples are noisier than data: a classifier trained on
   * clean digits reads noisy ones as its majority class, which would bias the masses it measures.
   */
  noise?: number
}

/** A trained classifier of `digits` on `side` x `side` images. */
export interface DigitClassifier {
  /** The digits, in the order of the class indices. */
  digits: number[]
  /** Side of the images it classifies. */
  side: number
  /** Accuracy on the held-out images it was checked on. */
  accuracy: number
  /** Whether it came from the disk cache. */
  cached: boolean
  /** The class index of each image (n x side^2). */
  classify(images: Float32Array): Uint8Array
  /** Free its tensors. */
  dispose(): void
}

/** Bump when the architecture or the training changes: old cache entries are then ignored. */
const VERSION = 2

/** conv 3x3 (8) -> relu -> 2x2 max pool -> conv 3x3 (16) -> relu -> 2x2 max pool -> dense. */
function network(tf: typeof TF, side: number, classes: number, seed: bigint) {
  const after = Math.ceil(Math.ceil(side / 2) / 2)
  const shapes: [string, number[], number][] = [
    ['c1', [3, 3, 1, 8], 9],
    ['b1', [8], 9],
    ['c2', [3, 3, 8, 16], 72],
    ['b2', [16], 72],
    ['d', [after * after * 16, classes], after * after * 16],
    ['bd', [classes], after * after * 16],
  ]
  const vars = shapes.map(([, shape, fanIn], i) => uniformVariable(tf, shape, 1 / Math.sqrt(fanIn), seed, i))
  const logits = (x: TF.Tensor2D): TF.Tensor2D => {
    const [c1, b1, c2, b2, d, bd] = vars
    let h = tf.reshape(x, [-1, side, side, 1]) as TF.Tensor4D
    h = tf.maxPool(tf.relu(tf.add(tf.conv2d(h, c1 as TF.Tensor4D, 1, 'same'), b1)) as TF.Tensor4D, 2, 2, 'same')
    h = tf.maxPool(tf.relu(tf.add(tf.conv2d(h, c2 as TF.Tensor4D, 1, 'same'), b2)) as TF.Tensor4D, 2, 2, 'same')
    return tf.add(tf.matMul(tf.reshape(h, [-1, after * after * 16]), d), bd) as TF.Tensor2D
  }
  return { vars, logits }
}

function cacheKey(train: DigitImages, digits: number[], o: Required<ClassifierOptions>): string {
  const h = createHash('sha256')
  h.update(JSON.stringify({ VERSION, digits, side: train.side, o }))
  h.update(new Uint8Array(train.images.buffer, train.images.byteOffset, train.images.byteLength))
  h.update(train.labels)
  return h.digest('hex').slice(0, 24)
}

/**
 * Train (or load from the cache) a classifier of `digits` on `train`, and measure its accuracy on
 * `heldOut` (images it never saw). Deterministic for a seed on a given backend.
 */
export function digitClassifier(train: DigitImages, heldOut: DigitImages, digits: number[], options: ClassifierOptions = {}): DigitClassifier {
  const tf = loadTf()
  const batch = options.batch ?? 64
  const o = { epochs: options.epochs ?? Math.max(4, Math.ceil(600 / Math.max(1, Math.floor(train.count / batch)))), batch, lr: options.lr ?? 2e-3, seed: options.seed ?? 1, noise: options.noise ?? 1 }
  const side = train.side
  const px = side * side
  const classOf = new Map(digits.map((d, i) => [d, i]))
  const net = network(tf, side, digits.length, BigInt(o.seed))
  const dir = cacheDir()
  const file = dir === null ? null : join(dir, `mnist-classifier-${cacheKey(train, digits, o)}.bin`)
  let cached = false
  if (file !== null) {
    try {
      const blob = readFileSync(file)
      const values = new Float32Array(blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength))
      let off = 0
      for (const v of net.vars) {
        // tidy: assign copies, the source tensor would otherwise stay allocated.
        tf.tidy(() => v.assign(tf.tensor(values.subarray(off, off + v.size), v.shape)))
        off += v.size
      }
      cached = off === values.length
    } catch {
      // Not cached yet (or unreadable): train below.
    }
  }
  if (!cached) {
    const opt = tf.train.adam(o.lr)
    const rng = new SplitMix64(BigInt(o.seed) + 77n)
    const order = Uint32Array.from({ length: train.count }, (_, i) => i)
    const x = new Float32Array(o.batch * px)
    const z = new Float32Array(o.batch * px)
    const y = new Int32Array(o.batch)
    let step = 0
    for (let e = 0; e < o.epochs; e++) {
      rng.shuffle(order)
      for (let b0 = 0; b0 + o.batch <= train.count; b0 += o.batch) {
        fillNormals(z, { dim: px, seed: BigInt(o.seed), stream: 'user', step: step++ })
        for (let j = 0; j < o.batch; j++) {
          const i = order[b0 + j]
          const sd = o.noise * (Number(rng.nextU64() >> 11n) / 2 ** 53)
          for (let a = 0; a < px; a++) x[j * px + a] = train.images[i * px + a] + sd * z[j * px + a]
          y[j] = classOf.get(train.labels[i])!
        }
        tf.tidy(() => {
          const xs = tf.tensor2d(x, [o.batch, px])
          const ys = tf.oneHot(tf.tensor1d(y, 'int32'), digits.length)
          opt.minimize(() => tf.losses.softmaxCrossEntropy(ys, net.logits(xs)) as TF.Scalar, false, net.vars)
        })
      }
    }
    opt.dispose()
    if (file !== null) {
      const values = new Float32Array(net.vars.reduce((a, v) => a + v.size, 0))
      let off = 0
      for (const v of net.vars) {
        values.set(v.dataSync() as Float32Array, off)
        off += v.size
      }
      try {
        mkdirSync(dir!, { recursive: true })
        writeFileAtomic(file, new Uint8Array(values.buffer))
      } catch {
        // A cache that cannot be written costs a retraining next time, nothing else.
      }
    }
  }
  const classify = (images: Float32Array): Uint8Array => {
    const n = images.length / px
    const out = new Uint8Array(n)
    const chunk = 1024
    for (let i0 = 0; i0 < n; i0 += chunk) {
      const m = Math.min(chunk, n - i0)
      const idx = tf.tidy(() => tf.argMax(net.logits(tf.tensor2d(images.subarray(i0 * px, (i0 + m) * px), [m, px])), 1).dataSync())
      out.set(idx, i0)
    }
    return out
  }
  const predicted = classify(heldOut.images)
  let right = 0
  for (let i = 0; i < heldOut.count; i++) if (digits[predicted[i]] === heldOut.labels[i]) right++
  return {
    digits,
    side,
    accuracy: right / heldOut.count,
    cached,
    classify,
    dispose: () => net.vars.forEach((v) => v.dispose()),
  }
}

/** The weight of each class: sum of `weights` (or 1/n each) over the images classified into it. */
export function massesOf(classes: Uint8Array, nClasses: number, weights?: Float64Array): number[] {
  const m = new Array<number>(nClasses).fill(0)
  for (let i = 0; i < classes.length; i++) m[classes[i]] += weights ? weights[i] : 1 / classes.length
  return m
}
