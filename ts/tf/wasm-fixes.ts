/**
 * What the TensorFlow.js wasm backend needs before it can train networks well: a
 * `Conv2DBackpropFilter` kernel (missing: CNN parameter gradients throw), a `Conv2D` gradient from
 * forward convolutions (its backward-input kernel is ~10x slower than a forward convolution) and a
 * `BatchMatMul` gradient without transpose flags (the flagged products are 4-5x slower there).
 * @module
 */
import type * as TF from '@tensorflow/tfjs'

import { registerConv2dFilterGradKernel } from './conv2d-filter-grad'
import { registerForwardConv2dGrad } from './conv2d-grad'
import { registerExplicitMatMulGrad } from './matmul-grad'

/**
 * Register the wasm fixes once. Safe to call again, and a kernel a future tfjs provides itself is
 * left alone.
 * @internal
 */
export function registerWasmFixes(tf: typeof TF): void {
  registerConv2dFilterGradKernel(tf, 'wasm')
  registerForwardConv2dGrad(tf, ['wasm'])
  registerExplicitMatMulGrad(tf, ['wasm'])
}
