/**
 * The filter gradient of a 2-D convolution computed with one forward convolution, for backends that
 * lack the `Conv2DBackpropFilter` kernel (the wasm backend: without it every CNN parameter gradient
 * throws).
 *
 * Forward (NHWC, no dilation): y[b,i,j,o] = sum_{p,q,c} xp[b, i*sh + p, j*sw + q, c] W[p,q,c,o], with
 * xp the zero-padded input. Hence
 *
 *     dW[p,q,c,o] = sum_{b,i,j} xp[b, p + i*sh, q + j*sw, c] dy[b,i,j,o],
 *
 * which is a stride-1 convolution of xp (batch and channels swapped) with dy as the filter, dilated by
 * the forward stride. Fast forward convolutions (XNNPACK on wasm) then do the work.
 * @module
 */
import type * as TF from '@tensorflow/tfjs'

import { conv2dGeometry, type Conv2DCall } from './conv2d-geometry'

/**
 * dW of `conv2d(x, W, call.strides, call.pad)` (NHWC, dilation 1) given the output gradient `dy`.
 * @internal
 */
export function conv2dFilterGrad(tf: typeof TF, x: TF.Tensor4D, dy: TF.Tensor4D, filterShape: [number, number, number, number], call: Conv2DCall): TF.Tensor4D {
  return tf.tidy(() => {
    const info = conv2dGeometry(tf, x.shape, filterShape, call)
    const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw, outHeight, outWidth, inHeight, inWidth } = info
    const { top, left } = info.padInfo
    // The padded rows/columns the forward pass read; beyond them (odd sizes, 'valid') nothing counts.
    const bottom = (outHeight - 1) * sh + fh - top - inHeight
    const right = (outWidth - 1) * sw + fw - left - inWidth
    let xc: TF.Tensor4D = x
    if (bottom < 0 || right < 0) {
      xc = tf.slice(xc, [0, 0, 0, 0], [-1, inHeight + Math.min(bottom, 0), inWidth + Math.min(right, 0), -1])
    }
    const input = tf.transpose(xc, [3, 1, 2, 0]) // [C, H, W, B]
    const filter = tf.transpose(dy, [1, 2, 0, 3]) // [outH, outW, B, O]
    // The convolution pads (as the forward pass did): cheaper than a separate pad of the input.
    const padding: TF.backend_util.ExplicitPadding = [[0, 0], [top, Math.max(bottom, 0)], [left, Math.max(right, 0)], [0, 0]]
    const g = tf.conv2d(input, filter, 1, padding, 'NHWC', [sh, sw]) // [C, fh, fw, O]
    return tf.transpose(g, [1, 2, 0, 3])
  })
}

/**
 * Register {@link conv2dFilterGrad} as the `Conv2DBackpropFilter` kernel of `backendName`, unless that
 * backend already has one (a later tfjs release may add it). Returns whether it registered.
 * @internal
 */
export function registerConv2dFilterGradKernel(tf: typeof TF, backendName: string): boolean {
  if (tf.getKernel('Conv2DBackpropFilter', backendName) !== undefined) return false
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      // The engine hands kernels the input tensors themselves, so tensor ops work here; running
      // inside a kernel they are not recorded on any gradient tape.
      let x = inputs.x as TF.Tensor4D
      let dy = inputs.dy as TF.Tensor4D
      const a = attrs as unknown as TF.Conv2DBackpropFilterAttrs
      return tf.tidy(() => {
        if (a.dataFormat === 'NCHW') {
          x = tf.transpose(x, [0, 2, 3, 1])
          dy = tf.transpose(dy, [0, 2, 3, 1])
        }
        return conv2dFilterGrad(tf, x, dy, a.filterShape, a)
      })
    },
  })
  return true
}
