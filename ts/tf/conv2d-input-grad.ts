/**
 * The input gradient of a 2-D convolution from forward convolutions, one per sub-pixel phase. The
 * wasm backend's own `Conv2DBackpropInput` is about 10x slower than its forward convolution, and
 * grad_x of a CNN energy (every walker, every iteration) is mostly that kernel.
 *
 * With xp the padded input, y[i] = sum_p xp[i s + p] W[p] (one axis shown). A padded row
 * r = u s + rho receives dy[i] W[p] for p = rho + k s, i = u - k, so
 *
 *     dxp[u s + rho] = sum_k dy[u - k] W[rho + k s],
 *
 * a stride-1 correlation of dy with the flipped sub-filter W[rho], W[rho + s], ... (channels
 * swapped). All s x s phases run as ONE forward convolution whose output channels are (phase,
 * channel), each sub-filter zero-extended to the longest phase's taps; a reshape and a rank-4
 * transpose interleave the phases, and the padding is cropped. Fast forward convolutions (XNNPACK)
 * then do the work: for the paper's 3x3 stride-2 layers about 1.8x the forward pass's arithmetic.
 * @module
 */
import type * as TF from '@tensorflow/tfjs'

import { conv2dGeometry, type Conv2DCall } from './conv2d-geometry'

/** Filter taps of one phase along one axis, last first: rho + (K-1) s, ..., rho + s, rho. */
function phaseTaps(filterSize: number, stride: number, phase: number): number[] {
  const taps: number[] = []
  for (let p = phase; p < filterSize; p += stride) taps.push(p)
  return taps.reverse()
}

/**
 * dx of `conv2d(x, W, call.strides, call.pad)` (NHWC, dilation 1) given the output gradient `dy`.
 * @internal
 */
export function conv2dInputGrad(tf: typeof TF, dy: TF.Tensor4D, filter: TF.Tensor4D, xShape: [number, number, number, number], call: Conv2DCall): TF.Tensor4D {
  return tf.tidy(() => {
    const info = conv2dGeometry(tf, xShape, filter.shape, call)
    const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw, outHeight: oh, outWidth: ow, inHeight, inWidth, inChannels } = info
    const { top, left } = info.padInfo
    const batch = xShape[0]
    // Phase outputs u cover padded rows u s + rho up to the last input row.
    const rows = Math.ceil((top + inHeight) / sh)
    const cols = Math.ceil((left + inWidth) / sw)
    const kh = Math.ceil(fh / sh)
    const kw = Math.ceil(fw / sw)
    // Filter as [fh, fw, O, C] (from dy's channels to x's), plus a zero tap for the missing ones.
    const wT = tf.transpose(filter, [0, 1, 3, 2])
    const zero = tf.zeros([1, fw, wT.shape[2], wT.shape[3]])
    const wz = tf.concat([wT, zero], 0)
    const wzz = tf.concat([wz, tf.zeros([fh + 1, 1, wT.shape[2], wT.shape[3]])], 1)
    const subs: TF.Tensor4D[] = []
    for (let rho = 0; rho < sh; rho++) {
      for (let sigma = 0; sigma < sw; sigma++) {
        // Zero taps first: a shorter phase then lines up with the common top/left padding kh-1, kw-1.
        const tr = phaseTaps(fh, sh, rho)
        const tc = phaseTaps(fw, sw, sigma)
        const rIdx = [...Array(kh - tr.length).fill(fh), ...tr]
        const cIdx = [...Array(kw - tc.length).fill(fw), ...tc]
        subs.push(tf.gather(tf.gather(wzz, rIdx, 0), cIdx, 1) as TF.Tensor4D)
      }
    }
    const combined = tf.concat(subs, 3) // [kh, kw, O, (rho, sigma, C)]
    // Full correlation: kh-1 zeros before dy; after it, enough (or a crop) for `rows` outputs.
    const padBottom = rows - oh
    const padRight = cols - ow
    let d: TF.Tensor4D = dy
    if (padBottom < 0 || padRight < 0) d = tf.slice(d, [0, 0, 0, 0], [-1, oh + Math.min(padBottom, 0), ow + Math.min(padRight, 0), -1])
    const out = tf.conv2d(d, combined, 1, [[0, 0], [kh - 1, Math.max(padBottom, 0)], [kw - 1, Math.max(padRight, 0)], [0, 0]])
    // [B, rows, cols, (rho, sigma, C)] -> [B rows, sh, cols, sw C] -> [B, rows sh, cols sw, C]
    const split = tf.transpose(tf.reshape(out, [batch * rows, cols, sh, sw * inChannels]), [0, 2, 1, 3])
    const dxp = tf.reshape(split, [batch, rows * sh, cols * sw, inChannels])
    return tf.slice(dxp, [0, top, left, 0], [batch, inHeight, inWidth, inChannels]) as TF.Tensor4D
  })
}
