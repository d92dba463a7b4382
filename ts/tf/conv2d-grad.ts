/**
 * A `Conv2D` gradient built from forward convolutions only (input gradient by sub-pixel phases,
 * filter gradient as one dilated convolution), for backends whose backward convolution kernels are
 * missing or slow (wasm). Other backends, other data formats and dilated convolutions keep the
 * built-in gradient.
 * @module
 */
import type * as TF from '@tensorflow/tfjs'

import { conv2dFilterGrad } from './conv2d-filter-grad'
import { conv2dInputGrad } from './conv2d-input-grad'
import { replaceGradient } from './replace-gradient'

/**
 * Re-register the `Conv2D` gradient so that on the given backends it uses
 * {@link conv2dInputGrad} and {@link conv2dFilterGrad}. Idempotent.
 * @internal
 */
export function registerForwardConv2dGrad(tf: typeof TF, backends: readonly string[]): void {
  replaceGradient(tf, 'Conv2D', backends, ['x', 'filter'], (dy, saved, attrs) => {
    const a = attrs as unknown as TF.Conv2DAttrs
    const dilated = Array.isArray(a.dilations) ? a.dilations.some((v) => v !== 1) : a.dilations !== undefined && a.dilations !== 1
    if (a.dataFormat === 'NCHW' || dilated) return null
    const [x, filter] = saved as [TF.Tensor4D, TF.Tensor4D]
    const g = dy as TF.Tensor4D
    return {
      x: () => conv2dInputGrad(tf, g, filter, x.shape, a),
      filter: () => conv2dFilterGrad(tf, x, g, filter.shape, a),
    }
  })
}
