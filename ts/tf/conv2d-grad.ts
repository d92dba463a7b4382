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

let registered = false

/**
 * Re-register the `Conv2D` gradient so that on the given backends it uses
 * {@link conv2dInputGrad} and {@link conv2dFilterGrad}. Idempotent.
 * @internal
 */
export function registerForwardConv2dGrad(tf: typeof TF, backends: readonly string[]): void {
  if (registered) return
  const builtin = tf.getGradient('Conv2D')
  if (builtin === undefined) return
  const on = new Set(backends)
  tf.registerGradient({
    kernelName: 'Conv2D',
    inputsToSave: builtin.inputsToSave ?? ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const a = attrs as unknown as TF.Conv2DAttrs
      const dilated = Array.isArray(a.dilations) ? a.dilations.some((v) => v !== 1) : a.dilations !== undefined && a.dilations !== 1
      if (!on.has(tf.getBackend()) || a.dataFormat === 'NCHW' || dilated) return builtin.gradFunc(dy, saved, attrs)
      const [x, filter] = saved as [TF.Tensor4D, TF.Tensor4D]
      const g = dy as TF.Tensor4D
      return {
        x: () => conv2dInputGrad(tf, g, filter, x.shape, a.strides, a.pad, a.dimRoundingMode),
        filter: () => conv2dFilterGrad(tf, x, g, filter.shape, a.strides, a.pad, a.dimRoundingMode),
      }
    },
  })
  registered = true
}
