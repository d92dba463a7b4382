/**
 * A `BatchMatMul` gradient that transposes explicitly, for backends whose matrix product is fast only
 * without transpose flags. The built-in gradient always sets one (dA = dy B^T as
 * `matMul(dy, B, false, true)`); on wasm an explicit `transpose` followed by a plain `matMul` made
 * backward passes 4-5x faster. Other backends keep the built-in gradient.
 * @module
 */
import type * as TF from '@tensorflow/tfjs'

import { replaceGradient } from './replace-gradient'

/** Swap the last two axes. */
function t(tf: typeof TF, x: TF.Tensor): TF.Tensor {
  const r = x.rank
  if (r === 2) return tf.transpose(x)
  const perm = [...Array(r).keys()]
  perm[r - 2] = r - 1
  perm[r - 1] = r - 2
  return tf.transpose(x, perm)
}

/** Sum a gradient over the batch axes its input was broadcast along. */
function reduceTo(tf: typeof TF, g: TF.Tensor, shape: number[]): TF.Tensor {
  if (g.shape.length === shape.length && g.shape.every((v, i) => v === shape[i])) return g
  const axes = tf.broadcast_util.getReductionAxes(shape, g.shape)
  const s = axes.length > 0 ? tf.sum(g, axes) : g
  return tf.reshape(s, shape)
}

/**
 * The gradient of C = op(A) op(B), with op a transpose or not, using only flag-free `matMul`s.
 * @internal
 */
export function matMulGradExplicit(
  tf: typeof TF,
  dy: TF.Tensor,
  a: TF.Tensor,
  b: TF.Tensor,
  transposeA: boolean,
  transposeB: boolean,
): { a: () => TF.Tensor; b: () => TF.Tensor } {
  const mm = (p: TF.Tensor, q: TF.Tensor) => tf.matMul(p, q)
  let da: () => TF.Tensor
  let db: () => TF.Tensor
  if (!transposeA && !transposeB) {
    da = () => mm(dy, t(tf, b))
    db = () => mm(t(tf, a), dy)
  } else if (!transposeA && transposeB) {
    da = () => mm(dy, b)
    db = () => mm(t(tf, dy), a)
  } else if (transposeA && !transposeB) {
    da = () => mm(b, t(tf, dy))
    db = () => mm(a, dy)
  } else {
    da = () => mm(t(tf, b), t(tf, dy))
    db = () => mm(t(tf, dy), t(tf, a))
  }
  return { a: () => reduceTo(tf, da(), a.shape), b: () => reduceTo(tf, db(), b.shape) }
}

/**
 * Re-register the `BatchMatMul` gradient so that on the given backends it uses
 * {@link matMulGradExplicit}; elsewhere it delegates to the gradient it replaces. Idempotent.
 * @internal
 */
export function registerExplicitMatMulGrad(tf: typeof TF, backends: readonly string[]): void {
  replaceGradient(tf, 'BatchMatMul', backends, ['a', 'b'], (dy, saved, attrs) => {
    const [a, b] = saved
    const { transposeA, transposeB } = attrs as unknown as TF.BatchMatMulAttrs
    return matMulGradExplicit(tf, dy as TF.Tensor, a, b, transposeA, transposeB)
  })
}
