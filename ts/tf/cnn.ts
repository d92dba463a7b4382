/**
 * A convolutional energy network for images, by default the paper's small MNIST CNN: four stride-2
 * SiLU convolutions with 16, 32, 64, 64 filters (28x28 -> 16 -> 8 -> 4 -> 2, hence 64 x 2 x 2 = 256
 * features), then dense 256 -> 64 -> 1.
 * @module
 */
import type * as TF from '@tensorflow/tfjs'

import { jarzynError } from '../errors'
import { describe, intOption, knownKeys } from '../validate'
import { activation, type Activation } from './activations'
import { loadTf } from './backend'
import { seedBigInt, uniformVariable } from './seeded-init'
import { TfEnergy, type TfParameter } from './tf-energy'

/** One convolution layer of {@link cnnEnergy}. */
export interface ConvLayerOptions {
  /** Output channels. */
  filters: number
  /** Square kernel size (default 3). */
  kernel?: number
  /** Stride (default 2). */
  stride?: number
  /** Zero padding on each side, or `'same'` / `'valid'` (default 1). */
  pad?: number | 'same' | 'valid'
}

/** Options of {@link cnnEnergy}. Points are images flattened row-major, channels last (HWC). */
export interface CnnEnergyOptions {
  /** Image height. */
  height: number
  /** Image width. */
  width: number
  /** Channels (default 1). */
  channels?: number
  /**
   * Convolutions; a number n means `{ filters: n, kernel: 3, stride: 2, pad: 1 }`. Default the
   * paper's: `[{ filters: 16, kernel: 5, stride: 2, pad: 4 }, 32, 64, 64]`.
   */
  conv?: (number | ConvLayerOptions)[]
  /**
   * Widths of the dense hidden layers after flattening (default [64]: with the default convolutions
   * on 28x28 inputs, 256 -> 64 -> 1). The flattened size follows from the convolutions.
   */
  dense?: number[]
  /** Activation after every layer but the last (default `'silu'`). */
  activation?: Activation
  /** Seed of the initialisation (default 0). */
  seed?: number | bigint
  /**
   * Energy-squared penalty weight of the surrogate loss (default 0; the paper uses 0.01). With a
   * `base` it penalises the network's output only.
   */
  penalty?: number
  /**
   * A base energy added to the network's output: U(x) = network(x) + base(x). With `zeroOutput`,
   * U_theta0 is the base alone, so a base whose samples and log Z are known (e.g. a Gaussian
   * mixture) gives walkers that start as exact samples of rho_theta0 and an absolute log Z.
   */
  base?: CnnBase
  /** Start the last layer at zero (default false: uniform like the others), so that the network outputs 0 at theta_0. */
  zeroOutput?: boolean
}

/** A base energy of {@link cnnEnergy}: U_base(x) per point, and its learnable variables if any. */
export interface CnnBase {
  /** U_base at a batch of points, [n, dim] -> [n]. */
  energy: (x: TF.Tensor2D) => TF.Tensor1D
  /** Variables of the base that training updates (appended after the network's). */
  parameters?: TfParameter[]
}

/** The paper's first layer: 5x5, stride 2, padding 4 (28x28 -> 16x16). */
const PAPER_CONV: (number | ConvLayerOptions)[] = [{ filters: 16, kernel: 5, stride: 2, pad: 4 }, 32, 64, 64]

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]]

function convLayer(v: unknown, i: number): { filters: number; kernel: number; stride: number; pad: Pad } {
  const o: ConvLayerOptions = typeof v === 'number' ? { filters: v } : (v as ConvLayerOptions)
  if (typeof o !== 'object' || o === null) {
    throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `conv[${i}] must be a number or { filters, kernel?, stride?, pad? }, got ${describe(v)}`)
  }
  knownKeys(`conv[${i}]`, o, ['filters', 'kernel', 'stride', 'pad'])
  const filters = intOption(`conv[${i}].filters`, o.filters, 1, 2 ** 16)
  const kernel = intOption(`conv[${i}].kernel`, o.kernel ?? 3, 1, 2 ** 10)
  const stride = intOption(`conv[${i}].stride`, o.stride ?? 2, 1, 2 ** 10)
  const p = o.pad ?? 1
  let pad: Pad
  if (p === 'same' || p === 'valid') pad = p
  else {
    const n = intOption(`conv[${i}].pad`, p, 0, 2 ** 10)
    // Explicit, because tfjs sizes a numeric pad's output wrongly for some shapes (and the wasm
    // kernel then writes out of bounds).
    pad = [[0, 0], [n, n], [n, n], [0, 0]]
  }
  return { filters, kernel, stride, pad }
}

/**
 * A CNN energy on images of `height x width x channels`, flattened (dim = h w c). Parameters
 * `conv<i>/kernel`, `conv<i>/bias`, `dense<i>/kernel`, `dense<i>/bias` (groups `'weights'` and
 * `'biases'`), uniform in +-1/sqrt(fan_in) from `seed`. On the wasm backend its parameter gradient
 * needs the kernel `initTensorflow` registers. On the 'tensorflow' backend (tfjs-node), whose backward
 * convolutions take only 'same' and 'valid' padding, a numeric `pad` is applied with `tf.pad` before a
 * 'valid' convolution.
 *
 * @example
 * ```ts
 * await initTensorflow()
 * const energy = cnnEnergy({ height: 28, width: 28, penalty: 0.01, seed: 1 })   // the paper's MNIST net
 * ```
 */
export function cnnEnergy(options: CnnEnergyOptions): TfEnergy {
  if (typeof options !== 'object' || options === null) {
    throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `cnnEnergy options must be an object, got ${describe(options)}`)
  }
  knownKeys('cnnEnergy', options, ['height', 'width', 'channels', 'conv', 'dense', 'activation', 'seed', 'penalty', 'base', 'zeroOutput'])
  if (options.base !== undefined && (typeof options.base !== 'object' || options.base === null || typeof options.base.energy !== 'function')) {
    throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `option \`base\` must be { energy, parameters? }, got ${describe(options.base)}`)
  }
  if (options.zeroOutput !== undefined && typeof options.zeroOutput !== 'boolean') {
    throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `option \`zeroOutput\` must be a boolean, got ${describe(options.zeroOutput)}`)
  }
  const tf = loadTf()
  const height = intOption('height', options.height, 1, 2 ** 15)
  const width = intOption('width', options.width, 1, 2 ** 15)
  const channels = intOption('channels', options.channels ?? 1, 1, 2 ** 12)
  const convSpec = options.conv ?? PAPER_CONV
  const denseSpec = options.dense ?? [64]
  if (!Array.isArray(convSpec) || convSpec.length === 0) throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', 'option `conv` must be a non-empty array')
  if (!Array.isArray(denseSpec)) throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', 'option `dense` must be an array of widths')
  denseSpec.forEach((h, i) => intOption(`dense[${i}]`, h, 1, 2 ** 20))
  const act = activation(tf, options.activation ?? 'silu')
  const seed = seedBigInt(options.seed)
  const parameters: TfParameter[] = []
  let tag = 0
  const layer = (name: string, shape: number[], fanIn: number, zero = false) => {
    const bound = zero ? 0 : 1 / Math.sqrt(fanIn)
    const w = uniformVariable(tf, shape, bound, seed, tag++)
    const b = uniformVariable(tf, [shape[shape.length - 1]], bound, seed, tag++)
    parameters.push({ name: `${name}/kernel`, variable: w, group: 'weights' }, { name: `${name}/bias`, variable: b, group: 'biases' })
    return { w, b }
  }

  // Shapes through the stack, as tfjs computes them.
  let shape: [number, number, number, number] = [1, height, width, channels]
  const convs = convSpec.map((v, i) => {
    const c = convLayer(v, i)
    const fanIn = c.kernel * c.kernel * shape[3]
    const { w, b } = layer(`conv${i}`, [c.kernel, c.kernel, shape[3], c.filters], fanIn)
    const info = tf.backend_util.computeConv2DInfo(shape, [c.kernel, c.kernel, shape[3], c.filters], c.stride, 1, c.pad)
    if (info.outHeight < 1 || info.outWidth < 1) {
      throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `conv[${i}] leaves no output (input ${shape[1]}x${shape[2]})`)
    }
    shape = [1, info.outHeight, info.outWidth, c.filters]
    return { ...c, w, b }
  })
  const widths = [shape[1] * shape[2] * shape[3], ...denseSpec, 1]
  const last = widths.length - 2
  const dense = widths.slice(0, -1).map((fanIn, i) => layer(`dense${i}`, [fanIn, widths[i + 1]], fanIn, options.zeroOutput === true && i === last))
  const base = options.base
  if (base?.parameters) parameters.push(...base.parameters)

  const network = (x: TF.Tensor2D): TF.Tensor1D => {
    // tfjs-node's backward convolutions accept only 'same' and 'valid' padding ("TF Backend supports
    // only 'valid' and 'same' padding while padding was EXPLICIT"): there a numeric pad is a tf.pad
    // then a 'valid' convolution, the same values. Other backends keep the explicit form (and its bits).
    const padFirst = tf.getBackend() === 'tensorflow'
    let h: TF.Tensor = tf.reshape(x, [-1, height, width, channels])
    for (const c of convs) {
      const y =
        padFirst && Array.isArray(c.pad)
          ? tf.conv2d(tf.pad(h as TF.Tensor4D, c.pad), c.w as TF.Tensor4D, c.stride, 'valid')
          : tf.conv2d(h as TF.Tensor4D, c.w as TF.Tensor4D, c.stride, c.pad)
      h = act(tf.add(y, c.b))
    }
    let z = tf.reshape(h, [-1, widths[0]]) as TF.Tensor2D
    dense.forEach(({ w, b }, l) => {
      z = tf.add(tf.matMul(z, w), b)
      if (l + 1 < dense.length) z = act(z)
    })
    return tf.reshape(z, [-1])
  }
  const energy = base ? (x: TF.Tensor2D) => tf.add(network(x), base.energy(x)) as TF.Tensor1D : network
  return new TfEnergy({ dim: height * width * channels, energy, parameters, penalty: options.penalty, penalized: base ? network : undefined })
}
