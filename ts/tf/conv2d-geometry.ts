/**
 * The geometry of a forward 2-D convolution (NHWC, dilation 1) as tfjs computes it: what the
 * gradients built from forward convolutions start from.
 * @module
 */
import type * as TF from '@tensorflow/tfjs'

/**
 * How a convolution was called: the attributes of tfjs's `Conv2D` kernel (and of its backward
 * kernels) that its gradients need.
 * @internal
 */
export interface Conv2DCall {
  /** Strides, one for both axes or [height, width]. */
  strides: number | [number, number]
  /** Padding: `'valid'`, `'same'`, a number of zeros on every side, or explicit per axis. */
  pad: 'valid' | 'same' | number | TF.backend_util.ExplicitPadding
  /** Rounding of the output size with a numeric `pad`. */
  dimRoundingMode?: 'floor' | 'round' | 'ceil'
}

/**
 * Sizes, strides and padding of `conv2d(x, W, call.strides, call.pad)`, x of shape `xShape` and W of
 * shape `filterShape`.
 * @internal
 */
export function conv2dGeometry(
  tf: typeof TF,
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  call: Conv2DCall,
): TF.backend_util.Conv2DInfo {
  const { pad } = call
  // tfjs sizes a numeric pad's output with the filter height on both axes; explicit padding does not.
  const explicit: Exclude<Conv2DCall['pad'], number> = typeof pad === 'number' ? [[0, 0], [pad, pad], [pad, pad], [0, 0]] : pad
  return tf.backend_util.computeConv2DInfo(xShape, filterShape, call.strides, 1, explicit, call.dimRoundingMode, false, 'channelsLast')
}
